"""The origin protocol in memory: ``task.Clock``, ``StringTransport``, exact bytes, the journal.

Each case feeds request bytes (whole, one byte at a time, or followed by the start of a
pipelined request, as h11's test_io does), asserts exactly what was written, advances the
clock, asserts the next bytes, and then reads the journal record. The ``origin`` fixture
loses every connection at the end and asserts that no DelayedCall is left behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from twisted.internet.error import ConnectionLost
from twisted.internet.interfaces import ISSLTransport
from twisted.python.failure import Failure
from zope.interface import directlyProvides

from fakeorigin.core.journal import Event, Outcome
from fakeorigin.core.state import Rule
from fakeorigin.http1.settings import OriginSettings
from tests.memory import (
    DATE,
    SERVER,
    START,
    Client,
    Feed,
    MemoryOrigin,
    profile,
    split_response,
    timeline,
)


@pytest.fixture
def origin() -> Iterator[MemoryOrigin]:
    """The bundled profiles, active ``default``; afterwards, no timer may be left."""
    memory = MemoryOrigin()
    yield memory
    assert memory.shutdown() == [], "DelayedCalls left after every connection was lost"
    assert memory.factory.connections == set()


class Bytewise(bytes):
    """Script input delivered one byte per dataReceived call."""


#: A script: feed bytes (or advance the clock by seconds), then expect exactly these bytes.
Script = tuple[tuple[bytes | float, bytes], ...]


def play(origin: MemoryOrigin, client: Client, script: Script) -> None:
    for number, (given, expected) in enumerate(script):
        if isinstance(given, bytes):
            client.send(given, Feed.BYTEWISE if isinstance(given, Bytewise) else Feed.WHOLE)
        else:
            origin.advance(given)
        assert client.take() == expected, f"script line {number}: {given!r}"


GET = b"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n"
GET10 = b"GET /x HTTP/1.0\r\n\r\n"
HEAD = b"HEAD /x HTTP/1.1\r\nHost: example.com\r\n\r\n"
GET_CLOSE = b"GET /x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
POST_HEAD = (
    b"POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
)
POST10_HEAD = b"POST /up HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
POST_NO_EXPECT = b"POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\n"
BODY = b"hello"
#: The start of a pipelined request: h11 keeps it; it must change nothing for the first one.
TRAILING = b"GET /next HTTP/1.1\r\nHost: example.com\r\n"

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"
CLOSE_LINE = b"Connection: close\r\n"
HTTP10_1XX = "HTTP/1.0 request: no 1xx to HTTP/1.0 (RFC 9110 section 15.2)"
GONE = "Connection was closed cleanly."
#: The Date line one second after START.
DATE_38 = b"Date: Sun, 06 Nov 1994 08:49:38 GMT\r\n"


def ok(body: bytes, *before: bytes, after: tuple[bytes, ...] = (), date: bytes = DATE) -> bytes:
    """A 200 as fakeorigin renders it: the profile's lines, Date, Server, Content-Length..."""
    length = b"Content-Length: %d\r\n" % len(body)
    return (
        b"HTTP/1.1 200 OK\r\n" + b"".join((*before, date, SERVER, length, *after)) + b"\r\n" + body
    )


def respond_with(body: str, **fields: Any) -> dict[str, Any]:
    return {"respond": {"status": 200, "body": body, **fields}}


# -- one case per step kind, delivered whole, bytewise and with trailing data --------------


@dataclass(frozen=True)
class StepCase:
    steps: tuple[dict[str, Any], ...]
    first: bytes
    timeline: tuple[tuple[Any, ...], ...]
    later: tuple[tuple[float, bytes], ...] = ()
    request: bytes = GET
    outcome: Outcome = Outcome.KEEP_ALIVE
    state: str = "open"


EMPTY_BODY = (0, "body-complete", None, "0 bytes")

STEP_CASES = [
    pytest.param(
        StepCase(
            steps=({"continue": {}}, respond_with("hi\n")),
            first=ok(b"hi\n"),
            timeline=(
                EMPTY_BODY,
                (0, "interim-skipped", 100, "request has no Expect: 100-continue"),
                (0, "response-started", 200),
                (0, "response-complete", 200),
            ),
        ),
        id="continue: skipped without Expect",
    ),
    pytest.param(
        StepCase(
            steps=(
                {"informational": {"status": 103, "headers": {"Link": "</s.css>; rel=preload"}}},
                respond_with("hi\n"),
            ),
            first=b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" + ok(b"hi\n"),
            timeline=(
                EMPTY_BODY,
                (0, "interim-sent", 103),
                (0, "response-started", 200),
                (0, "response-complete", 200),
            ),
        ),
        id="informational: 103 then 200",
    ),
    pytest.param(
        StepCase(
            steps=({"sleep": 0.5}, respond_with("hi\n")),
            first=b"",
            later=((0.25, b""), (0.25, ok(b"hi\n"))),
            timeline=(EMPTY_BODY, (0.5, "response-started", 200), (0.5, "response-complete", 200)),
        ),
        id="sleep: nothing until 0.5 s",
    ),
    pytest.param(
        StepCase(
            steps=(
                {
                    "repeat": {
                        "times": 3,
                        "every": 0.5,
                        "steps": [{"informational": {"status": 102}}],
                    }
                },
                respond_with("hi\n"),
            ),
            first=PROCESSING,
            later=((0.5, PROCESSING), (0.5, PROCESSING), (0.5, ok(b"hi\n", date=DATE_38))),
            timeline=(
                EMPTY_BODY,
                (0, "interim-sent", 102),
                (0.5, "interim-sent", 102),
                (1.0, "interim-sent", 102),
                (1.5, "response-started", 200),
                (1.5, "response-complete", 200),
            ),
        ),
        id="repeat: 102 every 0.5 s, 3 times",
    ),
    pytest.param(
        StepCase(
            steps=({"read_body": {}}, respond_with("hi\n")),
            first=ok(b"hi\n"),
            timeline=(EMPTY_BODY, (0, "response-started", 200), (0, "response-complete", 200)),
        ),
        id="read_body: a GET's body is complete at once",
    ),
    pytest.param(
        StepCase(
            steps=(respond_with("hi\n", chunked=True, trailers={"X-Sum": "1"}),),
            first=b"HTTP/1.1 200 OK\r\n"
            + DATE
            + SERVER
            + b"Transfer-Encoding: chunked\r\n\r\n3\r\nhi\n\r\n0\r\nX-Sum: 1\r\n\r\n",
            timeline=(EMPTY_BODY, (0, "response-started", 200), (0, "response-complete", 200)),
        ),
        id="respond: chunked with a trailer",
    ),
    pytest.param(
        StepCase(
            steps=(respond_with("abcde", dribble={"bytes": 2, "every": 0.25}),),
            first=ok(b"abcde")[: -len(b"cde")],
            later=((0.25, b"cd"), (0.25, b"e")),
            timeline=(EMPTY_BODY, (0, "response-started", 200), (0.5, "response-complete", 200)),
        ),
        id="respond: dribbled 2 bytes every 0.25 s",
    ),
    pytest.param(
        StepCase(
            steps=(respond_with("hi\n"),),
            request=HEAD,
            first=ok(b"hi\n")[: -len(b"hi\n")],
            timeline=(EMPTY_BODY, (0, "response-started", 200), (0, "response-complete", 200)),
        ),
        id="respond: HEAD gets the length, not the content",
    ),
    pytest.param(
        StepCase(
            steps=({"respond": {"status": 204}},),
            first=b"HTTP/1.1 204 No Content\r\n" + DATE + SERVER + b"\r\n",
            timeline=(EMPTY_BODY, (0, "response-started", 204), (0, "response-complete", 204)),
        ),
        id="respond: 204",
    ),
    pytest.param(
        StepCase(
            steps=(respond_with("hi\n", headers={"Connection": "close"}),),
            first=ok(b"hi\n", CLOSE_LINE),
            timeline=(
                EMPTY_BODY,
                (0, "response-started", 200),
                (0, "response-complete", 200),
                (0, "close"),
            ),
            outcome=Outcome.CLOSED,
            state="closed",
        ),
        id="respond: the profile's Connection close closes",
    ),
    pytest.param(
        StepCase(
            steps=({"raw": {"text": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}},),
            first=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            timeline=(EMPTY_BODY, (0, "raw-sent", None, "40 bytes")),
        ),
        id="raw: verbatim, keep-alive",
    ),
    pytest.param(
        StepCase(
            steps=({"raw": {"text": "HTTP/1.1 200 OK\r\n"}}, {"close": {}}),
            first=b"HTTP/1.1 200 OK\r\n",
            timeline=(EMPTY_BODY, (0, "raw-sent", None, "17 bytes"), (0, "close")),
            outcome=Outcome.CLOSED,
            state="closed",
        ),
        id="raw then close",
    ),
    pytest.param(
        StepCase(
            steps=({"violate": {"id": "content-length-too-long", "body": "hi", "missing": 3}},),
            first=b"HTTP/1.1 200 OK\r\n"
            + DATE
            + SERVER
            + b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhi",
            timeline=(
                EMPTY_BODY,
                (0, "note", None, "violate content-length-too-long: RFC 9112 section 6.3"),
                (0, "raw-sent", None, "2 of 5"),
                (0, "close"),
            ),
            outcome=Outcome.CLOSED,
            state="closed",
        ),
        id="violate: the entry's bytes and ending",
    ),
    pytest.param(
        StepCase(
            steps=({"close": {}},),
            first=b"",
            timeline=(EMPTY_BODY, (0, "close")),
            outcome=Outcome.CLOSED,
            state="closed",
        ),
        id="close: FIN, nothing written",
    ),
    pytest.param(
        StepCase(
            steps=({"hang": {}},),
            first=b"",
            later=((60, b""),),
            timeline=(EMPTY_BODY, (0, "hang")),
            outcome=Outcome.RUNNING,
        ),
        id="hang: nothing, the connection stays",
    ),
]

DELIVERIES = [
    pytest.param(Feed.WHOLE, b"", id="whole"),
    pytest.param(Feed.BYTEWISE, b"", id="bytewise"),
    pytest.param(Feed.WHOLE, TRAILING, id="trailing"),
]


@pytest.mark.parametrize(("feed", "trailing"), DELIVERIES)
@pytest.mark.parametrize("case", STEP_CASES)
def test_step(origin: MemoryOrigin, case: StepCase, feed: Feed, trailing: bytes) -> None:
    origin.use(*case.steps)
    client = origin.connect()
    client.send(case.request + trailing, feed)
    assert client.take() == case.first
    for seconds, expected in case.later:
        origin.advance(seconds)
        assert client.take() == expected
    record = origin.record()
    assert timeline(record) == list(case.timeline)
    assert record.outcome is case.outcome
    assert client.state == case.state
    assert (record.connection_id, record.index, record.profile, record.selected_by) == (
        1,
        1,
        "test",
        "active",
    )
    assert record.body_bytes_before_continue is None


def test_trailing_bytes_become_the_next_request(origin: MemoryOrigin) -> None:
    origin.use({"sleep": 0.5}, respond_with("hi\n"))
    client = origin.connect()
    client.send(GET + TRAILING)
    origin.advance(0.5)
    assert client.take() == ok(b"hi\n")
    assert [r.target for r in origin.records()] == ["/x"]
    client.send(b"\r\n")
    origin.advance(0.5)
    assert client.take() == ok(b"hi\n", date=DATE_38)
    assert [(r.index, r.target) for r in origin.records()] == [(1, "/x"), (2, "/next")]


def test_journal_record_keeps_the_request_as_received(origin: MemoryOrigin) -> None:
    origin.use(respond_with("hi\n"))
    client = origin.connect()
    client.send(
        b"PUT /a/b?c=d HTTP/1.1\r\nhost: example.com\r\nX-Dup: 1\r\nx-dup: 2\r\n"
        b"Content-Length: 5\r\n\r\nhello"
    )
    assert client.take() == ok(b"hi\n")
    record = origin.record()
    assert (record.id, record.client, record.started_at) == (1, "192.168.1.1:54321", START)
    assert (record.method, record.target, record.http_version) == ("PUT", "/a/b?c=d", "1.1")
    assert record.headers == (
        (b"host", b"example.com"),
        (b"X-Dup", b"1"),
        (b"x-dup", b"2"),
        (b"Content-Length", b"5"),
    )
    assert (record.body.length, record.body.complete, bytes(record.body.head)) == (
        5,
        True,
        b"hello",
    )
    assert record.body.sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert (record.error, record.raw_request) == (None, None)


# -- 100 Continue: only to an HTTP/1.1 client that asked and is still waiting ---------------

EXPECTING: tuple[dict[str, Any], ...] = (
    {"continue": {}},
    {"read_body": {}},
    respond_with("got it\n"),
)
GOT_IT = ok(b"got it\n")
STARTED_AND_DONE = ((0, "response-started", 200), (0, "response-complete", 200))


@dataclass(frozen=True)
class ContinueCase:
    script: Script
    timeline: tuple[tuple[Any, ...], ...]
    before_continue: int | None
    steps: tuple[dict[str, Any], ...] = EXPECTING
    body_length: int = 5
    outcome: Outcome = Outcome.KEEP_ALIVE
    state: str = "open"


CONTINUE_CASES = [
    pytest.param(
        ContinueCase(
            script=((POST_HEAD, CONTINUE), (0.25, b""), (BODY, GOT_IT)),
            timeline=(
                (0, "interim-sent", 100),
                (0.25, "body-first-byte"),
                (0.25, "body-complete", None, "5 bytes"),
                (0.25, "response-started", 200),
                (0.25, "response-complete", 200),
            ),
            before_continue=0,
        ),
        id="head alone: 100, then the body, then 200",
    ),
    pytest.param(
        ContinueCase(
            script=((POST_HEAD + b"he", CONTINUE), (b"llo", GOT_IT)),
            timeline=(
                (0, "body-first-byte"),
                (0, "interim-sent", 100),
                (0, "body-complete", None, "5 bytes"),
                *STARTED_AND_DONE,
            ),
            before_continue=2,
        ),
        id="part of the body came with the head: 100, 2 bytes before it",
    ),
    pytest.param(
        ContinueCase(
            script=((POST_HEAD + BODY, GOT_IT),),
            timeline=(
                (0, "body-first-byte"),
                (0, "body-complete", None, "5 bytes"),
                (0, "interim-skipped", 100, "request body already complete"),
                *STARTED_AND_DONE,
            ),
            before_continue=None,
        ),
        id="whole body in the head's packet: no 100",
    ),
    pytest.param(
        ContinueCase(
            script=((Bytewise(POST_HEAD + BODY), CONTINUE + GOT_IT),),
            timeline=(
                (0, "interim-sent", 100),
                (0, "body-first-byte"),
                (0, "body-complete", None, "5 bytes"),
                *STARTED_AND_DONE,
            ),
            before_continue=0,
        ),
        id="byte by byte: the head is complete first, so 100",
    ),
    pytest.param(
        ContinueCase(
            script=((POST10_HEAD, b""), (BODY, ok(b"got it\n", after=(CLOSE_LINE,)))),
            timeline=(
                (0, "interim-skipped", 100, HTTP10_1XX),
                (0, "body-first-byte"),
                (0, "body-complete", None, "5 bytes"),
                *STARTED_AND_DONE,
                (0, "close"),
            ),
            before_continue=None,
            outcome=Outcome.CLOSED,
            state="closed",
        ),
        id="HTTP/1.0 with Expect: no 100, still reads the body",
    ),
    pytest.param(
        ContinueCase(
            script=((POST_NO_EXPECT, b""), (BODY, GOT_IT)),
            timeline=(
                (0, "interim-skipped", 100, "request has no Expect: 100-continue"),
                (0, "body-first-byte"),
                (0, "body-complete", None, "5 bytes"),
                *STARTED_AND_DONE,
            ),
            before_continue=None,
        ),
        id="no Expect: no 100, still reads the body",
    ),
    pytest.param(
        ContinueCase(
            script=(
                (
                    b"POST /up HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n"
                    b"Expect: 100-continue\r\n\r\n",
                    CONTINUE,
                ),
                (b"2\r\nhe\r\n", b""),
                (b"3\r\nllo\r\n0\r\n\r\n", GOT_IT),
            ),
            timeline=(
                (0, "interim-sent", 100),
                (0, "body-first-byte"),
                (0, "body-complete", None, "5 bytes"),
                *STARTED_AND_DONE,
            ),
            before_continue=0,
        ),
        id="chunked upload: 100, then the chunks",
    ),
    pytest.param(
        ContinueCase(
            script=(
                (b"GET /x HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\n\r\n", GOT_IT),
            ),
            timeline=(
                EMPTY_BODY,
                (0, "interim-skipped", 100, "request body already complete"),
                *STARTED_AND_DONE,
            ),
            before_continue=None,
            body_length=0,
        ),
        id="GET with Expect: no body to wait for, no 100",
    ),
    pytest.param(
        ContinueCase(
            steps=({"sleep": 0.5}, *EXPECTING),
            script=((POST_HEAD, b""), (0.5, CONTINUE), (BODY, GOT_IT)),
            timeline=(
                (0.5, "interim-sent", 100),
                (0.5, "body-first-byte"),
                (0.5, "body-complete", None, "5 bytes"),
                (0.5, "response-started", 200),
                (0.5, "response-complete", 200),
            ),
            before_continue=0,
        ),
        id="delayed: 100 at 0.5 s while the client waits",
    ),
    pytest.param(
        ContinueCase(
            steps=({"sleep": 0.5}, *EXPECTING),
            script=((POST_HEAD, b""), (0.25, b""), (BODY, b""), (0.25, GOT_IT)),
            timeline=(
                (0.25, "body-first-byte"),
                (0.25, "body-complete", None, "5 bytes"),
                (0.5, "interim-skipped", 100, "request body already complete"),
                (0.5, "response-started", 200),
                (0.5, "response-complete", 200),
            ),
            before_continue=None,
        ),
        id="delayed: the client gave up waiting and sent the body",
    ),
    pytest.param(
        ContinueCase(
            steps=({"sleep": 0.5}, *EXPECTING),
            script=(
                (POST_HEAD, b""),
                (0.25, b""),
                (b"hel", b""),
                (0.25, CONTINUE),
                (b"lo", GOT_IT),
            ),
            timeline=(
                (0.25, "body-first-byte"),
                (0.5, "interim-sent", 100),
                (0.5, "body-complete", None, "5 bytes"),
                (0.5, "response-started", 200),
                (0.5, "response-complete", 200),
            ),
            before_continue=3,
        ),
        id="delayed: part of the body came first, counted",
    ),
    pytest.param(
        ContinueCase(
            steps=({"informational": {"status": 100}}, *EXPECTING),
            script=((POST_HEAD, CONTINUE), (BODY, GOT_IT)),
            timeline=(
                (0, "interim-sent", 100),
                (0, "interim-skipped", 100, "100 Continue already sent in this exchange"),
                (0, "body-first-byte"),
                (0, "body-complete", None, "5 bytes"),
                *STARTED_AND_DONE,
            ),
            before_continue=0,
        ),
        id="an informational 100 counts as the 100",
    ),
]


@pytest.mark.parametrize("case", CONTINUE_CASES)
def test_continue(origin: MemoryOrigin, case: ContinueCase) -> None:
    origin.use(*case.steps)
    client = origin.connect()
    play(origin, client, case.script)
    record = origin.record()
    assert timeline(record) == list(case.timeline)
    assert record.body_bytes_before_continue == case.before_continue
    assert (record.body.length, record.body.complete) == (case.body_length, True)
    assert record.outcome is case.outcome
    assert client.state == case.state


# -- informational and HTTP/1.0 --------------------------------------------------------------

HINT_STYLE = b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\n"
HINT_SCRIPT = b"HTTP/1.1 103 Early Hints\r\nlink: </app.js>; rel=preload; as=script\r\n\r\n"
HELLO = b"content-type: text/plain\r\n"
SKIP_103 = HTTP10_1XX + "; force: true sends it"


@pytest.mark.parametrize(
    ("script", "events", "state"),
    [
        pytest.param(
            (
                (GET, HINT_STYLE),
                (0.1, HINT_SCRIPT + ok(b"hello\n", HELLO)),
            ),
            [
                (0, "interim-sent", 103),
                (0.1, "interim-sent", 103),
                (0.1, "response-started", 200),
                (0.1, "response-complete", 200),
            ],
            "open",
            id="HTTP/1.1: both hints",
        ),
        pytest.param(
            ((GET10, b""), (0.1, ok(b"hello\n", HELLO, after=(CLOSE_LINE,)))),
            [
                (0, "interim-skipped", 103, SKIP_103),
                (0.1, "interim-skipped", 103, SKIP_103),
                (0.1, "response-started", 200),
                (0.1, "response-complete", 200),
                (0.1, "close"),
            ],
            "closed",
            id="HTTP/1.0: no hints, a closing 200",
        ),
    ],
)
def test_early_hints_by_http_version(
    origin: MemoryOrigin,
    script: Script,
    events: list[tuple[Any, ...]],
    state: str,
) -> None:
    origin.state.active = "early-hints"
    client = origin.connect()
    play(origin, client, script)
    assert timeline(origin.record())[1:] == events
    assert client.state == state


def test_informational_forced_to_http10(origin: MemoryOrigin) -> None:
    origin.use({"informational": {"status": 103, "force": True}}, respond_with("hi\n"))
    client = origin.connect()
    client.send(GET10)
    assert client.take() == b"HTTP/1.1 103 Early Hints\r\n\r\n" + ok(b"hi\n", after=(CLOSE_LINE,))
    assert timeline(origin.record())[1] == (0, "interim-sent", 103, "forced to an HTTP/1.0 client")


# -- repeat: the cadence does not drift -------------------------------------------------------


@pytest.mark.parametrize(
    ("advances", "interim_times", "final_at"),
    [
        pytest.param([1, 1, 1, 1, 1], [0, 1, 2, 3, 4], 5, id="on time"),
        pytest.param([1.5, 0.5, 1, 1, 1], [0, 1.5, 2, 3, 4], 5, id="one late timer, no drift"),
        pytest.param(
            [0.75, 0.75, 0.75, 0.75, 2], [0, 1.5, 2.25, 3, 5], 5, id="coarse ticks, no drift"
        ),
        pytest.param([10], [0, 10, 10, 10, 10], 10, id="clock jump: late, none skipped"),
    ],
)
def test_processing_trickle_cadence(
    origin: MemoryOrigin, advances: list[float], interim_times: list[float], final_at: float
) -> None:
    origin.state.active = "processing-trickle"
    client = origin.connect()
    client.send(GET)
    written = client.take()
    for seconds in advances:
        origin.advance(seconds)
        written += client.take()
    final = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nDate: Sun, 06 Nov 1994 08:49:%d GMT\r\n"
    )
    assert written == PROCESSING * 5 + final % (37 + final_at) + SERVER + (
        b"Content-Length: 5\r\n\r\ndone\n"
    )
    record = origin.record()
    assert [entry.seconds for entry in record.events(Event.INTERIM_SENT)] == interim_times
    assert timeline(record)[-2:] == [
        (final_at, "response-started", 200),
        (final_at, "response-complete", 200),
    ]


# -- lingering close --------------------------------------------------------------------------

REJECT = b"HTTP/1.1 417 Expectation Failed\r\ncontent-type: text/plain\r\n"
REJECTED = (
    REJECT + DATE + SERVER + b"Content-Length: 19\r\n" + CLOSE_LINE + b"\r\nexpectation failed\n"
)
REJECT_EVENTS = [
    (0, "response-started", 417),
    (0, "response-complete", 417),
    (0, "close"),
]


def test_lingering_close_drains_the_upload_then_closes(origin: MemoryOrigin) -> None:
    origin.state.active = "expect-reject"
    client = origin.connect(half_close=True)
    client.send(POST_HEAD + b"he")
    assert client.take() == REJECTED
    assert client.state == "half-closed"
    origin.advance(0.5)
    client.send(b"l")
    assert client.state == "half-closed"
    client.send(b"lo")
    assert client.state == "closed"
    assert client.take() == b""
    record = origin.record()
    assert timeline(record) == [
        (0, "body-first-byte"),
        *REJECT_EVENTS,
        (0.5, "body-complete", None, "5 bytes"),
    ]
    assert record.outcome is Outcome.CLOSED


@pytest.mark.parametrize(
    ("linger", "advances"),
    [
        pytest.param(None, [1.5, 0.5], id="default 2 s"),
        pytest.param(5.0, [4.75, 0.25], id="linger_seconds 5"),
    ],
)
def test_lingering_close_aborts_an_upload_that_goes_on(
    origin: MemoryOrigin, linger: float | None, advances: list[float]
) -> None:
    if linger is not None:
        origin.settings(linger_seconds=linger)
    origin.state.active = "expect-reject"
    client = origin.connect(half_close=True)
    client.send(POST_HEAD)
    assert client.take() == REJECTED
    origin.advance(advances[0])
    client.send(b"hel")
    assert client.state == "half-closed"
    origin.advance(advances[1])
    assert client.state == "aborted"
    assert timeline(origin.record()) == [*REJECT_EVENTS, (advances[0], "body-first-byte")]


@pytest.mark.parametrize(
    ("tls", "half_close"),
    [
        pytest.param(False, False, id="transport without half-close"),
        pytest.param(True, True, id="TLS: no half-close"),
    ],
)
def test_lingering_close_falls_back_to_a_plain_close(
    origin: MemoryOrigin, tls: bool, half_close: bool
) -> None:
    origin.state.active = "expect-reject"
    client = origin.connect(half_close=half_close)
    if tls:
        directlyProvides(client.transport, ISSLTransport)
    client.send(POST_HEAD)
    assert client.take() == REJECTED
    assert client.state == "closed"
    assert origin.clock.getDelayedCalls() == []


def test_no_linger_once_the_body_is_read(origin: MemoryOrigin) -> None:
    origin.state.active = "expect-reject"
    client = origin.connect(half_close=True)
    client.send(POST_HEAD.replace(b"Expect", b"Connection: close\r\nExpect") + BODY)
    assert client.take() == REJECTED
    assert client.state == "closed"


def test_close_step_with_an_unread_body_lingers(origin: MemoryOrigin) -> None:
    origin.use({"close": {}})
    client = origin.connect(half_close=True)
    client.send(POST_NO_EXPECT)
    assert (client.take(), client.state) == (b"", "half-closed")
    client.send(BODY)
    assert client.state == "closed"
    assert timeline(origin.record()) == [
        (0, "close"),
        (0, "body-first-byte"),
        (0, "body-complete", None, "5 bytes"),
    ]


# -- reset: flush, then RST -----------------------------------------------------------------

RAW_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"


def test_reset_waits_for_the_write_buffer_then_aborts(origin: MemoryOrigin) -> None:
    origin.state.active = "reset-after-headers"
    client = origin.connect()
    client.send(GET)
    transport = client.transport
    assert transport.written() == RAW_HEAD
    assert (transport.disconnecting, transport.disconnected) == (True, False)
    assert transport.producer is not None
    assert transport.streaming is False  # a pull producer: resumed when the buffer is empty
    transport.producer.resumeProducing()
    assert client.state == "aborted"
    assert client.take() == RAW_HEAD
    record = origin.record()
    assert timeline(record) == [EMPTY_BODY, (0, "raw-sent", None, "66 bytes"), (0, "reset")]
    assert record.outcome is Outcome.RESET


def test_reset_after_a_dribble_keeps_every_byte_written(origin: MemoryOrigin) -> None:
    origin.use(respond_with("abcd", dribble={"bytes": 2, "every": 0.5}), {"reset": {}})
    client = origin.connect()
    client.send(GET)
    origin.advance(0.5)
    assert client.transport.producer is not None
    client.transport.producer.resumeProducing()
    assert client.state == "aborted"
    assert client.take() == ok(b"abcd")
    assert timeline(origin.record())[-2:] == [(0.5, "response-complete", 200), (0.5, "reset")]


def test_reset_producer_stopped_by_twisted_does_not_abort(origin: MemoryOrigin) -> None:
    origin.state.active = "reset-after-headers"
    client = origin.connect()
    client.send(GET)
    producer = client.transport.producer
    producer.stopProducing()  # Twisted: the connection went away first
    producer.resumeProducing()
    assert client.state == "closed"


def test_reset_over_tls_aborts_at_once(origin: MemoryOrigin) -> None:
    origin.state.active = "reset-after-headers"
    client = origin.connect()
    directlyProvides(client.transport, ISSLTransport)
    client.send(GET)
    assert client.state == "aborted"
    # Nothing below this TLS transport to flush: aborted at once, no producer left waiting.
    assert client.transport.producer is None
    assert client.take() == RAW_HEAD


# -- hang and --max-duration ------------------------------------------------------------------


def test_hang_until_max_duration(origin: MemoryOrigin) -> None:
    origin.settings(max_duration_seconds=30.0)
    origin.state.active = "hang"
    client = origin.connect()
    client.send(GET)
    origin.advance(29.5)
    assert (client.take(), client.state) == (b"", "open")
    origin.advance(0.5)
    assert (client.take(), client.state) == (b"", "closed")
    record = origin.record()
    assert timeline(record) == [EMPTY_BODY, (0, "hang"), (30, "max-duration", None, "30.0 s")]
    assert record.outcome is Outcome.MAX_DURATION


def test_max_duration_counts_from_the_exchange_start(origin: MemoryOrigin) -> None:
    origin.settings(max_duration_seconds=2.5)
    origin.use({"sleep": 2}, {"hang": {}})
    client = origin.connect()
    client.send(GET)
    origin.advance(2)
    assert client.state == "open"
    origin.advance(0.5)
    assert client.state == "closed"
    assert timeline(origin.record())[-2:] == [(2, "hang"), (2.5, "max-duration", None, "2.5 s")]


def test_max_duration_mid_trickle_stops_the_profile(origin: MemoryOrigin) -> None:
    origin.settings(max_duration_seconds=2.5)
    origin.state.active = "processing-trickle"
    client = origin.connect()
    client.send(GET)
    origin.advance(1)
    origin.advance(1)
    assert client.take() == PROCESSING * 3
    origin.advance(0.5)
    assert client.state == "closed"
    origin.advance(10)
    assert client.take() == b""
    assert timeline(origin.record())[-2:] == [
        (2, "interim-sent", 102),
        (2.5, "max-duration", None, "2.5 s"),
    ]


def test_max_duration_while_awaiting_the_body_lingers(origin: MemoryOrigin) -> None:
    origin.settings(max_duration_seconds=10.0)
    client = origin.connect(half_close=True)
    client.send(POST_HEAD + b"he")
    assert client.take() == CONTINUE
    origin.advance(10)
    assert client.state == "half-closed"
    origin.advance(2)
    assert client.state == "aborted"
    record = origin.record()
    assert timeline(record)[-1] == (10, "max-duration", None, "10.0 s")
    assert record.outcome is Outcome.MAX_DURATION


def test_keep_alive_disarms_max_duration(origin: MemoryOrigin) -> None:
    origin.settings(max_duration_seconds=1.0)
    origin.use(respond_with("hi\n"))
    client = origin.connect()
    client.send(GET)
    assert client.take() == ok(b"hi\n")
    [idle] = origin.clock.getDelayedCalls()  # --idle-timeout's, no --max-duration
    assert idle.getTime() == START + OriginSettings().idle_timeout_seconds
    origin.advance(5)
    assert client.state == "open"


# -- the client goes away -------------------------------------------------------------------


SLOW_CONTENT = b"0123456789abcdef" * 4
SLOW_HEAD = ok(SLOW_CONTENT, b"content-type: text/plain\r\n")[: -len(SLOW_CONTENT)]


@dataclass(frozen=True)
class GoneCase:
    active: str
    request: bytes
    advances: tuple[float, ...]
    written: bytes
    timeline: tuple[tuple[Any, ...], ...]


GONE_CASES = [
    pytest.param(
        GoneCase(
            "processing-trickle",
            GET,
            (1, 1),
            PROCESSING * 3,
            (
                EMPTY_BODY,
                (0, "interim-sent", 102),
                (1, "interim-sent", 102),
                (2, "interim-sent", 102),
                (2, "client-gone", None, GONE),
            ),
        ),
        id="mid-trickle",
    ),
    pytest.param(
        GoneCase(
            "expect-continue-delayed",
            POST_HEAD,
            (0.25,),
            b"",
            ((0.25, "client-gone", None, GONE),),
        ),
        id="mid-wait",
    ),
    pytest.param(
        GoneCase(
            "default",
            POST_HEAD + b"he",
            (3,),
            CONTINUE,
            ((0, "body-first-byte"), (0, "interim-sent", 100), (3, "client-gone", None, GONE)),
        ),
        id="while awaiting the body",
    ),
    pytest.param(
        GoneCase(
            "slow-body",
            GET,
            (0.1, 0.1),
            SLOW_HEAD + SLOW_CONTENT[:24],
            (EMPTY_BODY, (0, "response-started", 200), (0.2, "client-gone", None, GONE)),
        ),
        id="mid-dribble",
    ),
    pytest.param(
        GoneCase("hang", GET, (7,), b"", (EMPTY_BODY, (0, "hang"), (7, "client-gone", None, GONE))),
        id="while hanging",
    ),
]


@pytest.mark.parametrize("case", GONE_CASES)
def test_client_gone(origin: MemoryOrigin, case: GoneCase) -> None:
    origin.state.active = case.active
    client = origin.connect()
    client.send(case.request)
    for seconds in case.advances:
        origin.advance(seconds)
    assert client.take() == case.written
    client.lose()
    assert origin.clock.getDelayedCalls() == []
    record = origin.record()
    assert timeline(record) == list(case.timeline)
    assert record.outcome is Outcome.CLIENT_GONE
    origin.advance(60)
    assert client.take() == b""


def test_client_gone_reason_is_journaled(origin: MemoryOrigin) -> None:
    origin.state.active = "hang"
    client = origin.connect()
    client.send(GET)
    client.lose(Failure(ConnectionLost()))  # type: ignore[no-untyped-call]
    assert timeline(origin.record())[-1] == (
        0,
        "client-gone",
        None,
        "Connection to the other side was lost in a non-clean fashion.",
    )


def test_client_gone_after_a_finished_exchange_changes_nothing(origin: MemoryOrigin) -> None:
    origin.use(respond_with("hi\n"))
    client = origin.connect()
    client.send(GET)
    client.lose()
    record = origin.record()
    assert record.outcome is Outcome.KEEP_ALIVE
    assert timeline(record)[-1] == (0, "response-complete", 200)


# -- the client half-closes (FIN) -------------------------------------------------------------


def test_fin_after_the_request_still_gets_the_response(origin: MemoryOrigin) -> None:
    origin.use({"sleep": 1}, respond_with("hi\n"))
    client = origin.connect()
    client.send(GET)
    origin.advance(0.5)
    client.protocol.readConnectionLost()
    assert client.state == "open"
    origin.advance(0.5)
    assert client.take() == ok(b"hi\n", date=DATE_38)
    assert client.state == "closed"
    record = origin.record()
    assert timeline(record) == [
        EMPTY_BODY,
        (0.5, "client-fin"),
        (1, "response-started", 200),
        (1, "response-complete", 200),
        (1, "close"),
    ]
    assert record.outcome is Outcome.CLOSED


def test_fin_during_hang_is_the_client_leaving(origin: MemoryOrigin) -> None:
    origin.state.active = "hang"
    client = origin.connect()
    client.send(GET)
    origin.advance(3)
    client.protocol.readConnectionLost()
    assert client.state == "closed"
    record = origin.record()
    assert timeline(record)[-2:] == [
        (3, "client-fin"),
        (3, "client-gone", None, "the client sent FIN during hang"),
    ]
    assert record.outcome is Outcome.CLIENT_GONE


def test_fin_cutting_the_body_short_is_a_bad_request(origin: MemoryOrigin) -> None:
    origin.state.active = "expect-ignore"
    client = origin.connect()
    client.send(POST_NO_EXPECT + b"he")
    origin.advance(1)
    client.protocol.readConnectionLost()
    why = (
        "peer closed connection without sending complete message body "
        "(received 2 bytes, expected 5)"
    )
    text = f"400 Bad Request: {why}\n".encode()
    assert client.take() == refusal(b"HTTP/1.1 400 Bad Request\r\n", text, DATE_38)
    assert client.state == "closed"
    record = origin.record()
    assert timeline(record)[1:] == [
        (1, "client-fin"),
        (1, "bad-request", 400, why),
        (1, "response-started", 400, text.decode().strip()),
        (1, "close"),
    ]
    assert (record.outcome, record.error) == (Outcome.BAD_REQUEST, why)


def test_fin_on_an_idle_connection_closes_it(origin: MemoryOrigin) -> None:
    origin.use(respond_with("hi\n"))
    client = origin.connect()
    client.send(GET)
    assert client.take() == ok(b"hi\n")
    client.protocol.readConnectionLost()
    assert client.state == "closed"
    assert len(origin.records()) == 1


# -- keep-alive and pipelining ----------------------------------------------------------------

SLOW = profile({"sleep": 0.5}, respond_with("slow\n"), name="slow")


def get(target: bytes, *lines: bytes) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: example.com\r\n" + b"".join(lines) + b"\r\n"


@pytest.mark.parametrize("feed", [Feed.WHOLE, Feed.BYTEWISE])
def test_pipelined_requests_are_served_in_order(origin: MemoryOrigin, feed: Feed) -> None:
    origin.add(SLOW)
    origin.use(respond_with("fast\n"))
    client = origin.connect()
    upload = b"POST /3 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello"
    client.send(get(b"/1", b"Fakeorigin-Profile: slow\r\n") + get(b"/2") + upload, feed)
    assert client.take() == b""
    origin.advance(0.5)
    assert client.take() == ok(b"slow\n") + ok(b"fast\n") + ok(b"fast\n")
    records = origin.records()
    assert [(r.index, r.target, r.profile, r.selected_by) for r in records] == [
        (1, "/1", "slow", "header"),
        (2, "/2", "test", "active"),
        (3, "/3", "test", "active"),
    ]
    assert {(r.connection_id, r.outcome) for r in records} == {(1, Outcome.KEEP_ALIVE)}
    assert records[2].body.length == 5
    # A pipelined request is opened when its turn comes (h11 holds it until then).
    assert [r.started_at - START for r in records] == [0, 0.5, 0.5]
    assert client.state == "open"


# RFC 9112 section 2.2: a server SHOULD ignore at least one empty line before a request line.


@pytest.mark.parametrize("feed", [Feed.WHOLE, Feed.BYTEWISE])
@pytest.mark.parametrize("empty", [b"\r\n", b"\n", b"\r\n\r\n\n"], ids=["CRLF", "LF", "three"])
def test_empty_lines_before_a_request_line_are_skipped(
    origin: MemoryOrigin, feed: Feed, empty: bytes
) -> None:
    origin.use(respond_with("hi\n"))
    client = origin.connect()
    client.send(empty + GET, feed)
    client.send(empty + get(b"/2"), feed)
    assert client.take() == ok(b"hi\n") + ok(b"hi\n")
    assert [(r.target, r.outcome) for r in origin.records()] == [
        ("/x", Outcome.KEEP_ALIVE),
        ("/2", Outcome.KEEP_ALIVE),
    ]


@pytest.mark.parametrize("feed", [Feed.WHOLE, Feed.BYTEWISE])
def test_a_crlf_after_a_request_body_is_not_a_request(origin: MemoryOrigin, feed: Feed) -> None:
    """Some clients end a POST body with an extra CRLF: the next request is served, in the
    same packet or later, while the first one still runs or after it."""
    origin.use({"sleep": 0.5}, respond_with("slow\n"))
    client = origin.connect()
    client.send(POST_NO_EXPECT + BODY + b"\r\n", feed)
    client.send(b"\r\n" + get(b"/2"), feed)
    origin.advance(0.5)
    assert client.take() == ok(b"slow\n")
    origin.advance(0.5)
    assert client.take() == ok(b"slow\n", date=DATE_38)
    assert [(r.target, r.body.length, r.outcome) for r in origin.records()] == [
        ("/up", 5, Outcome.KEEP_ALIVE),
        ("/2", 0, Outcome.KEEP_ALIVE),
    ]
    assert client.state == "open"


def test_a_lone_cr_before_a_request_line_is_refused(origin: MemoryOrigin) -> None:
    client = origin.connect()
    client.send(b"\r" + GET)
    assert client.take().startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert origin.record().outcome is Outcome.BAD_REQUEST


def test_only_empty_lines_then_fin_closes_without_a_record(origin: MemoryOrigin) -> None:
    client = origin.connect(half_close=True)
    client.send(b"\r\n\r\n\r")
    client.protocol.readConnectionLost()
    assert (client.take(), client.state, origin.records()) == (b"", "closed", [])


def test_keep_alive_journals_each_request_with_its_index(origin: MemoryOrigin) -> None:
    origin.use(respond_with("hi\n"))
    first, second = origin.connect(), origin.connect()
    first.send(get(b"/a"))
    origin.advance(1)
    first.send(get(b"/b"))
    second.send(get(b"/c"))
    first.send(get(b"/d", CLOSE_LINE))
    assert first.take() == (
        ok(b"hi\n") + ok(b"hi\n", date=DATE_38) + ok(b"hi\n", date=DATE_38, after=(CLOSE_LINE,))
    )
    assert second.take() == ok(b"hi\n", date=DATE_38)
    assert [(r.id, r.connection_id, r.index, r.target, r.outcome) for r in origin.records()] == [
        (1, 1, 1, "/a", Outcome.KEEP_ALIVE),
        (2, 1, 2, "/b", Outcome.KEEP_ALIVE),
        (3, 2, 1, "/c", Outcome.KEEP_ALIVE),
        (4, 1, 3, "/d", Outcome.CLOSED),
    ]
    assert (first.state, second.state) == ("closed", "open")


def test_request_asking_to_close_is_the_last(origin: MemoryOrigin) -> None:
    origin.use(respond_with("hi\n"))
    client = origin.connect()
    client.send(GET_CLOSE)
    assert client.take() == ok(b"hi\n", after=(CLOSE_LINE,))
    assert client.state == "closed"
    assert origin.record().outcome is Outcome.CLOSED


@pytest.mark.parametrize(
    "request_bytes",
    [pytest.param(GET10, id="HTTP/1.0"), pytest.param(GET_CLOSE, id="Connection: close")],
)
def test_data_after_the_last_request_is_ignored(origin: MemoryOrigin, request_bytes: bytes) -> None:
    origin.use(respond_with("hi\n"))
    client = origin.connect()
    client.send(request_bytes + get(b"/second"))
    assert client.take() == ok(b"hi\n", after=(CLOSE_LINE,))
    assert client.state == "closed"
    record = origin.record()
    assert (record.outcome, record.error) == (Outcome.CLOSED, None)


def test_data_after_an_http10_request_does_not_stop_its_exchange(origin: MemoryOrigin) -> None:
    origin.use({"sleep": 1}, respond_with("hi\n"))
    client = origin.connect()
    client.send(GET10)
    client.send(b"\r\n")
    origin.advance(1)
    assert client.take() == ok(b"hi\n", after=(CLOSE_LINE,), date=DATE_38)
    assert origin.record().outcome is Outcome.CLOSED


# -- malformed requests: h11's status hint, Connection: close, raw bytes journaled ----------


def refusal(status_line: bytes, text: bytes, date: bytes = DATE) -> bytes:
    return (
        status_line
        + b"Content-Type: text/plain; charset=utf-8\r\n"
        + date
        + SERVER
        + b"Content-Length: %d\r\n" % len(text)
        + CLOSE_LINE
        + b"\r\n"
        + text
    )


BIG_HEAD = b"GET /x HTTP/1.1\r\nHost: example.com\r\nX-Big: " + b"a" * 17000

BAD_REQUEST = (400, "Bad Request")
MALFORMED = [
    pytest.param(
        b"GET / HTTP/1.1\r\n\r\n", BAD_REQUEST, "Missing mandatory Host: header", id="no Host"
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n",
        BAD_REQUEST,
        "bad Content-Length",
        id="bad Content-Length",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        BAD_REQUEST,
        "conflicting Content-Length headers",
        id="two Content-Lengths",
    ),
    pytest.param(
        b"GET\r\n\r\n",
        BAD_REQUEST,
        "illegal request line: bytearray(b'GET')",
        id="bad request line",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
        BAD_REQUEST,
        "illegal header line: bytearray(b'Bad Header: x')",
        id="bad header line",
    ),
    pytest.param(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        (501, "Not Implemented"),
        "Only Transfer-Encoding: chunked is supported",
        id="unsupported transfer coding",
    ),
]


@pytest.mark.parametrize("feed", [Feed.WHOLE, Feed.BYTEWISE])
@pytest.mark.parametrize(("request_bytes", "hint", "why"), MALFORMED)
def test_malformed_request(
    origin: MemoryOrigin, request_bytes: bytes, hint: tuple[int, str], why: str, feed: Feed
) -> None:
    status, phrase = hint
    text = f"{status} {phrase}: {why}\n"
    client = origin.connect()
    client.send(request_bytes, feed)
    assert client.take() == refusal(f"HTTP/1.1 {status} {phrase}\r\n".encode(), text.encode())
    assert client.state == "closed"
    record = origin.record()
    assert timeline(record) == [
        (0, "bad-request", status, why),
        (0, "response-started", status, text.strip()),
        (0, "close"),
    ]
    assert (record.outcome, record.error, record.raw_request) == (
        Outcome.BAD_REQUEST,
        why,
        request_bytes,
    )
    assert (record.method, record.profile, record.selected_by) == (None, None, None)


def test_oversized_head_gets_431_and_the_first_4_kib_journaled(origin: MemoryOrigin) -> None:
    client = origin.connect()
    for start in range(0, len(BIG_HEAD), 1000):
        client.send(BIG_HEAD[start : start + 1000])
    text = b"431 Request Header Fields Too Large: Receive buffer too long\n"
    assert client.take() == refusal(b"HTTP/1.1 431 Request Header Fields Too Large\r\n", text)
    assert client.state == "closed"
    record = origin.record()
    assert record.raw_request == BIG_HEAD[:4096]
    assert (record.outcome, record.error) == (Outcome.BAD_REQUEST, "Receive buffer too long")


@pytest.mark.parametrize(
    "pipelined", [pytest.param(False, id="later packet"), pytest.param(True, id="same packet")]
)
def test_malformed_request_after_a_good_one(origin: MemoryOrigin, pipelined: bool) -> None:
    origin.use(respond_with("hi\n"))
    client = origin.connect()
    bad = b"GET /bad HTTP/1.1\r\n\r\n"
    if pipelined:
        client.send(GET + bad)
    else:
        client.send(GET)
        client.send(bad)
    text = b"400 Bad Request: Missing mandatory Host: header\n"
    assert client.take() == ok(b"hi\n") + refusal(b"HTTP/1.1 400 Bad Request\r\n", text)
    good, refused = origin.records()
    assert (good.index, good.outcome, good.raw_request) == (1, Outcome.KEEP_ALIVE, None)
    assert (refused.index, refused.outcome, refused.raw_request) == (2, Outcome.BAD_REQUEST, bad)


CHUNKED_HEAD = b"POST /up HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n"
BAD_CHUNK_WHY = "illegal chunk header: bytearray(b'zz\\r\\n')"
BAD_CHUNK_TEXT = f"400 Bad Request: {BAD_CHUNK_WHY}\n".encode()


def test_broken_body_framing_before_any_response_gets_400(origin: MemoryOrigin) -> None:
    origin.state.active = "expect-ignore"
    client = origin.connect()
    client.send(CHUNKED_HEAD + b"\r\n")
    origin.advance(1)
    client.send(b"zz\r\n")
    assert client.take() == refusal(b"HTTP/1.1 400 Bad Request\r\n", BAD_CHUNK_TEXT, DATE_38)
    assert client.state == "closed"
    record = origin.record()
    assert timeline(record) == [
        (1, "bad-request", 400, BAD_CHUNK_WHY),
        (1, "response-started", 400, BAD_CHUNK_TEXT.decode().strip()),
        (1, "close"),
    ]
    assert (record.outcome, record.profile) == (Outcome.BAD_REQUEST, "expect-ignore")


def test_broken_body_framing_mid_response_just_closes(origin: MemoryOrigin) -> None:
    origin.use(respond_with("abcd", dribble={"bytes": 2, "every": 1}))
    client = origin.connect()
    client.send(CHUNKED_HEAD + b"\r\n")
    assert client.take() == ok(b"abcd", after=(CLOSE_LINE,))[: -len(b"cd")]
    client.send(b"zz\r\n")
    assert (client.take(), client.state) == (b"", "closed")
    record = origin.record()
    assert timeline(record)[-1] == (0, "bad-request", 400, BAD_CHUNK_WHY)
    assert record.outcome is Outcome.BAD_REQUEST


def test_broken_body_framing_after_100_continue_gets_400(origin: MemoryOrigin) -> None:
    client = origin.connect()
    client.send(CHUNKED_HEAD + b"Expect: 100-continue\r\n\r\n")
    assert client.take() == CONTINUE
    client.send(b"zz\r\n")
    assert client.take() == refusal(b"HTTP/1.1 400 Bad Request\r\n", BAD_CHUNK_TEXT)
    assert origin.record().outcome is Outcome.BAD_REQUEST


# -- which profile serves a request -----------------------------------------------------------

A = profile(respond_with("a\n"), name="a")
B = profile(respond_with("b\n"), name="b")


@pytest.mark.parametrize(
    ("header", "line", "body", "selected_by"),
    [
        pytest.param("Fakeorigin-Profile", b"Fakeorigin-Profile: b\r\n", b"b\n", "header", id="b"),
        pytest.param("Fakeorigin-Profile", b"fakeorigin-profile: b\r\n", b"b\n", "header", id="lc"),
        pytest.param("Fakeorigin-Profile", b"X-Profile: b\r\n", b"a\n", "active", id="other"),
        pytest.param("X-Profile", b"X-Profile: b\r\n", b"b\n", "header", id="own header name"),
        pytest.param(
            "X-Profile", b"Fakeorigin-Profile: b\r\n", b"a\n", "active", id="default name off"
        ),
        pytest.param(None, b"Fakeorigin-Profile: b\r\n", b"a\n", "active", id="--no-inband"),
        pytest.param(None, b"Fakeorigin-Profile: nope\r\n", b"a\n", "active", id="unknown, off"),
    ],
)
def test_inband_selection(
    origin: MemoryOrigin, header: str | None, line: bytes, body: bytes, selected_by: str
) -> None:
    origin.add(A, B)
    origin.state.active = "a"
    origin.state.inband_header = header
    client = origin.connect()
    client.send(get(b"/x", line))
    assert client.take() == ok(body)
    record = origin.record()
    assert (record.profile, record.selected_by) == (body.decode().strip(), selected_by)


def test_unknown_inband_profile_gets_400_listing_the_known_ones(origin: MemoryOrigin) -> None:
    origin.state.profiles = {"a": A, "b": B}
    origin.state.active = "a"
    client = origin.connect()
    client.send(get(b"/x", b"Fakeorigin-Profile: nope\r\n"))
    text = b"unknown profile 'nope'; known profiles: a, b\n"
    assert client.take() == refusal(b"HTTP/1.1 400 Bad Request\r\n", text)
    assert client.state == "closed"
    record = origin.record()
    assert timeline(record) == [
        EMPTY_BODY,
        (0, "response-started", 400, text.decode().strip()),
        (0, "close"),
    ]
    assert (record.profile, record.selected_by, record.outcome) == (None, "header", Outcome.REFUSED)


def test_unknown_inband_profile_with_an_upload_lingers(origin: MemoryOrigin) -> None:
    client = origin.connect(half_close=True)
    client.send(POST_HEAD.replace(b"Expect: 100-continue", b"Fakeorigin-Profile: nope"))
    assert client.take().startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert client.state == "half-closed"
    client.send(BODY)
    assert client.state == "closed"


def test_rules_match_in_order_count_down_and_yield_to_the_header(origin: MemoryOrigin) -> None:
    origin.add(A, B)
    origin.state.add_rule(Rule(profile="a", method="POST", remaining=2))
    origin.state.add_rule(Rule(profile="b", path_prefix="/b", headers=(("x-tenant", "t1"),)))
    origin.use(respond_with("active\n"))
    client = origin.connect()
    post = b"POST %s HTTP/1.1\r\nHost: example.com\r\nX-Tenant: t1\r\nContent-Length: 0\r\n\r\n"
    requests = [
        (post % b"/b", "a", "rule"),  # the first rule wins; 1 use left
        (get(b"/b/1", b"X-Tenant: t1\r\n"), "b", "rule"),
        (get(b"/b/2", b"X-Tenant: t2\r\n"), "test", "active"),  # header value differs
        (post % b"/x", "a", "rule"),  # the last use
        (post % b"/b", "b", "rule"),  # rule a is used up: the next rule matches
        (post % b"/x", "test", "active"),
        (get(b"/b", b"X-Tenant: t1\r\nFakeorigin-Profile: a\r\n"), "a", "header"),
    ]
    bodies = {"a": b"a\n", "b": b"b\n", "test": b"active\n"}
    for request_bytes, name, _ in requests:
        client.send(request_bytes)
        assert client.take() == ok(bodies[name])
    journaled = [(r.profile, r.selected_by) for r in origin.records()]
    assert journaled == [(name, by) for _, name, by in requests]
    assert [(rule.id, rule.times, rule.remaining) for rule in origin.state.rules] == [
        (1, 2, 0),
        (2, None, None),
    ]


# -- the bundled profiles, start to finish ----------------------------------------------------


ECHO_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%s"
    + SERVER
    + b"Content-Length: %d\r\n\r\n"
)
POSTED = {
    "method": "POST",
    "target": "/up",
    "http_version": "1.1",
    "headers": [["Host", "example.com"], ["Content-Length", "5"], ["Expect", "100-continue"]],
    "body": {
        "length": 5,
        "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        "complete": True,
    },
}


@pytest.mark.parametrize(
    ("name", "script", "first_event", "before_continue"),
    [
        pytest.param("default", ((POST_HEAD, CONTINUE),), (0, "interim-sent", 100), 0),
        pytest.param("expect-continue", ((POST_HEAD, CONTINUE),), (0, "interim-sent", 100), 0),
        pytest.param(
            "expect-continue-delayed",
            ((POST_HEAD, b""), (0.25, b""), (0.25, CONTINUE)),
            (0.5, "interim-sent", 100),
            0,
        ),
        pytest.param("expect-ignore", ((POST_HEAD, b""), (1.0, b"")), (1, "body-first-byte"), None),
    ],
)
def test_bundled_echo_profiles(
    origin: MemoryOrigin,
    name: str,
    script: Script,
    first_event: tuple[Any, ...],
    before_continue: int | None,
) -> None:
    origin.state.active = name
    client = origin.connect()
    play(origin, client, script)
    client.send(BODY)
    head, content = split_response(client.take())
    date = DATE_38 if name == "expect-ignore" else DATE
    assert head == ECHO_HEAD % (date, len(content))
    assert json.loads(content) == POSTED
    record = origin.record()
    assert timeline(record)[0] == first_event
    assert record.body_bytes_before_continue == before_continue
    assert (record.outcome, client.state) == (Outcome.KEEP_ALIVE, "open")


@pytest.mark.parametrize(
    ("name", "status_line", "text"),
    [
        pytest.param(
            "expect-reject", b"HTTP/1.1 417 Expectation Failed\r\n", b"expectation failed\n"
        ),
        pytest.param(
            "expect-final-early", b"HTTP/1.1 413 Content Too Large\r\n", b"content too large\n"
        ),
    ],
)
def test_bundled_early_final_profiles(
    origin: MemoryOrigin, name: str, status_line: bytes, text: bytes
) -> None:
    origin.state.active = name
    client = origin.connect(half_close=True)
    client.send(POST_HEAD)
    length = b"Content-Length: %d\r\n" % len(text)
    expected = status_line + b"content-type: text/plain\r\n" + DATE + SERVER + length
    assert client.take() == expected + CLOSE_LINE + b"\r\n" + text
    assert client.state == "half-closed"
    client.send(BODY)
    assert client.state == "closed"
    record = origin.record()
    assert record.interim_statuses == []
    assert record.body_bytes_before_continue is None


def test_bundled_slow_body(origin: MemoryOrigin) -> None:
    origin.state.active = "slow-body"
    client = origin.connect()
    client.send(GET)
    pieces = [client.take()]
    for _ in range(7):
        origin.advance(0.1)
        pieces.append(client.take())
    assert pieces == [SLOW_HEAD + SLOW_CONTENT[:8]] + [
        SLOW_CONTENT[i : i + 8] for i in range(8, 64, 8)
    ]
    origin.advance(1)
    assert client.take() == b""
    assert timeline(origin.record())[-1] == (0.7, "response-complete", 200)


def test_bundled_close_mid_body(origin: MemoryOrigin) -> None:
    origin.state.active = "close-mid-body"
    client = origin.connect()
    client.send(GET)
    assert client.take() == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"
        + b"0123456789" * 5
    )
    assert client.state == "closed"
    record = origin.record()
    assert timeline(record) == [EMPTY_BODY, (0, "raw-sent", None, "116 bytes"), (0, "close")]
    assert record.outcome is Outcome.CLOSED
