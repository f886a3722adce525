"""The ``websocket`` step: check the opening handshake (RFC 6455 section 4.1), refuse one that
is not, upgrade by handing the connection to autobahn, or break the handshake on purpose
with HTTP/1.1 bytes of its own."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterator

from fakeorigin.core.actions import (
    Action,
    AwaitBody,
    End,
    Ending,
    HandOff,
    Note,
    WriteHttp1,
)
from fakeorigin.core.engine.view import ExchangeView
from fakeorigin.core.journal import Event
from fakeorigin.core.profile import (
    RAW_HANDSHAKES,
    WebSocket,
)
from fakeorigin.core.wire import (
    SERVER_HEADER,
    Header,
    RequestHead,
    has_header,
    http_date,
    response_head,
)

#: RFC 6455 section 1.3: the GUID a server appends to Sec-WebSocket-Key.
_WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: A key whose accept value is sent by ``bad-accept`` (the client's key never is).
WRONG_KEY = b"AAAAAAAAAAAAAAAAAAAAAA=="
#: What ``http-after-101`` sends where the first WebSocket frame belongs.
HTTP_AFTER_101 = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 36\r\n\r\n"
    b"this is HTTP, not a WebSocket frame\n"
)

#: Each broken handshake and the rule it breaks, for the journal.
BROKEN_HANDSHAKES = {
    "bad-accept": "a wrong Sec-WebSocket-Accept (breaks RFC 6455 section 4.2.2)",
    "missing-upgrade-header": "a 101 without Upgrade (breaks RFC 9110 section 7.8 and "
    "RFC 6455 section 4.2.2)",
    "status-200": "200 instead of 101 (breaks RFC 6455 section 4.2.2)",
    "close-after-101": "a FIN right after the 101, no Close frame (breaks RFC 6455 section 7.1.2)",
    "http-after-101": "an HTTP response after the 101 (breaks RFC 9110 section 7.8)",
    "unsolicited-101": "a 101 the request did not ask for (breaks RFC 9110 section 7.8)",
}


def websocket_accept(key: bytes) -> bytes:
    """Sec-WebSocket-Accept for ``key``: base64 of the SHA-1 of the key and the GUID (RFC 6455
    section 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.strip() + _WEBSOCKET_GUID).digest())


def _list_values(request: RequestHead, name: bytes) -> list[bytes]:
    """The members of a comma-separated list field, in order, across repeated lines."""
    return [
        part.strip() for value in request.values(name) for part in value.split(b",") if part.strip()
    ]


def offered_subprotocols(request: RequestHead) -> tuple[str, ...]:
    """The client's Sec-WebSocket-Protocol list, in its order."""
    return tuple(p.decode("latin-1") for p in _list_values(request, b"sec-websocket-protocol"))


def _valid_key(key: bytes) -> bool:
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except binascii.Error:
        return False


#: RFC 6455 section 4.2.2: a server that does not speak the client's version answers 426 with
#: the versions it does speak; a request that is no upgrade at all gets the same (RFC 9110
#: section 15.5.22: a 426 names the protocol in Upgrade).
_UPGRADE_REQUIRED = 426


def handshake_problem(request: RequestHead) -> tuple[int, str] | None:
    """Why ``request`` is not a WebSocket opening handshake (RFC 6455 section 4.1), as the
    status to refuse it with (426 or 400) and the reason; None when it is one."""
    if b"websocket" not in {t.lower() for t in _list_values(request, b"upgrade")} or (
        b"upgrade" not in {t.lower() for t in _list_values(request, b"connection")}
    ):
        return _UPGRADE_REQUIRED, (
            "this resource speaks WebSocket: send an opening handshake with "
            "Upgrade: websocket and Connection: Upgrade (RFC 6455 section 4.1)"
        )
    versions = request.values(b"sec-websocket-version")
    if [v.strip() for v in versions] != [b"13"]:
        got = b", ".join(versions).decode("latin-1") or "none"
        return _UPGRADE_REQUIRED, (
            f"Sec-WebSocket-Version must be 13 (got {got}) (RFC 6455 section 4.2.2)"
        )
    if request.method != b"GET":
        return 400, "a WebSocket opening handshake is a GET (RFC 6455 section 4.1)"
    if request.http_version != b"1.1":
        return 400, "a WebSocket opening handshake needs HTTP/1.1 (RFC 6455 section 4.1)"
    keys = request.values(b"sec-websocket-key")
    if len(keys) != 1 or not _valid_key(keys[0]):
        return 400, (
            "a WebSocket opening handshake has one Sec-WebSocket-Key: 16 bytes in base64 "
            "(RFC 6455 section 4.1)"
        )
    offered = offered_subprotocols(request)
    if len(set(offered)) != len(offered):
        return 400, "Sec-WebSocket-Protocol offers a subprotocol twice (RFC 6455 section 4.1)"
    return None


def websocket_step(spec: WebSocket, view: ExchangeView) -> Iterator[Action]:
    """Refuse a request that is no opening handshake, else upgrade (or break it on purpose)."""
    request = view.request
    if spec.handshake == "unsolicited-101":
        yield Note(Event.WEBSOCKET_BROKEN_HANDSHAKE, None, _broken(spec.handshake))
        head = response_head(101, None, _upgrade_headers(spec, None, None))
        yield WriteHttp1(head, Event.UPGRADE_SENT, 101)
        yield End(Ending.CLOSE)
        return
    problem = handshake_problem(request)
    offered = offered_subprotocols(request)
    chosen = next((name for name in offered if name in spec.subprotocols), None)
    if problem is None and spec.require_subprotocol and chosen is None:
        problem = (
            400,
            (
                f"this resource needs one of the subprotocols {', '.join(spec.subprotocols)} "
                f"(offered: {', '.join(offered) or 'none'})"
            ),
        )
    if problem is not None:
        yield from _refuse_handshake(*problem, view)
        return
    if not view.body.complete:
        yield AwaitBody()  # what follows the body is WebSocket frames
    if spec.handshake != "conformant":
        yield Note(Event.WEBSOCKET_BROKEN_HANDSHAKE, None, _broken(spec.handshake))
    if spec.handshake in RAW_HANDSHAKES:
        key = request.first(b"sec-websocket-key") or b""
        yield from _RAW_HANDSHAKES[spec.handshake](_upgrade_headers(spec, key, chosen), view)
        yield End(Ending.CLOSE)
        return
    yield HandOff(spec, chosen, offered)


def _broken(handshake: str) -> str:
    return f"{handshake}: {BROKEN_HANDSHAKES[handshake]}"


def _upgrade_headers(spec: WebSocket, key: bytes | None, chosen: str | None) -> list[Header]:
    """A 101's header fields in the order autobahn sends them (``Server`` and ``headers`` go
    where autobahn puts the extra headers fakeorigin gives it)."""
    headers = [(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade")]
    if not has_header(spec.headers, b"server"):
        headers.append((b"Server", SERVER_HEADER))
    headers.extend(spec.headers)
    if chosen is not None:
        headers.append((b"Sec-WebSocket-Protocol", chosen.encode("latin-1")))
    if key is not None:
        headers.append((b"Sec-WebSocket-Accept", websocket_accept(key)))
    return headers


def _without_upgrade(headers: list[Header], _view: ExchangeView) -> Iterator[Action]:
    kept = [(name, value) for name, value in headers if name != b"Upgrade"]
    yield WriteHttp1(response_head(101, None, kept), Event.UPGRADE_SENT, 101)


def _status_200(headers: list[Header], view: ExchangeView) -> Iterator[Action]:
    date = (b"Date", http_date(view.wall_clock()))
    head = response_head(200, None, [*headers, date, (b"Content-Length", b"0")])
    yield WriteHttp1(head, Event.RESPONSE_STARTED, 200)


def _upgrade_only(headers: list[Header], _view: ExchangeView) -> Iterator[Action]:
    yield WriteHttp1(response_head(101, None, headers), Event.UPGRADE_SENT, 101)


def _http_after_101(headers: list[Header], view: ExchangeView) -> Iterator[Action]:
    yield from _upgrade_only(headers, view)
    yield WriteHttp1(HTTP_AFTER_101, Event.RESPONSE_STARTED, 200, "after the 101")


#: The broken handshakes that write their own bytes (no autobahn session), by name.
_RAW_HANDSHAKES: dict[str, Callable[[list[Header], ExchangeView], Iterator[Action]]] = {
    "missing-upgrade-header": _without_upgrade,
    "status-200": _status_200,
    "close-after-101": _upgrade_only,
    "http-after-101": _http_after_101,
}


def _refuse_handshake(status: int, text: str, view: ExchangeView) -> Iterator[Action]:
    """An ordinary final response: the connection is kept when the request allows it."""
    request, body = view.request, view.body
    content = (text + "\n").encode("utf-8")
    closing = request.wants_close or not body.complete
    connection = [b"Upgrade"] if status == _UPGRADE_REQUIRED else []
    connection += [b"close"] if closing else []
    headers: list[Header] = []
    if status == _UPGRADE_REQUIRED:
        headers += [(b"Upgrade", b"websocket"), (b"Sec-WebSocket-Version", b"13")]
    if connection:
        headers.append((b"Connection", b", ".join(connection)))
    headers.append((b"Content-Type", b"text/plain; charset=utf-8"))
    headers += [(b"Date", http_date(view.wall_clock())), (b"Server", SERVER_HEADER)]
    headers.append((b"Content-Length", b"%d" % len(content)))
    head = response_head(status, None, headers)
    yield WriteHttp1(
        head if request.is_head else head + content, Event.RESPONSE_STARTED, status, text
    )
    yield End(Ending.CLOSE if closing else Ending.KEEP_ALIVE)
