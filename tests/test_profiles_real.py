"""Every bundled profile on a real port, against clients no one here wrote.

Each test talks to the in-process origin (``origin`` fixture: 127.0.0.1, port 0) with curl, h11's
client or a raw socket, run in a thread (the origin runs in this reactor), picks the profile with
``Fakeorigin-Profile: NAME``, asserts the bytes on the wire (exact where they are deterministic;
the Date header by pattern) and then the journal's record of the exchange.

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
from fakeorigin.journal import Event, ExchangeRecord, Outcome
from fakeorigin.loader import bundled_profiles_dir, load_profile_dir
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
async def test_default_curl_expect_upload_gets_100_then_echo(
    origin: RunningOrigin, upload: Upload
) -> None:
    result = await deferToThread(
        curl,
        "-i",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        f"@{upload.path}",
        f"{origin.url}/upload",
    )

    assert result.exit_code == 0, result.stderr
    echo = echo_response(result.output, interim=CONTINUE_100)
    assert echo["body"] == {"length": 2_000_000, "sha256": upload.sha256, "complete": True}
    await origin.settle()
    record = only_record(origin)
    assert record.interim_statuses == [100]
    assert record.body_bytes_before_continue == 0
    assert (record.body.length, record.body.sha256) == (2_000_000, upload.sha256)


@pytest_twisted.ensureDeferred
async def test_default_chunked_upload_is_read_and_journaled(
    origin: RunningOrigin, upload: Upload
) -> None:
    result = await deferToThread(
        curl,
        "-i",
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Expect:",
        "--data-binary",
        f"@{upload.path}",
        f"{origin.url}/chunked",
    )

    assert result.exit_code == 0, result.stderr
    echo = echo_response(result.output)
    assert ["Transfer-Encoding", "chunked"] in echo["headers"]
    assert echo["body"] == {"length": 2_000_000, "sha256": upload.sha256, "complete": True}
    await origin.settle()
    record = only_record(origin)
    assert (record.body.length, record.body.sha256, record.body.complete) == (
        2_000_000,
        upload.sha256,
        True,
    )
    assert record.body.head == upload.data[:1024]
    assert record.interim_statuses == []


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


# -- expect-continue, expect-continue-delayed, expect-ignore --------------------------------


@pytest_twisted.ensureDeferred
async def test_expect_continue_curl_waits_for_the_100(
    origin: RunningOrigin, upload: Upload
) -> None:
    result = await deferToThread(
        curl,
        "-i",
        *pick("expect-continue"),
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        f"@{upload.path}",
        f"{origin.url}/upload",
    )

    assert result.exit_code == 0, result.stderr
    assert result.seconds < 0.9  # the 100 came at once: curl did not sit out its 1 s timeout
    echo = echo_response(result.output, interim=CONTINUE_100)
    assert echo["body"]["sha256"] == upload.sha256
    await origin.settle()
    record = only_record(origin)
    assert (record.profile, record.selected_by) == ("expect-continue", "header")
    assert record.body_bytes_before_continue == 0  # curl sent nothing before the 100
    assert events(record) == [
        ("interim-sent", 100),
        ("body-first-byte", None),
        ("body-complete", None),
        ("response-started", 200),
        ("response-complete", 200),
    ]
    assert seconds(record, Event.INTERIM_SENT)[0] < 0.05
    assert (record.body.length, record.body.sha256) == (2_000_000, upload.sha256)
    assert record.outcome is Outcome.KEEP_ALIVE


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
async def test_expect_continue_delayed_curl_gets_100_after_half_a_second(
    origin: RunningOrigin, upload: Upload
) -> None:
    result = await deferToThread(
        curl,
        "-i",
        *pick("expect-continue-delayed"),
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        f"@{upload.path}",
        f"{origin.url}/upload",
    )

    assert result.exit_code == 0, result.stderr
    assert 0.45 <= result.seconds < 0.9  # the delayed 100, before curl's own 1 s timeout
    echo_response(result.output, interim=CONTINUE_100)
    await origin.settle()
    record = only_record(origin)
    assert record.body_bytes_before_continue == 0
    assert events(record)[:3] == [
        ("interim-sent", 100),
        ("body-first-byte", None),
        ("body-complete", None),
    ]
    assert close_to(seconds(record, Event.INTERIM_SENT, 100)[0], 0.5, 0.05)
    assert seconds(record, Event.BODY_FIRST_BYTE)[0] >= seconds(record, Event.INTERIM_SENT)[0]
    assert record.body.sha256 == upload.sha256


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


@pytest_twisted.ensureDeferred
async def test_expect_ignore_curl_gives_up_waiting_after_a_second(
    origin: RunningOrigin, upload: Upload
) -> None:
    result = await deferToThread(
        curl,
        "-i",
        *pick("expect-ignore"),
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        f"@{upload.path}",
        f"{origin.url}/upload",
    )

    assert result.exit_code == 0, result.stderr
    assert 0.9 <= result.seconds < 2.0  # curl's --expect100-timeout default is 1 s
    echo = echo_response(result.output)  # no 100 before the 200
    assert echo["body"]["sha256"] == upload.sha256
    await origin.settle()
    record = only_record(origin)
    assert record.profile == "expect-ignore"
    assert record.interim_statuses == []
    assert record.body_bytes_before_continue is None
    assert events(record) == [
        ("body-first-byte", None),
        ("body-complete", None),
        ("response-started", 200),
        ("response-complete", 200),
    ]
    assert 0.9 <= seconds(record, Event.BODY_FIRST_BYTE)[0] < 2.0
    assert (record.body.length, record.body.sha256) == (2_000_000, upload.sha256)


# -- expect-reject, expect-final-early: answer without reading the body ---------------------


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


@pytest_twisted.ensureDeferred
async def test_expect_reject_curl_gets_417_and_never_sends_the_body(
    origin: RunningOrigin, upload: Upload
) -> None:
    result = await deferToThread(
        curl,
        "-i",
        *pick("expect-reject"),
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        f"@{upload.path}",
        f"{origin.url}/upload",
    )

    assert (result.exit_code, result.http_code) == (0, 417), result.stderr
    assert result.seconds < 0.9  # answered at once, not after curl's 1 s wait
    match_wire(REJECT_417, result.output)
    await origin.settle()
    record = only_record(origin)
    assert record.profile == "expect-reject"
    assert events(record) == [
        ("response-started", 417),
        ("response-complete", 417),
        ("close", None),
    ]
    assert record.body.length == 0
    assert record.body_bytes_before_continue is None
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


@pytest_twisted.ensureDeferred
async def test_expect_final_early_curl_gets_413_and_never_sends_the_body(
    origin: RunningOrigin, upload: Upload
) -> None:
    result = await deferToThread(
        curl,
        "-i",
        *pick("expect-final-early"),
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        f"@{upload.path}",
        f"{origin.url}/upload",
    )

    assert (result.exit_code, result.http_code) == (0, 413), result.stderr
    assert result.seconds < 0.9
    match_wire(TOO_LARGE_413, result.output)
    await origin.settle()
    record = only_record(origin)
    assert events(record) == [
        ("response-started", 413),
        ("response-complete", 413),
        ("close", None),
    ]
    assert record.body.length == 0
    assert record.outcome is Outcome.CLOSED


@pytest_twisted.ensureDeferred
async def test_expect_final_early_upload_without_expect_gets_413_not_a_broken_pipe(
    origin: RunningOrigin, upload: Upload
) -> None:
    # Without Expect, curl sends the 2 MB at once; the 413 goes out before the body is read,
    # and the lingering close drains the upload, so curl reads the 413 instead of an error.
    result = await deferToThread(
        curl,
        "-i",
        *pick("expect-final-early"),
        "-H",
        "Expect:",
        "--data-binary",
        f"@{upload.path}",
        f"{origin.url}/upload",
    )

    assert (result.exit_code, result.http_code) == (0, 413), result.stderr
    match_wire(TOO_LARGE_413, result.output)
    await origin.settle()
    record = only_record(origin)
    started = seconds(record, Event.RESPONSE_STARTED, 413)
    assert len(started) == 1
    complete = seconds(record, Event.BODY_COMPLETE)
    assert not complete or complete[0] >= started[0]  # the 413 did not wait for the body
    assert record.outcome is Outcome.CLOSED


# -- processing-trickle, early-hints: interim responses -------------------------------------


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


EARLY_HINTS_200 = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nDate: <date>\r\n"
    + SERVER
    + b"Content-Length: 6\r\n"
)


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


@pytest_twisted.ensureDeferred
async def test_early_hints_not_sent_to_http10_curl(origin: RunningOrigin) -> None:
    result = await deferToThread(curl, "-i", "--http1.0", *pick("early-hints"), f"{origin.url}/old")

    assert result.exit_code == 0, result.stderr
    match_wire(EARLY_HINTS_200 + b"Connection: close\r\n\r\nhello\n", result.output)
    await origin.settle()
    record = only_record(origin)
    assert record.http_version == "1.0"
    assert [(event, status) for event, status in events(record) if status == 103] == [
        ("interim-skipped", 103),
        ("interim-skipped", 103),
    ]


# -- slow-body, hang, reset-after-headers, close-mid-body -----------------------------------


SLOW_BODY_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nDate: <date>\r\n"
    + SERVER
    + b"Content-Length: 64\r\n"
)


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


@pytest_twisted.ensureDeferred
async def test_slow_body_curl(origin: RunningOrigin) -> None:
    result = await deferToThread(curl, "-i", *pick("slow-body"), f"{origin.url}/slow")

    assert result.exit_code == 0, result.stderr
    match_wire(SLOW_BODY_HEAD + b"\r\n" + SLOW_BODY, result.output)
    assert close_to(result.seconds, 0.7)
    await origin.settle()
    assert only_record(origin).outcome is Outcome.KEEP_ALIVE


@pytest_twisted.ensureDeferred
async def test_hang_sends_nothing_until_the_client_leaves(origin: RunningOrigin) -> None:
    result = await deferToThread(raw_exchange, origin.port_number, get("hang"), read_seconds=0.5)

    assert (result.data, result.ended) == (b"", Ended.OPEN)
    await origin.settle()
    record = only_record(origin)
    # Closing the socket sends a FIN; during a hang that is the client leaving.
    assert events(record) == [
        ("body-complete", None),
        ("hang", None),
        ("client-fin", None),
        ("client-gone", None),
    ]
    assert seconds(record, Event.CLIENT_GONE)[0] >= 0.45
    assert record.outcome is Outcome.CLIENT_GONE


@pytest_twisted.ensureDeferred
async def test_hang_curl_times_out(origin: RunningOrigin) -> None:
    result = await deferToThread(curl, "-i", "-m", "0.5", *pick("hang"), f"{origin.url}/hang")

    assert (result.exit_code, result.output) == (28, b"")  # 28: operation timed out
    await origin.settle()
    assert only_record(origin).outcome is Outcome.CLIENT_GONE


RESET_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"


@pytest_twisted.ensureDeferred
async def test_reset_after_headers_raw_client_gets_the_head_then_rst(
    origin: RunningOrigin,
) -> None:
    result = await deferToThread(raw_exchange, origin.port_number, get("reset-after-headers"))

    assert (result.data, result.ended) == (RESET_HEAD, Ended.RESET)
    await origin.settle()
    record = only_record(origin)
    assert events(record) == [("body-complete", None), ("raw-sent", None), ("reset", None)]
    assert record.outcome is Outcome.RESET


@pytest_twisted.ensureDeferred
async def test_reset_after_headers_curl(origin: RunningOrigin) -> None:
    result = await deferToThread(curl, "-i", *pick("reset-after-headers"), f"{origin.url}/r")

    assert result.exit_code == 56, result.stderr  # 56: failure receiving network data
    assert "reset" in result.stderr.lower()
    assert result.output == RESET_HEAD
    await origin.settle()
    assert only_record(origin).outcome is Outcome.RESET


CLOSE_MID_BODY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"
    + b"0123456789" * 5
)


@pytest_twisted.ensureDeferred
async def test_close_mid_body_raw_client_gets_50_bytes_then_fin(origin: RunningOrigin) -> None:
    result = await deferToThread(raw_exchange, origin.port_number, get("close-mid-body"))

    assert (result.data, result.ended) == (CLOSE_MID_BODY, Ended.EOF)
    await origin.settle()
    record = only_record(origin)
    assert events(record) == [("body-complete", None), ("raw-sent", None), ("close", None)]
    assert record.outcome is Outcome.CLOSED


@pytest_twisted.ensureDeferred
async def test_close_mid_body_curl_sees_a_short_body(origin: RunningOrigin) -> None:
    result = await deferToThread(curl, "-i", *pick("close-mid-body"), f"{origin.url}/c")

    assert result.exit_code == 18, result.stderr  # 18: partial file
    assert "50 bytes remaining" in result.stderr
    assert result.output == CLOSE_MID_BODY


# -- connections: keep-alive, pipelining, refusals -------------------------------------------


@pytest_twisted.ensureDeferred
async def test_pipelined_requests_are_answered_in_order(origin: RunningOrigin) -> None:
    requests = (
        get("default", target=b"/1", close=False)
        + b"POST /2 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n\r\nabc"
        + get("early-hints", target=b"/3")
    )
    result = await deferToThread(raw_exchange, origin.port_number, requests)

    assert result.ended is Ended.EOF
    found = match_wire(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: <date>\r\n"
        + SERVER
        + b"Content-Length: <n>\r\n\r\n<body>"
        + b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: <date>\r\n"
        + SERVER
        + b"Content-Length: <n>\r\n\r\n<body>"
        + HINTS_103_STYLE
        + HINTS_103_SCRIPT
        + EARLY_HINTS_200
        + b"Connection: close\r\n\r\nhello\n",
        result.data,
    )
    first, second = json.loads(found.group(2)), json.loads(found.group(4))
    assert (int(found.group(1)), int(found.group(3))) == (len(found.group(2)), len(found.group(4)))
    assert (first["target"], second["target"]) == ("/1", "/2")
    assert second["body"]["sha256"] == hashlib.sha256(b"abc").hexdigest()
    await origin.settle()
    records = origin.records()
    assert [(r.target, r.index, r.profile) for r in records] == [
        ("/1", 1, "default"),
        ("/2", 2, "default"),
        ("/3", 3, "early-hints"),
    ]
    assert len({r.connection_id for r in records}) == 1
    assert [r.outcome for r in records] == [
        Outcome.KEEP_ALIVE,
        Outcome.KEEP_ALIVE,
        Outcome.CLOSED,
    ]


BAD_REQUEST_400 = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nDate: <date>\r\n"
    + SERVER
    + b"Content-Length: <n>\r\nConnection: close\r\n\r\n<body>"
)


@pytest_twisted.ensureDeferred
async def test_http11_without_host_gets_400_and_is_journaled_raw(origin: RunningOrigin) -> None:
    request = b"GET /no-host HTTP/1.1\r\nUser-Agent: raw\r\n\r\n"
    result = await deferToThread(raw_exchange, origin.port_number, request)

    assert result.ended is Ended.EOF
    found = match_wire(BAD_REQUEST_400, result.data)
    assert int(found.group(1)) == len(found.group(2))
    assert found.group(2).startswith(b"400 Bad Request: ")
    assert b"Host" in found.group(2)
    await origin.settle()
    record = only_record(origin)
    assert record.raw_request == request
    assert record.method is None
    assert record.error is not None
    assert "Host" in record.error
    assert events(record) == [
        ("bad-request", 400),
        ("response-started", 400),
        ("close", None),
    ]
    assert record.outcome is Outcome.BAD_REQUEST


PIPELINED_GOOD_THEN_BAD = get("default", target=b"/good", close=False) + (
    b"GET /bad HTTP/1.1\r\n\r\n"
)


@pytest_twisted.ensureDeferred
async def test_pipelined_bad_request_gets_400_after_the_good_response(
    origin: RunningOrigin,
) -> None:
    result = await deferToThread(raw_exchange, origin.port_number, PIPELINED_GOOD_THEN_BAD)

    assert result.ended is Ended.EOF
    match_wire(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: <date>\r\n"
        + SERVER
        + b"Content-Length: <n>\r\n\r\n<body>"
        + BAD_REQUEST_400,
        result.data,
    )
    await origin.settle()
    good, bad = origin.records()
    assert (good.target, good.index, good.outcome) == ("/good", 1, Outcome.KEEP_ALIVE)
    assert (bad.connection_id, bad.index, bad.outcome) == (
        good.connection_id,
        2,
        Outcome.BAD_REQUEST,
    )


@pytest_twisted.ensureDeferred
async def test_pipelined_bad_request_is_journaled_with_its_raw_bytes(
    origin: RunningOrigin,
) -> None:
    await deferToThread(raw_exchange, origin.port_number, PIPELINED_GOOD_THEN_BAD)

    await origin.settle()
    _, bad = origin.records()
    assert bad.raw_request == b"GET /bad HTTP/1.1\r\n\r\n"


# -- keepalive-race, keepalive-idle-race --------------------------------------------------------


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


@pytest_twisted.ensureDeferred
async def test_client_that_half_closes_after_its_requests_still_gets_the_responses(
    origin: RunningOrigin,
) -> None:
    # As `printf 'GET / ...' | nc -N host port` does: send the requests, then FIN, then read.
    requests = get("default", target=b"/1", close=False) + get("early-hints", target=b"/2")
    result = await deferToThread(raw_exchange, origin.port_number, requests, shut_write=True)

    await origin.settle()
    assert result.ended is Ended.EOF
    match_wire(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: <date>\r\n"
        + SERVER
        + b"Content-Length: <n>\r\n\r\n<body>"
        + HINTS_103_STYLE
        + HINTS_103_SCRIPT
        + EARLY_HINTS_200
        + b"Connection: close\r\n\r\nhello\n",
        result.data,
    )
    first, second = origin.records()
    assert (first.target, first.outcome) == ("/1", Outcome.KEEP_ALIVE)
    assert (second.target, second.outcome) == ("/2", Outcome.CLOSED)
    assert ("client-fin", None) in events(second)
    assert second.interim_statuses == [103, 103]


@pytest_twisted.ensureDeferred
async def test_client_that_half_closes_during_a_keep_alive_exchange_gets_all_of_it(
    origin: RunningOrigin,
) -> None:
    # `printf 'GET / HTTP/1.1\r\nHost: x\r\n...\r\n\r\n' | nc -N host port`: no Connection: close.
    request = get("early-hints", close=False)
    result = await deferToThread(raw_exchange, origin.port_number, request, shut_write=True)

    await origin.settle()
    assert result.ended is Ended.EOF
    match_wire(HINTS_103_STYLE + HINTS_103_SCRIPT + EARLY_HINTS_200 + b"<body>hello\n", result.data)
    record = only_record(origin)
    assert record.error is None
    assert record.outcome is Outcome.CLOSED
