"""The HTTP/2 violation catalogue, proven entry by entry on a real socket.

For every HTTP/2 entry: (a) its exact frames, read off the wire by a client that parses
nothing but the 9-byte frame headers (field blocks decoded with HPACK against the entry's
fields, Date aside), after the server's own SETTINGS; (b) what four HTTP/2 clients no one here
wrote made of it (tests/h2_witnesses.py: curl, nghttp, Node.js's http2 client, h2's client),
which must equal the entry's recorded ``verdicts``, the error each reported containing its
``evidence``. Also: an HTTP/2 entry selected over HTTP/1.1 is answered 501, the journal
records what was written, and a connection goes on after an entry's frames (h2 forgets the
stream; its HPACK table still matches the client's).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from hpack import Decoder

from fakeorigin.core.actions import WriteHttp2
from fakeorigin.core.frames import ACK, SETTINGS, WINDOW_UPDATE, Frame
from fakeorigin.core.loader import ProfileError, profile_from_data
from fakeorigin.core.protocols import H2, HTTP1
from fakeorigin.core.state import DEFAULT_INBAND_HEADER
from fakeorigin.core.violations import CATALOGUE, Context, Violation
from tests.control_process import CLIENT_SECONDS, Served, curl, serving
from tests.h2_witnesses import CLIENTS, missing, observe

ENTRIES = [entry for entry in CATALOGUE.values() if H2 in entry.protocols]
IDS = [entry.id for entry in ENTRIES]
#: Every example the issue names, by id here.
REQUIRED_IDS = (
    "h2-1xx-end-stream",
    "h2-101-switching-protocols",
    "h2-connection-specific-field",
    "h2-uppercase-field-name",
    "h2-status-missing",
    "h2-status-repeated",
    "h2-pseudo-header-after-field",
    "h2-content-length-mismatch",
    "h2-data-before-headers",
    "h2-headers-after-end-stream",
    "h2-frame-too-large",
    "h2-continuation-interrupted",
    "h2-rst-stream-after-response",
    "h2-goaway-below-stream",
    "h2-zero-window-upload",
    "h2-max-concurrent-streams-zero",
)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving() as running:
        yield running


def test_the_catalogue_has_at_least_15_http2_entries_each_cited_and_observed() -> None:
    assert len(ENTRIES) >= 15
    assert not [name for name in REQUIRED_IDS if name not in CATALOGUE]
    for entry in ENTRIES:
        assert entry.protocols == frozenset({H2}), entry.id
        assert entry.rule.startswith("RFC 9113 section "), entry.id
        assert entry.requirement.startswith("“"), entry.id
        assert "”" in entry.requirement, entry.id
        assert sorted(entry.verdicts) == sorted(CLIENTS), entry.id
        assert set(entry.evidence) <= set(CLIENTS), entry.id
        for client, verdict in entry.verdicts.items():
            if verdict == "rejects" and not entry.legal:
                assert client in entry.evidence, (entry.id, client)


# -- the frames -----------------------------------------------------------------------------


def _request_bytes(profile: str, method: str = "GET", body: bytes = b"") -> bytes:
    """The preface, SETTINGS and a request selecting ``profile`` (HEADERS, DATA with
    END_STREAM)."""
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    fields = [(":method", method), (":path", "/"), (":scheme", "http"), (":authority", "x")]
    client.send_headers(1, [*fields, (DEFAULT_INBAND_HEADER, profile)], end_stream=not body)
    if body:
        client.send_data(1, body, end_stream=True)
    return client.data_to_send()


def _frames_read(
    sock: socket.socket, wanted: int, seconds: float
) -> list[tuple[int, int, int, bytes]]:
    """(type, flags, stream, payload) of each frame the server sent but its own SETTINGS,
    SETTINGS ACKs and WINDOW_UPDATEs that give credit, until ``wanted`` came and the
    connection is quiet for 0.3 s (or closed, or ``seconds`` passed)."""
    data = b""
    deadline = time.monotonic() + seconds
    frames: list[tuple[int, int, int, bytes]] = []
    first_settings = True
    while time.monotonic() < deadline:
        sock.settimeout(0.3 if len(frames) >= wanted else max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65_536)
        except TimeoutError:
            if len(frames) >= wanted:
                break
            continue
        if not chunk:
            break
        data += chunk
        while len(data) >= 9:
            length = int.from_bytes(data[:3], "big")
            if len(data) < 9 + length:
                break
            kind, flags = data[3], data[4]
            stream = int.from_bytes(data[5:9], "big") & 0x7FFFFFFF
            payload, data = data[9 : 9 + length], data[9 + length :]
            if kind == SETTINGS and (first_settings or flags & ACK):
                first_settings = first_settings and bool(flags & ACK)
                continue
            if kind == WINDOW_UPDATE and int.from_bytes(payload, "big"):
                continue
            frames.append((kind, flags, stream, payload))
    return frames


def _undated(fields: list[Any]) -> list[tuple[bytes, bytes]]:
    return [(bytes(n), b"DATE" if n == b"date" else bytes(v)) for n, v in fields]


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_the_exact_frames_go_out(served: Served, entry: Violation) -> None:
    body = b"x" * 10 if entry.probe.body else b""  # the whole upload at once: nothing stalls
    probe = replace(entry.probe, body=body)
    expected: list[Frame] = []
    for action in entry.actions(entry.parameters(), Context(probe.head(), 0.0)):
        if isinstance(action, WriteHttp2):
            expected += action.frames
    with socket.create_connection(("127.0.0.1", served.origin_port), CLIENT_SECONDS) as sock:
        sock.sendall(_request_bytes(f"violation-{entry.id}", entry.probe.method, body))
        seen = _frames_read(sock, len(expected), 10.0)
    decoder = Decoder()
    decoder.max_allowed_table_size = 65_536
    assert len(seen) == len(expected), (seen, expected)
    for (kind, flags, stream, payload), frame in zip(seen, expected, strict=True):
        assert (kind, flags, stream) == (
            frame.type,
            frame.flags,
            1 if frame.stream is None else frame.stream,
        ), entry.id
        if frame.fields is None:
            assert payload == frame.payload
            continue
        decoded = decoder.decode(payload[: len(payload) - len(frame.payload)], raw=True)
        assert _undated(list(decoded)) == _undated(list(frame.fields))


# -- what real clients make of them ---------------------------------------------------------


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_real_clients_see_what_the_catalogue_says(
    served: Served, entry: Violation, client: str
) -> None:
    why = missing(client)
    if why is not None:
        pytest.skip(why)
    seen = observe(client, served.origin_port, f"violation-{entry.id}", entry.probe)
    assert seen.verdict() == entry.verdicts[client], seen
    said = entry.evidence.get(client)
    if said is not None:
        assert seen.error is not None, seen
        assert said in seen.error, seen
    if seen.verdict() == "accepts":
        assert seen.status == 200, seen


# -- around the frames ----------------------------------------------------------------------


def test_the_journal_shows_what_the_client_answered_to_an_entrys_frames(served: Served) -> None:
    """The record of a stream an entry's frames ended keeps listening a second: curl's
    RST_STREAM (PROTOCOL_ERROR) for a response without :status is in its timeline."""
    served.client().reset()
    seen = observe(
        "curl",
        served.origin_port,
        "violation-h2-status-missing",
        CATALOGUE["h2-status-missing"].probe,
    )
    assert seen.verdict() == "rejects"
    deadline = time.monotonic() + 5
    details: list[tuple[str, str]] = []
    while time.monotonic() < deadline:
        [record] = served.client().journal()
        details = [(e["event"], e["detail"]) for e in record["timeline"]]
        if ("frame-received", "RST_STREAM stream 1 PROTOCOL_ERROR") in details:
            break
        time.sleep(0.1)
    assert ("frame-received", "RST_STREAM stream 1 PROTOCOL_ERROR") in details
    raw = details.index(("raw-sent", "a response without :status"))
    assert details[raw + 1][0] == "frame-sent"
    assert details[raw + 1][1].startswith("HEADERS stream 1 [END_HEADERS] ")
    assert details[raw + 2] == ("frame-sent", "DATA stream 1 [END_STREAM] 3 bytes")
    assert record["outcome"] == "keep-alive"


def test_an_http2_entry_over_http1_is_refused_501(served: Served) -> None:
    result = curl(
        "-H", f"{DEFAULT_INBAND_HEADER}: violation-h2-status-missing", f"{served.origin_url}/"
    )
    assert result.status == 501
    assert result.body == (
        b"profile violation-h2-status-missing cannot run over http/1.1: steps[0]: violate "
        b"h2-status-missing writes HTTP/2 frames as they are\n"
    )
    assert HTTP1 not in CATALOGUE["h2-status-missing"].protocols


def test_the_connection_serves_on_after_an_entrys_frames(served: Served) -> None:
    """A legal entry's frames (a 200, then RST_STREAM NO_ERROR), then an ordinary request on
    the same connection: h2 forgot the stream without a frame, and the response's field
    block decodes against the HPACK table the entry's frames grew."""
    sock = socket.create_connection(("127.0.0.1", served.origin_port), CLIENT_SECONDS)
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    events: list[object] = []

    def request(stream_id: int, profile: str, body: bytes) -> None:
        fields = [(":method", "POST"), (":path", "/"), (":scheme", "http")]
        fields += [(":authority", "x"), (DEFAULT_INBAND_HEADER, profile)]
        client.send_headers(stream_id, fields)
        client.send_data(stream_id, body, end_stream=False)
        sock.sendall(client.data_to_send())

    def until(done: type, stream_id: int) -> None:
        deadline = time.monotonic() + 5
        while not any(isinstance(e, done) and e.stream_id == stream_id for e in events):  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, events
            events.extend(client.receive_data(sock.recv(65_536)))
            sock.sendall(client.data_to_send())

    try:
        request(1, "violation-h2-rst-stream-after-response", b"x" * 10)
        until(h2.events.StreamReset, 1)
        request(3, "default", b"hello")
        client.end_stream(3)
        sock.sendall(client.data_to_send())
        until(h2.events.StreamEnded, 3)
    finally:
        sock.close()
    responses = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
    assert [e.stream_id for e in responses] == [1, 3]
    assert dict(responses[1].headers)[b":status"] == b"200"
    resets = [e for e in events if isinstance(e, h2.events.StreamReset)]
    assert [(e.stream_id, e.error_code) for e in resets] == [(1, 0)]


# -- a raw step's frames --------------------------------------------------------------------

RAW_FRAMES = {
    "name": "raw-frames",
    "steps": [
        {
            "raw": {
                "frames": [
                    {
                        "type": "HEADERS",
                        "flags": ["END_HEADERS"],
                        "fields": [[":status", "200"], ["X-Upper", "1"]],
                    },
                    {"type": "DATA", "flags": ["END_STREAM"], "text": "ok\n"},
                    {"type": 0x2A, "stream": 0, "flags": 255, "hex": "00 ff"},
                ]
            }
        }
    ],
}


def test_a_raw_steps_frames_go_out_as_written(served: Served) -> None:
    served.client().put_profile("raw-frames", RAW_FRAMES)
    with socket.create_connection(("127.0.0.1", served.origin_port), CLIENT_SECONDS) as sock:
        sock.sendall(_request_bytes("raw-frames"))
        seen = _frames_read(sock, 3, 10.0)
    assert [(kind, flags, stream) for kind, flags, stream, _ in seen] == [
        (0x1, 0x4, 1),
        (0x0, 0x1, 1),
        (0x2A, 0xFF, 0),
    ]
    assert Decoder().decode(seen[0][3], raw=True) == [(b":status", b"200"), (b"X-Upper", b"1")]
    assert (seen[1][3], seen[2][3]) == (b"ok\n", b"\x00\xff")
    [record] = [r for r in served.client().journal() if r["profile"] == "raw-frames"]
    assert ("raw-sent", "3 frames") in [(e["event"], e.get("detail")) for e in record["timeline"]]


def test_a_raw_steps_frames_are_refused_over_http1_and_bad_ones_where_they_are(
    served: Served,
) -> None:
    served.client().put_profile("raw-frames", RAW_FRAMES)
    result = curl("-H", f"{DEFAULT_INBAND_HEADER}: raw-frames", f"{served.origin_url}/")
    assert result.status == 501
    assert b"steps[0]: raw sends HTTP/2 frames as they are" in result.body
    bad = {"steps": [{"raw": {"frames": [{"type": "HEADER"}]}}]}
    with pytest.raises(
        ProfileError, match=r"steps\[0\]\.raw\.frames\[0\]\.type.*unknown frame type 'HEADER'"
    ):
        profile_from_data({"name": "bad", **bad}, "test")
    both = {"steps": [{"raw": {"frames": [{"type": "DATA", "text": "a", "hex": "00"}]}}]}
    with pytest.raises(ProfileError, match=r"at most one of text, hex, base64 \(got text, hex\)"):
        profile_from_data({"name": "bad", **both}, "test")
    assert profile_from_data(RAW_FRAMES, "test").protocols == frozenset({H2})
