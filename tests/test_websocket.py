"""WebSocket on a real port, against a client no one here wrote: the ``websockets`` library.

Each test runs the ``websockets`` asyncio client (``asyncio.run`` in a thread: the origin runs
in this test's reactor) against the in-process origin on 127.0.0.1, picks the profile with
``Fakeorigin-Profile``, and checks what the client saw, then the journal. Every client step has
a timeout. Plain HTTP goes through curl, h11 or a raw socket (tests/clients.py).
"""

from __future__ import annotations

import asyncio
import gc
import random
import re
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import h11
import pytest
import pytest_twisted
from autobahn.twisted.websocket import WebSocketServerProtocol
from twisted.internet.threads import deferToThread
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidStatus,
    InvalidUpgrade,
)
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from fakeorigin import __version__
from fakeorigin.core.journal import Event, ExchangeRecord, Outcome
from fakeorigin.core.loader import bundled_profiles_dir, load_profile_dir, profile_from_data
from fakeorigin.core.websocket_journal import Opcode
from fakeorigin.websocket.session import WebSocketSession
from tests.clients import HOST, Ended, curl, raw_exchange
from tests.conftest import RunningOrigin

pytestmark = pytest.mark.realsocket

#: No client step may take longer than this.
STEP_SECONDS = 10.0

T = TypeVar("T")


def session(
    port: int,
    profile: str,
    steps: Callable[[ClientConnection], Awaitable[T]],
    **options: Any,
) -> T:
    """Open a WebSocket to ``profile`` with the ``websockets`` client, run ``steps``, close."""

    async def main() -> T:
        async with connect(
            f"ws://{HOST}:{port}/chat",
            additional_headers={"Fakeorigin-Profile": profile},
            open_timeout=STEP_SECONDS,
            close_timeout=STEP_SECONDS,
            max_size=None,
            **options,
        ) as ws:
            return await asyncio.wait_for(steps(ws), STEP_SECONDS)

    return asyncio.run(main())


def failure(port: int, profile: str, **options: Any) -> BaseException:
    """What the client raises when it connects to ``profile`` and waits for a message."""

    async def recv(ws: ClientConnection) -> object:
        return await ws.recv()

    try:
        session(port, profile, recv, **options)
    except Exception as err:
        return err
    raise AssertionError(f"the client accepted {profile}")


async def run(port: int, profile: str, steps: Callable[[ClientConnection], Awaitable[T]]) -> T:
    result: T = await deferToThread(session, port, profile, steps)
    return result


def add(origin: RunningOrigin, name: str, **fields: Any) -> None:
    data = {"name": name, "steps": [{"websocket": fields}]}
    origin.state.put_profile(profile_from_data(data, name))


def ws_record(origin: RunningOrigin) -> ExchangeRecord:
    records = [r for r in origin.records() if r.websocket is not None]
    assert len(records) == 1, [r.to_dict() for r in origin.records()]
    return records[0]


def events(record: ExchangeRecord) -> list[tuple[str, int | None]]:
    return [(entry.event, entry.status) for entry in record.timeline]


# -- echo ------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_echo_text_and_binary_with_a_1_mib_message(origin: RunningOrigin) -> None:
    big = random.Random(4).randbytes(1 << 20)

    async def steps(ws: ClientConnection) -> list[Any]:
        await ws.send("hello")
        text = await ws.recv()
        await ws.send(big)
        binary = await ws.recv()
        assert ws.response is not None
        extensions = ws.response.headers.get_all("Sec-WebSocket-Extensions")
        return [text, binary, ws.subprotocol, extensions]

    text, binary, subprotocol, extensions = await run(origin.port_number, "websocket-echo", steps)

    assert (text, binary == big, subprotocol) == ("hello", True, None)
    assert extensions == ["permessage-deflate"]
    await origin.settle()
    record = ws_record(origin)
    websocket = record.websocket
    assert websocket is not None
    assert websocket.offered_extensions == ["permessage-deflate; client_max_window_bits"]
    assert websocket.extensions == ["permessage-deflate"]
    assert websocket.response_head is not None
    assert websocket.response_head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"\r\nServer: fakeorigin/" + __version__.encode() + b"\r\n" in websocket.response_head
    assert [(m.direction, m.opcode, m.length) for m in websocket.messages] == [
        ("received", Opcode.TEXT, 5),
        ("sent", Opcode.TEXT, 5),
        ("received", Opcode.BINARY, 1 << 20),
        ("sent", Opcode.BINARY, 1 << 20),
        ("received", Opcode.CLOSE, 2),
        ("sent", Opcode.CLOSE, 2),
    ]
    assert websocket.messages[2].head == big[:256]
    assert all(0 <= m.seconds < STEP_SECONDS for m in websocket.messages)
    assert [m.seconds for m in websocket.messages] == sorted(m.seconds for m in websocket.messages)
    assert events(record) == [
        ("body-complete", None),
        ("upgrade-sent", 101),
        ("websocket-close-received", None),
        ("websocket-close-sent", None),
        ("websocket-closed", None),
    ]
    assert (websocket.clean, record.outcome) == (True, Outcome.UPGRADED)
    assert record.to_dict()["websocket"]["close_received"]["code"] == 1000


@pytest_twisted.ensureDeferred
async def test_an_ended_session_is_freed_without_the_collector(origin: RunningOrigin) -> None:
    """No reference cycle outlives the connection: the session, autobahn's protocol and its
    permessage-deflate state go by reference counting, not at a full collection (which a
    busy server runs rarely: the long load run peaked 250 MiB higher while they waited)."""

    async def echo_once(ws: ClientConnection) -> Any:
        await ws.send("hello")
        return await ws.recv()

    def alive() -> list[str]:
        kinds = (WebSocketSession, WebSocketServerProtocol)
        return [type(o).__name__ for o in gc.get_objects() if issubclass(type(o), kinds)]

    gc.collect()
    assert alive() == []
    gc.disable()
    try:
        assert await run(origin.port_number, "websocket-echo", echo_once) == "hello"
        await origin.settle()
        left = alive()
    finally:
        gc.enable()
    assert ws_record(origin).outcome is Outcome.UPGRADED
    assert left == []


@pytest_twisted.ensureDeferred
async def test_plain_http_before_and_after_a_websocket_session(origin: RunningOrigin) -> None:
    before = await deferToThread(curl, f"{origin.url}/before")

    async def steps(ws: ClientConnection) -> object:
        await ws.send("between")
        return await ws.recv()

    echoed = await run(origin.port_number, "websocket-echo", steps)
    after = await deferToThread(curl, f"{origin.url}/after")

    assert (before.exit_code, before.http_code, echoed) == (0, 200, "between")
    assert (after.exit_code, after.http_code) == (0, 200)
    await origin.settle()
    assert [(r.target, r.profile, r.outcome) for r in origin.records()] == [
        ("/before", "default", Outcome.KEEP_ALIVE),
        ("/chat", "websocket-echo", Outcome.UPGRADED),
        ("/after", "default", Outcome.KEEP_ALIVE),
    ]


# -- subprotocols and extensions -----------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        pytest.param(["chat.v1", "chat.v2"], "chat.v1", id="the client's first"),
        pytest.param(["x", "chat.v2"], "chat.v2", id="the first we speak"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_subprotocol_negotiation(
    origin: RunningOrigin, offered: list[str], chosen: str
) -> None:
    async def steps(ws: ClientConnection) -> object:
        return ws.subprotocol

    got = await deferToThread(
        session,
        origin.port_number,
        "websocket-subprotocol",
        steps,
        subprotocols=[Subprotocol(name) for name in offered],
    )

    assert got == chosen
    await origin.settle()
    websocket = ws_record(origin).websocket
    assert websocket is not None
    assert (websocket.offered_subprotocols, websocket.subprotocol) == (offered, chosen)
    assert ("Sec-WebSocket-Protocol: " + chosen).encode() in (websocket.response_head or b"")


@pytest_twisted.ensureDeferred
async def test_require_subprotocol_refuses_with_400(origin: RunningOrigin) -> None:
    error = await deferToThread(failure, origin.port_number, "websocket-subprotocol")

    assert isinstance(error, InvalidStatus), repr(error)
    assert str(error) == "server rejected WebSocket connection: HTTP 400"
    assert error.response.body == (
        b"this resource needs one of the subprotocols chat.v2, chat.v1 (offered: none)\n"
    )
    await origin.settle()
    (record,) = origin.records()
    assert (record.websocket, record.outcome) == (None, Outcome.KEEP_ALIVE)
    assert ("response-started", 400) in events(record)


@pytest_twisted.ensureDeferred
async def test_permessage_deflate_off(origin: RunningOrigin) -> None:
    add(origin, "plain", permessage_deflate=False)

    async def steps(ws: ClientConnection) -> object:
        await ws.send("x" * 1000)
        await ws.recv()
        assert ws.response is not None
        return ws.response.headers.get_all("Sec-WebSocket-Extensions")

    assert await run(origin.port_number, "plain", steps) == []
    await origin.settle()
    websocket = ws_record(origin).websocket
    assert websocket is not None
    assert websocket.extensions == []
    assert websocket.offered_extensions == ["permessage-deflate; client_max_window_bits"]


# -- close codes, both ways ------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_client_close_code_is_echoed(origin: RunningOrigin) -> None:
    async def steps(ws: ClientConnection) -> object:
        await ws.close(4001, "client bye")
        return ws.close_code, ws.close_reason

    assert await run(origin.port_number, "websocket-echo", steps) == (4001, "client bye")
    await origin.settle()
    record = ws_record(origin)
    websocket = record.websocket
    assert websocket is not None
    assert websocket.close_received is not None
    assert websocket.close_sent is not None
    assert (websocket.close_received.code, websocket.close_received.reason) == (
        4001,
        "client bye",
    )
    assert (websocket.close_sent.code, websocket.close_sent.reason) == (4001, "client bye")
    assert websocket.clean is True


def read_to_the_end(port: int, profile: str) -> tuple[str, int | None]:
    """The ``websockets`` client (sans-I/O, on a plain socket) through a session fakeorigin
    closes: how the TCP connection ended (``fin``, ``reset``) and the code of its Close."""
    client = ClientProtocol(parse_uri(f"ws://{HOST}:{port}/chat"))
    request = client.connect()
    request.headers["Fakeorigin-Profile"] = profile
    client.send_request(request)
    with socket.create_connection((HOST, port), timeout=STEP_SECONDS) as sock:
        sock.sendall(b"".join(client.data_to_send()))
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                return "reset", client.close_rcvd.code if client.close_rcvd else None
            if not data:
                client.receive_eof()
                return "fin", client.close_rcvd.code if client.close_rcvd else None
            client.receive_data(data)
            client.events_received()
            sock.sendall(b"".join(client.data_to_send()))


@pytest_twisted.ensureDeferred
async def test_a_close_fakeorigin_begins_ends_with_a_fin_after_both_close_frames(
    origin: RunningOrigin,
) -> None:
    add(origin, "closes", mode="script", script=[{"close": {"code": 1000, "reason": "bye"}}])
    ended = await deferToThread(read_to_the_end, origin.port_number, "closes")
    assert ended == ("fin", 1000)
    await origin.settle()
    websocket = ws_record(origin).websocket
    assert websocket is not None
    assert websocket.clean is True


@pytest_twisted.ensureDeferred
async def test_script_demo_greets_answers_pings_and_closes_1000(origin: RunningOrigin) -> None:
    async def steps(ws: ClientConnection) -> list[Any]:
        seen: list[Any] = [await ws.recv()]
        await ws.send("hi there")
        seen.append(await ws.recv())
        with pytest.raises(ConnectionClosedOK) as closed:
            await ws.recv()
        rcvd = closed.value.rcvd
        seen.append(rcvd and (rcvd.code, rcvd.reason))
        return seen

    seen = await run(origin.port_number, "websocket-script-demo", steps)

    assert seen == ["hello from fakeorigin", "got it", (1000, "bye")]
    await origin.settle()
    record = ws_record(origin)
    websocket = record.websocket
    assert websocket is not None
    assert [(m.direction, m.opcode) for m in websocket.messages] == [
        ("sent", Opcode.TEXT),
        ("received", Opcode.TEXT),
        ("sent", Opcode.TEXT),
        ("sent", Opcode.PING),
        ("received", Opcode.PONG),  # websockets answers pings itself
        ("sent", Opcode.CLOSE),
        ("received", Opcode.CLOSE),
    ]
    assert websocket.messages[1].head == b"hi there"
    assert (websocket.clean, record.outcome) == (True, Outcome.UPGRADED)


@pytest_twisted.ensureDeferred
async def test_server_close_code_reaches_the_client(origin: RunningOrigin) -> None:
    add(origin, "custom-close", mode="script", script=[{"close": {"code": 4000, "reason": "done"}}])
    error = await deferToThread(failure, origin.port_number, "custom-close")

    assert isinstance(error, ConnectionClosedError), repr(error)
    assert error.rcvd is not None
    assert (error.rcvd.code, error.rcvd.reason) == (4000, "done")
    await origin.settle()
    websocket = ws_record(origin).websocket
    assert websocket is not None
    assert websocket.close_received is not None
    assert websocket.close_received.code == 4000  # the client's reply


@pytest_twisted.ensureDeferred
async def test_a_receive_mismatch_closes_1008(origin: RunningOrigin) -> None:
    add(origin, "strict", mode="script", script=[{"receive": {"text": "ping"}}])

    async def steps(ws: ClientConnection) -> object:
        await ws.send(b"\x01\x02")
        with pytest.raises(ConnectionClosedError) as closed:
            await ws.recv()
        rcvd = closed.value.rcvd
        return rcvd and (rcvd.code, rcvd.reason)

    assert await run(origin.port_number, "strict", steps) == (
        1008,
        "expected the text 'ping', got a binary message of 2 bytes",
    )
    await origin.settle()
    assert ("websocket-mismatch", None) in events(ws_record(origin))


@pytest_twisted.ensureDeferred
async def test_a_message_over_max_message_bytes_is_refused_with_1009(
    origin: RunningOrigin,
) -> None:
    add(origin, "small", max_message_bytes=1000)

    async def steps(ws: ClientConnection) -> object:
        await ws.send(b"x" * 1001)
        with pytest.raises(ConnectionClosedError) as closed:
            await ws.recv()
        rcvd = closed.value.rcvd
        return rcvd and rcvd.code

    assert await run(origin.port_number, "small", steps) == 1009


# -- deliberately broken handshakes, as the websockets client reports them ------------------


BROKEN = [
    pytest.param(
        "bad-accept",
        InvalidHeaderValue,
        "invalid Sec-WebSocket-Accept header: ICX+Yqv66kxgM0FcWaLWlFLwTAI=",
        id="bad-accept",
    ),
    pytest.param(
        "missing-upgrade-header", InvalidUpgrade, "missing Upgrade header", id="no Upgrade"
    ),
    pytest.param(
        "status-200", InvalidStatus, "server rejected WebSocket connection: HTTP 200", id="200"
    ),
    pytest.param(
        "close-after-101",
        ConnectionClosedError,
        "no close frame received or sent",
        id="close-after-101",
    ),
    pytest.param(
        "http-after-101",
        ConnectionClosedError,
        "sent 1002 (protocol error) reserved bits must be 0; no close frame received",
        id="http-after-101",
    ),
    pytest.param(
        "unsolicited-101",
        InvalidHeader,
        "missing Sec-WebSocket-Accept header",
        id="unsolicited-101",
    ),
]


@pytest.mark.parametrize(("handshake", "error_type", "message"), BROKEN)
@pytest_twisted.ensureDeferred
async def test_broken_handshake_is_rejected_by_the_client(
    origin: RunningOrigin, handshake: str, error_type: type[Exception], message: str
) -> None:
    name = "websocket-bad-accept" if handshake == "bad-accept" else f"broken-{handshake}"
    if handshake != "bad-accept":
        add(origin, name, handshake=handshake)

    error = await deferToThread(failure, origin.port_number, name)

    assert type(error) is error_type, repr(error)
    assert str(error) == message
    await origin.settle()
    (record,) = origin.records()
    broken = record.events(Event.WEBSOCKET_BROKEN_HANDSHAKE)
    assert len(broken) == 1
    assert broken[0].detail is not None
    assert broken[0].detail.startswith(handshake + ": ")
    if handshake == "bad-accept":
        assert record.websocket is not None
        assert (record.websocket.handshake, record.websocket.clean) == ("bad-accept", False)
        assert record.outcome is Outcome.UPGRADED
    else:
        assert (record.websocket, record.outcome) == (None, Outcome.CLOSED)


@pytest_twisted.ensureDeferred
async def test_unsolicited_101_to_a_plain_request_is_refused_by_h11(origin: RunningOrigin) -> None:
    add(origin, "unsolicited", handshake="unsolicited-101")
    request = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nFakeorigin-Profile: unsolicited\r\n\r\n"
    result = await deferToThread(raw_exchange, origin.port_number, request)

    assert result.data == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Server: fakeorigin/" + __version__.encode() + b"\r\n\r\n"
    )
    assert result.ended is Ended.EOF
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "127.0.0.1")]))
    client.send(h11.EndOfMessage())
    client.receive_data(result.data)
    with pytest.raises(h11.RemoteProtocolError, match="without a pending proposal"):
        client.next_event()


# -- refusals: 426 Upgrade Required ----------------------------------------------------------


NO_UPGRADE = (
    b"this resource speaks WebSocket: send an opening handshake with Upgrade: websocket and "
    b"Connection: Upgrade (RFC 6455 section 4.1)\n"
)
DATE = rb"Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n"


def refusal_426(text: bytes, connection: bytes = b"Upgrade") -> re.Pattern[bytes]:
    """fakeorigin's 426, byte for byte but for the Date."""
    return re.compile(
        re.escape(
            b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            b"Connection: " + connection + b"\r\nContent-Type: text/plain; charset=utf-8\r\n"
        )
        + DATE
        + re.escape(
            b"Server: fakeorigin/" + __version__.encode() + b"\r\n"
            b"Content-Length: %d\r\n\r\n" % len(text) + text
        )
    )


@pytest_twisted.ensureDeferred
async def test_a_plain_request_gets_426_with_upgrade_websocket(origin: RunningOrigin) -> None:
    result = await deferToThread(
        curl, "-i", "-H", "Fakeorigin-Profile: websocket-refuse-426", f"{origin.url}/chat"
    )

    assert (result.exit_code, result.http_code) == (0, 426), result.stderr
    assert refusal_426(NO_UPGRADE).fullmatch(result.output), result.output
    await origin.settle()
    (record,) = origin.records()
    assert (record.profile, record.outcome, record.websocket) == (
        "websocket-refuse-426",
        Outcome.KEEP_ALIVE,
        None,
    )
    assert events(record) == [("body-complete", None), ("response-started", 426)]


@pytest_twisted.ensureDeferred
async def test_another_websocket_version_gets_426_naming_13(origin: RunningOrigin) -> None:
    request = (
        b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n"
        b"Fakeorigin-Profile: websocket-refuse-426\r\nConnection: close\r\n\r\n"
    )
    result = await deferToThread(raw_exchange, origin.port_number, request)

    text = b"Sec-WebSocket-Version must be 13 (got 8) (RFC 6455 section 4.2.2)\n"
    assert refusal_426(text, b"Upgrade, close").fullmatch(result.data), result.data
    assert result.ended is Ended.EOF


# -- bundled profiles --------------------------------------------------------------------------


def test_every_bundled_websocket_profile_is_used_here() -> None:
    names = [n for n in load_profile_dir(bundled_profiles_dir()) if n.startswith("websocket-")]
    assert sorted(names) == [
        "websocket-bad-accept",
        "websocket-echo",
        "websocket-refuse-426",
        "websocket-script-demo",
        "websocket-subprotocol",
    ]
    source = Path(__file__).read_text(encoding="utf-8")
    assert [name for name in names if source.count(f'"{name}"') < 2] == []
