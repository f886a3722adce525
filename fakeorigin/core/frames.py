"""HTTP/2 frames as the violation catalogue writes them, exactly as given (RFC 9113 section 4.1).

A :class:`Frame` is what h2 (the library the HTTP/2 edge runs on) would refuse to send: a 1xx
with END_STREAM, a field block with an upper-case name or no ``:status``, DATA before HEADERS,
a frame over the peer's SETTINGS_MAX_FRAME_SIZE. Its field block is a list of fields, not
bytes: the connection encodes it with its own HPACK encoder when the frame goes out (RFC 7541:
the client's decoder must stay in step with the table the server's encoder keeps), and
:func:`serialize` lays out the 9-byte frame header with hyperframe's ``ExtensionFrame``, the
one hyperframe class that checks nothing.

Pure: no Twisted, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from fakeorigin.core.wire import Header

# RFC 9113 section 6: frame types.
DATA = 0x0
HEADERS = 0x1
RST_STREAM = 0x3
SETTINGS = 0x4
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9

TYPE_NAMES = {
    DATA: "DATA",
    HEADERS: "HEADERS",
    RST_STREAM: "RST_STREAM",
    SETTINGS: "SETTINGS",
    PING: "PING",
    GOAWAY: "GOAWAY",
    WINDOW_UPDATE: "WINDOW_UPDATE",
    CONTINUATION: "CONTINUATION",
}

# Flags (the same bit means ACK on SETTINGS and PING).
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4

# RFC 9113 section 6.5.2: setting identifiers.
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
SETTINGS_MAX_FRAME_SIZE = 0x5
SETTING_NAMES = {
    SETTINGS_MAX_CONCURRENT_STREAMS: "MAX_CONCURRENT_STREAMS",
    SETTINGS_INITIAL_WINDOW_SIZE: "INITIAL_WINDOW_SIZE",
    SETTINGS_MAX_FRAME_SIZE: "MAX_FRAME_SIZE",
}

# RFC 9113 section 7: error codes.
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
#: RFC 9113 section 7's error codes, by name (a ``reset`` step's ``h2_error``).
H2ErrorCode = Literal[
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "INTERNAL_ERROR",
    "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT",
    "STREAM_CLOSED",
    "FRAME_SIZE_ERROR",
    "REFUSED_STREAM",
    "CANCEL",
    "COMPRESSION_ERROR",
    "CONNECT_ERROR",
    "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
]
#: The same names, by code (the code is the index).
ERROR_NAMES: tuple[str, ...] = get_args(H2ErrorCode)

#: RFC 9113 section 6.5.2: SETTINGS_MAX_FRAME_SIZE's initial value, the largest frame payload
#: a peer that said nothing accepts.
DEFAULT_MAX_FRAME_SIZE = 16_384

#: HPACK-encodes a field block (the connection's encoder; a fresh one for examples).
Encode = Callable[[Sequence[Header]], bytes]


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame, written as it is.

    Attributes:
        type: the frame type (``DATA``, ``HEADERS``, ...; any 8-bit value).
        flags: the flags byte.
        stream: the stream id; None: the exchange's own stream.
        fields: a field block, HPACK-encoded by the connection when the frame goes out, in
            the order and case given (None: no field block); it comes first in the payload.
        payload: the payload (after the field block, if any).
    """

    type: int
    flags: int = 0
    stream: int | None = None
    fields: tuple[Header, ...] | None = None
    payload: bytes = b""

    def serialize(self, stream_id: int, encode: Encode) -> bytes:
        """The frame's bytes on the exchange's stream ``stream_id``, its field block encoded
        with ``encode``."""
        # Imported here, where a frame goes out on an HTTP/2 connection (which has loaded
        # hyperframe with h2), not with the profile model at start-up (1.5 ms).
        from hyperframe.frame import ExtensionFrame  # noqa: PLC0415

        body = self.payload if self.fields is None else encode(self.fields) + self.payload
        frame = ExtensionFrame(self.type, self.stream if self.stream is not None else stream_id)
        frame.flag_byte = self.flags
        frame.body = body
        frame.body_len = len(body)
        return bytes(frame.serialize())

    def describe(self, stream_id: int = 1) -> str:
        """One line for a reader: ``HEADERS stream 1 [END_STREAM END_HEADERS] :status: 103``."""
        stream = self.stream if self.stream is not None else stream_id
        name = TYPE_NAMES.get(self.type, f"type 0x{self.type:02x}")
        text = f"{name} stream {stream}"
        flags = _flag_names(self.type, self.flags)
        if flags:
            text += f" [{' '.join(flags)}]"
        if self.fields is not None:
            text += " " + ", ".join(
                f"{n.decode('latin-1')}: {v.decode('latin-1')}" for n, v in self.fields
            )
        if self.payload:
            text += " " + _payload_text(self.type, self.payload)
        return text


#: How much of a frame's payload :class:`FrameReader` keeps: enough for RST_STREAM, GOAWAY's
#: last-stream-id and code, WINDOW_UPDATE, and six SETTINGS.
SUMMARY_PAYLOAD_BYTES = 36

#: One frame seen on the wire: type, flags, stream, payload length, the payload's first bytes.
Seen = tuple[int, int, int, int, bytes]


class FrameReader:
    """Splits a byte stream into frame headers without parsing payloads (for the journal's
    timeline): 9-byte header, then the payload skipped but for its first
    :data:`SUMMARY_PAYLOAD_BYTES`. Bytes may come in any pieces."""

    def __init__(self, skip: int = 0) -> None:
        """``skip``: bytes to pass over first (the client's 24-byte connection preface)."""
        self._skip = skip
        self._remaining = 0  # of the last frame's payload, not come yet
        self._buffer = b""

    def feed(self, data: bytes) -> list[Seen]:
        """The frames whose header (and payload start) completed with ``data``."""
        if self._skip:
            cut = min(self._skip, len(data))
            data, self._skip = data[cut:], self._skip - cut
        if self._remaining:
            cut = min(self._remaining, len(data))
            data, self._remaining = data[cut:], self._remaining - cut
        buffer = self._buffer + data if self._buffer else data
        seen: list[Seen] = []
        position, size = 0, len(buffer)
        while size - position >= 9:
            length = int.from_bytes(buffer[position : position + 3], "big")
            kept = min(length, SUMMARY_PAYLOAD_BYTES)
            start = position + 9
            if size - start < kept:
                break
            stream = int.from_bytes(buffer[position + 5 : start], "big") & 0x7FFFFFFF
            kind, flags = buffer[position + 3], buffer[position + 4]
            seen.append((kind, flags, stream, length, buffer[start : start + kept]))
            position = start + length
            if position > size:
                self._remaining = position - size
                position = size
        self._buffer = buffer[position:]
        return seen


def summary(seen: Seen) -> str:
    """A frame seen on the wire, for the journal: ``HEADERS stream 1 [END_HEADERS] 57
    bytes``, with RST_STREAM's and GOAWAY's error, WINDOW_UPDATE's increment, SETTINGS."""
    kind, flags, stream, length, payload = seen
    text = f"{TYPE_NAMES.get(kind, f'type 0x{kind:02x}')} stream {stream}"
    names = _flag_names(kind, flags)
    if names:
        text += f" [{' '.join(names)}]"
    if kind in (RST_STREAM, GOAWAY, WINDOW_UPDATE) or (kind == SETTINGS and length == len(payload)):
        if length:
            return f"{text} {_payload_text(kind, payload)}"
        return text
    return f"{text} {length} bytes"


def _flag_names(frame_type: int, flags: int) -> list[str]:
    if frame_type in (SETTINGS, PING):
        named = {ACK: "ACK"}
    elif frame_type in (HEADERS, CONTINUATION, DATA):
        named = {END_STREAM: "END_STREAM", END_HEADERS: "END_HEADERS"}
        if frame_type == DATA:
            named.pop(END_HEADERS)
        if frame_type == CONTINUATION:
            named = {END_HEADERS: "END_HEADERS"}
    else:
        named = {}
    names = [name for bit, name in named.items() if flags & bit]
    rest = flags & ~sum(bit for bit in named)
    if rest:
        names.append(f"0x{rest:02x}")
    return names


def _payload_text(frame_type: int, payload: bytes) -> str:
    if frame_type == DATA:
        if len(payload) > 32:
            return f"({len(payload)} bytes)"
        return repr(payload)
    if frame_type == RST_STREAM and len(payload) == 4:
        return _error_name(int.from_bytes(payload, "big"))
    if frame_type == GOAWAY and len(payload) >= 8:
        last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
        return f"last-stream-id {last} {_error_name(int.from_bytes(payload[4:8], 'big'))}"
    if frame_type == WINDOW_UPDATE and len(payload) == 4:
        return f"increment {int.from_bytes(payload, 'big') & 0x7FFFFFFF}"
    if frame_type == SETTINGS and len(payload) % 6 == 0:
        pairs = (payload[i : i + 6] for i in range(0, len(payload), 6))
        return ", ".join(
            f"{SETTING_NAMES.get(int.from_bytes(p[:2], 'big'), p[:2].hex())}="
            f"{int.from_bytes(p[2:], 'big')}"
            for p in pairs
        )
    return f"({len(payload)} bytes)"


def _error_name(code: int) -> str:
    return ERROR_NAMES[code] if code < len(ERROR_NAMES) else f"error 0x{code:x}"


def settings(values: dict[int, int]) -> bytes:
    """A SETTINGS payload: identifier (16 bits) and value (32 bits) per setting (section 6.5.1)."""
    return b"".join(k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in values.items())


def rst_stream(code: int) -> bytes:
    """An RST_STREAM payload: the error code (section 6.4)."""
    return code.to_bytes(4, "big")


def goaway(last_stream_id: int, code: int) -> bytes:
    """A GOAWAY payload: last stream id and error code, no debug data (section 6.8)."""
    return last_stream_id.to_bytes(4, "big") + code.to_bytes(4, "big")


def window_update(increment: int) -> bytes:
    """A WINDOW_UPDATE payload: the increment (section 6.9)."""
    return increment.to_bytes(4, "big")
