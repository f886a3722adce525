"""Every bundled profile on a real port, against clients no one here wrote.

Each test talks to the in-process origin (``origin`` fixture: 127.0.0.1, port 0) with curl, h11's
client or a raw socket, run in a thread (the origin runs in this reactor), picks the profile with
``Fakeorigin-Profile: NAME``, asserts the bytes on the wire (exact where they are deterministic;
the Date header by pattern) and then the journal's record of the exchange.

The module is organised as case tables: where several exchanges differ only in their data (the
profile, the request, the exact bytes, status and journal events expected), they are rows of a
frozen dataclass, run by one parametrized test (one subtest per row, named by its ``pytest.param``
id). Exchanges with checks of their own (a client's schedule, a second connection) stay plain
test functions.

Timing assertions allow 50-100 ms of slack around the profile's schedule.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import random
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from fakeorigin import __version__
from fakeorigin.core.journal import Event, ExchangeRecord, Outcome
from fakeorigin.core.loader import bundled_profiles_dir, load_profile_dir
from tests.clients import (
    Ended,
    H11Client,
    H11Response,
    RawReader,
    RawResult,
    connect,
    curl,
    raw_exchange,
)
from tests.conftest import RunningOrigin

pytestmark = pytest.mark.realsocket

#: Every bundled profile; each has tests below (test_bundled_profiles_are_all_covered).
BUNDLED = (
    "close-mid-body",
    "default",
    "early-hints",
    "expect-continue",
    "expect-continue-delayed",
    "expect-final-early",
    "expect-ignore",
    "expect-reject",
    "hang",
    "keepalive-idle-race",
    "keepalive-race",
    "processing-trickle",
    "reset-after-headers",
    "slow-body",
)

SERVER = b"Server: fakeorigin/" + __version__.encode() + b"\r\n"
#: RFC 9110 section 5.6.7: IMF-fixdate, e.g. ``Sun, 06 Nov 1994 08:49:37 GMT``.
IMF_FIXDATE = (
    rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
    rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT"
)
_PLACEHOLDERS = {
    b"<date>": IMF_FIXDATE,
    b"<n>": rb"(\d+)",
    b"<body>": rb"(.*?)",
}

CONTINUE_100 = b"HTTP/1.1 100 Continue\r\n\r\n"
PROCESSING_102 = b"HTTP/1.1 102 Processing\r\n\r\n"
HINTS_103_STYLE = b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\n"
HINTS_103_SCRIPT = b"HTTP/1.1 103 Early Hints\r\nlink: </app.js>; rel=preload; as=script\r\n\r\n"
#: The generated body of slow-body: 64 bytes of the repeated pattern.
SLOW_BODY = b"0123456789abcdef" * 4
#: A JSON-echo 200 keeping the connection: ``<n>`` its Content-Length, ``<body>`` the echo.
ECHO_200 = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: <date>\r\n"
    + SERVER
    + b"Content-Length: <n>\r\n\r\n<body>"
)
REJECT_417 = (
    b"HTTP/1.1 417 Expectation Failed\r\ncontent-type: text/plain\r\nDate: <date>\r\n"
    + SERVER
    + b"Content-Length: 19\r\nConnection: close\r\n\r\nexpectation failed\n"
)
#: RFC 9110's phrase, not Python's before 3.13 ("Request Entity Too Large").
TOO_LARGE_413 = (
    b"HTTP/1.1 413 Content Too Large\r\ncontent-type: text/plain\r\nDate: <date>\r\n"
    + SERVER
    + b"Content-Length: 18\r\nConnection: close\r\n\r\ncontent too large\n"
)
#: The early-hints 200's head up to its Content-Length (Connection: close may follow).
EARLY_HINTS_200 = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nDate: <date>\r\n"
    + SERVER
    + b"Content-Length: 6\r\n"
)
SLOW_BODY_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nDate: <date>\r\n"
    + SERVER
    + b"Content-Length: 64\r\n"
)
RESET_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"
CLOSE_MID_BODY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"
    + b"0123456789" * 5
)
BAD_REQUEST_400 = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nDate: <date>\r\n"
    + SERVER
    + b"Content-Length: <n>\r\nConnection: close\r\n\r\n<body>"
)

#: A journal timeline as (event, status) pairs, in order (see :func:`events`).
Timeline = tuple[tuple[str, int | None], ...]
#: Seconds: ``low <= value < high`` (see :func:`within`).
Window = tuple[float, float]

#: The timeline of a 2 MB upload whose client waited for the 100 before sending it.
CONTINUED: Timeline = (
    ("interim-sent", 100),
    ("body-first-byte", None),
    ("body-complete", None),
    ("response-started", 200),
    ("response-complete", 200),
)


def wire(template: bytes) -> re.Pattern[bytes]:
    """A pattern for exactly ``template``'s bytes, where ``<date>`` is any IMF-fixdate,
    ``<n>`` captures a number and ``<body>`` captures the shortest content that fits."""
    pattern = re.escape(template)
    for placeholder, regex in _PLACEHOLDERS.items():
        pattern = pattern.replace(re.escape(placeholder), regex)
    return re.compile(pattern, re.DOTALL)


def match_wire(template: bytes, data: bytes) -> re.Match[bytes]:
    """``data`` is exactly ``template`` (see :func:`wire`); the match, for its groups."""
    found = wire(template).fullmatch(data)
    assert found is not None, f"bytes differ\n  expected {template!r}\n  received {data!r}"
    return found


def echo_response(data: bytes, *, interim: bytes = b"", close: bool = False) -> dict[str, Any]:
    """Check a JSON-echo 200 byte for byte (Content-Length true to the content); the echo."""
    template = (
        interim + b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: <date>\r\n" + SERVER
    )
    template += b"Content-Length: <n>\r\n" + (b"Connection: close\r\n" if close else b"")
    found = match_wire(template + b"\r\n<body>", data)
    length, content = int(found.group(1)), found.group(2)
    assert length == len(content)
    echo: dict[str, Any] = json.loads(content)
    return echo


def pick(name: str) -> list[str]:
    """curl arguments that select profile ``name`` in-band."""
    return ["-H", f"Fakeorigin-Profile: {name}"]


def get(profile: str, *, target: bytes = b"/", close: bool = True) -> bytes:
    """A raw HTTP/1.1 GET selecting ``profile``; by default it asks to close afterwards."""
    return (
        b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Fakeorigin-Profile: " + profile.encode() + b"\r\n"
        + (b"Connection: close\r\n" if close else b"")
        + b"\r\n"
    )  # fmt: skip


def only_record(origin: RunningOrigin) -> ExchangeRecord:
    """The journal's single record."""
    records = origin.records()
    assert len(records) == 1, [r.to_dict() for r in records]
    return records[0]


def events(record: ExchangeRecord) -> list[tuple[str, int | None]]:
    """The timeline as (event, status) pairs, in order."""
    return [(entry.event, entry.status) for entry in record.timeline]


def seconds(record: ExchangeRecord, event: Event, status: int | None = None) -> list[float]:
    """When each ``event`` (with ``status``, if given) happened, seconds after the head."""
    return [
        entry.seconds for entry in record.events(event) if status is None or entry.status == status
    ]


def close_to(value: float, expected: float, slack: float = 0.1) -> bool:
    return abs(value - expected) <= slack


def within(value: float, window: Window) -> bool:
    """``value`` lies in ``window``: at least its low end, below its high end."""
    low, high = window
    return low <= value < high


@dataclass(frozen=True)
class Upload:
    """A request body of 2 MB: big enough that curl really waits for the 100."""

    path: Path
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@pytest.fixture(scope="module")
def upload(tmp_path_factory: pytest.TempPathFactory) -> Upload:
    data = random.Random(2).randbytes(2_000_000)
    path = tmp_path_factory.mktemp("upload") / "body.bin"
    path.write_bytes(data)
    return Upload(path, data)


def test_bundled_profiles_are_all_covered() -> None:
    # violation-<id> and websocket-* profiles are proven in test_violations.py and
    # test_websocket.py.
    bundled = load_profile_dir(bundled_profiles_dir())
    assert sorted(
        name for name in bundled if not name.startswith(("violation-", "websocket-"))
    ) == list(BUNDLED)
    source = Path(__file__).read_text(encoding="utf-8")
    untested = [name for name in BUNDLED if source.count(f'"{name}"') < 2]
    assert not untested, f"bundled profiles no test here selects: {untested}"


# -- default ----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_default_is_active_and_echoes_a_get(origin: RunningOrigin) -> None:
    result = await deferToThread(curl, "-i", f"{origin.url}/anything?x=1")

    assert result.exit_code == 0, result.stderr
    echo = echo_response(result.output)
    assert echo["method"] == "GET"
    assert echo["target"] == "/anything?x=1"
    assert echo["http_version"] == "1.1"
    assert ["Host", f"127.0.0.1:{origin.port_number}"] in echo["headers"]
    assert echo["body"] == {
        "length": 0,
        "sha256": hashlib.sha256(b"").hexdigest(),
        "complete": True,
    }
    await origin.settle()
    record = only_record(origin)
    assert (record.profile, record.selected_by) == ("default", "active")
    assert (record.method, record.target, record.http_version) == ("GET", "/anything?x=1", "1.1")
    assert events(record) == [
        ("body-complete", None),
        ("interim-skipped", 100),
        ("response-started", 200),
        ("response-complete", 200),
    ]
    assert record.events(Event.INTERIM_SKIPPED)[0].detail == "request has no Expect: 100-continue"
    assert record.outcome is Outcome.KEEP_ALIVE


@pytest_twisted.ensureDeferred
async def test_default_skips_100_when_the_body_came_with_the_head(origin: RunningOrigin) -> None:
    request = (
        b"POST /eager HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        b"Content-Length: 5\r\nConnection: close\r\n\r\nhello"
    )
    result = await deferToThread(raw_exchange, origin.port_number, request)

    assert result.ended is Ended.EOF
    echo = echo_response(result.data, close=True)  # no 100 first: RFC 9110 10.1.1 MAY omit it
    assert echo["body"]["length"] == 5
    await origin.settle()
    record = only_record(origin)
    assert record.interim_statuses == []
    assert record.body_bytes_before_continue is None
    skipped = record.events(Event.INTERIM_SKIPPED)
    assert [(e.status, e.detail) for e in skipped] == [(100, "request body already complete")]
    assert record.outcome is Outcome.CLOSED


@pytest_twisted.ensureDeferred
async def test_default_sends_no_100_to_http10_curl(origin: RunningOrigin) -> None:
    # curl --http1.0 sends the Expect header it is given but does not wait for a 100.
    result = await deferToThread(
        curl,
        "-i",
        "--http1.0",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        "hello",
        f"{origin.url}/old",
    )

    assert result.exit_code == 0, result.stderr
    echo = echo_response(result.output, close=True)
    assert echo["http_version"] == "1.0"
    assert ["Expect", "100-continue"] in echo["headers"]
    await origin.settle()
    record = only_record(origin)
    assert record.http_version == "1.0"
    assert record.interim_statuses == []
    assert record.body_bytes_before_continue is None
    skipped = record.events(Event.INTERIM_SKIPPED)
    assert len(skipped) == 1
    assert skipped[0].status == 100
    assert skipped[0].detail is not None
    assert "HTTP/1.0" in skipped[0].detail
    assert record.outcome is Outcome.CLOSED


# -- curl uploads echoed: default, expect-continue, expect-continue-delayed, expect-ignore ----


@dataclass(frozen=True, kw_only=True)
class EchoedUpload:
    """curl -i sends the 2 MB upload to ``target`` and prints the 200 echoing it in full."""

    #: The Fakeorigin-Profile header's value; None sends none, so the active default serves.
    profile: str | None
    #: curl -H arguments (``Expect:`` alone stops curl from sending its own Expect).
    headers: tuple[str, ...] = ("Expect: 100-continue",)
    target: str = "/upload"
    #: A request header (name, value) the echo lists.
    echoed: tuple[str, str] = ("Expect", "100-continue")
    #: What comes before the 200: CONTINUE_100, or nothing.
    interim: bytes
    body_bytes_before_continue: int | None
    #: The whole journal timeline; None where the order of its events is down to timing.
    timeline: Timeline | None
    #: curl's total time, where the profile's schedule shows in it.
    curl_seconds: Window | None = None
    #: When the journal has the 100 sent.
    continue_sent: Window | None = None
    #: When the journal has the upload's first byte.
    body_first_byte: Window | None = None


ECHOED_UPLOADS = [
    pytest.param(
        EchoedUpload(
            profile=None,
            interim=CONTINUE_100,
            body_bytes_before_continue=0,
            timeline=CONTINUED,
        ),
        id="default-expect-gets-100-then-echo",
    ),
    pytest.param(
        EchoedUpload(
            profile=None,
            headers=("Transfer-Encoding: chunked", "Expect:"),
            target="/chunked",
            echoed=("Transfer-Encoding", "chunked"),
            interim=b"",
            body_bytes_before_continue=None,
            timeline=None,  # the 100's skip and the first body bytes race
        ),
        id="default-chunked-is-read-and-journaled",
    ),
    pytest.param(
        EchoedUpload(
            profile="expect-continue",
            interim=CONTINUE_100,
            body_bytes_before_continue=0,  # curl sent nothing before the 100
            timeline=CONTINUED,
            curl_seconds=(0.0, 0.9),  # the 100 came at once: curl did not sit out its 1 s timeout
            continue_sent=(0.0, 0.05),
        ),
        id="expect-continue-curl-waits-for-the-100",
    ),
    pytest.param(
        EchoedUpload(
            profile="expect-continue-delayed",
            interim=CONTINUE_100,
            body_bytes_before_continue=0,
            timeline=CONTINUED,
            curl_seconds=(0.45, 0.9),  # the delayed 100, before curl's own 1 s timeout
            continue_sent=(0.45, 0.55),
        ),
        id="expect-continue-delayed-100-after-half-a-second",
    ),
    pytest.param(
        EchoedUpload(
            profile="expect-ignore",
            interim=b"",  # no 100 before the 200
            body_bytes_before_continue=None,
            timeline=(
                ("body-first-byte", None),
                ("body-complete", None),
                ("response-started", 200),
                ("response-complete", 200),
            ),
            curl_seconds=(0.9, 2.0),  # curl's --expect100-timeout default is 1 s
            body_first_byte=(0.9, 2.0),
        ),
        id="expect-ignore-curl-gives-up-waiting-after-a-second",
    ),
]


@pytest.mark.parametrize("case", ECHOED_UPLOADS)
@pytest_twisted.ensureDeferred
async def test_curl_upload_is_echoed(
    origin: RunningOrigin, upload: Upload, case: EchoedUpload
) -> None:
    profile = pick(case.profile) if case.profile is not None else []
    headers = [arg for header in case.headers for arg in ("-H", header)]
    result = await deferToThread(
        curl,
        "-i",
        *profile,
        *headers,
        "--data-binary",
        f"@{upload.path}",
        f"{origin.url}{case.target}",
    )

    assert (result.exit_code, result.http_code) == (0, 200), result.stderr
    if case.curl_seconds is not None:
        assert within(result.seconds, case.curl_seconds), result.seconds
    echo = echo_response(result.output, interim=case.interim)
    assert list(case.echoed) in echo["headers"]
    assert echo["body"] == {"length": 2_000_000, "sha256": upload.sha256, "complete": True}
    await origin.settle()
    record = only_record(origin)
    if case.profile is None:
        assert (record.profile, record.selected_by) == ("default", "active")
    else:
        assert (record.profile, record.selected_by) == (case.profile, "header")
    assert record.interim_statuses == ([100] if case.interim else [])
    assert record.body_bytes_before_continue == case.body_bytes_before_continue
    assert (record.body.length, record.body.sha256, record.body.complete) == (
        2_000_000,
        upload.sha256,
        True,
    )
    assert record.body.head == upload.data[:1024]
    if case.timeline is not None:
        assert events(record) == list(case.timeline)
    if case.interim:
        assert seconds(record, Event.BODY_FIRST_BYTE)[0] >= seconds(record, Event.INTERIM_SENT)[0]
    if case.continue_sent is not None:
        sent = seconds(record, Event.INTERIM_SENT, 100)
        assert within(sent[0], case.continue_sent), sent
    if case.body_first_byte is not None:
        first = seconds(record, Event.BODY_FIRST_BYTE)
        assert within(first[0], case.body_first_byte), first
    assert record.outcome is Outcome.KEEP_ALIVE


# -- curl uploads answered before their body: expect-reject, expect-final-early ---------------


@dataclass(frozen=True)
class EarlyAnswer:
    """curl -i sends the 2 MB upload; the profile answers before reading it, then closes."""

    profile: str
    #: curl -H arguments (``Expect:`` alone stops curl from sending its own Expect).
    headers: tuple[str, ...]
    status: int
    #: What curl prints (see :func:`wire`).
    response: bytes
    #: The whole journal timeline; None where how much of the upload arrives is down to timing.
    timeline: Timeline | None
    #: The body the journal read; None where that is down to timing.
    body_length: int | None
    #: curl's total time, where it shows curl did not wait for a 100.
    curl_seconds: Window | None = None


EARLY_ANSWERS = [
    pytest.param(
        EarlyAnswer(
            profile="expect-reject",
            headers=("Expect: 100-continue",),
            status=417,
            response=REJECT_417,
            timeline=(("response-started", 417), ("response-complete", 417), ("close", None)),
            body_length=0,
            curl_seconds=(0.0, 0.9),  # answered at once, not after curl's 1 s wait
        ),
        id="expect-reject-curl-gets-417-and-never-sends-the-body",
    ),
    pytest.param(
        EarlyAnswer(
            profile="expect-final-early",
            headers=("Expect: 100-continue",),
            status=413,
            response=TOO_LARGE_413,
            timeline=(("response-started", 413), ("response-complete", 413), ("close", None)),
            body_length=0,
            curl_seconds=(0.0, 0.9),
        ),
        id="expect-final-early-curl-gets-413-and-never-sends-the-body",
    ),
    pytest.param(
        # Without Expect, curl sends the 2 MB at once; the 413 goes out before the body is read,
        # and the lingering close drains the upload, so curl reads the 413 instead of an error.
        EarlyAnswer(
            profile="expect-final-early",
            headers=("Expect:",),
            status=413,
            response=TOO_LARGE_413,
            timeline=None,
            body_length=None,
        ),
        id="expect-final-early-without-expect-gets-413-not-a-broken-pipe",
    ),
]


@pytest.mark.parametrize("case", EARLY_ANSWERS)
@pytest_twisted.ensureDeferred
async def test_curl_upload_is_answered_before_its_body(
    origin: RunningOrigin, upload: Upload, case: EarlyAnswer
) -> None:
    headers = [arg for header in case.headers for arg in ("-H", header)]
    result = await deferToThread(
        curl,
        "-i",
        *pick(case.profile),
        *headers,
        "--data-binary",
        f"@{upload.path}",
        f"{origin.url}/upload",
    )

    assert (result.exit_code, result.http_code) == (0, case.status), result.stderr
    if case.curl_seconds is not None:
        assert within(result.seconds, case.curl_seconds), result.seconds
    match_wire(case.response, result.output)
    await origin.settle()
    record = only_record(origin)
    assert (record.profile, record.selected_by) == (case.profile, "header")
    if case.timeline is not None:
        assert events(record) == list(case.timeline)
    if case.body_length is not None:
        assert record.body.length == case.body_length
    assert record.interim_statuses == []
    assert record.body_bytes_before_continue is None
    started = seconds(record, Event.RESPONSE_STARTED, case.status)
    assert len(started) == 1
    complete = seconds(record, Event.BODY_COMPLETE)
    assert not complete or complete[0] >= started[0]  # the answer did not wait for the body
    assert record.outcome is Outcome.CLOSED


@pytest_twisted.ensureDeferred
async def test_expect_reject_raw_client_sees_a_lingering_close(
    origin: RunningOrigin, upload: Upload
) -> None:
    head = (
        b"PUT /big HTTP/1.1\r\nHost: 127.0.0.1\r\nFakeorigin-Profile: expect-reject\r\n"
        b"Expect: 100-continue\r\nContent-Length: 2000000\r\n\r\n"
    )

    def send_body_after_the_417() -> RawResult:
        with connect(origin.port_number) as sock:
            sock.sendall(head)
            reader = RawReader(sock, time.monotonic())
            reader.read(5.0)
            # The origin shut down only its sending side: it still reads (and discards) the
            # upload, so a client that sends it anyway gets no reset and no broken pipe.
            sock.sendall(upload.data)
            sock.shutdown(socket.SHUT_WR)
            return reader.result

    result = await deferToThread(send_body_after_the_417)

    assert result.ended is Ended.EOF
    match_wire(REJECT_417, result.data)
    await origin.settle()
    record = only_record(origin)
    assert events(record) == [
        ("response-started", 417),
        ("response-complete", 417),
        ("close", None),
        ("body-first-byte", None),
        ("body-complete", None),
    ]
    assert (record.body.length, record.body.sha256) == (2_000_000, upload.sha256)
    assert record.outcome is Outcome.CLOSED


# -- h11 uploads: expect-continue keeps the connection, expect-continue-delayed ---------------


@pytest_twisted.ensureDeferred
async def test_expect_continue_h11_client_and_keep_alive(origin: RunningOrigin) -> None:
    body = bytes(range(256)) * 400

    def two_requests() -> tuple[H11Response, H11Response]:
        with H11Client(origin.port_number) as client:
            first = client.request("GET", "/first")
            second = client.request(
                "PUT",
                "/second",
                [("Fakeorigin-Profile", "expect-continue"), ("Expect", "100-continue")],
                body,
                wait_for_continue=True,
            )
            return first, second

    first, second = await deferToThread(two_requests)

    assert first.status == 200
    assert first.informational == []
    assert second.status == 200
    assert [event.status_code for _, event in second.informational] == [100]
    assert second.informational[0][1].reason == b"Continue"
    assert json.loads(second.body)["body"]["sha256"] == hashlib.sha256(body).hexdigest()
    await origin.settle()
    records = origin.records()
    assert [(r.connection_id, r.index) for r in records] == [
        (records[0].connection_id, 1),
        (records[0].connection_id, 2),
    ]
    assert [r.profile for r in records] == ["default", "expect-continue"]
    assert records[1].body_bytes_before_continue == 0
    assert records[1].body.length == len(body)
    assert [r.outcome for r in records] == [Outcome.KEEP_ALIVE, Outcome.KEEP_ALIVE]


@pytest_twisted.ensureDeferred
async def test_expect_continue_delayed_h11_client_sees_the_100_at_half_a_second(
    origin: RunningOrigin,
) -> None:
    def upload_with_h11() -> H11Response:
        with H11Client(origin.port_number) as client:
            return client.request(
                "POST",
                "/later",
                [("Fakeorigin-Profile", "expect-continue-delayed"), ("Expect", "100-continue")],
                b"x" * 10_000,
                wait_for_continue=True,
            )

    response = await deferToThread(upload_with_h11)

    assert response.status == 200
    [(arrived, interim)] = response.informational
    assert interim.status_code == 100
    assert close_to(arrived, 0.5, 0.1)
    await origin.settle()
    record = only_record(origin)
    assert record.body_bytes_before_continue == 0
    assert record.body.length == 10_000


# -- processing-trickle, early-hints: interim responses ---------------------------------------


@pytest_twisted.ensureDeferred
async def test_processing_trickle_sends_five_102_a_second_apart(origin: RunningOrigin) -> None:
    result = await deferToThread(
        raw_exchange, origin.port_number, get("processing-trickle"), read_seconds=8.0
    )

    assert result.ended is Ended.EOF
    match_wire(
        PROCESSING_102 * 5
        + b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nDate: <date>\r\n"
        + SERVER
        + b"Content-Length: 5\r\nConnection: close\r\n\r\ndone\n",
        result.data,
    )
    arrivals = [result.time_of(PROCESSING_102, k) for k in range(5)]
    assert arrivals[0] < 0.1
    for k, arrived in enumerate(arrivals):
        assert close_to(arrived - arrivals[0], k * 1.0), arrivals
    assert close_to(result.time_of(b"done\n"), 5.0), result.time_of(b"done\n")
    await origin.settle()
    record = only_record(origin)
    assert record.interim_statuses == [102] * 5
    sent = seconds(record, Event.INTERIM_SENT, 102)
    assert all(close_to(t, k * 1.0, 0.05) for k, t in enumerate(sent)), sent
    assert close_to(seconds(record, Event.RESPONSE_STARTED, 200)[0], 5.0, 0.05)
    assert record.outcome is Outcome.CLOSED


@pytest_twisted.ensureDeferred
async def test_early_hints_raw_bytes_and_timing(origin: RunningOrigin) -> None:
    result = await deferToThread(raw_exchange, origin.port_number, get("early-hints"))

    assert result.ended is Ended.EOF
    match_wire(
        HINTS_103_STYLE + HINTS_103_SCRIPT + EARLY_HINTS_200 + b"Connection: close\r\n\r\nhello\n",
        result.data,
    )
    first, second = result.time_of(HINTS_103_STYLE), result.time_of(HINTS_103_SCRIPT)
    assert first < 0.05
    assert close_to(second - first, 0.1, 0.05)
    assert result.time_of(b"hello\n") - second < 0.05
    await origin.settle()
    record = only_record(origin)
    assert record.interim_statuses == [103, 103]
    sent = seconds(record, Event.INTERIM_SENT, 103)
    assert close_to(sent[1] - sent[0], 0.1, 0.05)


@pytest_twisted.ensureDeferred
async def test_early_hints_h11_client_and_curl(origin: RunningOrigin) -> None:
    def with_h11() -> H11Response:
        with H11Client(origin.port_number) as client:
            return client.request("GET", "/hints", [("Fakeorigin-Profile", "early-hints")])

    response = await deferToThread(with_h11)
    result = await deferToThread(curl, "-i", *pick("early-hints"), f"{origin.url}/hints")

    assert [(e.status_code, e.reason, list(e.headers)) for _, e in response.informational] == [
        (103, b"Early Hints", [(b"link", b"</style.css>; rel=preload; as=style")]),
        (103, b"Early Hints", [(b"link", b"</app.js>; rel=preload; as=script")]),
    ]
    assert close_to(response.informational[1][0] - response.informational[0][0], 0.1, 0.05)
    assert (response.status, response.body) == (200, b"hello\n")
    assert result.exit_code == 0, result.stderr
    match_wire(HINTS_103_STYLE + HINTS_103_SCRIPT + EARLY_HINTS_200 + b"\r\nhello\n", result.output)
    await origin.settle()
    assert [r.interim_statuses for r in origin.records()] == [[103, 103], [103, 103]]


@pytest_twisted.ensureDeferred
async def test_early_hints_not_sent_to_http10_raw(origin: RunningOrigin) -> None:
    request = b"GET / HTTP/1.0\r\nFakeorigin-Profile: early-hints\r\n\r\n"
    result = await deferToThread(raw_exchange, origin.port_number, request)

    assert result.ended is Ended.EOF
    match_wire(EARLY_HINTS_200 + b"Connection: close\r\n\r\nhello\n", result.data)
    assert close_to(result.time_of(b"hello\n"), 0.1, 0.05)  # the sleep still runs
    await origin.settle()
    record = only_record(origin)
    assert record.interim_statuses == []
    skipped = record.events(Event.INTERIM_SKIPPED)
    assert [e.status for e in skipped] == [103, 103]
    assert all(e.detail is not None and "HTTP/1.0" in e.detail for e in skipped)
    assert record.outcome is Outcome.CLOSED


# -- one GET: slow-body, hang, reset-after-headers, close-mid-body, early-hints to HTTP/1.0 ---


@dataclass(frozen=True)
class CurlGet:
    """curl -i GETs ``path`` from ``profile``: its exit code, output and the journal's record."""

    profile: str
    #: curl options besides -i and the profile's header.
    options: tuple[str, ...]
    path: str
    exit_code: int
    #: What curl prints (see :func:`wire`).
    output: bytes
    timeline: Timeline
    outcome: Outcome
    #: A phrase curl's error message has.
    stderr: str = ""
    #: curl's total time, where the profile's schedule shows in it.
    curl_seconds: Window | None = None
    http_version: str = "1.1"


CURL_GETS = [
    pytest.param(
        CurlGet(
            profile="slow-body",
            options=(),
            path="/slow",
            exit_code=0,
            output=SLOW_BODY_HEAD + b"\r\n" + SLOW_BODY,
            timeline=(
                ("body-complete", None),
                ("response-started", 200),
                ("response-complete", 200),
            ),
            outcome=Outcome.KEEP_ALIVE,
            curl_seconds=(0.6, 0.8),
        ),
        id="slow-body-curl-gets-it-in-0.7-s",
    ),
    pytest.param(
        CurlGet(
            profile="hang",
            options=("-m", "0.5"),
            path="/hang",
            exit_code=28,  # operation timed out
            output=b"",
            timeline=(
                ("body-complete", None),
                ("hang", None),
                ("client-fin", None),
                ("client-gone", None),
            ),
            outcome=Outcome.CLIENT_GONE,
        ),
        id="hang-curl-times-out",
    ),
    pytest.param(
        CurlGet(
            profile="reset-after-headers",
            options=(),
            path="/r",
            exit_code=56,  # failure receiving network data
            output=RESET_HEAD,
            timeline=(("body-complete", None), ("raw-sent", None), ("reset", None)),
            outcome=Outcome.RESET,
            stderr="reset",
        ),
        id="reset-after-headers-curl-sees-the-reset",
    ),
    pytest.param(
        CurlGet(
            profile="close-mid-body",
            options=(),
            path="/c",
            exit_code=18,  # partial file
            output=CLOSE_MID_BODY,
            timeline=(("body-complete", None), ("raw-sent", None), ("close", None)),
            outcome=Outcome.CLOSED,
            stderr="50 bytes remaining",
        ),
        id="close-mid-body-curl-sees-a-short-body",
    ),
    pytest.param(
        CurlGet(
            profile="early-hints",
            options=("--http1.0",),
            path="/old",
            exit_code=0,
            output=EARLY_HINTS_200 + b"Connection: close\r\n\r\nhello\n",
            timeline=(
                ("body-complete", None),
                ("interim-skipped", 103),
                ("interim-skipped", 103),
                ("response-started", 200),
                ("response-complete", 200),
                ("close", None),
            ),
            outcome=Outcome.CLOSED,
            http_version="1.0",
        ),
        id="early-hints-not-sent-to-http10",
    ),
]


@pytest.mark.parametrize("case", CURL_GETS)
@pytest_twisted.ensureDeferred
async def test_curl_get(origin: RunningOrigin, case: CurlGet) -> None:
    result = await deferToThread(
        curl, "-i", *case.options, *pick(case.profile), f"{origin.url}{case.path}"
    )

    assert result.exit_code == case.exit_code, result.stderr
    assert case.stderr in result.stderr
    match_wire(case.output, result.output)
    if case.curl_seconds is not None:
        assert within(result.seconds, case.curl_seconds), result.seconds
    await origin.settle()
    record = only_record(origin)
    assert (record.profile, record.selected_by) == (case.profile, "header")
    assert record.http_version == case.http_version
    assert events(record) == list(case.timeline)
    assert record.outcome is case.outcome


@dataclass(frozen=True)
class RawGet:
    """A raw socket sends ``get(profile)`` (asking to close) and reads until EOF, RST or
    ``read_seconds``: exactly ``data``, then ``ended``."""

    profile: str
    data: bytes
    ended: Ended
    timeline: Timeline
    outcome: Outcome
    read_seconds: float = 5.0
    #: The client-gone event comes no sooner than this.
    client_gone_after: float | None = None


RAW_GETS = [
    pytest.param(
        # Closing the socket sends a FIN; during a hang that is the client leaving.
        RawGet(
            profile="hang",
            data=b"",
            ended=Ended.OPEN,
            timeline=(
                ("body-complete", None),
                ("hang", None),
                ("client-fin", None),
                ("client-gone", None),
            ),
            outcome=Outcome.CLIENT_GONE,
            read_seconds=0.5,
            client_gone_after=0.45,
        ),
        id="hang-sends-nothing-until-the-client-leaves",
    ),
    pytest.param(
        RawGet(
            profile="reset-after-headers",
            data=RESET_HEAD,
            ended=Ended.RESET,
            timeline=(("body-complete", None), ("raw-sent", None), ("reset", None)),
            outcome=Outcome.RESET,
        ),
        id="reset-after-headers-gets-the-head-then-rst",
    ),
    pytest.param(
        RawGet(
            profile="close-mid-body",
            data=CLOSE_MID_BODY,
            ended=Ended.EOF,
            timeline=(("body-complete", None), ("raw-sent", None), ("close", None)),
            outcome=Outcome.CLOSED,
        ),
        id="close-mid-body-gets-50-bytes-then-fin",
    ),
]


@pytest.mark.parametrize("case", RAW_GETS)
@pytest_twisted.ensureDeferred
async def test_raw_get(origin: RunningOrigin, case: RawGet) -> None:
    result = await deferToThread(
        raw_exchange, origin.port_number, get(case.profile), read_seconds=case.read_seconds
    )

    assert (result.data, result.ended) == (case.data, case.ended)
    await origin.settle()
    record = only_record(origin)
    assert (record.profile, record.selected_by) == (case.profile, "header")
    assert events(record) == list(case.timeline)
    if case.client_gone_after is not None:
        assert seconds(record, Event.CLIENT_GONE)[0] >= case.client_gone_after
    assert record.outcome is case.outcome


@pytest_twisted.ensureDeferred
async def test_slow_body_dribbles_8_bytes_every_tenth_of_a_second(origin: RunningOrigin) -> None:
    result = await deferToThread(raw_exchange, origin.port_number, get("slow-body"))

    assert result.ended is Ended.EOF
    match_wire(SLOW_BODY_HEAD + b"Connection: close\r\n\r\n" + SLOW_BODY, result.data)
    head_length = result.data.index(b"\r\n\r\n") + 4
    pieces = [result.time_at_offset(head_length + 8 * (k + 1)) for k in range(8)]
    assert pieces[0] < 0.05  # the first piece goes with the head
    for k, arrived in enumerate(pieces):
        assert close_to(arrived, k * 0.1, 0.05), pieces
    await origin.settle()
    record = only_record(origin)
    assert close_to(seconds(record, Event.RESPONSE_COMPLETE, 200)[0], 0.7, 0.05)
    assert record.outcome is Outcome.CLOSED


# -- connections: keep-alive, pipelining, half-close, refusals --------------------------------


@dataclass(frozen=True)
class SharedConnection:
    """A raw socket sends ``requests`` in one go and reads until EOF: the responses, in order."""

    requests: bytes
    #: Send a FIN after the requests, then read, as ``printf '...' | nc -N host port`` does.
    shut_write: bool
    #: All the responses (see :func:`wire`): the JSON echoes first, each ``<n>`` then ``<body>``.
    responses: bytes
    #: Each JSON echo's target and the request content it reports, in order.
    echoes: tuple[tuple[str, bytes], ...]
    #: Each record's (target, index on the connection, profile, outcome, interim statuses).
    records: tuple[tuple[str, int, str, Outcome, tuple[int, ...]], ...]


SHARED_CONNECTIONS = [
    pytest.param(
        SharedConnection(
            requests=(
                get("default", target=b"/1", close=False)
                + b"POST /2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc"
                + get("early-hints", target=b"/3")
            ),
            shut_write=False,
            responses=(
                ECHO_200
                + ECHO_200
                + HINTS_103_STYLE
                + HINTS_103_SCRIPT
                + EARLY_HINTS_200
                + b"Connection: close\r\n\r\nhello\n"
            ),
            echoes=(("/1", b""), ("/2", b"abc")),
            records=(
                ("/1", 1, "default", Outcome.KEEP_ALIVE, ()),
                ("/2", 2, "default", Outcome.KEEP_ALIVE, ()),
                ("/3", 3, "early-hints", Outcome.CLOSED, (103, 103)),
            ),
        ),
        id="pipelined-requests-are-answered-in-order",
    ),
    pytest.param(
        SharedConnection(
            requests=get("default", target=b"/1", close=False) + get("early-hints", target=b"/2"),
            shut_write=True,
            responses=(
                ECHO_200
                + HINTS_103_STYLE
                + HINTS_103_SCRIPT
                + EARLY_HINTS_200
                + b"Connection: close\r\n\r\nhello\n"
            ),
            echoes=(("/1", b""),),
            records=(
                ("/1", 1, "default", Outcome.KEEP_ALIVE, ()),
                ("/2", 2, "early-hints", Outcome.CLOSED, (103, 103)),
            ),
        ),
        id="half-close-after-the-requests-still-gets-the-responses",
    ),
    pytest.param(
        # No Connection: close: the FIN alone ends the connection, after the whole exchange.
        SharedConnection(
            requests=get("early-hints", close=False),
            shut_write=True,
            responses=HINTS_103_STYLE + HINTS_103_SCRIPT + EARLY_HINTS_200 + b"<body>hello\n",
            echoes=(),
            records=(("/", 1, "early-hints", Outcome.CLOSED, (103, 103)),),
        ),
        id="half-close-during-a-keep-alive-exchange-gets-all-of-it",
    ),
]


@pytest.mark.parametrize("case", SHARED_CONNECTIONS)
@pytest_twisted.ensureDeferred
async def test_requests_on_one_connection(origin: RunningOrigin, case: SharedConnection) -> None:
    result = await deferToThread(
        raw_exchange, origin.port_number, case.requests, shut_write=case.shut_write
    )

    assert result.ended is Ended.EOF
    groups = match_wire(case.responses, result.data).groups()
    for k, (target, content) in enumerate(case.echoes):
        length, body = groups[2 * k], groups[2 * k + 1]
        assert int(length) == len(body)
        echo = json.loads(body)
        assert echo["target"] == target
        assert echo["body"]["sha256"] == hashlib.sha256(content).hexdigest()
    await origin.settle()
    records = origin.records()
    assert [
        (r.target, r.index, r.profile, r.outcome, tuple(r.interim_statuses)) for r in records
    ] == list(case.records)
    assert len({r.connection_id for r in records}) == 1
    assert [r.error for r in records] == [None] * len(records)
    if case.shut_write:
        assert ("client-fin", None) in events(records[-1])


@dataclass(frozen=True)
class MissingHost:
    """An HTTP/1.1 request without Host, alone or pipelined after a good one: a 400, then the
    close, and the bad request journaled with its raw bytes."""

    #: What goes ahead of the bad request on the connection, and the template of its responses.
    ahead: bytes
    ahead_responses: bytes
    #: The records of what went ahead: (target, index on the connection, outcome).
    ahead_records: tuple[tuple[str, int, Outcome], ...]
    bad: bytes


MISSING_HOSTS = [
    pytest.param(
        MissingHost(
            ahead=b"",
            ahead_responses=b"",
            ahead_records=(),
            bad=b"GET /no-host HTTP/1.1\r\nUser-Agent: raw\r\n\r\n",
        ),
        id="alone",
    ),
    pytest.param(
        MissingHost(
            ahead=get("default", target=b"/good", close=False),
            ahead_responses=ECHO_200,
            ahead_records=(("/good", 1, Outcome.KEEP_ALIVE),),
            bad=b"GET /bad HTTP/1.1\r\n\r\n",
        ),
        id="pipelined-after-a-good-request",
    ),
]


@pytest.mark.parametrize("case", MISSING_HOSTS)
@pytest_twisted.ensureDeferred
async def test_http11_without_host_gets_400_and_is_journaled_raw(
    origin: RunningOrigin, case: MissingHost
) -> None:
    result = await deferToThread(raw_exchange, origin.port_number, case.ahead + case.bad)

    assert result.ended is Ended.EOF
    *_, length, text = match_wire(case.ahead_responses + BAD_REQUEST_400, result.data).groups()
    assert int(length) == len(text)
    assert text.startswith(b"400 Bad Request: ")
    assert b"Host" in text
    await origin.settle()
    *ahead, record = origin.records()
    assert [(r.target, r.index, r.outcome) for r in ahead] == list(case.ahead_records)
    assert [r.connection_id for r in ahead] == [record.connection_id] * len(ahead)
    assert record.index == len(ahead) + 1
    assert record.raw_request == case.bad
    assert record.method is None
    assert record.error is not None
    assert "Host" in record.error
    assert events(record) == [
        ("bad-request", 400),
        ("response-started", 400),
        ("close", None),
    ]
    assert record.outcome is Outcome.BAD_REQUEST


# -- keepalive-race, keepalive-idle-race ------------------------------------------------------


def connection_of(record: ExchangeRecord) -> tuple[int, int, str | None, str]:
    return (record.connection_id, record.index, record.target, record.outcome.value)


@pytest_twisted.ensureDeferred
async def test_keepalive_race_curl_retries_the_get_on_a_new_connection(
    origin: RunningOrigin,
) -> None:
    # curl reuses the connection for the second URL; the origin closes it as the request
    # arrives; curl sees the connection die with nothing received and retries once.
    urls = [f"{origin.url}/1", f"{origin.url}/2"]
    result = await deferToThread(curl, "-v", *pick("keepalive-race"), *urls)

    assert (result.exit_code, result.http_code) == (0, 200), result.stderr
    assert result.output.count(b"served\n") == 2
    assert "Re-using existing connection" in result.stderr
    await origin.settle()
    first, late, retried = origin.records()
    c1, c2 = first.connection_id, retried.connection_id
    assert [connection_of(r) for r in (first, late, retried)] == [
        (c1, 1, "/1", "keep-alive"),
        (c1, 2, "/2", "closed"),
        (c2, 1, "/2", "keep-alive"),
    ]
    assert c2 != c1
    assert [entry.event for entry in late.timeline][-2:] == ["late-request", "close"]
    assert first.timeline[-1].detail is not None
    assert "close_on_next_request" in first.timeline[-1].detail


def _three_gets_one_after_a_pause(port: int, pause: float) -> list[str]:
    """Python's http.client on one kept connection: GET /1, GET /2 at once, GET /3 after
    ``pause`` seconds. What each call saw (a status, or the exception's name)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    seen = []
    try:
        for target, wait in (("/1", 0.0), ("/2", 0.0), ("/3", pause)):
            time.sleep(wait)
            try:
                connection.request(
                    "GET", target, headers={"Fakeorigin-Profile": "keepalive-idle-race"}
                )
                response = connection.getresponse()
                response.read()
                seen.append(str(response.status))
            except (http.client.HTTPException, OSError) as err:
                seen.append(type(err).__name__)
                connection.close()
    finally:
        connection.close()
    return seen


@pytest_twisted.ensureDeferred
async def test_keepalive_idle_race_http_client_sees_the_stale_connection_close(
    origin: RunningOrigin,
) -> None:
    # http.client does not retry: the request on the connection left idle for over 1 s gets
    # "Remote end closed connection without response", the error a proxy turns into a 502.
    seen = await deferToThread(_three_gets_one_after_a_pause, origin.port_number, 1.2)

    assert seen == ["200", "200", "RemoteDisconnected"]
    await origin.settle()
    records = origin.records()
    c1 = records[0].connection_id
    assert [connection_of(r) for r in records] == [
        (c1, 1, "/1", "keep-alive"),
        (c1, 2, "/2", "keep-alive"),
        (c1, 3, "/3", "closed"),
    ]
    late = records[2].timeline[-2]
    assert late.event == "late-request"
    assert late.detail is not None
    assert "idle (connection.idle_timeout: 1, close_on_next_request): not answered" in late.detail
    idle = float(late.detail.split(" after ")[1].split(" s idle")[0])
    assert close_to(idle, 1.2)


@pytest_twisted.ensureDeferred
async def test_unknown_profile_gets_400_naming_it_and_the_known_ones(
    origin: RunningOrigin,
) -> None:
    result = await deferToThread(curl, "-i", *pick("no-such-profile"), f"{origin.url}/x")

    assert (result.exit_code, result.http_code) == (0, 400), result.stderr
    found = match_wire(BAD_REQUEST_400, result.output)
    text = found.group(2).decode()
    assert int(found.group(1)) == len(found.group(2))
    assert "'no-such-profile'" in text
    listed = text.rstrip("\n").split("known profiles: ", 1)[1].split(", ")
    assert [name for name in listed if not name.startswith(("violation-", "websocket-"))] == list(
        BUNDLED
    )
    assert "violation-content-length-too-long" in listed
    await origin.settle()
    record = only_record(origin)
    assert (record.profile, record.selected_by) == (None, "header")
    assert ("response-started", 400) in events(record)
    assert record.outcome is Outcome.REFUSED
