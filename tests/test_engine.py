"""The engine alone: (profile, request, body so far, time) -> the exact actions, no I/O.

A fake :class:`~fakeorigin.core.engine.ExchangeView` stands in for the protocol: the test driver
performs each action as the protocol would (a ``Wait`` moves the view's time on, an
``AwaitBody`` completes the upload) and records it. One case table per step kind, each row
a named request and the exact action sequence it must produce (go-httpbin's handler tables,
h11's byte-exact cases).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from fakeorigin.core.actions import EndBody, SendData, SendHead
from fakeorigin.core.engine import Action as EngineAction
from fakeorigin.core.engine import (
    AwaitBody,
    End,
    Ending,
    HandOff,
    Note,
    Wait,
    run_exchange,
)
from fakeorigin.core.journal import BodyRecord, Event
from fakeorigin.core.profile import STEP_KINDS, Profile
from fakeorigin.core.wire import RequestHead
from fakeorigin.http1.framer import FRAMES, Http1Framer, error_response
from tests.memory import DATE, SERVER, START, profile

HOST = (b"Host", b"example.com")
GET = RequestHead(b"GET", b"/x", b"1.1", (HOST,))
GET10 = RequestHead(b"GET", b"/x", b"1.0", ())
HEAD = RequestHead(b"HEAD", b"/x", b"1.1", (HOST,))
GET_CLOSE = RequestHead(b"GET", b"/x", b"1.1", (HOST, (b"Connection", b"keep-alive, Close")))
POST = RequestHead(
    b"POST", b"/up", b"1.1", (HOST, (b"Content-Length", b"5"), (b"Expect", b"100-continue"))
)
POST_NO_EXPECT = RequestHead(b"POST", b"/up", b"1.1", (HOST, (b"Content-Length", b"5")))
POST_EXPECT_CASED = RequestHead(
    b"POST", b"/up", b"1.1", (HOST, (b"Content-Length", b"5"), (b"expect", b"100-Continue"))
)
POST10 = RequestHead(
    b"POST", b"/up", b"1.0", ((b"Content-Length", b"5"), (b"Expect", b"100-continue"))
)


@dataclass(frozen=True)
class Write:
    """What an engine message put on an HTTP/1.1 connection: the bytes the HTTP/1.1 framer
    made of it, and what it journaled. The tables below state every exchange in these, so
    they hold the exact bytes on the wire whatever the engine's messages look like."""

    data: bytes
    event: Event | None = None
    status: int | None = None
    detail: str | None = None


#: An action as the tables state it: a message framed into bytes, or any other action.
Action = Write | EngineAction


def framed(action: EngineAction, framer: Http1Framer) -> list[Action]:
    """``action`` as the HTTP/1.1 protocol carries it out: a message becomes the bytes the
    framer makes of it (the end of a body: its last chunk, if any, then response-complete)."""
    frame = FRAMES.get(type(action))
    if frame is None:
        return [action]
    if isinstance(action, SendHead) and action.content:  # the head, then its content
        head = replace(action, content=b"")
        return [*framed(head, framer), *framed(SendData(action.content), framer)]
    data = frame(framer, action)
    if isinstance(action, EndBody):
        last: list[Action] = [Write(data)] if data else []
        return [*last, Note(Event.RESPONSE_COMPLETE, action.status)]
    return [Write(data, action.event, action.status, action.detail)]  # type: ignore[union-attr]


#: The upload the driver delivers when the engine awaits the body.
UPLOAD = b"hello"


@dataclass(frozen=True)
class Body:
    """The request body when the exchange starts: bytes received and whether that is all."""

    received: bytes
    complete: bool


EMPTY = Body(b"", complete=True)  # a GET: h11 reports the (empty) body complete at once
NOTHING_YET = Body(b"", complete=False)
PARTIAL = Body(b"he", complete=False)
UPLOADED = Body(UPLOAD, complete=True)


@dataclass
class FakeView:
    """An ExchangeView whose time only moves when the driver performs a Wait."""

    request: RequestHead
    body: BodyRecord = field(default_factory=BodyRecord)
    now: float = 0.0

    def elapsed(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return START + self.now


def make_view(request: RequestHead, body: Body) -> FakeView:
    record = BodyRecord()
    record.add(body.received)
    record.complete = body.complete
    return FakeView(request, record)


def drive(
    steps: Profile | list[dict[str, Any]],
    request: RequestHead = GET,
    body: Body = EMPTY,
    *,
    rng: random.Random | None = None,
    late: float = 0.0,
    during_wait: Callable[[FakeView], None] | None = None,
) -> list[tuple[float, Action]]:
    """Run the exchange as the protocol would; every action with the time it was taken.

    ``late`` makes every timer fire that many seconds late (real reactors are never early);
    ``during_wait`` runs while a Wait is pending (say, the body arrives).
    """
    made = steps if isinstance(steps, Profile) else profile(*steps)
    view = make_view(request, body)
    taken: list[tuple[float, Action]] = []
    framer = Http1Framer()
    for action in run_exchange(made, view, rng or random.Random(0)):
        assert not any(isinstance(a, End | HandOff) for _, a in taken), "actions after End"
        taken.extend((view.now, one) for one in framed(action, framer))
        if isinstance(action, Wait):
            assert action.seconds >= 0, action
            if during_wait is not None:
                during_wait(view)
            view.now += action.seconds + late
        elif isinstance(action, AwaitBody):
            assert not view.body.complete, "AwaitBody for a body already complete"
            view.body.add(UPLOAD[view.body.length :])
            view.body.complete = True
    assert taken, "no actions at all"
    assert isinstance(taken[-1][1], End | HandOff), "the last action must be End or HandOff"
    return taken


def actions(
    steps: Profile | list[dict[str, Any]], request: RequestHead = GET, body: Body = EMPTY
) -> list[Action]:
    return [action for _, action in drive(steps, request, body)]


# -- vocabulary for the tables ------------------------------------------------------------

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"
KEEP = End(Ending.KEEP_ALIVE)
CLOSE = End(Ending.CLOSE)
RESET = End(Ending.RESET)
HANG = End(Ending.HANG)
CLOSE_STEP: dict[str, Any] = {"close": {}}
HTTP10_1XX = "HTTP/1.0 request: no 1xx to HTTP/1.0 (RFC 9110 section 15.2)"


def sent(status: int, data: bytes, detail: str | None = None) -> Write:
    return Write(data, Event.INTERIM_SENT, status, detail)


def skipped(status: int, why: str) -> Note:
    return Note(Event.INTERIM_SKIPPED, status, why)


def started(status: int, *lines: bytes) -> Write:
    """The response head: its status line and header lines, then the blank line."""
    return Write(b"".join(lines) + b"\r\n", Event.RESPONSE_STARTED, status)


def finished(status: int) -> Note:
    return Note(Event.RESPONSE_COMPLETE, status)


P102 = sent(102, PROCESSING)
OK = b"HTTP/1.1 200 OK\r\n"
TEXT = b"content-type: text/plain\r\n"


def respond(**fields: Any) -> dict[str, Any]:
    return {"respond": {"status": 200, **fields}}


def repeat(**fields: Any) -> dict[str, Any]:
    return {"repeat": {"steps": [{"informational": {"status": 102}}], **fields}}


# -- continue ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "request_head", "body", "expected"),
    [
        pytest.param(
            [{"continue": {}}, CLOSE_STEP],
            POST,
            NOTHING_YET,
            [sent(100, CONTINUE), CLOSE],
            id="sent: HTTP/1.1, Expect, no body yet",
        ),
        pytest.param(
            [{"continue": {}}, CLOSE_STEP],
            POST,
            PARTIAL,
            [sent(100, CONTINUE), CLOSE],
            id="sent: part of the body arrived, the rest is awaited",
        ),
        pytest.param(
            [{"continue": {}}, CLOSE_STEP],
            POST_EXPECT_CASED,
            NOTHING_YET,
            [sent(100, CONTINUE), CLOSE],
            id="sent: Expect name and value compared case-insensitively",
        ),
        pytest.param(
            [{"continue": {}}, CLOSE_STEP],
            POST,
            UPLOADED,
            [skipped(100, "request body already complete"), CLOSE],
            id="skipped: body already complete",
        ),
        pytest.param(
            [{"continue": {}}, CLOSE_STEP],
            GET,
            EMPTY,
            [skipped(100, "request has no Expect: 100-continue"), CLOSE],
            id="skipped: no Expect",
        ),
        pytest.param(
            [{"continue": {}}, CLOSE_STEP],
            POST_NO_EXPECT,
            NOTHING_YET,
            [skipped(100, "request has no Expect: 100-continue"), CLOSE],
            id="skipped: no Expect although the body is awaited",
        ),
        pytest.param(
            [{"continue": {}}, CLOSE_STEP],
            POST10,
            NOTHING_YET,
            [skipped(100, HTTP10_1XX), CLOSE],
            id="skipped: HTTP/1.0 even with Expect",
        ),
        pytest.param(
            [{"continue": {}}, {"continue": {}}, CLOSE_STEP],
            POST,
            NOTHING_YET,
            [
                sent(100, CONTINUE),
                skipped(100, "100 Continue already sent in this exchange"),
                CLOSE,
            ],
            id="skipped: second continue in one exchange",
        ),
        pytest.param(
            [{"continue": {}}, {"read_body": {}}, {"continue": {}}, CLOSE_STEP],
            POST,
            NOTHING_YET,
            [
                sent(100, CONTINUE),
                AwaitBody(),
                skipped(100, "100 Continue already sent in this exchange"),
                CLOSE,
            ],
            id="skipped: already sent wins over body complete",
        ),
    ],
)
def test_continue(
    steps: list[dict[str, Any]], request_head: RequestHead, body: Body, expected: list[Action]
) -> None:
    assert actions(steps, request_head, body) == expected


def test_continue_decides_when_it_runs_not_when_the_exchange_starts() -> None:
    """expect-continue-delayed: the body arrives during the sleep, so no 100 is due."""

    def upload_arrives(view: FakeView) -> None:
        view.body.add(UPLOAD)
        view.body.complete = True

    taken = drive(
        [{"sleep": 0.5}, {"continue": {}}, CLOSE_STEP],
        POST,
        NOTHING_YET,
        during_wait=upload_arrives,
    )
    assert taken == [
        (0.0, Wait(0.5)),
        (0.5, skipped(100, "request body already complete")),
        (0.5, CLOSE),
    ]


# -- informational ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "request_head", "expected"),
    [
        pytest.param(
            {"status": 103, "headers": {"link": "</s.css>; rel=preload; as=style"}},
            GET,
            sent(103, b"HTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload; as=style\r\n\r\n"),
            id="103 with a header, registered phrase",
        ),
        pytest.param({"status": 102}, GET, P102, id="102 Processing"),
        pytest.param(
            {"status": 100},
            GET,
            sent(100, CONTINUE),
            id="100 sent as told, Expect or not",
        ),
        pytest.param(
            {"status": 102, "reason": "Still Working"},
            GET,
            sent(102, b"HTTP/1.1 102 Still Working\r\n\r\n"),
            id="own reason phrase",
        ),
        pytest.param(
            {"status": 150},
            GET,
            sent(150, b"HTTP/1.1 150 \r\n\r\n"),
            id="unregistered code: empty phrase, SP kept",
        ),
        pytest.param(
            {"status": 103, "headers": [["Link", "</a>"], ["link", "</b>"], ["X-Trace", "1"]]},
            GET,
            sent(
                103, b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nlink: </b>\r\nX-Trace: 1\r\n\r\n"
            ),
            id="header pairs: order, case and duplicates kept",
        ),
        pytest.param(
            {"status": 103},
            GET10,
            skipped(103, HTTP10_1XX + "; force: true sends it"),
            id="skipped for HTTP/1.0",
        ),
        pytest.param(
            {"status": 102},
            POST10,
            skipped(102, HTTP10_1XX + "; force: true sends it"),
            id="skipped for HTTP/1.0 with a body",
        ),
        pytest.param(
            {"status": 103, "force": True},
            GET10,
            sent(103, b"HTTP/1.1 103 Early Hints\r\n\r\n", "forced to an HTTP/1.0 client"),
            id="forced to HTTP/1.0",
        ),
        pytest.param(
            {"status": 103, "force": True},
            GET,
            sent(103, b"HTTP/1.1 103 Early Hints\r\n\r\n"),
            id="force changes nothing for HTTP/1.1",
        ),
    ],
)
def test_informational(step: dict[str, Any], request_head: RequestHead, expected: Action) -> None:
    assert actions([{"informational": step}, CLOSE_STEP], request_head) == [expected, CLOSE]


# -- sleep --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param([{"sleep": 0.5}], [Wait(0.5)], id="half a second"),
        pytest.param([{"sleep": 0}], [Wait(0)], id="zero: still a turn of the clock"),
        pytest.param([{"sleep": 0.25}, {"sleep": 2}], [Wait(0.25), Wait(2)], id="two in a row"),
        pytest.param(
            [
                {"informational": {"status": 103}},
                {"sleep": 0.1},
                {"informational": {"status": 103}},
            ],
            [
                sent(103, b"HTTP/1.1 103 Early Hints\r\n\r\n"),
                Wait(0.1),
                sent(103, b"HTTP/1.1 103 Early Hints\r\n\r\n"),
            ],
            id="between two interim responses",
        ),
    ],
)
def test_sleep(steps: list[dict[str, Any]], expected: list[Action]) -> None:
    assert actions([*steps, CLOSE_STEP]) == [*expected, CLOSE]


# -- repeat -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(
            [repeat(times=3, every=1)],
            [P102, Wait(1), P102, Wait(1), P102, Wait(1)],
            id="times: runs at 0, 1, 2 and ends at 3",
        ),
        pytest.param(
            [repeat(**{"for": 2.5, "every": 1})],
            [P102, Wait(1), P102, Wait(1), P102, Wait(0.5)],
            id="for: the last period is cut at 2.5",
        ),
        pytest.param(
            [repeat(times=5, every=1, **{"for": 2})],
            [P102, Wait(1), P102, Wait(1)],
            id="times and for: for ends first",
        ),
        pytest.param(
            [repeat(times=2, every=2, **{"for": 3})],
            [P102, Wait(2), P102, Wait(1)],
            id="times and for: for cuts the last period",
        ),
        pytest.param(
            [repeat(times=1, every=0.5, **{"for": 60})],
            [P102, Wait(0.5)],
            id="times and for: times ends first",
        ),
        pytest.param(
            [
                {
                    "repeat": {
                        "times": 2,
                        "every": 1,
                        "steps": [{"informational": {"status": 102}}, {"sleep": 0.25}],
                    }
                }
            ],
            [P102, Wait(0.25), Wait(0.75), P102, Wait(0.25), Wait(0.75)],
            id="time spent in a period counts against it",
        ),
        pytest.param(
            [
                {
                    "repeat": {
                        "times": 2,
                        "every": 1,
                        "steps": [{"informational": {"status": 102}}, {"sleep": 1.5}],
                    }
                }
            ],
            [P102, Wait(1.5), P102, Wait(1.5)],
            id="overrunning periods: no negative wait, the next starts at once",
        ),
        pytest.param(
            [{"sleep": 0.5}, repeat(times=2, every=1)],
            [Wait(0.5), P102, Wait(1), P102, Wait(1)],
            id="periods count from when the repeat began",
        ),
        pytest.param(
            [
                {
                    "repeat": {
                        "times": 2,
                        "every": 2,
                        "steps": [repeat(times=2, every=0.5)],
                    }
                }
            ],
            [P102, Wait(0.5), P102, Wait(0.5), Wait(1), P102, Wait(0.5), P102, Wait(0.5), Wait(1)],
            id="nested repeats",
        ),
        pytest.param(
            [repeat(times=2, every=1), {"informational": {"status": 103}}],
            [P102, Wait(1), P102, Wait(1), sent(103, b"HTTP/1.1 103 Early Hints\r\n\r\n")],
            id="the next step runs when the last period ends",
        ),
    ],
)
def test_repeat(steps: list[dict[str, Any]], expected: list[Action]) -> None:
    assert actions([*steps, CLOSE_STEP]) == [*expected, CLOSE]


def test_repeat_to_http10_skips_each_period_but_keeps_time() -> None:
    skip = skipped(102, HTTP10_1XX + "; force: true sends it")
    assert actions([repeat(times=2, every=1), CLOSE_STEP], GET10) == [
        skip,
        Wait(1),
        skip,
        Wait(1),
        CLOSE,
    ]


def test_repeat_cadence_does_not_drift_when_timers_fire_late() -> None:
    """Every timer fires 0.125 s late; each period still starts on the whole second."""
    taken = drive([repeat(times=4, every=1), CLOSE_STEP], late=0.125)
    assert [action for _, action in taken] == [
        P102,
        Wait(1),
        P102,
        Wait(0.875),
        P102,
        Wait(0.875),
        P102,
        Wait(0.875),
        CLOSE,
    ]
    assert [at for at, action in taken if isinstance(action, Write)] == [0, 1.125, 2.125, 3.125]


def test_repeat_jitter_delays_each_period_by_its_own_seeded_draw() -> None:
    draws = random.Random(7)
    offsets = [draws.uniform(0, 0.5) for _ in range(3)]
    assert all(0 < offset <= 0.5 for offset in offsets)
    steps = [repeat(times=3, every=1, jitter=0.5), CLOSE_STEP]

    taken = drive(steps, rng=random.Random(7))

    writes = [at for at, action in taken if isinstance(action, Write)]
    # Period k starts at k + its draw: offsets never accumulate.
    assert writes == pytest.approx([0 + offsets[0], 1 + offsets[1], 2 + offsets[2]], abs=1e-12)
    end_at, end = taken[-1]
    assert end == CLOSE
    assert end_at == pytest.approx(3.0, abs=1e-12)
    assert [type(action) for _, action in taken] == [Wait, Write] * 3 + [Wait, End]


def test_repeat_jitter_is_reproducible_by_seed() -> None:
    steps = [repeat(times=4, every=1, jitter=0.5), CLOSE_STEP]
    first = drive(steps, rng=random.Random(11))
    again = drive(steps, rng=random.Random(11))
    other = drive(steps, rng=random.Random(12))
    assert first == again
    assert first != other


def test_repeat_jitter_never_pushes_a_period_past_the_end() -> None:
    assert random.Random(0).uniform(0, 5) > 1  # the draw overshoots the one-second repeat
    taken = drive([repeat(times=1, every=1, jitter=5), CLOSE_STEP], rng=random.Random(0))
    assert taken == [(0.0, Wait(1)), (1.0, P102), (1.0, CLOSE)]


# -- read_body ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "request_head", "body", "expected"),
    [
        pytest.param([{"read_body": {}}], GET, EMPTY, [], id="GET: nothing to wait for"),
        pytest.param([{"read_body": {}}], POST, UPLOADED, [], id="body came with the head"),
        pytest.param([{"read_body": {}}], POST, NOTHING_YET, [AwaitBody()], id="nothing yet"),
        pytest.param([{"read_body": {}}], POST, PARTIAL, [AwaitBody()], id="part of it"),
        pytest.param(
            [{"read_body": {}}, {"read_body": {}}],
            POST,
            NOTHING_YET,
            [AwaitBody()],
            id="twice: the second finds it complete",
        ),
        pytest.param(
            [{"continue": {}}, {"read_body": {}}],
            POST,
            NOTHING_YET,
            [sent(100, CONTINUE), AwaitBody()],
            id="after continue",
        ),
    ],
)
def test_read_body(
    steps: list[dict[str, Any]], request_head: RequestHead, body: Body, expected: list[Action]
) -> None:
    assert actions([*steps, CLOSE_STEP], request_head, body) == [*expected, CLOSE]


# -- respond --------------------------------------------------------------------------------

ECHO_GET = b"""{
  "method": "GET",
  "target": "/x",
  "http_version": "1.1",
  "headers": [
    [
      "Host",
      "example.com"
    ]
  ],
  "body": {
    "length": 0,
    "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "complete": true
  }
}
"""

ECHO_POST = b"""{
  "method": "POST",
  "target": "/up",
  "http_version": "1.1",
  "headers": [
    [
      "Host",
      "example.com"
    ],
    [
      "Content-Length",
      "5"
    ],
    [
      "Expect",
      "100-continue"
    ]
  ],
  "body": {
    "length": 5,
    "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
    "complete": true
  }
}
"""


@pytest.mark.parametrize(
    ("steps", "request_head", "body", "expected"),
    [
        pytest.param(
            [respond(headers={"content-type": "text/plain"}, body="hello\n")],
            GET,
            EMPTY,
            [
                started(200, OK, TEXT, DATE, SERVER, b"Content-Length: 6\r\n"),
                Write(b"hello\n"),
                finished(200),
                KEEP,
            ],
            id="body: Content-Length, Date, Server, keep-alive",
        ),
        pytest.param(
            [respond(body="h\u00e9\n")],
            GET,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Content-Length: 4\r\n"),
                Write(b"h\xc3\xa9\n"),
                finished(200),
                KEEP,
            ],
            id="body: UTF-8, length in bytes",
        ),
        pytest.param(
            [respond(body_base64="AAEC/w==")],
            GET,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Content-Length: 4\r\n"),
                Write(b"\x00\x01\x02\xff"),
                finished(200),
                KEEP,
            ],
            id="body_base64",
        ),
        pytest.param(
            [respond(body_size=20)],
            GET,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Content-Length: 20\r\n"),
                Write(b"0123456789abcdef0123"),
                finished(200),
                KEEP,
            ],
            id="body_size: the repeated pattern",
        ),
        pytest.param(
            [respond()],
            GET,
            EMPTY,
            [started(200, OK, DATE, SERVER, b"Content-Length: 0\r\n"), finished(200), KEEP],
            id="no body: Content-Length 0, nothing written",
        ),
        pytest.param(
            [respond(echo=True)],
            GET,
            EMPTY,
            [
                started(
                    200,
                    OK,
                    b"Content-Type: application/json\r\n",
                    DATE,
                    SERVER,
                    b"Content-Length: %d\r\n" % len(ECHO_GET),
                ),
                Write(ECHO_GET),
                finished(200),
                KEEP,
            ],
            id="echo: the request as JSON",
        ),
        pytest.param(
            [{"read_body": {}}, respond(echo=True)],
            POST,
            NOTHING_YET,
            [
                AwaitBody(),
                started(
                    200,
                    OK,
                    b"Content-Type: application/json\r\n",
                    DATE,
                    SERVER,
                    b"Content-Length: %d\r\n" % len(ECHO_POST),
                ),
                Write(ECHO_POST),
                finished(200),
                KEEP,
            ],
            id="echo: body length and sha256 once read",
        ),
        pytest.param(
            [respond(echo=True, headers={"Content-Type": "text/x-json"}, omit=["date", "server"])],
            GET,
            EMPTY,
            [
                started(
                    200,
                    OK,
                    b"Content-Type: text/x-json\r\n",
                    b"Content-Length: %d\r\n" % len(ECHO_GET),
                ),
                Write(ECHO_GET),
                finished(200),
                KEEP,
            ],
            id="echo: the profile's Content-Type is kept",
        ),
        pytest.param(
            [respond(body="hello\n", chunked=True)],
            GET,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Transfer-Encoding: chunked\r\n"),
                Write(b"6\r\nhello\n\r\n"),
                Write(b"0\r\n\r\n"),
                finished(200),
                KEEP,
            ],
            id="chunked",
        ),
        pytest.param(
            [respond(body="hello\n", chunked=True, trailers=[["X-Checksum", "abc"], ["x-n", "1"]])],
            GET,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Transfer-Encoding: chunked\r\n"),
                Write(b"6\r\nhello\n\r\n"),
                Write(b"0\r\nX-Checksum: abc\r\nx-n: 1\r\n\r\n"),
                finished(200),
                KEEP,
            ],
            id="chunked with trailers",
        ),
        pytest.param(
            [respond(chunked=True)],
            GET,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Transfer-Encoding: chunked\r\n"),
                Write(b"0\r\n\r\n"),
                finished(200),
                KEEP,
            ],
            id="chunked, empty: only the last chunk",
        ),
        pytest.param(
            [respond(body="abcdefghij", dribble={"bytes": 4, "every": 0.25})],
            GET,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Content-Length: 10\r\n"),
                Write(b"abcd"),
                Wait(0.25),
                Write(b"efgh"),
                Wait(0.25),
                Write(b"ij"),
                finished(200),
                KEEP,
            ],
            id="dribble",
        ),
        pytest.param(
            [respond(body="abcdefghij", chunked=True, dribble={"bytes": 4, "every": 0.25})],
            GET,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Transfer-Encoding: chunked\r\n"),
                Write(b"4\r\nabcd\r\n"),
                Wait(0.25),
                Write(b"4\r\nefgh\r\n"),
                Wait(0.25),
                Write(b"2\r\nij\r\n"),
                Write(b"0\r\n\r\n"),
                finished(200),
                KEEP,
            ],
            id="dribble, chunked: one chunk per piece",
        ),
        pytest.param(
            [respond(body="abc", dribble={"bytes": 100, "every": 1})],
            GET,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Content-Length: 3\r\n"),
                Write(b"abc"),
                finished(200),
                KEEP,
            ],
            id="dribble larger than the body: one write, no wait",
        ),
        pytest.param(
            [respond(body="ab", dribble={"bytes": 1, "every": 0})],
            GET,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Content-Length: 2\r\n"),
                Write(b"a"),
                Wait(0),
                Write(b"b"),
                finished(200),
                KEEP,
            ],
            id="dribble every 0: a turn of the clock between pieces",
        ),
        pytest.param(
            [respond(omit=["date"])],
            GET,
            EMPTY,
            [started(200, OK, SERVER, b"Content-Length: 0\r\n"), finished(200), KEEP],
            id="omit date",
        ),
        pytest.param(
            [respond(omit=["server"])],
            GET,
            EMPTY,
            [started(200, OK, DATE, b"Content-Length: 0\r\n"), finished(200), KEEP],
            id="omit server",
        ),
        pytest.param(
            [respond(omit=["server", "date"])],
            GET,
            EMPTY,
            [started(200, OK, b"Content-Length: 0\r\n"), finished(200), KEEP],
            id="omit both",
        ),
        pytest.param(
            [respond(headers=[["server", "nginx"], ["DATE", "yesterday"]])],
            GET,
            EMPTY,
            [
                started(
                    200, OK, b"server: nginx\r\n", b"DATE: yesterday\r\n", b"Content-Length: 0\r\n"
                ),
                finished(200),
                KEEP,
            ],
            id="the profile's own Date and Server replace the generated ones",
        ),
        pytest.param(
            [respond(headers=[["X-B", "2"], ["x-a", "1"], ["X-B", "3"]])],
            GET,
            EMPTY,
            [
                started(
                    200,
                    OK,
                    b"X-B: 2\r\n",
                    b"x-a: 1\r\n",
                    b"X-B: 3\r\n",
                    DATE,
                    SERVER,
                    b"Content-Length: 0\r\n",
                ),
                finished(200),
                KEEP,
            ],
            id="header pairs: order, case and duplicates kept",
        ),
        pytest.param(
            [respond(reason="Fine Thanks")],
            GET,
            EMPTY,
            [
                started(
                    200, b"HTTP/1.1 200 Fine Thanks\r\n", DATE, SERVER, b"Content-Length: 0\r\n"
                ),
                finished(200),
                KEEP,
            ],
            id="own reason phrase",
        ),
        pytest.param(
            [{"respond": {"status": 599}}],
            GET,
            EMPTY,
            [
                started(599, b"HTTP/1.1 599 \r\n", DATE, SERVER, b"Content-Length: 0\r\n"),
                finished(599),
                KEEP,
            ],
            id="unregistered status: empty phrase",
        ),
        pytest.param(
            [respond(body="hello\n")],
            HEAD,
            EMPTY,
            [started(200, OK, DATE, SERVER, b"Content-Length: 6\r\n"), finished(200), KEEP],
            id="HEAD: the GET's Content-Length, no content",
        ),
        pytest.param(
            [respond(body="hello\n", chunked=True)],
            HEAD,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Transfer-Encoding: chunked\r\n"),
                finished(200),
                KEEP,
            ],
            id="HEAD, chunked: not even the last chunk",
        ),
        pytest.param(
            [{"respond": {"status": 204}}],
            GET,
            EMPTY,
            [started(204, b"HTTP/1.1 204 No Content\r\n", DATE, SERVER), finished(204), KEEP],
            id="204: no Content-Length, no content",
        ),
        pytest.param(
            [{"respond": {"status": 304, "headers": {"ETag": '"v1"'}}}],
            GET,
            EMPTY,
            [
                started(304, b"HTTP/1.1 304 Not Modified\r\n", b'ETag: "v1"\r\n', DATE, SERVER),
                finished(304),
                KEEP,
            ],
            id="304: no Content-Length, no content",
        ),
        pytest.param(
            [respond(body="hello\n", chunked=True)],
            GET10,
            EMPTY,
            [
                Note(Event.NOTE, None, "chunked not sent to HTTP/1.0 (RFC 9112 section 6.1)"),
                started(200, OK, DATE, SERVER, b"Content-Length: 6\r\n", b"Connection: close\r\n"),
                Write(b"hello\n"),
                finished(200),
                CLOSE,
            ],
            id="HTTP/1.0: Content-Length instead of chunked, then close",
        ),
        pytest.param(
            [respond(body="hi")],
            GET10,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Content-Length: 2\r\n", b"Connection: close\r\n"),
                Write(b"hi"),
                finished(200),
                CLOSE,
            ],
            id="HTTP/1.0: always closed",
        ),
        pytest.param(
            [respond(body="hi")],
            GET_CLOSE,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Content-Length: 2\r\n", b"Connection: close\r\n"),
                Write(b"hi"),
                finished(200),
                CLOSE,
            ],
            id="request asks to close (a token among others)",
        ),
        pytest.param(
            [{"respond": {"status": 417}}],
            POST,
            NOTHING_YET,
            [
                started(
                    417,
                    b"HTTP/1.1 417 Expectation Failed\r\n",
                    DATE,
                    SERVER,
                    b"Content-Length: 0\r\n",
                    b"Connection: close\r\n",
                ),
                finished(417),
                CLOSE,
            ],
            id="body unread: Connection close, then close",
        ),
        pytest.param(
            [{"respond": {"status": 413}}],
            POST,
            PARTIAL,
            [
                started(
                    413,
                    b"HTTP/1.1 413 Content Too Large\r\n",
                    DATE,
                    SERVER,
                    b"Content-Length: 0\r\n",
                    b"Connection: close\r\n",
                ),
                finished(413),
                CLOSE,
            ],
            id="body partly read: Connection close, then close",
        ),
        pytest.param(
            [{"respond": {"status": 417}}],
            POST,
            UPLOADED,
            [
                started(
                    417,
                    b"HTTP/1.1 417 Expectation Failed\r\n",
                    DATE,
                    SERVER,
                    b"Content-Length: 0\r\n",
                ),
                finished(417),
                KEEP,
            ],
            id="body came with the head: keep-alive",
        ),
        pytest.param(
            [respond(headers={"Connection": "close"})],
            GET,
            EMPTY,
            [
                started(200, OK, b"Connection: close\r\n", DATE, SERVER, b"Content-Length: 0\r\n"),
                finished(200),
                CLOSE,
            ],
            id="the profile's Connection close is honoured, not doubled",
        ),
        pytest.param(
            [respond(headers={"Connection": "close"})],
            GET_CLOSE,
            EMPTY,
            [
                started(200, OK, b"Connection: close\r\n", DATE, SERVER, b"Content-Length: 0\r\n"),
                finished(200),
                CLOSE,
            ],
            id="both ask to close: one Connection header",
        ),
        pytest.param(
            [respond(body="hi"), CLOSE_STEP],
            GET,
            EMPTY,
            [
                started(200, OK, DATE, SERVER, b"Content-Length: 2\r\n"),
                Write(b"hi"),
                finished(200),
                CLOSE,
            ],
            id="then a close step: closed without announcing it",
        ),
    ],
)
def test_respond(
    steps: list[dict[str, Any]], request_head: RequestHead, body: Body, expected: list[Action]
) -> None:
    assert actions(steps, request_head, body) == expected


def test_respond_dates_the_response_when_it_is_sent() -> None:
    taken = actions([{"sleep": 5}, respond(omit=["server"])])
    assert taken == [
        Wait(5),
        started(200, OK, b"Date: Sun, 06 Nov 1994 08:49:42 GMT\r\n", b"Content-Length: 0\r\n"),
        finished(200),
        KEEP,
    ]


def test_respond_reuses_its_head_only_for_the_same_date_and_request_kind() -> None:
    """A plain respond step's SendHead is made once per second (the Date's resolution) and
    request kind: reused, it must still be each request's own."""
    made = profile(respond(body="hi", omit=["server"]))

    def head_of(request: RequestHead, now: float) -> SendHead:
        view = make_view(request, EMPTY)
        view.now = now
        return next(a for a in run_exchange(made, view, random.Random(0)) if type(a) is SendHead)

    first = head_of(GET, 0.0)
    assert head_of(GET, 0.5) is first  # the same second: the same head
    later = head_of(GET, 1.0)
    assert (first.date, later.date) == (
        b"Sun, 06 Nov 1994 08:49:37 GMT",
        b"Sun, 06 Nov 1994 08:49:38 GMT",
    )
    assert (later.body, later.last, later.content) == (True, False, b"hi")
    assert (head_of(HEAD, 1.0).body, head_of(HEAD, 1.0).content) == (False, b"")
    assert head_of(GET_CLOSE, 1.0).last is True
    assert head_of(GET, 1.0).last is False


def test_respond_echo_reports_the_body_as_received_so_far() -> None:
    """Answering before the body is read: the echo says what had arrived."""
    [head, content, *_] = actions([respond(echo=True, omit=["date", "server"])], POST, PARTIAL)
    assert isinstance(content, Write)
    assert b'"length": 2,' in content.data
    assert b'"complete": false' in content.data
    assert head == started(
        200,
        OK,
        b"Content-Type: application/json\r\n",
        b"Content-Length: %d\r\n" % len(content.data),
        b"Connection: close\r\n",
    )


def test_respond_keeps_alive_after_reading_the_body() -> None:
    assert actions([{"read_body": {}}, respond(omit=["date", "server"])], POST, PARTIAL) == [
        AwaitBody(),
        started(200, OK, b"Content-Length: 0\r\n"),
        finished(200),
        KEEP,
    ]


# -- raw --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "request_head", "body", "expected"),
    [
        pytest.param(
            [{"raw": {"text": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}}],
            GET,
            EMPTY,
            [
                Write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                    Event.RAW_SENT,
                    None,
                    "40 bytes",
                ),
                KEEP,
            ],
            id="text, keep-alive",
        ),
        pytest.param(
            [{"raw": {"text": "\u00e9"}}],
            GET,
            EMPTY,
            [Write(b"\xc3\xa9", Event.RAW_SENT, None, "2 bytes"), KEEP],
            id="text is UTF-8",
        ),
        pytest.param(
            [{"raw": {"hex": "48 54 54 50 2f 31 2e 31 00 ff"}}],
            GET,
            EMPTY,
            [Write(b"HTTP/1.1\x00\xff", Event.RAW_SENT, None, "10 bytes"), KEEP],
            id="hex with spaces",
        ),
        pytest.param(
            [{"raw": {"base64": "SFRUUC8xLjEgMjA0IE5vIENvbnRlbnQNCg0K"}}],
            GET,
            EMPTY,
            [Write(b"HTTP/1.1 204 No Content\r\n\r\n", Event.RAW_SENT, None, "27 bytes"), KEEP],
            id="base64",
        ),
        pytest.param(
            [{"raw": {"text": "x"}}, {"raw": {"text": "yz"}}],
            GET,
            EMPTY,
            [
                Write(b"x", Event.RAW_SENT, None, "1 bytes"),
                Write(b"yz", Event.RAW_SENT, None, "2 bytes"),
                KEEP,
            ],
            id="two writes",
        ),
        pytest.param(
            [{"raw": {"text": "x"}}],
            POST,
            NOTHING_YET,
            [Write(b"x", Event.RAW_SENT, None, "1 bytes"), CLOSE],
            id="body unread: close",
        ),
        pytest.param(
            [{"raw": {"text": "x"}}],
            GET_CLOSE,
            EMPTY,
            [Write(b"x", Event.RAW_SENT, None, "1 bytes"), CLOSE],
            id="request asks to close",
        ),
        pytest.param(
            [{"raw": {"text": "x"}}],
            GET10,
            EMPTY,
            [Write(b"x", Event.RAW_SENT, None, "1 bytes"), CLOSE],
            id="HTTP/1.0: close",
        ),
    ],
)
def test_raw(
    steps: list[dict[str, Any]], request_head: RequestHead, body: Body, expected: list[Action]
) -> None:
    assert actions(steps, request_head, body) == expected


# -- violate: a catalogue entry's actions, then the entry's ending -------------------------

FINAL_OK = b"HTTP/1.1 200 OK\r\n" + DATE + SERVER + b"Content-Type: text/plain\r\n"


def violated(entry: str, rule: str) -> Note:
    return Note(Event.NOTE, None, f"violate {entry}: {rule}")


def raw_sent(data: bytes, detail: str) -> Write:
    return Write(data, Event.RAW_SENT, None, detail)


@pytest.mark.parametrize(
    ("step", "request_head", "body", "expected"),
    [
        pytest.param(
            {"id": "informational-to-http10"},
            GET10,
            EMPTY,
            [
                violated("informational-to-http10", "RFC 9110 section 15.2"),
                raw_sent(PROCESSING, "102 to an HTTP/1.0 request"),
                raw_sent(FINAL_OK + b"Content-Length: 3\r\n\r\nok\n", "final 200"),
                CLOSE,
            ],
            id="entry ending close",
        ),
        pytest.param(
            {"id": "1xx-flood", "count": 2, "every": 0.5},
            GET,
            EMPTY,
            [
                violated("1xx-flood", "RFC 9110 section 15.2"),
                Write(PROCESSING),
                Wait(0.5),
                Write(PROCESSING),
                raw_sent(FINAL_OK + b"Content-Length: 3\r\n\r\nok\n", "2 interims, then 200"),
                KEEP,
            ],
            id="entry ending keep-alive, parameters applied",
        ),
        pytest.param(
            {"id": "1xx-flood", "count": 1},
            POST,
            NOTHING_YET,
            [
                violated("1xx-flood", "RFC 9110 section 15.2"),
                Write(PROCESSING),
                raw_sent(FINAL_OK + b"Content-Length: 3\r\n\r\nok\n", "1 interims, then 200"),
                CLOSE,
            ],
            id="keep-alive entry with the body unread: close",
        ),
        pytest.param(
            {"id": "1xx-flood", "count": 1},
            GET_CLOSE,
            EMPTY,
            [
                violated("1xx-flood", "RFC 9110 section 15.2"),
                Write(PROCESSING),
                raw_sent(FINAL_OK + b"Content-Length: 3\r\n\r\nok\n", "1 interims, then 200"),
                CLOSE,
            ],
            id="keep-alive entry, request asks to close: close",
        ),
        pytest.param(
            {"id": "content-length-too-long", "body": "hi", "missing": 3},
            GET,
            EMPTY,
            [
                violated("content-length-too-long", "RFC 9112 section 6.3"),
                raw_sent(
                    b"HTTP/1.1 200 OK\r\n"
                    + DATE
                    + SERVER
                    + b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhi",
                    "2 of 5",
                ),
                CLOSE,
            ],
            id="framing entry",
        ),
    ],
)
def test_violate(
    step: dict[str, Any], request_head: RequestHead, body: Body, expected: list[Action]
) -> None:
    assert actions([{"violate": step}], request_head, body) == expected


def test_violate_after_other_steps() -> None:
    steps: list[dict[str, Any]] = [
        {"continue": {}},
        {"sleep": 0.25},
        {"violate": {"id": "1xx-flood", "count": 1}},
    ]
    assert actions(steps, POST, NOTHING_YET) == [
        sent(100, CONTINUE),
        Wait(0.25),
        violated("1xx-flood", "RFC 9110 section 15.2"),
        Write(PROCESSING),
        raw_sent(
            b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            + SERVER
            + b"Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n",
            "1 interims, then 200",
        ),
        CLOSE,
    ]


# -- close, reset, hang ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "request_head", "body", "expected"),
    [
        pytest.param([CLOSE_STEP], GET, EMPTY, [CLOSE], id="close"),
        pytest.param([CLOSE_STEP], POST, NOTHING_YET, [CLOSE], id="close, body unread"),
        pytest.param([{"reset": {}}], GET, EMPTY, [RESET], id="reset"),
        pytest.param([{"reset": {}}], POST, PARTIAL, [RESET], id="reset, body unread"),
        pytest.param([{"hang": {}}], GET, EMPTY, [HANG], id="hang"),
        pytest.param([{"hang": {}}], POST, NOTHING_YET, [HANG], id="hang, body unread"),
        pytest.param(
            [{"raw": {"text": "HTTP/1.1 200 OK\r\n"}}, {"reset": {}}],
            GET,
            EMPTY,
            [Write(b"HTTP/1.1 200 OK\r\n", Event.RAW_SENT, None, "17 bytes"), RESET],
            id="raw, then reset",
        ),
        pytest.param(
            [respond(omit=["date", "server"]), {"hang": {}}],
            GET,
            EMPTY,
            [started(200, OK, b"Content-Length: 0\r\n"), finished(200), HANG],
            id="respond, then hang",
        ),
        pytest.param(
            [{"read_body": {}}, {"reset": {}}],
            POST,
            NOTHING_YET,
            [AwaitBody(), RESET],
            id="read the body, then reset",
        ),
    ],
)
def test_terminal_steps(
    steps: list[dict[str, Any]], request_head: RequestHead, body: Body, expected: list[Action]
) -> None:
    assert actions(steps, request_head, body) == expected


# -- websocket ---------------------------------------------------------------------------------

#: RFC 6455 section 1.3's example key and the Sec-WebSocket-Accept it gives.
WS_KEY = (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ==")
WS_ACCEPT = b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
WS_HEADERS = (
    HOST,
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    WS_KEY,
    (b"Sec-WebSocket-Version", b"13"),
)
WS_GET = RequestHead(b"GET", b"/chat", b"1.1", WS_HEADERS)
WS_OFFER = RequestHead(
    b"GET", b"/chat", b"1.1", (*WS_HEADERS, (b"Sec-WebSocket-Protocol", b"x, chat.v1, chat.v2"))
)
WS_CHUNKED_UPPER = RequestHead(
    b"GET",
    b"/chat",
    b"1.1",
    (
        HOST,
        (b"upgrade", b"WebSocket"),
        (b"connection", b"keep-alive, Upgrade"),
        WS_KEY,
        (b"sec-websocket-version", b"13"),
    ),
)
WS_POST = RequestHead(b"POST", b"/chat", b"1.1", WS_HEADERS)
WS_V8 = RequestHead(b"GET", b"/chat", b"1.1", (*WS_HEADERS[:-1], (b"Sec-WebSocket-Version", b"8")))
WS_BAD_KEY = RequestHead(
    b"GET", b"/chat", b"1.1", (*WS_HEADERS[:3], (b"Sec-WebSocket-Key", b"c2hvcnQ="), WS_HEADERS[4])
)
WS_NO_CONNECTION = RequestHead(b"GET", b"/chat", b"1.1", (HOST, (b"Upgrade", b"websocket")))
WS_WITH_BODY = RequestHead(b"GET", b"/chat", b"1.1", (*WS_HEADERS, (b"Content-Length", b"5")))
UPGRADE_REQUIRED = b"HTTP/1.1 426 Upgrade Required\r\n"
NO_UPGRADE = (
    "this resource speaks WebSocket: send an opening handshake with Upgrade: websocket and "
    "Connection: Upgrade (RFC 6455 section 4.1)"
)
WS_101 = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"


def ws_refusal(status: int, text: str, *connection: bytes) -> Write:
    """fakeorigin's refusal of a request that is no (acceptable) opening handshake."""
    content = text.encode() + b"\n"
    lines = [
        b"HTTP/1.1 426 Upgrade Required\r\n" if status == 426 else b"HTTP/1.1 400 Bad Request\r\n"
    ]
    if status == 426:
        lines += [b"Upgrade: websocket\r\n", b"Sec-WebSocket-Version: 13\r\n"]
    if connection:
        lines.append(b"Connection: " + b", ".join(connection) + b"\r\n")
    lines += [b"Content-Type: text/plain; charset=utf-8\r\n", DATE, SERVER]
    lines.append(b"Content-Length: %d\r\n\r\n" % len(content))
    return Write(b"".join(lines) + content, Event.RESPONSE_STARTED, status, text)


def websocket(**fields: Any) -> dict[str, Any]:
    return {"websocket": fields}


def hand_off(chosen: str | None = None, offered: tuple[str, ...] = (), **fields: Any) -> HandOff:
    return HandOff(profile(websocket(**fields)).steps[0].value, chosen, offered)


def broken(detail: str) -> Note:
    return Note(Event.WEBSOCKET_BROKEN_HANDSHAKE, None, detail)


@pytest.mark.parametrize(
    ("step", "request_head", "body", "expected"),
    [
        pytest.param(websocket(), WS_GET, EMPTY, [hand_off()], id="handshake"),
        pytest.param(
            websocket(), WS_CHUNKED_UPPER, EMPTY, [hand_off()], id="tokens in any case and list"
        ),
        pytest.param(
            websocket(subprotocols=["chat.v2", "chat.v1"]),
            WS_OFFER,
            EMPTY,
            [hand_off("chat.v1", ("x", "chat.v1", "chat.v2"), subprotocols=["chat.v2", "chat.v1"])],
            id="the first subprotocol the client offers",
        ),
        pytest.param(
            websocket(subprotocols=["other"]),
            WS_OFFER,
            EMPTY,
            [hand_off(None, ("x", "chat.v1", "chat.v2"), subprotocols=["other"])],
            id="no subprotocol in common",
        ),
        pytest.param(
            websocket(), WS_WITH_BODY, NOTHING_YET, [AwaitBody(), hand_off()], id="body first"
        ),
        pytest.param(
            websocket(), GET, EMPTY, [ws_refusal(426, NO_UPGRADE, b"Upgrade"), KEEP], id="plain GET"
        ),
        pytest.param(
            websocket(),
            GET_CLOSE,
            EMPTY,
            [ws_refusal(426, NO_UPGRADE, b"Upgrade", b"close"), CLOSE],
            id="plain GET, Connection: close",
        ),
        pytest.param(
            websocket(),
            HEAD,
            EMPTY,
            [
                Write(
                    ws_refusal(426, NO_UPGRADE, b"Upgrade").data.partition(b"\r\n\r\n")[0]
                    + b"\r\n\r\n",
                    Event.RESPONSE_STARTED,
                    426,
                    NO_UPGRADE,
                ),
                KEEP,
            ],
            id="HEAD: no content",
        ),
        pytest.param(
            websocket(),
            WS_NO_CONNECTION,
            EMPTY,
            [ws_refusal(426, NO_UPGRADE, b"Upgrade"), KEEP],
            id="Upgrade without Connection: Upgrade",
        ),
        pytest.param(
            websocket(),
            WS_V8,
            EMPTY,
            [
                ws_refusal(
                    426,
                    "Sec-WebSocket-Version must be 13 (got 8) (RFC 6455 section 4.2.2)",
                    b"Upgrade",
                ),
                KEEP,
            ],
            id="version 8",
        ),
        pytest.param(
            websocket(),
            WS_POST,
            EMPTY,
            [
                ws_refusal(400, "a WebSocket opening handshake is a GET (RFC 6455 section 4.1)"),
                KEEP,
            ],
            id="POST",
        ),
        pytest.param(
            websocket(),
            WS_BAD_KEY,
            EMPTY,
            [
                ws_refusal(
                    400,
                    "a WebSocket opening handshake has one Sec-WebSocket-Key: 16 bytes in base64 "
                    "(RFC 6455 section 4.1)",
                ),
                KEEP,
            ],
            id="short key",
        ),
        pytest.param(
            websocket(subprotocols=["chat.v3"], require_subprotocol=True),
            WS_OFFER,
            EMPTY,
            [
                ws_refusal(
                    400,
                    "this resource needs one of the subprotocols chat.v3 "
                    "(offered: x, chat.v1, chat.v2)",
                ),
                KEEP,
            ],
            id="require_subprotocol",
        ),
        pytest.param(
            websocket(handshake="bad-accept"),
            WS_GET,
            EMPTY,
            [
                broken("bad-accept: a wrong Sec-WebSocket-Accept (breaks RFC 6455 section 4.2.2)"),
                hand_off(handshake="bad-accept"),
            ],
            id="bad-accept",
        ),
        pytest.param(
            websocket(handshake="missing-upgrade-header"),
            WS_GET,
            EMPTY,
            [
                broken(
                    "missing-upgrade-header: a 101 without Upgrade (breaks RFC 9110 section 7.8 "
                    "and RFC 6455 section 4.2.2)"
                ),
                Write(
                    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                    + SERVER
                    + WS_ACCEPT
                    + b"\r\n",
                    Event.UPGRADE_SENT,
                    101,
                ),
                CLOSE,
            ],
            id="missing-upgrade-header",
        ),
        pytest.param(
            websocket(handshake="status-200", headers={"X-Why": "test"}),
            WS_GET,
            EMPTY,
            [
                broken("status-200: 200 instead of 101 (breaks RFC 6455 section 4.2.2)"),
                Write(
                    b"HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + SERVER
                    + b"X-Why: test\r\n"
                    + WS_ACCEPT
                    + DATE
                    + b"Content-Length: 0\r\n\r\n",
                    Event.RESPONSE_STARTED,
                    200,
                ),
                CLOSE,
            ],
            id="status-200",
        ),
        pytest.param(
            websocket(handshake="close-after-101", subprotocols=["chat.v2"]),
            RequestHead(
                b"GET", b"/", b"1.1", (*WS_HEADERS, (b"Sec-WebSocket-Protocol", b"chat.v2"))
            ),
            EMPTY,
            [
                broken(
                    "close-after-101: a FIN right after the 101, no Close frame (breaks RFC 6455 "
                    "section 7.1.2)"
                ),
                Write(
                    WS_101 + SERVER + b"Sec-WebSocket-Protocol: chat.v2\r\n" + WS_ACCEPT + b"\r\n",
                    Event.UPGRADE_SENT,
                    101,
                ),
                CLOSE,
            ],
            id="close-after-101",
        ),
        pytest.param(
            websocket(handshake="http-after-101", headers={"Server": "other"}),
            WS_GET,
            EMPTY,
            [
                broken(
                    "http-after-101: an HTTP response after the 101 (breaks RFC 9110 section 7.8)"
                ),
                Write(WS_101 + b"Server: other\r\n" + WS_ACCEPT + b"\r\n", Event.UPGRADE_SENT, 101),
                Write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 36\r\n\r\n"
                    b"this is HTTP, not a WebSocket frame\n",
                    Event.RESPONSE_STARTED,
                    200,
                    "after the 101",
                ),
                CLOSE,
            ],
            id="http-after-101",
        ),
        pytest.param(
            websocket(handshake="unsolicited-101"),
            GET,
            EMPTY,
            [
                broken(
                    "unsolicited-101: a 101 the request did not ask for (breaks RFC 9110 "
                    "section 7.8)"
                ),
                Write(WS_101 + SERVER + b"\r\n", Event.UPGRADE_SENT, 101),
                CLOSE,
            ],
            id="unsolicited-101",
        ),
    ],
)
def test_websocket(
    step: dict[str, Any], request_head: RequestHead, body: Body, expected: list[Action]
) -> None:
    assert actions([step], request_head, body) == expected


def test_websocket_after_other_steps() -> None:
    steps: list[dict[str, Any]] = [{"informational": {"status": 103}}, {"sleep": 0.5}, websocket()]
    assert drive(steps, WS_GET) == [
        (0.0, sent(103, b"HTTP/1.1 103 Early Hints\r\n\r\n")),
        (0.0, Wait(0.5)),
        (0.5, hand_off()),
    ]


# -- the tables, the bundled profiles and the refusal renderer ----------------------------


def test_every_step_kind_has_a_table() -> None:
    """A new step kind must come with engine cases (and so with a test_<kind> here)."""
    tables = {"close", "reset", "hang"} | {
        name.removeprefix("test_") for name in globals() if name.startswith("test_")
    }
    assert set(STEP_KINDS) <= tables, set(STEP_KINDS) - tables


def test_engine_does_not_touch_the_clock_itself() -> None:
    """Creating the generator does nothing; actions come one at a time, on demand."""
    view = make_view(POST, NOTHING_YET)
    exchange = run_exchange(profile({"continue": {}}, CLOSE_STEP), view, random.Random(0))
    view.body.add(UPLOAD)
    view.body.complete = True  # the body arrives before the engine is first asked
    assert next(exchange) == skipped(100, "request body already complete")
    assert list(exchange) == [CLOSE]


def test_error_response_is_a_complete_closing_text_response() -> None:
    assert error_response(400, "bad things\n", START) == (
        b"HTTP/1.1 400 Bad Request\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n" + DATE + SERVER + b"Content-Length: 11\r\n"
        b"Connection: close\r\n"
        b"\r\n"
        b"bad things\n"
    )
