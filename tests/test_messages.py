"""Exchanges in messages: the engine's message-level output, the HTTP/1.1 framer that turns it
into bytes, and the protocols each step and profile declare.

The engine knows nothing of framing: it says "an interim 103 with these fields", "a 200 head
whose body is chunked", "this data", "the end of the body with these trailers". The HTTP/1.1
framer's table below fixes the exact bytes of each (RFC 9112); tests/test_engine.py states
every engine case in those bytes.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from fakeorigin.core.actions import (
    End,
    EndBody,
    Ending,
    Note,
    Outgoing,
    ResponseHead,
    SendData,
    SendHead,
    SendInterim,
    WriteHttp1,
)
from fakeorigin.core.engine import SERVER_HEADER, run_exchange
from fakeorigin.core.journal import BodyRecord, Event
from fakeorigin.core.loader import bundled_profiles_dir, load_profile_dir
from fakeorigin.core.profile import STEP_KINDS, cannot_carry
from fakeorigin.core.protocols import H2, HTTP1, PROTOCOLS
from fakeorigin.core.wire import RequestHead
from fakeorigin.http1.framer import FRAMES, Http1Framer
from tests.memory import START, profile

GET = RequestHead(b"GET", b"/x", b"1.1", ((b"Host", b"example.com"),))
HEAD = RequestHead(b"HEAD", b"/x", b"1.1", ((b"Host", b"example.com"),))
TEXT = ((b"content-type", b"text/plain"),)
SERVER = ((b"Server", b"fakeorigin/1"),)
#: The Date value at START.
DATE = b"Sun, 06 Nov 1994 08:49:37 GMT"


def frame(*messages: Outgoing) -> bytes:
    """The bytes one HTTP/1.1 connection's framer makes of ``messages``, in order."""
    framer = Http1Framer()
    return b"".join(FRAMES[type(message)](framer, message) for message in messages)


# -- the HTTP/1.1 framer: one row per shape, the exact bytes ----------------------------------


@pytest.mark.parametrize(
    ("messages", "wire"),
    [
        pytest.param((SendInterim(100),), b"HTTP/1.1 100 Continue\r\n\r\n", id="100"),
        pytest.param(
            (SendInterim(103, None, ((b"Link", b"</a.css>; rel=preload"),)),),
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
            id="103 with a field",
        ),
        pytest.param(
            (SendInterim(199, "Whatever", ((b"x-A", b"1"), (b"X-a", b"2"))),),
            b"HTTP/1.1 199 Whatever\r\nx-A: 1\r\nX-a: 2\r\n\r\n",
            id="unregistered 1xx: own reason, fields in order and case",
        ),
        pytest.param(
            (
                SendHead(ResponseHead(200, None, TEXT, True, SERVER, 3), DATE),
                SendData(b"hi\n"),
                EndBody(200),
            ),
            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nDate: " + DATE + b"\r\n"
            b"Server: fakeorigin/1\r\nContent-Length: 3\r\n\r\nhi\n",
            id="length: fields, Date, Server, Content-Length; data as it is; nothing at the end",
        ),
        pytest.param(
            (SendHead(ResponseHead(200, None, (), False, (), 0), last=True), EndBody(200)),
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            id="last response: Connection: close after the framing field",
        ),
        pytest.param(
            (
                SendHead(ResponseHead(201, "Made", (), False, chunked=True)),
                SendData(b"hello\n"),
                SendData(b"ab"),
                EndBody(201, ((b"X-Sum", b"1"),)),
            ),
            b"HTTP/1.1 201 Made\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"6\r\nhello\n\r\n2\r\nab\r\n0\r\nX-Sum: 1\r\n\r\n",
            id="chunked: each piece a chunk, the end the last chunk with trailers",
        ),
        pytest.param(
            (
                SendHead(ResponseHead(200, None, (), False, chunked=True), body=False),
                EndBody(200),
            ),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            id="chunked head without a body (HEAD): no last chunk",
        ),
        pytest.param(
            (SendHead(ResponseHead(200, None, (), False, length=2), content=b"ok"), EndBody(200)),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            id="the body sent with the head",
        ),
        pytest.param(
            (
                SendHead(ResponseHead(200, None, (), False, chunked=True), content=b"ok"),
                SendData(b"!"),
                EndBody(200),
            ),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n1\r\n!\r\n0\r\n\r\n",
            id="chunked: the content with the head is the first chunk",
        ),
        pytest.param(
            (SendHead(ResponseHead(204, None, (), False)), EndBody(204)),
            b"HTTP/1.1 204 No Content\r\n\r\n",
            id="204: no framing field",
        ),
        pytest.param(
            (WriteHttp1(b"HTTP/1.1 200 OK\n\n", Event.RAW_SENT),),
            b"HTTP/1.1 200 OK\n\n",
            id="HTTP/1.1 bytes as they are",
        ),
    ],
)
def test_http1_framer(messages: tuple[Outgoing, ...], wire: bytes) -> None:
    assert frame(*messages) == wire


def test_a_fixed_head_renders_once_and_still_takes_each_date_and_close() -> None:
    head = ResponseHead(200, None, TEXT, True, SERVER, 0, fixed=True)
    first = frame(SendHead(head, b"Sun, 06 Nov 1994 08:49:37 GMT"))
    second = frame(SendHead(head, b"Sun, 06 Nov 1994 08:49:38 GMT", last=True))
    assert first.replace(b"37 GMT", b"38 GMT") + b"" == second.replace(
        b"Connection: close\r\n", b""
    )
    assert second.endswith(b"Content-Length: 0\r\nConnection: close\r\n\r\n")


def test_a_framer_forgets_chunking_once_the_body_ended() -> None:
    framer = Http1Framer()
    chunked = SendHead(ResponseHead(200, None, (), False, chunked=True))
    plain = SendHead(ResponseHead(200, None, (), False, length=2))
    out = [FRAMES[type(m)](framer, m) for m in (chunked, EndBody(200), plain, SendData(b"ok"))]
    assert out[1:] == [b"0\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", b"ok"]


# -- the engine speaks in messages ------------------------------------------------------------


class View:
    def __init__(self, request: RequestHead) -> None:
        self.request = request
        self.body = BodyRecord()
        self.body.complete = True

    def elapsed(self) -> float:
        return 0.0

    def wall_clock(self) -> float:
        return START


def run(
    steps: list[dict[str, Any]], request: RequestHead = GET, protocol: str = HTTP1
) -> list[Any]:
    return list(run_exchange(profile(*steps), View(request), random.Random(0), 1, protocol))


def test_a_respond_step_is_its_head_with_the_body_then_the_end_of_the_body() -> None:
    actions = run(
        [
            {"informational": {"status": 103, "headers": {"link": "</a>"}}},
            {"respond": {"status": 200, "body": "hi\n", "chunked": True, "trailers": {"x": "1"}}},
        ]
    )
    [interim, head, end, done] = actions
    assert interim == SendInterim(103, None, ((b"link", b"</a>"),))
    assert isinstance(head, SendHead)
    fields = (head.head.status, head.head.chunked, head.head.length, head.date, head.last)
    assert fields == (200, True, None, DATE, False)
    assert (head.body, head.content) == (True, b"hi\n")
    assert head.head.trailing == ((b"Server", SERVER_HEADER),)
    assert (end, done) == (EndBody(200, ((b"x", b"1"),)), End(Ending.KEEP_ALIVE))


@pytest.mark.parametrize(
    ("step", "datas"),
    [
        pytest.param({"body_size": 65536}, [], id="64 KiB: with the head"),
        pytest.param({"body_size": 65537}, [65536, 1], id="more: in 64 KiB pieces after it"),
        pytest.param({"body_size": 70000, "chunked": True}, [], id="chunked: one chunk"),
        pytest.param({"body": "abc", "dribble": {"bytes": 2, "every": 0.1}}, [2, 1], id="dribbled"),
    ],
)
def test_how_a_body_goes_out(step: dict[str, Any], datas: list[int]) -> None:
    head, *rest, end, _ = run([{"respond": {"status": 200, **step}}])
    assert isinstance(head, SendHead)
    assert isinstance(end, EndBody)
    sent = [len(a.data) for a in rest if isinstance(a, SendData)]
    assert sent == datas
    assert len(head.content) + sum(sent) == (step.get("body_size") or len(step["body"]))


# -- protocols: what each step and profile runs over ------------------------------------------


def test_http1_carries_every_bundled_profile_but_the_http2_entries() -> None:
    """HTTP/1.1 carries every step kind; only an HTTP/2 catalogue entry's frames it cannot."""
    assert set(STEP_KINDS) >= {"raw", "websocket", "violate"}
    for loaded in load_profile_dir(bundled_profiles_dir()).values():
        h2_entry = loaded.name.startswith("violation-h2-")
        assert (HTTP1 in loaded.protocols) != h2_entry, loaded.name
        why = cannot_carry(loaded.steps, HTTP1)
        if h2_entry:
            assert why == f"steps[0]: violate {loaded.name[10:]} writes HTTP/2 frames as they are"
        else:
            assert why is None


@pytest.mark.parametrize(
    ("steps", "protocols", "why_not_h2"),
    [
        pytest.param(
            [
                {"continue": {}},
                {"repeat": {"times": 2, "every": 1, "steps": [{"informational": {"status": 102}}]}},
                {"respond": {"status": 200}},
            ],
            {HTTP1, H2},
            None,
            id="messages only: any protocol",
        ),
        pytest.param(
            [{"respond": {"status": 200}}, {"raw": {"text": "x"}}],
            {HTTP1},
            "steps[1]: raw sends HTTP/1.1 bytes as they are",
            id="raw",
        ),
        pytest.param(
            [{"violate": {"id": "informational-to-http10"}}],
            {HTTP1},
            "steps[0]: violate informational-to-http10 writes HTTP/1.1 bytes as they are",
            id="a catalogue entry",
        ),
        pytest.param(
            [{"websocket": {}}],
            {HTTP1},
            "steps[0]: websocket upgrades an HTTP/1.1 connection (WebSocket over HTTP/2, "
            "RFC 8441, is not supported)",
            id="websocket",
        ),
    ],
)
def test_profile_protocols(
    steps: list[dict[str, Any]], protocols: set[str], why_not_h2: str | None
) -> None:
    made = profile(*steps)
    assert made.protocols == protocols
    assert cannot_carry(made.steps, H2) == why_not_h2
    assert set(PROTOCOLS) >= protocols


@pytest.mark.parametrize(
    ("request_head", "body"),
    [pytest.param(GET, True, id="GET"), pytest.param(HEAD, False, id="HEAD")],
)
def test_a_profile_its_protocol_cannot_carry_is_refused_with_501(
    request_head: RequestHead, body: bool
) -> None:
    actions = run([{"raw": {"text": "HTTP/1.1 200 OK\r\n\r\n"}}], request_head, H2)
    why = "profile test cannot run over h2: steps[0]: raw sends HTTP/1.1 bytes as they are"
    assert actions[0] == Note(Event.NOTE, None, f"refused: {why}")
    head = actions[1]
    assert isinstance(head, SendHead)
    assert (head.status, head.body, head.last) == (501, body, False)
    assert actions[-2:] == [EndBody(501), End(Ending.KEEP_ALIVE)]
    wire = frame(*actions[1:-1])
    content = (why + "\n").encode()
    assert wire == (
        b"HTTP/1.1 501 Not Implemented\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Date: " + DATE + b"\r\nServer: " + SERVER_HEADER + b"\r\n"
        b"Content-Length: %d\r\n\r\n" % len(content) + (content if body else b"")
    )


def test_the_same_profile_over_http1_runs() -> None:
    actions = run([{"raw": {"text": "x"}}])
    assert actions == [WriteHttp1(b"x", Event.RAW_SENT, None, "1 bytes"), End(Ending.KEEP_ALIVE)]
