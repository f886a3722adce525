"""The probe's verdicts: what a scenario concludes from both ends of its exchange (what the
client received, with its timing, and the origin's journal record of what reached it), with
the RFC requirement a violation breaks, quoted. One function per kind of check; the scenarios
(:mod:`.scenarios`) name theirs.

A verdict is one of ``conformant``, ``violation`` (a MUST broken: the RFC section and the
requirement quoted), ``deviation`` (a SHOULD, or an implementation choice the RFCs leave open)
and ``n/a`` (the scenario could not tell: the request never reached the origin, say), always
with the observation in plain words.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fakeorigin.probe.client import Ending, Exchange, parse


class Kind(StrEnum):
    CONFORMANT = "conformant"
    VIOLATION = "violation"
    DEVIATION = "deviation"
    NOT_APPLICABLE = "n/a"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the probe concluded, and what it saw."""

    kind: Kind
    observation: str
    rule: str | None = None
    requirement: str | None = None


@dataclass(frozen=True, slots=True)
class Seen:
    """Both ends of one scenario: the client's exchange with the proxy, and the origin's
    journal record of what reached it (None: nothing did)."""

    client: Exchange
    origin: dict[str, Any] | None
    proxy_timeout: float | None = None

    def origin_events(self, event: str) -> list[dict[str, Any]]:
        return (
            []
            if self.origin is None
            else [e for e in self.origin["timeline"] if e["event"] == event]
        )

    def origin_header(self, name: str) -> str | None:
        if self.origin is None:
            return None
        wanted = name.lower()
        return next((v for n, v in self.origin["headers"] if n.lower() == wanted), None)


#: RFC 9110 section 15.2, on interim responses through an intermediary.
FORWARD_1XX = (
    "RFC 9110 section 15.2",
    "A proxy MUST forward 1xx responses unless the proxy itself requested the generation of "
    "the 1xx response.",
)
#: RFC 9110 section 15.2, on HTTP/1.0 recipients.
NO_1XX_TO_HTTP10 = (
    "RFC 9110 section 15.2",
    "A server MUST NOT send a 1xx response to an HTTP/1.0 client.",
)
#: RFC 9110 section 7.8, on switching protocols.
SWITCH_ASKED = (
    "RFC 9110 section 7.8",
    "A server MUST NOT switch to a protocol that was not indicated by the client in the "
    "corresponding request's Upgrade header field.",
)
#: RFC 9110 section 2.5, on the version an intermediary sends upstream.
OWN_VERSION = (
    "RFC 9110 section 2.5",
    "Intermediaries that process HTTP messages (i.e., all intermediaries other than those "
    "acting as tunnels) MUST send their own HTTP-version in forwarded messages, unless it is "
    "purposefully downgraded as a workaround for an upstream issue.",
)
#: RFC 9112 section 6.3, on a response with two different Content-Lengths.
BAD_LENGTH = (
    "RFC 9112 section 6.3",
    "If this is a response message received by a proxy, the proxy MUST close the connection "
    "to the server, discard the received response, and send a 502 (Bad Gateway) response to "
    "the client.",
)
#: RFC 9112 section 6.3, on Transfer-Encoding with Content-Length.
LENGTH_AND_CHUNKED = (
    "RFC 9112 section 6.3",
    "An intermediary that chooses to forward the message MUST first remove the received "
    "Content-Length field and process the Transfer-Encoding (as described below) prior to "
    "forwarding the message downstream.",
)
#: RFC 9112 section 6.3, on a body shorter than its Content-Length.
INCOMPLETE = (
    "RFC 9112 section 6.3",
    "If the sender closes the connection or the recipient times out before the indicated "
    "number of octets are received, the recipient MUST consider the message to be incomplete "
    "and close the connection.",
)


_ENDINGS = {
    Ending.OPEN: "the connection still open when the client stopped reading",
    Ending.CLOSED: "then the proxy closed the connection",
    Ending.RESET: "then the proxy reset the connection",
}


def _statuses(seen: Seen) -> str:
    """The statuses the client saw, in order; with no final response, how it ended."""
    got = ", ".join(str(r.status) for r in seen.client.responses) or "no response"
    if seen.client.final is None:
        got += f" ({_ENDINGS[seen.client.ending]})"
    return got


def _reached(seen: Seen) -> Verdict | None:
    if seen.origin is None:
        return Verdict(Kind.NOT_APPLICABLE, "the request never reached the origin")
    return None


def forwards_interims(*statuses: int) -> Callable[[Seen], Verdict]:
    """The client must see the origin's 1xx (``statuses``, in order) before the final 200."""

    def verdict(seen: Seen) -> Verdict:
        missing = _reached(seen)
        if missing is not None:
            return missing
        sent = [e["status"] for e in seen.origin_events("interim-sent")]
        got = [r.status for r in seen.client.interims]
        final = seen.client.final
        origin = ", ".join(map(str, sent)) or "no 1xx"
        said = f"the origin sent {origin} then 200; the client saw {_statuses(seen)}"
        if final is None or final.status != 200:
            return Verdict(Kind.VIOLATION, said + ": no final 200", *FORWARD_1XX)
        if got == list(statuses):
            return Verdict(Kind.CONFORMANT, said)
        if not got:
            return Verdict(Kind.VIOLATION, said + ": the 1xx were dropped", *FORWARD_1XX)
        return Verdict(Kind.VIOLATION, said + ": not the 1xx the origin sent", *FORWARD_1XX)

    return verdict


def interim_fields_forwarded(seen: Seen) -> Verdict:
    base = forwards_interims(199)(seen)
    if base.kind is not Kind.CONFORMANT:
        return base
    [interim] = seen.client.interims
    if interim.header("x-probe") == "interim-field":
        return Verdict(Kind.CONFORMANT, base.observation + ", with its field")
    return Verdict(Kind.DEVIATION, base.observation + ", but without its X-Probe field")


def no_interim_to_http10(seen: Seen) -> Verdict:
    missing = _reached(seen)
    if missing is not None:
        return missing
    upstream = seen.origin["http_version"] if seen.origin else None
    sent = seen.origin_events("interim-sent")
    got = seen.client.interims
    said = (
        f"the proxy forwarded the HTTP/1.0 request as HTTP/{upstream}; the origin sent "
        f"{len(sent)} 1xx; the client saw {_statuses(seen)}"
    )
    if got:
        return Verdict(Kind.VIOLATION, said, *NO_1XX_TO_HTTP10)
    if not sent:
        return Verdict(Kind.NOT_APPLICABLE, said + " (no 1xx to drop)")
    final = seen.client.final
    if final is None:
        return Verdict(Kind.DEVIATION, said + ": no final response")
    return Verdict(Kind.CONFORMANT, said)


def upstream_version(seen: Seen) -> Verdict:
    missing = _reached(seen)
    if missing is not None:
        return missing
    version = seen.origin["http_version"] if seen.origin else None
    said = f"the request reached the origin as HTTP/{version}"
    if version == "1.1":
        return Verdict(Kind.CONFORMANT, said)
    # The rule allows a deliberate downgrade, which the probe cannot tell from a lapse.
    return Verdict(Kind.DEVIATION, said + " (a downgrade, or not its own version)", *OWN_VERSION)


def expect_handled(seen: Seen) -> Verdict:
    """An upload with Expect: 100-continue reaches the origin whole and gets its 200; how the
    proxy dealt with the Expect is the observation (RFC 9110 section 10.1.1 allows a proxy
    to answer 100 itself)."""
    missing = _reached(seen)
    if missing is not None:
        return missing
    forwarded = seen.origin_header("expect") is not None
    origin_100 = bool(seen.origin_events("interim-sent"))
    got_100 = any(r.status == 100 for r in seen.client.interims)
    body = seen.origin["body"] if seen.origin else {}
    final = seen.client.final
    whose = "" if not got_100 else " (the origin's)" if origin_100 else " (the proxy's own)"
    said = (
        f"Expect {'was' if forwarded else 'was not'} passed upstream; the client "
        f"{'got' if got_100 else 'got no'} 100{whose}; the origin received "
        f"{body.get('length', 0)} body bytes; the client saw {_statuses(seen)}"
    )
    if final is None or final.status != 200 or not body.get("complete"):
        return Verdict(Kind.DEVIATION, said + ": the upload did not go through")
    if not forwarded:
        return Verdict(Kind.DEVIATION, said + " (the proxy takes the expectation on itself)")
    return Verdict(Kind.CONFORMANT, said)


def early_final_relayed(status: int) -> Callable[[Seen], Verdict]:
    """The origin answers ``status`` before reading an Expect upload's body: the client should
    get it before it sends the body."""

    def verdict(seen: Seen) -> Verdict:
        missing = _reached(seen)
        if missing is not None:
            return missing
        final = seen.client.final
        got_100 = any(r.status == 100 for r in seen.client.interims)
        said = f"the origin answered {status} before the body; the client saw {_statuses(seen)}"
        if final is not None and final.status == status and not got_100:
            return Verdict(Kind.CONFORMANT, said + " and sent no body")
        if final is not None and final.status == status:
            return Verdict(
                Kind.DEVIATION, said + ": the proxy's own 100 made the client send the body first"
            )
        return Verdict(Kind.DEVIATION, said + f": the {status} did not reach the client")

    return verdict


def no_100_to_http10(seen: Seen) -> Verdict:
    """An HTTP/1.0 client's Expect: no 100 may reach it; the upload goes through."""
    got_100 = any(r.status == 100 for r in seen.client.interims)
    final = seen.client.final
    said = f"an HTTP/1.0 upload with Expect: 100-continue; the client saw {_statuses(seen)}"
    if got_100:
        return Verdict(Kind.VIOLATION, said, *NO_1XX_TO_HTTP10)
    if final is None:
        return Verdict(Kind.DEVIATION, said + ": no final response")
    return Verdict(Kind.CONFORMANT, said)


def bad_gateway_for(what: str, rule: tuple[str, str]) -> Callable[[Seen], Verdict]:
    """The origin's response is framed beyond repair: the client must get a 502."""

    def verdict(seen: Seen) -> Verdict:
        final = seen.client.final
        said = f"the origin sent {what}; the client saw {_statuses(seen)}"
        if final is not None and final.status == 502:
            return Verdict(Kind.CONFORMANT, said)
        return Verdict(Kind.VIOLATION, said, *rule)

    return verdict


def length_and_chunked(seen: Seen) -> Verdict:
    final = seen.client.final
    said = (
        "the origin sent Transfer-Encoding: chunked and a Content-Length; the client saw "
        + _statuses(seen)
    )
    if final is None or final.status >= 500:
        return Verdict(Kind.CONFORMANT, said + " (the proxy refused the response)")
    if final.header("content-length") is not None and final.header("transfer-encoding"):
        return Verdict(Kind.VIOLATION, said + ", with both fields", *LENGTH_AND_CHUNKED)
    return Verdict(Kind.CONFORMANT, said + ", framed one way")


def not_complete(what: str) -> Callable[[Seen], Verdict]:
    """A broken body (a bad chunk, no last chunk, a reset): the client must not get a
    response that looks complete, and its connection must end."""

    def verdict(seen: Seen) -> Verdict:
        missing = _reached(seen)
        if missing is not None:
            return missing
        final = seen.client.final
        said = f"the origin sent {what}; the client saw {_statuses(seen)}"
        if final is None or final.status >= 500:
            return Verdict(Kind.CONFORMANT, said)
        body = f"{len(final.body)} body bytes"
        if final.complete:
            return Verdict(
                Kind.VIOLATION,
                said + f", {body}, complete as framed: the fault was hidden",
                *INCOMPLETE,
            )
        if seen.client.ending is Ending.OPEN:
            return Verdict(
                Kind.VIOLATION, said + f", {body}, and the connection stayed open", *INCOMPLETE
            )
        return Verdict(Kind.CONFORMANT, said + f", {body}, connection {seen.client.ending.value}")

    return verdict


def bad_gateway_on_close(seen: Seen) -> Verdict:
    final = seen.client.final
    said = f"the origin closed without a response; the client saw {_statuses(seen)}"
    if final is not None and final.status >= 500:
        return Verdict(Kind.CONFORMANT, said)
    if final is None:
        return Verdict(Kind.DEVIATION, said)
    return Verdict(Kind.DEVIATION, said + f": a {final.status} for a failed upstream")


#: The opening handshake's key and the accept value it calls for (RFC 6455 section 4.2.2).
WEBSOCKET_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
WEBSOCKET_ACCEPT = base64.b64encode(
    hashlib.sha1((WEBSOCKET_KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
).decode()
#: A masked text frame "hello" (RFC 6455 section 5.2; a client masks), and the server's echo.
_MASK = b"\x37\xfa\x21\x3d"
HELLO_FRAME = b"\x81\x85" + _MASK + bytes(c ^ _MASK[i % 4] for i, c in enumerate(b"hello"))
HELLO_ECHO = b"\x81\x05hello"
#: The opening handshake's header fields (RFC 6455 section 4.1).
UPGRADE = (
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", WEBSOCKET_KEY),
    ("Sec-WebSocket-Version", "13"),
)


def websocket_tunnel(seen: Seen) -> Verdict:
    """An opening handshake to an echo: the 101 reaches the client, then frames pass."""
    final = seen.client.final
    said = f"the client saw {_statuses(seen)}"
    if final is None or final.status != 101:
        return Verdict(Kind.DEVIATION, said + ": the upgrade did not get through")
    if final.header("sec-websocket-accept") != WEBSOCKET_ACCEPT:
        return Verdict(Kind.DEVIATION, said + " with another Sec-WebSocket-Accept")
    if seen.client.after.startswith(HELLO_ECHO):
        return Verdict(Kind.CONFORMANT, said + ", and a frame went through and back")
    return Verdict(Kind.DEVIATION, said + ", but a frame sent after it did not come back")


def _upgrade_not_passed(seen: Seen) -> Verdict | None:
    if seen.origin is not None and seen.origin_header("upgrade") is None:
        return Verdict(
            Kind.NOT_APPLICABLE,
            "the proxy did not pass Upgrade to the origin (WebSocket needs configuring)",
        )
    return None


def websocket_refusal_relayed(seen: Seen) -> Verdict:
    skipped = _upgrade_not_passed(seen)
    if skipped is not None:
        return skipped
    final = seen.client.final
    said = f"the origin answered the upgrade with 200; the client saw {_statuses(seen)}"
    if final is not None and final.status == 200:
        return Verdict(Kind.CONFORMANT, said)
    return Verdict(Kind.DEVIATION, said)


def unasked_switch(seen: Seen) -> Verdict:
    final = seen.client.final
    said = f"the origin sent a 101 to a request without Upgrade; the client saw {_statuses(seen)}"
    if final is not None and final.status == 101:
        return Verdict(Kind.VIOLATION, said + ": the switch was passed on", *SWITCH_ASKED)
    return Verdict(Kind.CONFORMANT, said)


def bad_accept_passed(seen: Seen) -> Verdict:
    """A 101 with a wrong Sec-WebSocket-Accept: the client must fail the connection (RFC 6455
    section 4.1); a proxy may pass the handshake through or refuse it."""
    skipped = _upgrade_not_passed(seen)
    if skipped is not None:
        return skipped
    final = seen.client.final
    said = (
        f"the origin sent a 101 with a wrong Sec-WebSocket-Accept; the client saw {_statuses(seen)}"
    )
    if final is not None and final.status == 101:
        if final.header("sec-websocket-accept") == WEBSOCKET_ACCEPT:
            return Verdict(Kind.DEVIATION, said + ", its accept value rewritten")
        return Verdict(Kind.CONFORMANT, said + ", unchanged: the client can fail it")
    return Verdict(Kind.CONFORMANT, said + ": the proxy refused it")


def reused_after_refusal(seen: Seen) -> Verdict:
    """After a 417 to an Expect upload, a second request on the same connection."""
    final = seen.client.final
    said = f"the client saw {_statuses(seen)} for the upload"
    if final is None:
        return Verdict(Kind.DEVIATION, said)
    if "close" in (final.header("connection") or "").lower():
        return Verdict(Kind.CONFORMANT, said + " with Connection: close (no reuse offered)")
    if seen.client.ending is not Ending.OPEN:
        return Verdict(Kind.DEVIATION, said + ", then a close no response announced")
    second = parse([(0.0, seen.client.after)]).final
    if second is not None and second.status == 200:
        return Verdict(Kind.CONFORMANT, said + "; the connection then served a GET: 200")
    if second is None and not seen.client.after:
        return Verdict(Kind.DEVIATION, said + "; a GET on the same connection got no answer")
    got = second.status if second is not None else "garbage"
    return Verdict(Kind.DEVIATION, said + f"; a GET on the same connection got {got}")


def trickle_holds_off(seen: Seen) -> Verdict:
    """102 every second for longer than the proxy's read timeout, then 200."""
    timeout = seen.proxy_timeout
    final = seen.client.final
    got = len(seen.client.interims)
    said = (
        f"102 every second for {timeout:g} s + 2 s, then 200, against a {timeout:g} s read "
        f"timeout; the client saw {got} interim response{'s' if got != 1 else ''}: "
        f"{_statuses(seen)}"
    )
    if final is not None and final.status == 200:
        return Verdict(Kind.CONFORMANT, said + ": the 102s held off the timeout")
    at = f" at {final.at:.1f} s" if final is not None else ""
    return Verdict(Kind.DEVIATION, said + f"{at}: the proxy gave up while 102s kept coming")


def silence_times_out(seen: Seen) -> Verdict:
    """One 102, then silence past the proxy's read timeout: the proxy gives up (a CDN's 522)."""
    timeout = seen.proxy_timeout
    final = seen.client.final
    said = (
        f"a 102, then {timeout:g} s + 2 s of silence, then 200, against a {timeout:g} s read "
        f"timeout; the client saw {_statuses(seen)}"
    )
    if final is not None and final.status >= 500:
        return Verdict(Kind.CONFORMANT, said + f" at {final.at:.1f} s: the timeout held")
    if final is not None and final.status == 200:
        return Verdict(Kind.DEVIATION, said + ": the proxy waited past its timeout after a 102")
    return Verdict(Kind.DEVIATION, said + ": no answer from the proxy")


def hang_times_out(seen: Seen) -> Verdict:
    timeout = seen.proxy_timeout
    final = seen.client.final
    said = (
        f"the origin never answered, against a {timeout:g} s read timeout; "
        f"the client saw {_statuses(seen)}"
    )
    if final is not None and final.status >= 500:
        return Verdict(Kind.CONFORMANT, said + f" at {final.at:.1f} s")
    return Verdict(Kind.DEVIATION, said)
