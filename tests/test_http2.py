"""HTTP/2 against real servers: prior-knowledge h2c on the cleartext port and ALPN h2 on the
TLS port. Judges nobody here wrote: the ``h2`` library as a client (frame by frame: which
HEADERS, DATA, RST_STREAM and GOAWAY came, on which stream), curl (nghttp2), and Node.js's
``http2`` client. Loopback only; every socket and process has a timeout; servers stop by PID.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import hpack
import pytest
from hyperframe.frame import HeadersFrame, PingFrame, WindowUpdateFrame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakeorigin.core.violations import Probe
from tests.clients import curl
from tests.control_process import FAKEORIGIN, Served, serving
from tests.h2_witnesses import missing, observe
from tests.h2client import Client

pytestmark = pytest.mark.realsocket


def events(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A record's timeline without the frames sent and received."""
    return [e for e in record["timeline"] if not e["event"].startswith("frame-")]


@pytest.fixture(scope="module")
def clear() -> Iterator[Served]:
    with serving() as served:
        yield served


@pytest.fixture(scope="module")
def secure() -> Iterator[Served]:
    with serving("--tls") as served:
        yield served


@pytest.fixture(autouse=True)
def fresh(request: pytest.FixtureRequest) -> None:
    for name in ("clear", "secure"):
        if name in request.fixturenames:
            request.getfixturevalue(name).client().reset()


@pytest.fixture
def client(clear: Served) -> Iterator[Client]:
    made = Client(clear)
    yield made
    made.close()


def test_a_request_over_prior_knowledge_is_journaled_with_its_stream(
    clear: Served, client: Client
) -> None:
    stream = client.request("/hello")
    client.until_done(stream)
    seen = client.streams[stream]
    assert seen.statuses() == [200]
    fields = seen.items[0][2]
    assert fields[b"content-type"] == b"application/json"
    assert int(fields[b"content-length"]) == len(seen.body())
    assert b"date" in fields
    assert fields[b"server"].startswith(b"fakeorigin/")
    echo = json.loads(seen.body())
    assert (echo["method"], echo["target"], echo["http_version"]) == ("GET", "/hello", "2")
    [record] = clear.client().journal()
    assert (record["http_version"], record["index"], record["outcome"]) == ("2", 1, "keep-alive")
    assert record["headers"][0] == ["host", "x"]  # :authority, as the Host a profile reads
    # The frames each way, in the timeline: the request's HEADERS, the response's HEADERS
    # and its DATA with END_STREAM (SETTINGS and their ACKs on stream 0 around them).
    frames = [
        (e["event"], e["detail"]) for e in record["timeline"] if "stream 1" in e.get("detail", "")
    ]
    assert [event for event, _ in frames] == ["frame-received", "frame-sent", "frame-sent"]
    assert frames[0][1].startswith("HEADERS stream 1 [END_STREAM END_HEADERS] ")
    assert frames[1][1].startswith("HEADERS stream 1 [END_HEADERS] ")
    assert frames[2][1] == f"DATA stream 1 [END_STREAM] {len(seen.body())} bytes"


def test_the_journal_keeps_64_frames_of_a_stream_and_counts_the_rest(
    clear: Served, client: Client
) -> None:
    profile = {"name": "big", "steps": [{"respond": {"status": 200, "body_size": 2_000_000}}]}
    clear.client().put_profile("big", profile)
    stream = client.request("/", "big")
    client.until_done(stream, seconds=20)
    assert len(client.streams[stream].body()) == 2_000_000
    [record] = clear.client().journal()
    timeline = record["timeline"]
    assert sum(e["event"].startswith("frame-") for e in timeline) == 64
    assert [e["detail"] for e in timeline if e["event"] == "note"] == [
        "64 frames journaled: no more"
    ]


def test_1xx_are_headers_frames_before_the_final_response(client: Client) -> None:
    stream = client.request("/", "early-hints")
    client.until_done(stream)
    seen = client.streams[stream]
    assert seen.statuses() == [103, 103, 200]
    assert seen.items[0][2] == {b"link": b"</style.css>; rel=preload; as=style"}
    assert seen.body() == b"hello\n"


def test_streams_run_at_once_and_apart_on_one_connection(clear: Served, client: Client) -> None:
    slow = client.request("/slow", "processing-trickle")  # five 102s a second apart, then 200
    quick = [client.request(f"/quick/{i}") for i in range(3)]
    client.until_done(*quick, seconds=3)
    assert all(client.streams[s].statuses() == [200] for s in quick)
    assert client.streams[slow].statuses()[:1] == [102]  # still trickling
    client.until_done(slow, seconds=10)
    assert client.streams[slow].statuses() == [102] * 5 + [200]
    records = {r["index"]: r for r in clear.client().journal()}
    assert sorted(records) == [slow, *quick]
    assert {r["connection_id"] for r in records.values()} == {records[slow]["connection_id"]}


def test_expect_100_and_an_upload_larger_than_the_window(clear: Served, client: Client) -> None:
    body = bytes(range(256)) * 1024  # 256 KiB: four times the initial window
    stream = client.request(
        "/up", "expect-continue", "POST", body, headers=[("expect", "100-continue")]
    )
    client.until_done(stream)
    seen = client.streams[stream]
    assert seen.statuses() == [100, 200]
    echo = json.loads(seen.body())
    assert echo["body"]["length"] == len(body)
    [record] = clear.client().journal()
    assert record["body"]["length"] == len(body)
    assert record["body"]["complete"] is True


def test_a_final_response_before_the_body_resets_the_stream_with_no_error(
    clear: Served, client: Client
) -> None:
    stream = client.request(
        "/up", "expect-reject", "POST", b"", headers=[("expect", "100-continue")]
    )
    client.until_done(stream)  # the body is never sent: the client waits, as Expect asks
    seen = client.streams[stream]
    assert seen.statuses() == [417]
    assert seen.items[-1] == ("reset", h2.errors.ErrorCodes.NO_ERROR)
    assert client.goaway is None  # the connection serves on
    again = client.request("/again")
    client.until_done(again)
    assert client.streams[again].statuses() == [200]


def test_a_response_larger_than_the_window_waits_for_window_updates(client: Client) -> None:
    client.acknowledge = False
    stream = client.request("/big", "slow-body")
    client.read(0.5)
    client.acknowledge = True
    client.until_done(stream)
    assert client.streams[stream].statuses() == [200]
    assert len(client.streams[stream].body()) == 64


def test_a_profile_http2_cannot_carry_is_answered_501(clear: Served, client: Client) -> None:
    stream = client.request("/", "violation-lf-only-line-endings")
    client.until_done(stream)
    seen = client.streams[stream]
    assert seen.statuses() == [501]
    assert b"cannot run over h2" in seen.body()
    [record] = clear.client().journal()
    assert record["profile"] == "violation-lf-only-line-endings"


@pytest.mark.parametrize(
    ("reset", "code"),
    [
        ({}, "INTERNAL_ERROR"),
        ({"h2_error": "REFUSED_STREAM"}, "REFUSED_STREAM"),
        ({"h2_error": "CANCEL"}, "CANCEL"),
        ({"h2_error": "ENHANCE_YOUR_CALM"}, "ENHANCE_YOUR_CALM"),
    ],
)
def test_a_reset_resets_the_stream_with_its_code(
    clear: Served, client: Client, reset: dict[str, str], code: str
) -> None:
    clear.client().put_profile("reset-code", {"steps": [{"reset": reset}]})
    stream = client.request("/", "reset-code")
    client.until_done(stream)
    assert client.streams[stream].items == [("reset", h2.errors.ErrorCodes[code])]
    assert client.goaway is None  # only the stream
    [record] = clear.client().journal()
    assert record["outcome"] == "reset"
    assert events(record)[-1]["detail"] == f"RST_STREAM ({code})"
    assert record["timeline"][-1]["detail"] == f"RST_STREAM stream 1 {code}"  # the frame


@pytest.mark.parametrize(
    ("last", "code", "outcome"),
    [
        ({"close": {}}, "NO_ERROR", "closed"),
        (
            {"reset": {"h2_error": "PROTOCOL_ERROR", "h2_connection": True}},
            "PROTOCOL_ERROR",
            "reset",
        ),
    ],
    ids=["close", "reset-connection"],
)
def test_a_step_that_ends_the_connection_sends_goaway(
    clear: Served, client: Client, last: dict[str, Any], code: str, outcome: str
) -> None:
    clear.client().put_profile("ends", {"steps": [{"respond": {"status": 200}}, last]})
    stream = client.request("/", "ends")
    client.until_done(stream)
    client.read(1)
    assert client.streams[stream].statuses() == [200]
    assert client.goaway == h2.errors.ErrorCodes[code]
    assert client.closed
    [record] = clear.client().journal()
    assert record["outcome"] == outcome


def test_alpn_h2_on_the_tls_port(secure: Served) -> None:
    client = Client(secure, tls=True)
    try:
        stream = client.request("/", "early-hints")
        client.until_done(stream)
        assert client.streams[stream].statuses() == [103, 103, 200]
    finally:
        client.close()
    [record] = secure.client().journal()
    assert record["tls"]["alpn"] == "h2"
    assert record["http_version"] == "2"


def test_curl_over_alpn_and_prior_knowledge(clear: Served, secure: Served) -> None:
    result = curl(
        "--cacert",
        secure.announce["ca"],
        "-i",
        "-H",
        "Fakeorigin-Profile: early-hints",
        f"{secure.origin_url}/",
    )
    assert result.exit_code == 0, result.stderr
    assert result.output.startswith(b"HTTP/2 103 \r\nlink: </style.css>")
    assert b"HTTP/2 200 \r\n" in result.output
    result = curl("--http2-prior-knowledge", "-i", f"{clear.origin_url}/x")
    assert (result.exit_code, result.http_code) == (0, 200), result.stderr
    assert result.output.startswith(b"HTTP/2 200 \r\n")


NODE_CLIENT = """
const http2 = require('http2');
const [url, ca] = process.argv.slice(2);
const session = http2.connect(url, ca ? {ca: require('fs').readFileSync(ca)} : {});
const seen = [];
const req = session.request({':path': '/', 'fakeorigin-profile': 'early-hints'});
req.on('headers', (h) => seen.push(h[':status']));
req.on('response', (h) => seen.push(h[':status']));
let body = '';
req.on('data', (d) => body += d);
req.on('end', () => { console.log(JSON.stringify({seen, body})); session.close(); });
req.end();
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
def test_nodes_http2_client_sees_the_103s(
    clear: Served, secure: Served, tls: bool, tmp_path: Path
) -> None:
    script = tmp_path / "client.js"
    script.write_text(NODE_CLIENT)
    served = secure if tls else clear
    argv = ["node", str(script), served.origin_url.replace("127.0.0.1", "localhost")]
    if tls:
        argv.append(served.announce["ca"])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {"seen": [103, 103, 200], "body": "hello\n"}


# -- the connection's life: idle, shutdown, bad input ---------------------------------------


def test_an_idle_connection_gets_goaway_after_the_idle_timeout() -> None:
    with serving("--idle-timeout", "0.5") as served:
        client = Client(served)
        try:
            stream = client.request("/")
            client.until_done(stream)
            begun = time.monotonic()
            client.read(3)
            assert client.goaway == h2.errors.ErrorCodes.NO_ERROR
            assert client.closed
            assert 0.4 <= time.monotonic() - begun <= 2.0
        finally:
            client.close()
        assert served.client().health()["connections"]["idle_closed"] == 1


NODE_DRAIN = """
const http2 = require('http2');
const session = http2.connect(process.argv[2]);
const out = {slow: [], hang: [], goaway: null};
function open(name, profile) {
  const req = session.request({':path': '/' + name, 'fakeorigin-profile': profile});
  req.on('headers', (h) => out[name].push(h[':status']));
  req.on('response', (h) => out[name].push(h[':status']));
  req.on('data', () => {});
  req.on('close', () => { out[name].push('rst:' + req.rstCode); });
  req.end();
}
session.on('goaway', (code, last) => { out.goaway = [code, last]; });
session.on('close', () => { console.log(JSON.stringify(out)); });
open('slow', 'processing-trickle');
open('hang', 'hang');
setTimeout(() => console.log('started'), 500);
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_sigterm_lets_running_streams_finish_after_goaway(tmp_path: Path) -> None:
    # Node's client, since the h2 library's refuses every frame after a GOAWAY
    script = tmp_path / "drain.js"
    script.write_text(NODE_DRAIN)
    dump = tmp_path / "journal.jsonl"
    with serving("--shutdown-grace", "10", "--journal-dump", str(dump)) as served:
        url = served.origin_url.replace("127.0.0.1", "localhost")
        node = subprocess.Popen(["node", str(script), url], stdout=subprocess.PIPE, text=True)
        try:
            assert node.stdout is not None
            assert node.stdout.readline().strip() == "started"
            served.process.send_signal(signal.SIGTERM)
            line = node.stdout.readline()
            assert served.process.wait(15) == 0
        finally:
            node.kill()
            node.wait(10)
            if node.stdout is not None:
                node.stdout.close()
    result = json.loads(line)
    assert result["slow"] == [102] * 5 + [200, "rst:0"]  # every 102, the 200, a clean end
    assert result["hang"] == ["rst:8"]  # CANCEL: a hang ends at shutdown
    assert result["goaway"] == [0, 3]  # NO_ERROR, the streams up to 3 go on
    records = {r["target"]: r for r in map(json.loads, dump.read_text().splitlines())}
    assert records["/slow"]["outcome"] == "keep-alive"
    assert records["/hang"]["outcome"] == "closed"
    assert events(records["/hang"])[-1]["detail"] == (
        "shutdown: a hang ends here (RST_STREAM CANCEL)"
    )


#: The client connection preface's magic, and with the empty SETTINGS frame that follows it.
MAGIC = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
PREFACE = MAGIC + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _raw(served: Served, data: bytes, seconds: float = 1.0) -> bytes:
    """Send ``data`` on a new connection; everything the server sent until it closed (or
    ``seconds`` passed)."""
    received = b""
    with socket.create_connection(("127.0.0.1", served.origin_port), timeout=seconds) as sock:
        sock.sendall(data)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            received += chunk
    return received


def _goaway_code(received: bytes) -> int | None:
    """The error code of the first GOAWAY frame in ``received`` (frames walked by length)."""
    at = 0
    while at + 9 <= len(received):
        length = int.from_bytes(received[at : at + 3], "big")
        kind = received[at + 3]
        if kind == 0x7:
            payload = received[at + 9 : at + 9 + length]
            return int.from_bytes(payload[4:8], "big")
        at += 9 + length
    return None


def test_a_data_frame_on_stream_0_is_a_protocol_error_and_journaled(clear: Served) -> None:
    bad = b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x"  # DATA on stream 0 (RFC 9113 section 6.1)
    received = _raw(clear, PREFACE + bad)
    assert _goaway_code(received) == h2.errors.ErrorCodes.PROTOCOL_ERROR
    [record] = clear.client().journal()
    assert record["outcome"] == "bad-request"
    assert record["error"].startswith("HTTP/2: ")
    assert "PROTOCOL_ERROR" in record["error"]
    assert origin_ok(clear)


def origin_ok(served: Served) -> bool:
    client = Client(served)
    try:
        stream = client.request("/after")
        client.until_done(stream)
        return client.streams[stream].statuses() == [200]
    finally:
        client.close()


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(garbage=st.binary(min_size=1, max_size=200))
def test_random_frames_never_break_the_server(clear: Served, garbage: bytes) -> None:
    received = _raw(clear, PREFACE + garbage, seconds=0.3)
    code = _goaway_code(received)
    assert code is None or code in {e.value for e in h2.errors.ErrorCodes}
    clear.assert_running()
    assert origin_ok(clear)


# -- every bundled profile HTTP/2 carries ----------------------------------------------------

#: Each bundled profile that runs over HTTP/2 (``fakeorigin check --protocols``): what the
#: client sends (``expect``: a 2 KiB body with Expect: 100-continue, sent once a 100 came or
#: after a second, as curl does) and what it must see: the statuses in order, the stream's end
#: (``end``: END_STREAM; ``reset``: RST_STREAM NO_ERROR, the body unread), and the journal's
#: interim statuses.
BUNDLED = {
    "default": ("get", [200], "end", []),
    "early-hints": ("get", [103, 103, 200], "end", [103, 103]),
    "expect-continue": ("expect", [100, 200], "end", [100]),
    "expect-continue-delayed": ("expect", [100, 200], "end", [100]),
    "expect-ignore": ("expect", [200], "end", []),
    "expect-final-early": ("expect", [413], "reset", []),
    "expect-reject": ("expect", [417], "reset", []),
    "keepalive-race": ("get", [200], "end", []),
    "keepalive-idle-race": ("get", [200], "end", []),
    "processing-trickle": ("get", [102] * 5 + [200], "end", [102] * 5),
    "slow-body": ("get", [200], "end", []),
}


def test_the_table_covers_every_bundled_profile_http2_carries() -> None:
    done = subprocess.run(
        [str(FAKEORIGIN), "check", "--protocols"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    carried = {
        line.split(":", 1)[0]
        for line in done.stdout.splitlines()
        if line.split(":", 1)[-1].strip().startswith("http/1.1, h2")
    }
    assert carried == {*BUNDLED, "hang"}  # hang: test_hang_ends_at_max_duration


@pytest.mark.parametrize("profile", list(BUNDLED))
@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
def test_every_bundled_profile_over_http2(
    clear: Served, secure: Served, profile: str, tls: bool
) -> None:
    served = secure if tls else clear
    sends, statuses, ending, interims = BUNDLED[profile]
    client = Client(served, tls=tls)
    try:
        if sends == "expect":
            body = bytes(2048)
            stream = client.request(
                "/up", profile, "POST", b"", headers=[("expect", "100-continue")]
            )
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline and not client.streams[stream].items:
                client.read(0.05)
            if not client._done(stream) and client.streams[stream].statuses() in ([], [100]):
                client.send_body(stream, body)
        else:
            stream = client.request("/p", profile)
        client.until_done(stream, seconds=10)
    finally:
        client.close()
    seen = client.streams[stream]
    assert seen.statuses() == statuses
    last = seen.items[-1]
    if ending == "end":
        assert last == ("end",)
    else:
        assert last == ("reset", h2.errors.ErrorCodes.NO_ERROR)
    if profile == "slow-body":  # 64 bytes dribbled 8 at a time: eight DATA frames, the last
        # with END_STREAM
        assert [len(item[1]) for item in seen.items if item[0] == "data"] == [8] * 8
    [record] = served.client().journal()
    assert record["profile"] == profile
    assert record["http_version"] == "2"
    timeline = record["timeline"]
    assert [e["status"] for e in timeline if e["event"] == "interim-sent"] == interims
    started = [e["status"] for e in timeline if e["event"] == "response-started"]
    assert started == statuses[-1:]
    assert record["outcome"] == ("keep-alive" if ending == "end" else "closed")


#: The request each kind of row sends: a GET, or a 2 KiB upload with Expect: 100-continue.
PROBES = {
    "get": Probe(http_version="2", patience_seconds=15.0),
    "expect": Probe("POST", "2", (("expect", "100-continue"),), bytes(2048), 1, 15.0),
}
#: What curl 7.88.1 reports for a final response that comes, with END_STREAM, before the
#: upload it held back for Expect: 100-continue and is followed by RST_STREAM (NO_ERROR):
#: it drops the response, which RFC 9113 section 8.1 says a client must not do (the catalogue's
#: h2-rst-stream-after-response shows the same during an upload).
CURL_DROPS = {"expect-final-early", "expect-reject"}
CURL_DROPPED = "curl: (52) Empty reply from server"


@pytest.mark.parametrize("client", ["curl", "nghttp", "node-http2"])
@pytest.mark.parametrize("profile", list(BUNDLED))
@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "h2"])
def test_every_bundled_profile_over_http2_with_real_clients(
    clear: Served, secure: Served, profile: str, tls: bool, client: str
) -> None:
    """curl, nghttp and Node.js's http2 client each get every bundled profile HTTP/2 carries,
    over h2c and TLS: the final status, every 1xx the journal says went out, in order, and no
    error; one HEADERS frame a status in the journal. curl waits for a 100 before its upload
    and so gets the table's 1xx; nghttp and Node.js send it at once, so a `continue` step
    may find the body already complete and skip the 100 (RFC 9110 section 10.1.1)."""
    why = missing(client)
    if why is not None:
        pytest.skip(why)
    served = secure if tls else clear
    sends, statuses, _, interims = BUNDLED[profile]
    ca = served.announce["ca"] if tls else None
    seen = observe(client, served.origin_port, profile, PROBES[sends], ca)
    [record] = served.client().journal()
    sent = [e["status"] for e in events(record) if e["event"] == "interim-sent"]
    if client == "curl" and profile in CURL_DROPS:
        assert (seen.status, seen.error) == (None, CURL_DROPPED), seen
        assert sent == interims
        return
    assert (seen.status, seen.error) == (statuses[-1], None), seen
    assert list(seen.informational) == sent, seen
    if client == "curl" or sends == "get":
        assert sent == interims
    details = [e.get("detail", "") for e in record["timeline"] if e["event"] == "frame-sent"]
    heads = [d for d in details if d.startswith(f"HEADERS stream {record['index']} ")]
    assert len(heads) == len(sent) + 1, details


def test_hang_ends_at_max_duration() -> None:
    with serving("--max-duration", "1") as served:
        client = Client(served)
        try:
            stream = client.request("/", "hang")
            client.until_done(stream, seconds=5)
        finally:
            client.close()
        assert client.streams[stream].items == [("reset", h2.errors.ErrorCodes.CANCEL)]
        [record] = served.client().journal()
        assert record["outcome"] == "max-duration"


def _frames(*frames: Any) -> bytes:
    return b"".join(frame.serialize() for frame in frames)


def _request_headers(stream_id: int, path: str = "/", end: bool = True) -> Any:
    """A HEADERS frame for GET ``path`` on ``stream_id``, its block encoded by hpack."""
    block = hpack.Encoder().encode(
        [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", "x")]
    )
    frame = HeadersFrame(stream_id, block)
    frame.flags.add("END_HEADERS")
    if end:
        frame.flags.add("END_STREAM")
    return frame


def _rst_codes(received: bytes) -> dict[int, int]:
    """RST_STREAM frames in ``received``: stream id -> error code."""
    found = {}
    at = 0
    while at + 9 <= len(received):
        length = int.from_bytes(received[at : at + 3], "big")
        stream = int.from_bytes(received[at + 5 : at + 9], "big") & 0x7FFFFFFF
        if received[at + 3] == 0x3:
            found[stream] = int.from_bytes(received[at + 9 : at + 13], "big")
        at += 9 + length
    return found


def _window_overflow() -> bytes:
    update = WindowUpdateFrame(0)
    update.window_increment = 2**31 - 1  # over 2^31-1 with the initial 65,535
    return _frames(update)


def _headers_flood() -> bytes:
    """More streams than SETTINGS_MAX_CONCURRENT_STREAMS (100), each held open by ``hang``:
    h2 refuses the one over the limit (RFC 9113 section 5.1.2)."""
    block_fields = [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")]
    encoder = hpack.Encoder()
    frames = []
    for index in range(101):
        fields = [*block_fields, ("fakeorigin-profile", "hang")]
        flags = ["END_HEADERS", "END_STREAM"]
        frames.append(HeadersFrame(2 * index + 1, encoder.encode(fields), flags=flags))
    return _frames(*frames)


#: Bad input after a good preface: the error code RFC 9113 gives, and whether it ends the
#: connection (GOAWAY) or only the stream (RST_STREAM).
BAD_INPUT = {
    # section 3.4: the preface's SETTINGS must come first (PREFACE ends with it: cut it off)
    "no-settings-first": (_frames(PingFrame(0)), "PROTOCOL_ERROR"),
    # section 4.3: a header block that does not decode is a connection error
    "bad-hpack-block": (
        _frames(HeadersFrame(1, b"\xff\xff\xff\xff\xff", flags=["END_HEADERS"])),
        "COMPRESSION_ERROR",
    ),
    # section 6.9.1: a window over 2^31-1
    "window-overflow": (_window_overflow(), "FLOW_CONTROL_ERROR"),
    # section 5.1.1: a stream id lower than one already used
    "stream-id-backwards": (
        _frames(_request_headers(3), _request_headers(1)),
        "PROTOCOL_ERROR",
    ),
    "headers-flood": (_headers_flood(), "PROTOCOL_ERROR"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_gets_the_goaway_rfc_9113_gives(clear: Served, case: str) -> None:
    data, code = BAD_INPUT[case]
    start = MAGIC if case == "no-settings-first" else PREFACE
    received = _raw(clear, start + data, seconds=2.0)
    assert _goaway_code(received) == h2.errors.ErrorCodes[code]
    bad = [r for r in clear.client().journal() if r["outcome"] == "bad-request"]
    assert len(bad) == 1
    assert code in bad[0]["error"]
    assert origin_ok(clear)  # and the server serves on


def test_a_broken_preface_is_not_http2(clear: Served) -> None:
    # not HTTP/2's preface: read as an HTTP/1.1 request line naming HTTP/2.0, which is 505
    received = _raw(clear, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 505 ")
    assert origin_ok(clear)
