"""HTTP/2 frames as the catalogue writes them and as the journal reads them, in memory:
:class:`Frame` serialised byte for byte, described for a reader; :class:`FrameReader` splitting
a byte stream fed whole, one byte at a time and with a partial frame trailing."""

from __future__ import annotations

import pytest
from hpack import Decoder, Encoder

from fakeorigin.core.frames import (
    DATA,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    RST_STREAM,
    SETTINGS,
    SETTINGS_INITIAL_WINDOW_SIZE,
    WINDOW_UPDATE,
    Frame,
    FrameReader,
    goaway,
    rst_stream,
    settings,
    summary,
    window_update,
)

#: Each frame, its bytes on stream 5 (a field block as a fresh HPACK encoder writes it), its
#: description and its journal summary.
CASES = [
    (
        Frame(DATA, END_STREAM, payload=b"ok\n"),
        b"\x00\x00\x03\x00\x01\x00\x00\x00\x05ok\n",
        "DATA stream 5 [END_STREAM] b'ok\\n'",
        "DATA stream 5 [END_STREAM] 3 bytes",
    ),
    (
        Frame(RST_STREAM, payload=rst_stream(1)),
        b"\x00\x00\x04\x03\x00\x00\x00\x00\x05\x00\x00\x00\x01",
        "RST_STREAM stream 5 PROTOCOL_ERROR",
        "RST_STREAM stream 5 PROTOCOL_ERROR",
    ),
    (
        Frame(GOAWAY, stream=0, payload=goaway(3, 0)),
        b"\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00",
        "GOAWAY stream 0 last-stream-id 3 NO_ERROR",
        "GOAWAY stream 0 last-stream-id 3 NO_ERROR",
    ),
    (
        Frame(WINDOW_UPDATE, payload=window_update(0)),
        b"\x00\x00\x04\x08\x00\x00\x00\x00\x05\x00\x00\x00\x00",
        "WINDOW_UPDATE stream 5 increment 0",
        "WINDOW_UPDATE stream 5 increment 0",
    ),
    (
        Frame(SETTINGS, stream=0, payload=settings({SETTINGS_INITIAL_WINDOW_SIZE: 0})),
        b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00",
        "SETTINGS stream 0 INITIAL_WINDOW_SIZE=0",
        "SETTINGS stream 0 INITIAL_WINDOW_SIZE=0",
    ),
    (
        Frame(0x2A, 0xFF, payload=b"?"),
        b"\x00\x00\x01\x2a\xff\x00\x00\x00\x05?",
        "type 0x2a stream 5 [0xff] (1 bytes)",
        "type 0x2a stream 5 [0xff] 1 bytes",
    ),
]


@pytest.mark.parametrize(("frame", "wire", "described", "journaled"), CASES)
def test_a_frame_is_written_described_and_read_back(
    frame: Frame, wire: bytes, described: str, journaled: str
) -> None:
    assert frame.serialize(5, Encoder().encode) == wire
    assert frame.describe(5) == described
    [seen] = FrameReader().feed(wire)
    assert summary(seen) == journaled


def test_a_field_block_is_encoded_by_the_given_encoder_in_its_order_and_case() -> None:
    fields = ((b":status", b"200"), (b"Content-Type", b"text/plain"), (b":status", b"500"))
    frame = Frame(HEADERS, END_HEADERS | END_STREAM, fields=fields)
    wire = frame.serialize(1, Encoder().encode)
    assert wire[3:9] == b"\x01\x05\x00\x00\x00\x01"
    assert int.from_bytes(wire[:3], "big") == len(wire) - 9
    assert Decoder().decode(wire[9:], raw=True) == list(fields)
    assert frame.describe() == (
        "HEADERS stream 1 [END_STREAM END_HEADERS] :status: 200, Content-Type: text/plain, "
        ":status: 500"
    )


def _stream() -> bytes:
    encode = Encoder().encode
    frames = [
        Frame(HEADERS, END_HEADERS, fields=((b":status", b"200"),)),
        Frame(DATA, 0, payload=b"x" * 70_000),
        Frame(DATA, END_STREAM, payload=b""),
        Frame(RST_STREAM, payload=rst_stream(8)),
    ]
    return b"".join(frame.serialize(1, encode) for frame in frames)


EXPECTED = [
    "HEADERS stream 1 [END_HEADERS] 1 bytes",
    "DATA stream 1 70000 bytes",
    "DATA stream 1 [END_STREAM] 0 bytes",
    "RST_STREAM stream 1 CANCEL",
]


@pytest.mark.parametrize("piece", [1, 7, 9, 10, 4096, 1_000_000])
def test_the_reader_splits_frames_fed_in_any_pieces(piece: int) -> None:
    data = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _stream()
    reader = FrameReader(skip=24)
    seen = []
    for start in range(0, len(data), piece):
        seen += reader.feed(data[start : start + piece])
    assert [summary(s) for s in seen] == EXPECTED


def test_the_reader_holds_a_partial_frame_until_it_completes() -> None:
    data = _stream()
    reader = FrameReader()
    cut = len(data) - 5  # inside the RST_STREAM's payload
    assert [summary(s) for s in reader.feed(data[:cut])] == EXPECTED[:3]
    assert [summary(s) for s in reader.feed(data[cut:])] == EXPECTED[3:]
    assert reader.feed(b"") == []
