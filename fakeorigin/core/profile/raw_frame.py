"""A ``raw`` step's HTTP/2 frame: what the profile author writes, checked, and the
:class:`~fakeorigin.core.frames.Frame` it becomes."""

import binascii
from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from fakeorigin.core.frames import TYPE_NAMES, Frame
from fakeorigin.core.profile.fields import _error, _Model, payload_bytes

#: Frame types by name (RFC 9113 section 6), PRIORITY and PUSH_PROMISE included.
FRAME_TYPES = {name: number for number, name in TYPE_NAMES.items()} | {
    "PRIORITY": 0x2,
    "PUSH_PROMISE": 0x5,
}
#: Flags by name (RFC 9113 section 6): one bit each; ACK is END_STREAM's bit.
FLAGS = {"END_STREAM": 0x1, "ACK": 0x1, "END_HEADERS": 0x4, "PADDED": 0x8, "PRIORITY": 0x20}


def _no_flags() -> list[str]:
    """A new empty list. Not ``list`` itself: pydantic asks a default factory for its
    signature, which for a built-in type makes ``inspect`` compile ``tokenize``'s patterns,
    about 2 ms of start-up."""
    return []


class RawFrame(_Model):
    """One HTTP/2 frame of a ``raw`` step, written as it is: nothing checks that it makes
    sense (that is the point), but for its field block, which the connection's own HPACK
    encoder encodes (RFC 7541), so that the client's decoder stays in step.

    Fields:
        type: the frame type by name (``DATA``, ``HEADERS``, ``PRIORITY``, ``RST_STREAM``,
            ``SETTINGS``, ``PUSH_PROMISE``, ``PING``, ``GOAWAY``, ``WINDOW_UPDATE``,
            ``CONTINUATION``) or number (0-255: an unknown type too).
        flags: flag names (``END_STREAM``, ``END_HEADERS``, ``ACK``, ``PADDED``,
            ``PRIORITY``) or the flags byte as a number; default none.
        stream: the stream id; default the request's own stream (0: the connection).
        fields: a field block, ``[[name, value], ...]`` in this order and case (upper case,
            repeated and misplaced pseudo-headers included), before the payload.
        text: the payload (after the field block) as text, encoded as UTF-8; at most one of
            ``text``, ``hex``, ``base64``; default empty.
        hex: the payload in hexadecimal; spaces allowed.
        base64: the payload in base64.

    ```yaml
    - raw:
        frames:
          - {type: HEADERS, flags: [END_HEADERS, END_STREAM], fields: [[":status", "103"]]}
    ```
    """

    type: str | int
    flags: list[str] | int = Field(default_factory=_no_flags)
    stream: int | None = Field(default=None, ge=0, le=2**31 - 1)
    fields: list[tuple[str, str]] | None = None
    text: str | None = None
    hex: str | None = None
    base64: str | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str | int) -> str | int:
        if isinstance(value, int):
            if not 0 <= value <= 255:
                raise _error("frame_type", "a frame type is 0-255 (got {value})", value=value)
        elif value not in FRAME_TYPES:
            raise _error(
                "frame_type",
                "unknown frame type '{value}'; one of {known}, or a number",
                value=value,
                known=", ".join(FRAME_TYPES),
            )
        return value

    @field_validator("flags")
    @classmethod
    def _known_flags(cls, value: list[str] | int) -> list[str] | int:
        if isinstance(value, int):
            if not 0 <= value <= 255:
                raise _error("frame_flags", "the flags byte is 0-255 (got {value})", value=value)
            return value
        unknown = [name for name in value if name not in FLAGS]
        if unknown:
            raise _error(
                "frame_flags",
                "unknown flag '{name}'; one of {known}, or the flags byte as a number",
                name=unknown[0],
                known=", ".join(FLAGS),
            )
        return value

    @model_validator(mode="after")
    def _payload(self) -> Self:
        given = [field for field in ("text", "hex", "base64") if getattr(self, field) is not None]
        if len(given) > 1:
            raise _error(
                "frame_payload",
                "at most one of text, hex, base64 (got {got})",
                got=", ".join(given),
            )
        try:
            self.payload()
        except (ValueError, binascii.Error) as err:
            raise _error(
                "frame_payload", "{field} does not decode ({why})", field=given[0], why=str(err)
            ) from None
        return self

    def payload(self) -> bytes:
        """The payload after the field block."""
        return payload_bytes(self.text, self.hex, self.base64)

    def frame(self) -> Frame:
        """The frame to write."""
        kind = self.type if isinstance(self.type, int) else FRAME_TYPES[self.type]
        flags = self.flags if isinstance(self.flags, int) else 0
        if not isinstance(self.flags, int):
            for name in self.flags:
                flags |= FLAGS[name]
        fields: Any = None
        if self.fields is not None:
            fields = tuple((n.encode("utf-8"), v.encode("utf-8")) for n, v in self.fields)
        return Frame(kind, flags, self.stream, fields, self.payload())
