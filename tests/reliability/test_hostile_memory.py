"""Hostile requests in memory: the corpus, a slowloris head, internal errors, and Hypothesis.

``task.Clock`` and ``StringTransport`` (tests/memory.py): every request is fed whole and one
byte at a time, the answer is read byte for byte, then the journal. After each case the origin
still serves a normal request, and once the connections are lost no DelayedCall is left.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import h2.config
import h2.connection
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from fakeorigin.core.actions import End
from fakeorigin.core.admission import Limits
from fakeorigin.core.engine import run_exchange
from fakeorigin.core.frames import GOAWAY, FrameReader, summary
from fakeorigin.core.journal import INTERNAL_ERROR, RAW_REQUEST_BYTES, Event, Outcome
from fakeorigin.core.state import OriginState
from fakeorigin.core.wire import valid_host
from tests.memory import DATE, SERVER, Feed, MemoryOrigin, timeline
from tests.reliability.support import (
    CORPUS,
    LIMITS,
    REFUSAL_STATUSES,
    Hostile,
    captured_logs,
    refusal_head,
    status_lines,
)

GET = b"GET /after HTTP/1.1\r\nHost: example.test\r\n\r\n"


@pytest.fixture
def origin() -> Iterator[MemoryOrigin]:
    """The bundled profiles with the corpus's limits; afterwards nothing pending or open."""
    memory = MemoryOrigin()
    memory.factory.limits = LIMITS
    yield memory
    assert memory.shutdown() == [], "DelayedCalls left after every connection was lost"
    assert memory.factory.connections == set()


def serves_a_normal_request(origin: MemoryOrigin) -> None:
    client = origin.connect()
    client.send(GET)
    assert status_lines(client.take()) == [200]
    assert origin.records()[-1].outcome is Outcome.KEEP_ALIVE


@pytest.mark.parametrize("feed", [Feed.WHOLE, Feed.BYTEWISE])
@pytest.mark.parametrize("case", list(CORPUS.values()), ids=list(CORPUS))
def test_hostile_request_is_refused_journaled_and_survived(
    origin: MemoryOrigin, case: Hostile, feed: Feed
) -> None:
    with captured_logs() as logs:
        client = origin.connect()
        client.send(case.data, feed)
        written = client.take()
        serves_a_normal_request(origin)

    assert status_lines(written) == [case.status]
    head = refusal_head(written)
    assert b"\r\nConnection: close\r\n" in head
    assert b"\r\nContent-Length: " in head
    assert client.state == "closed"
    record = origin.records()[0]
    assert record.outcome is Outcome.BAD_REQUEST
    assert record.error is not None
    assert case.why in record.error
    assert record.events(Event.BAD_REQUEST)[0].status == case.status
    answered = [(entry.event, entry.status) for entry in record.timeline]
    close = answered.index((Event.CLOSE, None))
    assert answered[close - 1] == (Event.RESPONSE_STARTED, case.status)
    if case.in_body:
        # Refused while the body arrived: the head is journaled as parsed (and raw only when
        # the body broke before the exchange started).
        assert record.raw_request is None or case.data.startswith(record.raw_request)
        assert record.method == "POST"
    else:
        # The head never became a request, or fakeorigin's checks refused it: its raw bytes
        # are journaled, cut at 4 KiB.
        assert record.raw_request is not None
        assert record.raw_request == case.data[: len(record.raw_request)]
        assert 0 < len(record.raw_request) <= RAW_REQUEST_BYTES
    assert logs.events == []


VALID_HOSTS = [
    b"example.test",
    b"example.test:8080",
    b"EXAMPLE.test:",
    b"127.0.0.1",
    b"[::1]:443",
    b"[2001:db8::7]",
    b"[v1.fe.x]",
    b"xn--bcher-kva.example",
    b"%7Euser.example",
    b"a-b_c~d!$&'()*+,;=",
    b"",
]
INVALID_HOSTS = [
    b"example.test:http",
    b"example.test:80:80",
    b"example.test/",
    b"user@example.test",
    b"[::g]",
    b"[1:2]",
    b"::1",
    b"%4",
    b"b\xc3\xbccher.example",
]


@pytest.mark.parametrize("value", VALID_HOSTS)
def test_valid_host_values(value: bytes) -> None:
    assert valid_host(value)


@pytest.mark.parametrize("value", INVALID_HOSTS)
def test_invalid_host_values(value: bytes) -> None:
    assert not valid_host(value)


@pytest.mark.parametrize("feed", [Feed.WHOLE, Feed.BYTEWISE])
@pytest.mark.parametrize("value", VALID_HOSTS[:4] + VALID_HOSTS[-1:])
def test_a_request_with_a_valid_host_is_served(
    origin: MemoryOrigin, value: bytes, feed: Feed
) -> None:
    client = origin.connect()
    client.send(b"GET / HTTP/1.1\r\nHost: " + value + b"\r\n\r\n", feed)
    assert status_lines(client.take()) == [200]
    assert origin.record().outcome is Outcome.KEEP_ALIVE


def test_head_over_the_limit_keeps_only_4_kib_of_raw_bytes(origin: MemoryOrigin) -> None:
    origin.factory.limits = Limits(max_header_bytes=9000, max_body_bytes=1000)
    client = origin.connect()
    request = b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"x" * 9000 + b"\r\n\r\n"
    client.send(request)
    assert status_lines(client.take()) == [431]
    record = origin.record()
    assert (
        record.error
        == "the request head is 9032 bytes, over --max-header-bytes 9000 (RFC 6585 section 5)"
    )
    assert record.raw_request == request[:RAW_REQUEST_BYTES]


def test_content_length_at_the_limit_is_served(origin: MemoryOrigin) -> None:
    client = origin.connect()
    client.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000)
    assert status_lines(client.take()) == [200]
    assert origin.record().body.length == 1000


def test_chunked_body_over_the_limit_mid_response_just_closes(origin: MemoryOrigin) -> None:
    origin.use({"respond": {"status": 200, "body": "abcd", "dribble": {"bytes": 2, "every": 1}}})
    client = origin.connect()
    client.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert status_lines(client.take()) == [200]
    client.send(b"3e9\r\n" + b"x" * 1001 + b"\r\n")
    assert (client.take(), client.state) == (b"", "closed")
    record = origin.record()
    assert timeline(record)[-1] == (
        0,
        "bad-request",
        413,
        "the request body passed 1000 bytes (--max-body-bytes) at 1001 bytes",
    )
    assert record.outcome is Outcome.BAD_REQUEST


# -- a head that never completes: --header-timeout ---------------------------------------------


def test_slowloris_head_gets_408_at_the_header_timeout(origin: MemoryOrigin) -> None:
    origin.settings(header_timeout_seconds=10.0)
    client = origin.connect()
    partial = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: "  # 33 bytes, one every 0.25 s
    for index in range(len(partial)):
        client.send(partial[index : index + 1])
        origin.advance(0.25)  # the clock runs from the first byte, whatever arrives after it
    assert client.take() == b""
    origin.advance(1.75 - 0.001)
    assert client.take() == b""
    origin.advance(0.001)  # 10 s after the first byte
    text = (
        b"408 Request Timeout: the request head was not complete within 10 s (--header-timeout)\n"
    )
    assert client.take() == (
        b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + b"Date: Sun, 06 Nov 1994 08:49:47 GMT\r\n"
        + SERVER
        + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(text)
        + text
    )
    assert client.state == "closed"
    record = origin.record()
    assert (record.outcome, record.method, record.raw_request) == (
        Outcome.BAD_REQUEST,
        None,
        partial,
    )
    assert timeline(record) == [
        (0, "bad-request", 408, text.decode()[len("408 Request Timeout: ") :].strip()),
        (0, "response-started", 408, text.decode().strip()),
        (0, "close"),
    ]
    client.send(b"\r\n\r\n")  # the rest of the head, too late: nothing more is read
    assert (client.take(), len(origin.records())) == (b"", 1)


def test_an_idle_connection_has_no_header_clock_but_an_idle_one(origin: MemoryOrigin) -> None:
    """No byte of a head: not a 408 at --header-timeout, a plain close at --idle-timeout."""
    origin.settings(header_timeout_seconds=1.0, idle_timeout_seconds=10.0)
    client = origin.connect()
    client.send(GET)
    assert status_lines(client.take()) == [200]
    origin.advance(9.9)
    assert client.state == "open"  # kept alive, idle: no 408
    origin.advance(0.1)
    assert (client.take(), client.state, len(origin.records())) == (b"", "closed", 1)


def test_header_clock_of_a_pipelined_head_starts_when_its_turn_comes(
    origin: MemoryOrigin,
) -> None:
    origin.settings(header_timeout_seconds=1.0)
    origin.use({"sleep": 3}, {"respond": {"status": 200, "body": "slow"}})
    client = origin.connect()
    client.send(GET + b"GET /next HTTP/1.1\r\n")
    origin.advance(3)  # the first exchange: 3 s, longer than the header timeout
    assert status_lines(client.take()) == [200]
    origin.advance(0.5)
    client.send(b"Host: a\r\n\r\n")  # 0.5 s after its turn came: in time
    origin.advance(3)
    assert status_lines(client.take()) == [200]
    assert [r.outcome for r in origin.records()] == [Outcome.KEEP_ALIVE, Outcome.KEEP_ALIVE]


# -- fakeorigin's own failures: 500 and a journal entry, not a silent drop ------------------------


class _Broken(OriginState):
    def choose(self, request: Any) -> Any:
        raise RuntimeError("a bug in choose")


def test_failure_choosing_the_profile_answers_500(origin: MemoryOrigin) -> None:
    origin.factory.state = _Broken(origin.state.profiles, "default", origin.state.journal)
    with captured_logs() as logs:
        client = origin.connect()
        client.send(GET)
    text = b"500 Internal Server Error: fakeorigin failed on this request (see its log)\n"
    assert client.take() == (
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + DATE
        + SERVER
        + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(text)
        + text
    )
    assert client.state == "closed"
    record = origin.record()
    assert (record.outcome, record.error) == (Outcome.CLOSED, INTERNAL_ERROR)
    assert timeline(record)[-2:] == [
        (0, "response-started", 500, text.decode().strip()),
        (0, "close"),
    ]
    assert len(logs.failures) == 1
    assert "RuntimeError: a bug in choose" in logs.failures[0]


@pytest.mark.parametrize(
    ("steps", "status_seen", "state"),
    [
        pytest.param((), [500], "closed", id="before anything was written"),
        pytest.param(({"informational": {"status": 103}},), [103, 500], "closed", id="after a 103"),
        pytest.param(
            ({"respond": {"status": 200, "body": "abcd", "dribble": {"bytes": 2, "every": 1}}},),
            [200],
            "aborted",
            id="mid-response: aborted",
        ),
    ],
)
def test_failure_running_the_profile(
    origin: MemoryOrigin,
    monkeypatch: pytest.MonkeyPatch,
    steps: tuple[dict[str, Any], ...],
    status_seen: list[int],
    state: str,
) -> None:
    real = run_exchange

    def failing(*args: Any) -> Iterator[Any]:
        for action in real(*args):
            if isinstance(action, End):
                raise RuntimeError("a bug in the engine")
            yield action

    monkeypatch.setattr("fakeorigin.http1.protocol.run_exchange", failing)
    origin.use(*steps, *([] if steps and "respond" in steps[0] else [{"hang": {}}]))
    with captured_logs() as logs:
        client = origin.connect()
        client.send(GET)
        origin.advance(2)
    assert status_lines(client.take()) == status_seen
    assert client.state == state
    record = origin.record()
    assert (record.outcome, record.error) == (Outcome.CLOSED, INTERNAL_ERROR)
    assert len(logs.failures) == 1
    assert "a bug in the engine" in logs.failures[0]


# -- Hypothesis: mutated and random requests, fed in random pieces -------------------------------


def _h2_request() -> bytes:
    """A prior-knowledge HTTP/2 client's first flight (RFC 9113 section 3.4): preface,
    SETTINGS, and a GET on stream 1 ending the stream; written by h2's client."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    headers = [(":method", "GET"), (":scheme", "http"), (":authority", "a"), (":path", "/")]
    client.send_headers(1, headers, end_stream=True)
    return client.data_to_send()


VALID = [
    GET,
    b"GET /x HTTP/1.0\r\n\r\n",
    b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nFakeorigin-Profile: early-hints\r\n\r\n" + GET,
    b"GET / HTTP/1.1\r\nHost: a\r\nFakeorigin-Profile: slow-body\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nFakeorigin-Profile: hang\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nFakeorigin-Profile: expect-reject\r\nContent-Length: 9\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nFakeorigin-Profile: reset-after-headers\r\n\r\n",
    b"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Fakeorigin-Profile: websocket-echo\r\n\r\n\x81\x85\x00\x00\x00\x00hello",
    _h2_request(),
]
#: Bytes that break HTTP/1.1 parsers, and the ones that build it.
INTERESTING = [b"\x00", b"\r", b"\n", b"\r\n", b" ", b"\t", b":", b"\x7f", b"\xff", b"\x01"]
INTERESTING += [b"0", b"9", b"f", b"-", b",", b"chunked", b"Content-Length: 3\r\n", b"HTTP/1.1"]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(0, 4))):
        where = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "cut"]))
        piece = draw(st.one_of(st.sampled_from(INTERESTING), st.binary(min_size=1, max_size=4)))
        if kind == "insert":
            data[where:where] = piece
        elif kind == "delete":
            del data[where : where + draw(st.integers(1, 8))]
        elif kind == "replace":
            data[where : where + len(piece)] = piece
        else:
            del data[where:]
    return bytes(data)


requests = st.one_of(mutated(), st.binary(max_size=300))


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def test_a_preface_going_wrong_in_a_later_packet_gets_a_goaway(origin: MemoryOrigin) -> None:
    client = origin.connect()
    client.send(b"PRI * HTTP/2.0\r\n")  # HTTP/2's preface so far: the server's SETTINGS go out
    # not "SM", then an empty SETTINGS frame: RFC 9113 section 3.4, PROTOCOL_ERROR
    client.send(b"\r\nXX\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    sent = [summary(frame) for frame in FrameReader().feed(client.take())]
    assert sent[1:] == ["GOAWAY stream 0 last-stream-id 0 PROTOCOL_ERROR"], sent
    assert sent[0].startswith("SETTINGS stream 0 ")
    assert client.state in ("closed", "aborted")
    (record,) = origin.records()
    assert record.outcome is Outcome.BAD_REQUEST
    assert record.error == "HTTP/2: Invalid HTTP/2 preamble. (GOAWAY PROTOCOL_ERROR)"


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests, st.lists(st.integers(0, 1000), max_size=6), st.booleans())
def test_any_input_is_answered_or_closed_and_nothing_is_left(
    data: bytes, cuts: list[int], fin: bool
) -> None:
    origin = MemoryOrigin(seed=random.Random(len(data)).randint(0, 9))
    origin.factory.limits = LIMITS
    origin.settings(max_duration_seconds=5.0, header_timeout_seconds=3.0)
    with captured_logs() as logs:
        client = origin.connect(half_close=True)
        for piece in _pieces(data, cuts):
            if client.state != "aborted" and not client.lost:
                client.send(piece)
        if fin and not client.lost:
            client.protocol.readConnectionLost()
        origin.advance(10)  # past --max-duration, the header timeout and any linger
        written = client.take()
        leftover = origin.shutdown()

    event("outcomes: " + " ".join(sorted({r.outcome.value for r in origin.records()})))
    # autobahn warns about a client breaking WebSocket framing: no error, no traceback.
    assert (logs.failures, logs.errors) == ([], []), [e.get("log_format") for e in logs.events]
    assert leftover == []
    assert origin.factory.connections == set()
    if written[3:9] == b"\x04\x00\x00\x00\x00\x00":
        # Prior-knowledge HTTP/2 (RFC 9113 section 3.4): the server's preface, a SETTINGS
        # frame on stream 0, goes out once a first packet starting "PRI " matches the
        # client's preface so far; only such a client is answered in HTTP/2.
        assert data.lstrip(b"\r\n").startswith(b"PRI "), data[:24]
    else:
        assert written == b"" or written.startswith((b"HTTP/1.1 ", b"\x81")), written[:24]
    for record in origin.records():
        assert record.outcome is not Outcome.RUNNING, record.to_dict()
        assert record.raw_request is None or len(record.raw_request) <= RAW_REQUEST_BYTES
        if record.outcome is Outcome.BAD_REQUEST and record.http_version == "2":
            # RFC 9113 section 5.4.1: a connection error is answered with GOAWAY, then close.
            sent = FrameReader().feed(written)
            assert [kind for kind, *_ in sent][-1] == GOAWAY, [summary(f) for f in sent]
            assert client.state in ("closed", "aborted", "half-closed") or client.lost
        elif record.outcome is Outcome.BAD_REQUEST:
            refused = record.events(Event.BAD_REQUEST)[0].status
            assert refused in REFUSAL_STATUSES
            answered = [e.status for e in record.events(Event.RESPONSE_STARTED)]
            if answered and answered[-1] == refused:
                assert b"HTTP/1.1 %d " % refused in written
                assert b"Connection: close\r\n" in refusal_head(written)
            assert client.state in ("closed", "aborted", "half-closed") or client.lost


# -- a client pipelining without end while its request runs --------------------------------------


def test_reading_pauses_when_pipelined_bytes_pile_up(origin: MemoryOrigin) -> None:
    origin.use({"sleep": 1}, {"respond": {"status": 200, "body": "slow"}})
    client = origin.connect()
    client.send(GET)
    for _ in range(100):  # 1 MiB of pipelined requests while the first one sleeps
        client.send(GET * 256)
        if client.transport.producerState == "paused":
            break
    assert client.transport.producerState == "paused"
    parser = client.protocol._h11
    assert parser is not None  # made by the first byte that followed the plain head
    held = len(parser.trailing_data[0])
    assert 64 * 1024 < held <= 64 * 1024 + 256 * len(GET)
    origin.advance(1)  # one answered, the next runs: still too much waiting, still paused
    assert status_lines(client.take()) == [200]
    assert client.transport.producerState == "paused"
    origin.use({"respond": {"status": 200, "body": "fast"}})  # the rest go at once
    origin.advance(1)
    assert client.transport.producerState == "producing"
    assert len(status_lines(client.take())) == held // len(GET)  # every one held is served
