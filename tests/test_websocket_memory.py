"""WebSocket in memory: the step model, the session generator, and the hand-off to autobahn with
``task.Clock`` and ``StringTransport``.

The client side is the sans-I/O ``ClientProtocol`` of the ``websockets`` library (no one here
wrote it): it makes the opening handshake, masks and parses frames, and checks the 101 itself,
so these tests never build a frame by hand. autobahn's own testing helpers
(``create_memory_agent``) pair an autobahn client with an autobahn server class and pump the
I/O from the global reactor; the origin protocol is no autobahn class and these tests drive a
``task.Clock``, so the sans-I/O client fits better. Every test ends with no connection open
and no DelayedCall left.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from fakeorigin.core.actions import Note, Wait
from fakeorigin.core.engine import websocket_accept
from fakeorigin.core.engine.session import run_session
from fakeorigin.core.journal import Event, Outcome
from fakeorigin.core.loader import ProfileError, profile_from_data
from fakeorigin.core.profile import WebSocket
from fakeorigin.core.session_actions import (
    AwaitMessage,
    CloseSession,
    Message,
    SendMessage,
    SendPing,
    SessionAction,
)
from fakeorigin.core.websocket_journal import MAX_WEBSOCKET_MESSAGES
from fakeorigin.core.websocket_journal import Opcode as Op
from fakeorigin.http1.protocol import OriginProtocol
from tests.memory import DATE, SERVER, MemoryOrigin, timeline

# -- the model ------------------------------------------------------------------------------


def websocket_profile(**fields: Any) -> dict[str, Any]:
    return {"name": "ws", "steps": [{"websocket": fields}]}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        pytest.param(
            {"mode": "script"},
            "steps[0].websocket: mode script needs a non-empty script",
            id="script missing",
        ),
        pytest.param(
            {"script": [{"sleep": 1}]},
            "steps[0].websocket: a script needs mode: script",
            id="script without mode",
        ),
        pytest.param(
            {"mode": "script", "script": [{"send": {"text": "a"}, "sleep": 1}]},
            "steps[0].websocket.script[0]: a script action is a mapping with exactly one key, "
            "one of: send, receive, sleep, ping, close (got send, sleep)",
            id="two actions in one",
        ),
        pytest.param(
            {"mode": "script", "script": [{"send": {}}]},
            "steps[0].websocket.script[0].send: needs exactly one of text, binary_base64 "
            "(got none)",
            id="send nothing",
        ),
        pytest.param(
            {"mode": "script", "script": [{"receive": {"text": "a", "any": True}}]},
            "steps[0].websocket.script[0].receive: needs exactly one of text, binary_base64, "
            "any: true (got text, any)",
            id="receive text and any",
        ),
        pytest.param(
            {"mode": "script", "script": [{"receive": {"binary_base64": "!"}}]},
            "steps[0].websocket.script[0].receive.binary_base64: not valid base64 "
            "(Only base64 data is allowed)",
            id="receive bad base64",
        ),
        pytest.param(
            {"mode": "script", "script": [{"close": {"code": 1006}}]},
            "steps[0].websocket.script[0].close.code: 1006 cannot be sent in a Close frame "
            "(RFC 6455 section 7.4: 1000-1003, 1007-1014 or 3000-4999)",
            id="close 1006",
        ),
        pytest.param(
            {"mode": "script", "script": [{"close": {"reason": "x" * 124}}]},
            "steps[0].websocket.script[0].close.reason: a close reason is 124 bytes of UTF-8; "
            "at most 123 (RFC 6455 section 5.5)",
            id="close reason too long",
        ),
        pytest.param(
            {"mode": "script", "script": [{"ping": {"text": "é" * 63}}]},
            "steps[0].websocket.script[0].ping.text: a ping payload is 126 bytes of UTF-8; "
            "at most 125 (RFC 6455 section 5.5)",
            id="ping too long",
        ),
        pytest.param(
            {"require_subprotocol": True},
            "steps[0].websocket: require_subprotocol needs subprotocols",
            id="require without subprotocols",
        ),
        pytest.param(
            {"subprotocols": ["chat v1"]},
            "steps[0].websocket.subprotocols: invalid subprotocol 'chat v1' (RFC 6455 section "
            "4.1: a subprotocol is a token)",
            id="subprotocol not a token",
        ),
        pytest.param(
            {"headers": {"Sec-WebSocket-Accept": "x"}},
            "steps[0].websocket.headers: Sec-WebSocket-Accept is computed for the 101; use "
            "handshake for a broken one",
            id="computed header",
        ),
        pytest.param(
            {"handshake": "status-200", "close_after": 1},
            "steps[0].websocket: handshake: status-200 starts no WebSocket session, so "
            "close_after would never run",
            id="raw handshake with close_after",
        ),
        pytest.param(
            {"handshake": "upside-down"},
            "steps[0].websocket.handshake: Input should be 'conformant', 'bad-accept', "
            "'missing-upgrade-header', 'status-200', 'close-after-101', 'http-after-101' or "
            "'unsolicited-101'",
            id="unknown handshake",
        ),
        pytest.param(
            {"max_message_bytes": 0},
            "steps[0].websocket.max_message_bytes: Input should be greater than or equal to 1",
            id="max_message_bytes 0",
        ),
    ],
)
def test_bad_websocket_step_gets_a_located_error(fields: dict[str, Any], error: str) -> None:
    with pytest.raises(ProfileError) as raised:
        profile_from_data(websocket_profile(**fields), "ws.yaml")
    assert raised.value.problems == [f"ws.yaml: {error}"]


def test_nothing_may_follow_a_websocket_step() -> None:
    data = {"name": "ws", "steps": [{"websocket": {}}, {"close": {}}]}
    with pytest.raises(ProfileError) as raised:
        profile_from_data(data, "ws.yaml")
    assert raised.value.problems == [
        "ws.yaml: steps: steps[1] can never run: it follows a websocket step"
    ]


def test_no_websocket_after_respond() -> None:
    data = {"name": "ws", "steps": [{"respond": {"status": 200}}, {"websocket": {}}]}
    with pytest.raises(ProfileError) as raised:
        profile_from_data(data, "ws.yaml")
    assert "steps[1] sends a response after respond" in raised.value.problems[0]


def test_sec_websocket_accept_is_the_rfc_6455_example() -> None:
    # RFC 6455 section 1.3.
    assert websocket_accept(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# -- the session generator --------------------------------------------------------------------


def spec(**fields: Any) -> WebSocket:
    return WebSocket.model_validate(fields)


def script(*actions: dict[str, Any]) -> WebSocket:
    return spec(mode="script", script=list(actions))


#: What a test client does when the session awaits a message: deliver one, or let it time out.
TIMEOUT = None


def run(session: WebSocket, incoming: list[Message | None]) -> list[SessionAction]:
    """The session's actions when each AwaitMessage is answered with the next of ``incoming``
    (None: it timed out), up to the first AwaitMessage left without an answer."""
    actions = run_session(session)
    taken: list[SessionAction] = []
    value: Message | None = None
    while len(taken) < 20:
        try:
            action = actions.send(value)
        except StopIteration:
            break
        taken.append(action)
        value = None
        if isinstance(action, AwaitMessage):
            if not incoming:
                break  # an echo awaits for ever
            value = incoming.pop(0)
    return taken


HI = Message(b"hi", binary=False)
BLOB = Message(b"\x00\x01", binary=True)


@pytest.mark.parametrize(
    ("session", "incoming", "expected"),
    [
        pytest.param(
            spec(),
            [HI, BLOB],
            [
                AwaitMessage(None),
                SendMessage(HI),
                AwaitMessage(None),
                SendMessage(BLOB),
                AwaitMessage(None),
            ],
            id="echo",
        ),
        pytest.param(
            script(
                {"send": {"text": "hello"}},
                {"send": {"binary_base64": "AAE="}},
                {"ping": {"text": "p"}},
                {"sleep": 0.5},
            ),
            [],
            [
                SendMessage(Message(b"hello", binary=False)),
                SendMessage(BLOB),
                SendPing(b"p"),
                Wait(0.5),
                CloseSession(1000, ""),
            ],
            id="script ends: close 1000",
        ),
        pytest.param(
            script({"receive": {"text": "hi"}}, {"close": {"code": 4000, "reason": "bye"}}),
            [HI],
            [AwaitMessage(10.0), CloseSession(4000, "bye")],
            id="receive text, close",
        ),
        pytest.param(
            script({"receive": {"binary_base64": "AAE=", "timeout": 2}}, {"send": {"text": "x"}}),
            [BLOB],
            [AwaitMessage(2.0), SendMessage(Message(b"x", binary=False)), CloseSession(1000, "")],
            id="receive binary",
        ),
        pytest.param(
            script({"receive": {"any": True}}),
            [BLOB],
            [AwaitMessage(10.0), CloseSession(1000, "")],
            id="receive any",
        ),
        pytest.param(
            script({"receive": {"text": "ping"}}, {"send": {"text": "never"}}),
            [BLOB],
            [
                AwaitMessage(10.0),
                Note(
                    Event.WEBSOCKET_MISMATCH,
                    None,
                    "expected the text 'ping', got a binary message of 2 bytes",
                ),
                CloseSession(1008, "expected the text 'ping', got a binary message of 2 bytes"),
            ],
            id="mismatch: 1008",
        ),
        pytest.param(
            script({"receive": {"any": True, "timeout": 5}}),
            [TIMEOUT],
            [
                AwaitMessage(5.0),
                Note(Event.WEBSOCKET_MISMATCH, None, "no message within 5.0 s"),
                CloseSession(1008, "no message within 5.0 s"),
            ],
            id="timeout: 1008",
        ),
    ],
)
def test_run_session(
    session: WebSocket, incoming: list[Message | None], expected: list[SessionAction]
) -> None:
    assert run(session, incoming) == expected


def test_a_mismatch_is_shortened_and_its_reason_fits_a_close_frame() -> None:
    session = script({"receive": {"text": "a" * 200}})
    why = f"expected the text {'a' * 40!r}..., got the text {'é' * 40!r}..."
    reason = why.encode()[:123].decode("utf-8", "ignore")  # never half a character
    assert run(session, [Message("é".encode() * 100, binary=False)]) == [
        AwaitMessage(10.0),
        Note(Event.WEBSOCKET_MISMATCH, None, why),
        CloseSession(1008, reason),
    ]
    assert len(reason.encode()) in (122, 123)


# -- the hand-off, in memory -----------------------------------------------------------------


class WebSocketClient:
    """websockets' sans-I/O client on one in-memory connection to the origin."""

    def __init__(
        self,
        origin: MemoryOrigin,
        profile: str,
        *,
        subprotocols: list[str] | None = None,
        deflate: bool = False,
    ) -> None:
        self.connection = origin.connect()
        self.ws = ClientProtocol(
            parse_uri("ws://example.com/chat"),
            subprotocols=[Subprotocol(name) for name in subprotocols or []],
            extensions=[ClientPerMessageDeflateFactory()] if deflate else None,
            max_size=None,
        )
        request = self.ws.connect()
        request.headers["Fakeorigin-Profile"] = profile
        self.ws.send_request(request)
        self.response: Response | None = None
        self.frames: list[Frame] = []

    def flush(self) -> None:
        """Send what the client has to send, hand it what the origin wrote, lose the connection
        once both sides have closed it."""
        for _ in range(10):
            data = b"".join(self.ws.data_to_send())
            if data and not self.connection.lost:
                self.connection.send(data)
            written = self.connection.take()
            if written:
                self.ws.receive_data(written)
            if self.connection.state != "open" and not self.connection.lost:
                self.ws.receive_eof()
                self.connection.lose()
            for event in self.ws.events_received():
                if isinstance(event, Response):
                    self.response = event
                elif isinstance(event, Frame):
                    self.frames.append(event)
            if not data and not written:
                return

    def take_frames(self) -> list[tuple[Opcode, bytes]]:
        self.flush()
        frames, self.frames = self.frames, []
        return [(frame.opcode, bytes(frame.data)) for frame in frames]

    @property
    def protocol(self) -> OriginProtocol:
        return self.connection.protocol


@pytest.fixture
def origin() -> Iterator[MemoryOrigin]:
    """The bundled profiles and a few of our own; afterwards, nothing left open or pending."""
    memory = MemoryOrigin()
    yield memory
    assert memory.shutdown() == [], "DelayedCalls left after every connection was lost"
    assert memory.factory.connections == set()


def add(origin: MemoryOrigin, name: str, **fields: Any) -> None:
    origin.add(profile_from_data({"name": name, "steps": [{"websocket": fields}]}, name))


def record_of(origin: MemoryOrigin) -> Any:
    record = origin.records()[-1]
    assert record.websocket is not None, record.to_dict()
    return record


HANDSHAKE = (
    b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Fakeorigin-Profile: %s\r\n\r\n"
)
SWITCHING = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n" + SERVER
)
ACCEPT = b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"


@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_hand_off_sends_autobahns_101(origin: MemoryOrigin, bytewise: bool) -> None:
    client = origin.connect()
    request = HANDSHAKE % b"websocket-echo"
    if bytewise:
        for index in range(len(request)):
            client.send(request[index : index + 1])
    else:
        client.send(request)
    assert client.take() == SWITCHING + ACCEPT + b"\r\n"
    record = record_of(origin)
    assert record.websocket.response_head == SWITCHING + ACCEPT + b"\r\n"
    assert timeline(record) == [(0, "body-complete", None, "0 bytes"), (0, "upgrade-sent", 101)]
    assert record.outcome is Outcome.RUNNING


def test_a_handshake_autobahn_refuses_is_journaled_as_refused(origin: MemoryOrigin) -> None:
    client = origin.connect()
    # An empty port is valid (RFC 3986 section 3.2.3: port = *DIGIT); autobahn refuses it.
    client.send((HANDSHAKE % b"websocket-echo").replace(b"example.com", b"example.com:"))
    reason = 'invalid port "" in HTTP Host header "example.com:"'
    assert client.take() == b"HTTP/1.1 400 " + reason.encode() + b"\r\n\r\n"  # autobahn's
    assert client.state == "closed"
    client.lose()
    record = record_of(origin)
    assert timeline(record)[1:] == [
        (0, "response-started", 400, reason),
        (0, "websocket-closed", None, f"not clean: {reason}"),
    ]
    assert (record.outcome, record.websocket.response_head) == (Outcome.REFUSED, None)


def test_frames_sent_with_the_head_are_replayed_after_it(origin: MemoryOrigin) -> None:
    client = WebSocketClient(origin, "websocket-echo")
    head = b"".join(client.ws.data_to_send())
    eager = ClientProtocol(parse_uri("ws://example.com/chat"), state=State.OPEN)
    eager.send_text(b"eager")
    client.connection.send(head + b"".join(eager.data_to_send()))  # one packet
    assert client.take_frames() == [(Opcode.TEXT, b"eager")]
    assert client.response is not None
    assert client.response.status_code == 101


def test_headers_and_subprotocol_in_the_101(origin: MemoryOrigin) -> None:
    add(origin, "ws", subprotocols=["chat.v2"], headers=[["Server", "mine"], ["X-A", "1"]])
    client = origin.connect()
    offer = b"Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n"
    client.send((HANDSHAKE % b"ws").replace(b"\r\n\r\n", b"\r\n" + offer + b"\r\n"))
    assert client.take() == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
        b"Server: mine\r\nX-A: 1\r\nSec-WebSocket-Protocol: chat.v2\r\n" + ACCEPT + b"\r\n"
    )
    websocket = record_of(origin).websocket
    assert (websocket.offered_subprotocols, websocket.subprotocol) == (
        ["chat.v1", "chat.v2"],
        "chat.v2",
    )


def test_bad_accept_overrides_autobahns_accept(origin: MemoryOrigin) -> None:
    client = origin.connect()
    client.send(HANDSHAKE % b"websocket-bad-accept")
    # base64(SHA-1("AAAAAAAAAAAAAAAAAAAAAA==" + the RFC 6455 GUID)), not the client's key's.
    wrong = b"Sec-WebSocket-Accept: ICX+Yqv66kxgM0FcWaLWlFLwTAI=\r\n"
    assert client.take() == SWITCHING + wrong + b"\r\n"
    record = record_of(origin)
    assert record.websocket.handshake == "bad-accept"
    assert timeline(record)[1] == (
        0,
        "websocket-broken-handshake",
        None,
        "bad-accept: a wrong Sec-WebSocket-Accept (breaks RFC 6455 section 4.2.2)",
    )


def test_echo_text_binary_ping_and_a_client_close(origin: MemoryOrigin) -> None:
    client = WebSocketClient(origin, "websocket-echo", deflate=True)
    client.flush()
    assert client.ws.state is State.OPEN
    client.ws.send_text("héllo".encode())
    client.ws.send_binary(b"\x00" * 70_000)
    client.ws.send_ping(b"are you there")
    assert client.take_frames() == [
        (Opcode.TEXT, "héllo".encode()),
        (Opcode.BINARY, b"\x00" * 70_000),
        (Opcode.PONG, b"are you there"),
    ]
    origin.advance(1.5)
    client.ws.send_close(4001, "client bye")
    assert client.take_frames() == [(Opcode.CLOSE, b"\x0f\xa1client bye")]
    assert client.connection.lost
    assert (client.ws.state, client.ws.close_code) == (State.CLOSED, 4001)

    record = record_of(origin)
    websocket = record.websocket
    assert websocket.extensions == ["permessage-deflate"]
    assert [(round(m.seconds, 6), m.direction, m.opcode, m.length) for m in websocket.messages] == [
        (0, "received", Op.TEXT, 6),
        (0, "sent", Op.TEXT, 6),
        (0, "received", Op.BINARY, 70_000),
        (0, "sent", Op.BINARY, 70_000),
        (0, "received", Op.PING, 13),
        (0, "sent", Op.PONG, 13),
        (1.5, "received", Op.CLOSE, 12),
        (1.5, "sent", Op.CLOSE, 12),
    ]
    assert websocket.messages[0].head == "héllo".encode()
    assert (websocket.close_received.code, websocket.close_received.reason) == (
        4001,
        "client bye",
    )
    assert (websocket.close_sent.code, websocket.close_sent.reason) == (4001, "client bye")
    assert timeline(record) == [
        (0, "body-complete", None, "0 bytes"),
        (0, "upgrade-sent", 101, "extensions permessage-deflate"),
        (1.5, "websocket-close-received", None, "4001 client bye"),
        (1.5, "websocket-close-sent", None, "4001 client bye"),
        (1.5, "websocket-closed", None, "clean"),
    ]
    assert (websocket.clean, record.outcome) == (True, Outcome.UPGRADED)


def test_message_log_is_bounded(origin: MemoryOrigin) -> None:
    client = WebSocketClient(origin, "websocket-echo")
    client.flush()
    for index in range(MAX_WEBSOCKET_MESSAGES // 2 + 10):
        client.ws.send_text(b"%d" % index)
    client.ws.send_binary(b"x" * 1000)
    client.flush()
    websocket = record_of(origin).websocket
    assert len(websocket.messages) == MAX_WEBSOCKET_MESSAGES
    assert websocket.messages_dropped == 22
    client.connection.lose()


def test_message_heads_keep_256_bytes(origin: MemoryOrigin) -> None:
    client = WebSocketClient(origin, "websocket-echo")
    client.flush()
    client.ws.send_binary(bytes(range(256)) * 2)
    client.flush()
    message = record_of(origin).websocket.messages[0]
    assert (message.length, message.head) == (512, bytes(range(256)))
    assert message.to_dict()["type"] == "binary"
    client.connection.lose()


def test_script_demo_with_the_clock(origin: MemoryOrigin) -> None:
    client = WebSocketClient(origin, "websocket-script-demo")
    assert client.take_frames() == [(Opcode.TEXT, b"hello from fakeorigin")]
    origin.advance(1)
    client.ws.send_text(b"hi there")
    assert client.take_frames() == [(Opcode.TEXT, b"got it"), (Opcode.PING, b"ping")]
    origin.advance(0.1)
    assert client.take_frames() == [(Opcode.CLOSE, b"\x03\xe8bye")]
    assert client.connection.lost
    assert (client.ws.close_code, client.ws.close_reason) == (1000, "bye")
    record = record_of(origin)
    assert [(round(m.seconds, 6), m.direction, m.opcode) for m in record.websocket.messages] == [
        (0, "sent", Op.TEXT),
        (1, "received", Op.TEXT),
        (1, "sent", Op.TEXT),
        (1, "sent", Op.PING),
        (1, "received", Op.PONG),
        (1.1, "sent", Op.CLOSE),
        (1.1, "received", Op.CLOSE),
    ]
    assert (record.websocket.clean, record.outcome) == (True, Outcome.UPGRADED)


def test_a_message_that_came_early_is_received_first(origin: MemoryOrigin) -> None:
    add(
        origin,
        "ws",
        mode="script",
        script=[{"sleep": 1}, {"receive": {"text": "early"}}, {"send": {"text": "ok"}}],
    )
    client = WebSocketClient(origin, "ws")
    client.flush()
    client.ws.send_text(b"early")  # during the sleep, before the receive
    assert client.take_frames() == []
    origin.advance(1)
    assert client.take_frames() == [(Opcode.TEXT, b"ok"), (Opcode.CLOSE, b"\x03\xe8")]


def test_receive_timeout_closes_1008_and_a_silent_client_is_dropped(origin: MemoryOrigin) -> None:
    add(origin, "ws", mode="script", script=[{"receive": {"any": True, "timeout": 3}}])
    client = WebSocketClient(origin, "ws")
    client.flush()
    origin.advance(3)
    data = client.connection.take()  # the client does not answer the Close
    assert data == b"\x88\x19\x03\xf0no message within 3.0 s"
    origin.advance(2)  # the closing handshake timeout
    assert client.connection.state == "aborted"
    client.connection.lose(Failure(ConnectionLost()))  # type: ignore[no-untyped-call]
    record = record_of(origin)
    assert timeline(record)[2:] == [
        (3, "websocket-mismatch", None, "no message within 3.0 s"),
        (3, "websocket-close-sent", None, "1008 no message within 3.0 s"),
        (
            5,
            "websocket-closed",
            None,
            "not clean: WebSocket closing handshake timeout (peer did not finish the closing "
            "handshake in time)",
        ),
    ]
    assert record.websocket.clean is False
    assert record.outcome is Outcome.UPGRADED


def test_close_after(origin: MemoryOrigin) -> None:
    add(origin, "ws", close_after=2.5)
    client = WebSocketClient(origin, "ws")
    client.flush()
    origin.advance(2.5)
    assert client.take_frames() == [(Opcode.CLOSE, b"\x03\xe8close_after")]
    assert client.connection.lost
    assert record_of(origin).websocket.close_sent.reason == "close_after"


def test_max_duration_closes_with_1001(origin: MemoryOrigin) -> None:
    origin.settings(max_duration_seconds=4)
    client = WebSocketClient(origin, "websocket-echo")
    client.flush()
    origin.advance(4)
    assert client.take_frames() == [(Opcode.CLOSE, b"\x03\xe9max-duration")]
    record = record_of(origin)
    assert record.outcome is Outcome.MAX_DURATION
    assert (4, "max-duration", None, "4 s") in timeline(record)


def test_a_message_over_max_message_bytes_is_refused_with_1009(origin: MemoryOrigin) -> None:
    add(origin, "ws", max_message_bytes=10)
    client = WebSocketClient(origin, "ws")
    client.flush()
    client.ws.send_text(b"0123456789")
    client.ws.send_text(b"0123456789!")
    frames = client.take_frames()
    assert frames[0] == (Opcode.TEXT, b"0123456789")
    assert frames[1][0] is Opcode.CLOSE
    assert frames[1][1][:2] == b"\x03\xf1"  # 1009, message too big
    assert client.ws.close_code == 1009
    assert client.connection.lost


def test_client_vanishing_ends_the_session_unclean(origin: MemoryOrigin) -> None:
    add(origin, "ws", mode="script", script=[{"sleep": 30}, {"send": {"text": "late"}}])
    client = WebSocketClient(origin, "ws")
    client.flush()
    client.connection.lose(Failure(ConnectionLost()))  # type: ignore[no-untyped-call]
    record = record_of(origin)
    assert record.websocket.clean is False
    assert timeline(record)[-1][1] == "websocket-closed"
    assert origin.clock.getDelayedCalls() == []  # the sleep and --max-duration are cancelled


def test_client_half_close_after_the_upgrade_closes(origin: MemoryOrigin) -> None:
    client = WebSocketClient(origin, "websocket-echo")
    client.flush()
    client.protocol.readConnectionLost()
    assert client.connection.state == "closed"
    client.connection.lose()
    assert record_of(origin).outcome is Outcome.UPGRADED


# -- refusals: ordinary responses on a keep-alive connection ------------------------------


NO_UPGRADE = (
    b"this resource speaks WebSocket: send an opening handshake with Upgrade: websocket and "
    b"Connection: Upgrade (RFC 6455 section 4.1)\n"
)


def test_plain_request_gets_426_and_the_connection_serves_the_next(origin: MemoryOrigin) -> None:
    client = origin.connect()
    client.send(
        b"GET / HTTP/1.1\r\nHost: example.com\r\nFakeorigin-Profile: websocket-echo\r\n\r\n"
    )
    assert client.take() == (
        b"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        b"Connection: Upgrade\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + DATE
        + SERVER
        + b"Content-Length: %d\r\n\r\n" % len(NO_UPGRADE)
        + NO_UPGRADE
    )
    client.send(b"GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert client.take().startswith(b"HTTP/1.1 200 OK\r\n")
    refused, served = origin.records()
    assert (refused.outcome, refused.websocket) == (Outcome.KEEP_ALIVE, None)
    assert timeline(refused)[-1] == (0, "response-started", 426, NO_UPGRADE.decode().strip())
    assert served.profile == "default"


def test_require_subprotocol_refuses_before_upgrading(origin: MemoryOrigin) -> None:
    client = origin.connect()
    client.send(HANDSHAKE % b"websocket-subprotocol")
    response = client.take()
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain")
    assert response.endswith(
        b"this resource needs one of the subprotocols chat.v2, chat.v1 (offered: none)\n"
    )
    # h11 was told the upgrade was refused: the connection serves the next request.
    client.send(b"GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert client.take().startswith(b"HTTP/1.1 200 OK\r\n")


def test_plain_request_after_a_websocket_session_on_a_new_connection(origin: MemoryOrigin) -> None:
    first = WebSocketClient(origin, "websocket-echo")
    first.flush()
    first.ws.send_close(1000, "")
    first.flush()
    assert first.connection.lost
    second = origin.connect()
    second.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert second.take().startswith(b"HTTP/1.1 200 OK\r\n")
    assert [r.outcome for r in origin.records()] == [Outcome.UPGRADED, Outcome.KEEP_ALIVE]
