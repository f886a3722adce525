"""The plain-head fast path (``wire.simple_request``) agrees with h11, and the protocol serves
through it exactly what it serves through h11.

``simple_request`` spares the common request (one complete GET-style head in one packet)
h11's per-request state machine. It must never accept what h11 refuses nor read a head
differently: Hypothesis builds heads from valid and broken pieces and both parsers judge each.
"""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import h11
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fakeorigin.core import wire
from fakeorigin.core.journal import Outcome
from fakeorigin.core.wire import (
    SIMPLE_HEAD_MAX_BYTES,
    RequestHead,
    http_date,
    parse_simple_request,
    simple_request,
    valid_host,
)
from tests.memory import DATE, SERVER, Feed, MemoryOrigin, profile, timeline

#: Fields that make h11 (or the exchange) behave differently: never on the plain path.
FRAMING = (b"Content-Length", b"Transfer-Encoding", b"Expect", b"Connection", b"Upgrade", b"TE")


def h11_reading(data: bytes) -> RequestHead | None:
    """The head h11 reads from ``data`` when ``data`` is exactly one bodiless request; None
    when h11 refuses it, wants more, or finds anything after it."""
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(data)
    try:
        event = connection.next_event()
        if not isinstance(event, h11.Request):
            return None
        end = connection.next_event()
    except h11.RemoteProtocolError:
        return None
    if not isinstance(end, h11.EndOfMessage) or connection.trailing_data[0]:
        return None
    return RequestHead(
        bytes(event.method),
        bytes(event.target),
        bytes(event.http_version),
        tuple((bytes(n), bytes(v)) for n, v in event.headers.raw_items()),
    )


TOKENS = st.sampled_from([b"GET", b"HEAD", b"get", b"X-Custom!", b"G@T", b"", b"GET "])
TARGETS = st.sampled_from([b"/", b"/a?b=c", b"*", b"http://h/x", b"/\x80", b"/a b", b""])
VERSIONS = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"http/1.1", b"HTTP/1.1 "])
NAMES = st.sampled_from(
    [
        b"Host",
        b"host",
        b"HOST",
        b"Accept",
        b"X-A",
        b"User-Agent",
        b"Bad Name",
        b"",
        b"X@Y",
        *FRAMING,
    ]
)
VALUES = st.one_of(
    st.sampled_from([b"", b"a", b"a b", b" a ", b"\ta\t", b"\x80\xff", b"a\x00b", b"a\x01b"]),
    st.binary(max_size=12),
)
EOLS = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n"])


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    """A request head mostly well formed, with broken pieces at any place."""
    line = draw(TOKENS) + b" " + draw(TARGETS) + b" " + draw(VERSIONS) + draw(EOLS)
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.integers(0, 15)) == 0:
            line += b" folded" + draw(EOLS)  # obs-fold: refused by h11
        line += draw(NAMES) + b":" + draw(VALUES) + draw(EOLS)
    return line + draw(EOLS) + draw(st.sampled_from([b"", b"", b"x", b"GET / HTTP/1.1\r\n"]))


def plain_by_rule(data: bytes, reading: RequestHead) -> bool:
    """The heads the fast path is for: HTTP/1.1, CRLF only, no obs-fold (h11 unfolds it;
    admission refuses it), no framing field, a valid Host (h11 does not check the value;
    admission refuses an invalid one)."""
    fields = {name.lower() for name, _ in reading.headers}
    return (
        reading.http_version == b"1.1"
        and all(valid_host(value) for value in reading.values(b"host"))
        and b"\r\n " not in data
        and b"\r\n\t" not in data
        and b"\n" not in data.replace(b"\r\n", b"")
        and not fields & {name.lower() for name in FRAMING}
        and len(data) <= SIMPLE_HEAD_MAX_BYTES
    )


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(heads())
@example(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
@example(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")  # two Hosts: h11 refuses
@example(b"GET / HTTP/1.1\r\n\r\n")  # no Host: h11 refuses
@example(b"GET / HTTP/1.1\r\nHost: a\r\nX:  v \t\r\n\r\n")  # OWS around the value
@example(b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n")  # an empty value
@example(b"GET / HTTP/1.1\r\nHost:\r\n folded\r\nAccept:\r\n\r\n")  # obs-fold: h11 unfolds
def test_fast_path_reads_exactly_what_h11_reads(data: bytes) -> None:
    fast = simple_request(data)
    reading = h11_reading(data)
    assert fast == parse_simple_request(data)  # remembered or not, the same reading
    if fast is not None:
        assert fast == reading
    if reading is not None and plain_by_rule(data, reading):
        assert fast == reading, "a plain head h11 accepts missed the fast path"


def test_common_clients_heads_take_the_fast_path() -> None:
    curl = (
        b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
    )
    wrk = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
    for data in (curl, wrk):
        assert simple_request(data) == h11_reading(data) is not None


def test_a_repeated_head_is_parsed_once_and_the_memory_is_bounded() -> None:
    data = b"GET /again HTTP/1.1\r\nHost: a\r\n\r\n"
    first = simple_request(data)
    assert first is not None
    assert simple_request(bytes(bytearray(data))) is first  # equal bytes, another object
    long = b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 2000 + b"\r\n\r\n"
    assert simple_request(long) == parse_simple_request(long) is not None
    assert long not in wire._PARSED  # over _PARSED_HEAD_BYTES: parsed each time
    for n in range(wire._PARSED_MOST * 2):
        assert simple_request(b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % n) is not None
        assert len(wire._PARSED) <= wire._PARSED_MOST
    assert simple_request(b"GET / HTTP/1.0\r\n\r\n") is None
    assert b"GET / HTTP/1.0\r\n\r\n" not in wire._PARSED  # only plain heads are kept


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",  # pipelined
        b"GET / HTTP/1.1\r\nHost: a\r\n",  # incomplete
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",  # framing: h11's
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a:b\r\n\r\n",  # an invalid Host: admission's 400
        b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * SIMPLE_HEAD_MAX_BYTES + b"\r\n\r\n",
    ],
)
def test_heads_left_to_h11(data: bytes) -> None:
    assert simple_request(data) is None


@pytest.mark.parametrize("now", [0.0, 784111777.0, 784111777.999, 1.7e9 + 0.5, 4102444800.25])
def test_http_date_is_the_imf_fixdate_of_its_second(now: float) -> None:
    assert http_date(now) == formatdate(int(now), usegmt=True).encode("ascii")


def test_http_date_follows_the_clock_back_and_forth() -> None:
    assert http_date(784111777.5) == b"Sun, 06 Nov 1994 08:49:37 GMT"
    assert http_date(784111778.0) == b"Sun, 06 Nov 1994 08:49:38 GMT"
    assert http_date(784111777.2) == b"Sun, 06 Nov 1994 08:49:37 GMT"


# -- the protocol: the same bytes and journal on either path ------------------------------


@pytest.fixture
def origin() -> Iterator[MemoryOrigin]:
    memory = MemoryOrigin()
    yield memory
    assert memory.shutdown() == [], "DelayedCalls left after every connection was lost"


GET = b"GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n"
SLOW: list[dict[str, Any]] = [{"sleep": 1}, {"respond": {"status": 200, "body": "slow\n"}}]


def hi(date: bytes = DATE) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + date + SERVER + b"Content-Length: 3\r\n\r\nhi\n"


@pytest.mark.parametrize(
    "profile_name",
    [
        "default",
        "hang",
        "processing-trickle",
        "early-hints",
        "close-mid-body",
        "reset-after-headers",
    ],
)
def test_whole_and_bytewise_heads_give_the_same_exchange(profile_name: str) -> None:
    runs = []
    for feed in (Feed.WHOLE, Feed.BYTEWISE):
        memory = MemoryOrigin()
        client = memory.connect()
        client.send(
            b"GET /x HTTP/1.1\r\nHost: e\r\nFakeorigin-Profile: %b\r\n\r\n" % profile_name.encode(),
            feed,
        )
        memory.advance(30)
        runs.append((client.take(), [timeline(r) for r in memory.records()]))
        assert [r.profile for r in memory.records()] == [profile_name]
        assert memory.shutdown() == []
    assert runs[0] == runs[1]


def test_plain_requests_never_make_an_h11_connection(origin: MemoryOrigin) -> None:
    origin.use({"respond": {"status": 200, "body": "hi\n"}})
    client = origin.connect()
    for _ in range(3):
        client.send(GET)
        assert client.take() == hi()
    assert client.protocol._h11 is None
    assert [r.outcome for r in origin.records()] == [Outcome.KEEP_ALIVE] * 3


def test_bytes_after_a_plain_head_are_read_as_the_next_request(origin: MemoryOrigin) -> None:
    origin.use(*SLOW)
    client = origin.connect()
    client.send(GET)
    client.send(b"GET /y HTTP/1.1\r\nHost: example.com\r\n")  # pipelined, in two packets
    client.send(b"\r\n")
    origin.advance(1)
    assert client.take().count(b"slow\n") == 1
    origin.advance(1)
    assert client.take().count(b"slow\n") == 1
    assert [(r.target, r.outcome) for r in origin.records()] == [
        ("/x", Outcome.KEEP_ALIVE),
        ("/y", Outcome.KEEP_ALIVE),
    ]


def test_broken_bytes_after_a_plain_head_get_400_after_its_response(
    origin: MemoryOrigin,
) -> None:
    origin.use(*SLOW)
    client = origin.connect()
    client.send(GET)
    client.send(b"GET / HTTP/1.1\r\n Host: folded\r\n\r\n")
    origin.advance(1)
    written = client.take()
    assert written.index(b"slow\n") < written.index(b"HTTP/1.1 400 Bad Request")
    assert [r.outcome for r in origin.records()] == [Outcome.KEEP_ALIVE, Outcome.BAD_REQUEST]


def test_fin_after_a_plain_head_serves_it_then_closes(origin: MemoryOrigin) -> None:
    origin.use(*SLOW)
    client = origin.connect()
    client.send(GET)
    client.protocol.readConnectionLost()
    origin.advance(1)
    assert client.take().endswith(b"slow\n")
    assert client.state == "closed"
    assert origin.record().outcome is Outcome.CLOSED


def test_a_replaced_profile_answers_with_its_own_head(origin: MemoryOrigin) -> None:
    """Respond heads are rendered once per step: a new profile of the same name is a new step."""
    origin.use({"respond": {"status": 200, "body": "hi\n", "headers": {"X-V": "1"}}})
    client = origin.connect()
    client.send(GET)
    assert b"X-V: 1\r\n" in client.take()
    origin.state.profiles["test"] = profile(
        {"respond": {"status": 200, "body": "hi\n", "headers": {"X-V": "2"}}}, name="test"
    )
    client.send(GET)
    assert b"X-V: 2\r\n" in client.take()
