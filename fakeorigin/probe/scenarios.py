"""The probe's scenarios: what the client sends through the proxy, what the origin does, and
the verdict read from both ends. Data in one registry (:data:`SCENARIOS`), a verdict function
each; ids are stable.

The verdicts are :mod:`.verdicts`: computed from what happened, never written per proxy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fakeorigin.probe.verdicts import (
    BAD_LENGTH,
    HELLO_FRAME,
    UPGRADE,
    Kind,
    Seen,
    Verdict,
    bad_accept_passed,
    bad_gateway_for,
    bad_gateway_on_close,
    early_final_relayed,
    expect_handled,
    forwards_interims,
    hang_times_out,
    interim_fields_forwarded,
    length_and_chunked,
    no_100_to_http10,
    no_interim_to_http10,
    not_complete,
    reused_after_refusal,
    silence_times_out,
    trickle_holds_off,
    unasked_switch,
    upstream_version,
    websocket_refusal_relayed,
    websocket_tunnel,
)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario.

    Attributes:
        id: stable kebab-case name.
        group: ``1xx``, ``expect``, ``version``, ``faults``, ``framing``.
        title: one line.
        steps: the origin profile's steps.
        method, http_version: the client's request line (``1.1`` or ``1.0``).
        headers: request header fields besides Host and the profile's selector.
        body: the request body (Content-Length is added when there is one).
        body_after_100: wait this long for a 100 before sending the body (Expect).
        read_seconds: how long the client reads at most.
        verdict: what the probe concludes from :class:`Seen`.
        then: bytes the client sends on the same connection after the final response (a
            second request, a WebSocket frame); what comes back is ``Seen.client.after``.
        timed: for a scenario about the proxy's upstream read timeout: given that timeout
            (``--proxy-timeout``), the steps and the seconds to read (``steps`` and
            ``read_seconds`` are then unused); without it the scenario is ``n/a``.
    """

    id: str
    group: str
    title: str
    steps: list[dict[str, Any]]
    verdict: Callable[[Seen], Verdict]
    method: str = "GET"
    http_version: str = "1.1"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    body_after_100: float | None = None
    read_seconds: float = 3.0
    timed: Callable[[float], tuple[list[dict[str, Any]], float]] | None = None
    then: bytes = b""


def _trickle(timeout: float) -> tuple[list[dict[str, Any]], float]:
    repeat = {"every": 1, "for": timeout + 2, "steps": [{"informational": {"status": 102}}]}
    return [{"repeat": repeat}, _OK], timeout + 6


def _silence(timeout: float) -> tuple[list[dict[str, Any]], float]:
    return [{"informational": {"status": 102}}, {"sleep": timeout + 2}, _OK], timeout + 6


def _hang(timeout: float) -> tuple[list[dict[str, Any]], float]:
    return [{"hang": {}}], timeout + 4


def _interims(status: int, count: int) -> list[dict[str, Any]]:
    return [{"informational": {"status": status}}] * count


_OK = {"respond": {"status": 200, "headers": {"content-type": "text/plain"}, "body": "ok\n"}}

SCENARIOS: dict[str, Scenario] = {
    scenario.id: scenario
    for scenario in (
        Scenario(
            "1xx-103-forwarded",
            "1xx",
            "a 103 Early Hints before the 200",
            [{"informational": {"status": 103, "headers": {"link": "</a.css>; rel=preload"}}}, _OK],
            forwards_interims(103),
        ),
        Scenario(
            "1xx-102-forwarded",
            "1xx",
            "a 102 Processing before the 200",
            [*_interims(102, 1), _OK],
            forwards_interims(102),
        ),
        Scenario(
            "1xx-unregistered-with-fields",
            "1xx",
            "an unregistered 199 with a field",
            [{"informational": {"status": 199, "headers": {"x-probe": "interim-field"}}}, _OK],
            interim_fields_forwarded,
        ),
        Scenario(
            "1xx-five-in-a-row",
            "1xx",
            "five 102s, then 200",
            [*_interims(102, 5), _OK],
            forwards_interims(*[102] * 5),
        ),
        Scenario(
            "1xx-eleven-in-a-row",
            "1xx",
            "eleven 103s, then 200",
            [*_interims(103, 11), _OK],
            forwards_interims(*[103] * 11),
        ),
        Scenario(
            "1xx-to-http10-client",
            "1xx",
            "a 103 toward an HTTP/1.0 client",
            [{"informational": {"status": 103}}, _OK],
            no_interim_to_http10,
            http_version="1.0",
        ),
        Scenario(
            "version-upstream",
            "version",
            "the HTTP version the proxy speaks upstream",
            [_OK],
            upstream_version,
        ),
        Scenario(
            "expect-upload",
            "expect",
            "an upload with Expect: 100-continue",
            [{"continue": {}}, {"read_body": {}}, _OK],
            expect_handled,
            method="POST",
            headers=(("Expect", "100-continue"), ("Content-Type", "text/plain")),
            body=b"x" * 2048,
            body_after_100=1.0,
        ),
        Scenario(
            "expect-417-relayed",
            "expect",
            "the origin refuses the expectation with 417",
            [{"respond": {"status": 417, "body": "no\n"}}],
            early_final_relayed(417),
            method="POST",
            headers=(("Expect", "100-continue"),),
            body=b"x" * 2048,
            body_after_100=1.0,
        ),
        Scenario(
            "faults-close-before-response",
            "faults",
            "the origin closes without a response",
            [{"close": {}}],
            bad_gateway_on_close,
        ),
        Scenario(
            "1xx-to-head",
            "1xx",
            "a 103 before the 200 to a HEAD request",
            [{"informational": {"status": 103}}, _OK],
            forwards_interims(103),
            method="HEAD",
        ),
        Scenario(
            "1xx-after-the-body",
            "1xx",
            "a 102 once the upload has arrived, then 200",
            [{"read_body": {}}, {"informational": {"status": 102}}, _OK],
            forwards_interims(102),
            method="POST",
            body=b"x" * 2048,
        ),
        Scenario(
            "version-upstream-for-http10",
            "version",
            "the version upstream for an HTTP/1.0 client",
            [_OK],
            upstream_version,
            http_version="1.0",
        ),
        Scenario(
            "expect-413-relayed",
            "expect",
            "the origin refuses the upload with 413 before its body",
            [{"respond": {"status": 413, "body": "too large\n"}}],
            early_final_relayed(413),
            method="POST",
            headers=(("Expect", "100-continue"),),
            body=b"x" * 2048,
            body_after_100=1.0,
        ),
        Scenario(
            "expect-delayed-100",
            "expect",
            "the origin's 100 comes after 0.5 s",
            [{"sleep": 0.5}, {"continue": {}}, {"read_body": {}}, _OK],
            expect_handled,
            method="POST",
            headers=(("Expect", "100-continue"),),
            body=b"x" * 2048,
            body_after_100=2.0,
        ),
        Scenario(
            "expect-http10-client",
            "expect",
            "Expect: 100-continue from an HTTP/1.0 client",
            [{"continue": {}}, {"read_body": {}}, _OK],
            no_100_to_http10,
            method="POST",
            http_version="1.0",
            headers=(("Expect", "100-continue"),),
            body=b"x" * 2048,
            body_after_100=1.0,
        ),
        Scenario(
            "framing-two-content-lengths",
            "framing",
            "two Content-Length fields that differ",
            [{"violate": {"id": "duplicate-content-length-differing"}}],
            bad_gateway_for("Content-Length: 6 and Content-Length: 7", BAD_LENGTH),
        ),
        Scenario(
            "framing-length-and-chunked",
            "framing",
            "Transfer-Encoding: chunked and a Content-Length",
            [{"violate": {"id": "content-length-with-chunked"}}],
            length_and_chunked,
        ),
        Scenario(
            "framing-bad-chunk-size",
            "framing",
            "a chunk size that is not hexadecimal",
            [{"violate": {"id": "chunked-bad-size"}}],
            not_complete("a chunked body whose chunk size is not hexadecimal"),
        ),
        Scenario(
            "framing-missing-last-chunk",
            "framing",
            "a chunked body without its last chunk",
            [{"violate": {"id": "chunked-missing-last-chunk"}}],
            not_complete("a chunked body without its last chunk, then closed"),
        ),
        Scenario(
            "faults-reset-mid-body",
            "faults",
            "a reset after half the body",
            [{"violate": {"id": "reset-mid-body"}}],
            not_complete("100 announced bytes, 50 of them, then a reset"),
        ),
        Scenario(
            "timeout-102-holds-off",
            "timeout",
            "102 every second for longer than the proxy's read timeout, then 200",
            [],
            trickle_holds_off,
            timed=_trickle,
        ),
        Scenario(
            "timeout-silence-after-102",
            "timeout",
            "a 102, then silence past the proxy's read timeout",
            [],
            silence_times_out,
            timed=_silence,
        ),
        Scenario(
            "faults-hang",
            "faults",
            "the origin never answers",
            [],
            hang_times_out,
            timed=_hang,
        ),
        Scenario(
            "websocket-upgrade",
            "websocket",
            "an opening handshake to an echo, then a frame",
            [{"websocket": {}}],
            websocket_tunnel,
            headers=UPGRADE,
            then=HELLO_FRAME,
        ),
        Scenario(
            "websocket-refused-with-200",
            "websocket",
            "the origin answers an upgrade with 200",
            [{"websocket": {"handshake": "status-200"}}],
            websocket_refusal_relayed,
            headers=UPGRADE,
        ),
        Scenario(
            "websocket-bad-accept",
            "websocket",
            "a 101 with a wrong Sec-WebSocket-Accept",
            [{"websocket": {"handshake": "bad-accept"}}],
            bad_accept_passed,
            headers=UPGRADE,
        ),
        Scenario(
            "websocket-unsolicited-101",
            "websocket",
            "a 101 to a request that asked no upgrade",
            [{"websocket": {"handshake": "unsolicited-101"}}],
            unasked_switch,
        ),
        Scenario(
            "expect-417-then-reuse",
            "expect",
            "a 417 to an Expect upload, then a GET on the same connection",
            [{"respond": {"status": 417, "body": "no\n"}}],
            reused_after_refusal,
            method="POST",
            headers=(("Expect", "100-continue"),),
            body=b"x" * 2048,
            body_after_100=1.0,
            then=b"GET /fakeorigin-probe/again HTTP/1.1\r\nHost: probe\r\n\r\n",
        ),
        Scenario(
            "framing-content-length-too-long",
            "framing",
            "the origin's Content-Length announces more than it sends",
            [
                {"raw": {"text": "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + "x" * 50}},
                {"close": {}},
            ],
            not_complete("100 announced bytes, 50 of them, then a close"),
        ),
    )
}


__all__ = ["SCENARIOS", "Kind", "Scenario", "Seen", "Verdict"]
