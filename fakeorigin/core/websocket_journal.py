"""The WebSocket side of a journal record: the session's messages, Close frames and closing.

An :class:`~fakeorigin.core.journal.ExchangeRecord` handed to autobahn gets a
:class:`WebSocketRecord`. Loaded with WebSocket (at the first opening handshake, with
autobahn), or when a record that has one is read back from its sealed form; not with the
journal at start-up (defining these classes is about 2 ms with Python 3.11's dataclasses).

Pure Python: no Twisted, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

from fakeorigin.core.wire import head_dict

#: How much of each WebSocket message the journal keeps.
MESSAGE_HEAD_BYTES = 256
#: How many WebSocket messages (and control frames) the journal keeps per connection.
MAX_WEBSOCKET_MESSAGES = 1000


class Opcode(IntEnum):
    """WebSocket frame opcodes (RFC 6455 section 5.2); a message is logged by its first."""

    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10


class WebSocketMessage(NamedTuple):
    """One WebSocket message or control frame, sent or received. A session keeps them as plain
    tuples of atoms (:attr:`WebSocketRecord.logged`, the opcode as its number, so that the
    collector stops tracking them: an echo session logs two per message) and makes these
    when read.

    Attributes:
        seconds: since the 101 went out.
        direction: ``sent`` or ``received``.
        opcode: text, binary, ping, pong or close.
        length: the payload length (after permessage-deflate decompression).
        head: the first :data:`MESSAGE_HEAD_BYTES` bytes of the payload.
    """

    seconds: float
    direction: str
    opcode: int
    length: int
    head: bytes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "t": round(self.seconds, 6),
            "direction": self.direction,
            "opcode": self.opcode,
            "type": Opcode(self.opcode).name.lower(),
            "length": self.length,
            **head_dict(self.head),
        }


@dataclass(frozen=True, slots=True)
class WebSocketClose:
    """A Close frame: when (seconds since the 101), its code and reason (None when absent)."""

    seconds: float
    code: int | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"t": round(self.seconds, 6), "code": self.code, "reason": self.reason}


def _sealed_close(close: WebSocketClose | None) -> tuple[float, int | None, str | None] | None:
    return None if close is None else (close.seconds, close.code, close.reason)


@dataclass(slots=True)
class WebSocketRecord:
    """The WebSocket side of an exchange that was handed to autobahn.

    Attributes:
        handshake: ``conformant``, or the broken variant the profile asked for.
        offered_subprotocols: Sec-WebSocket-Protocol of the request, in order.
        subprotocol: the one chosen, or None.
        offered_extensions: Sec-WebSocket-Extensions values of the request, as received.
        extensions: Sec-WebSocket-Extensions of the 101 (accepted offers), or empty.
        response_head: the 101 as sent (status line and header lines).
        upgraded_at: when the 101 went out, in seconds since the request head.
        logged: the first :data:`MAX_WEBSOCKET_MESSAGES` messages and control frames, as
            plain ``(seconds, direction, opcode, length, head)`` tuples; :attr:`messages`
            reads them as :class:`WebSocketMessage`.
        messages_dropped: how many more there were.
        close_sent, close_received: the Close frame each side sent, if any.
        clean: whether the closing handshake completed (None while the session runs).
        unclean_reason: autobahn's reason when it did not.
    """

    handshake: str
    offered_subprotocols: list[str]
    subprotocol: str | None
    offered_extensions: list[str]
    extensions: list[str] = field(default_factory=list)
    response_head: bytes | None = None
    upgraded_at: float | None = None
    logged: list[tuple[float, str, int, int, bytes]] = field(default_factory=list)
    messages_dropped: int = 0
    close_sent: WebSocketClose | None = None
    close_received: WebSocketClose | None = None
    clean: bool | None = None
    unclean_reason: str | None = None

    def log(self, seconds: float, direction: str, opcode: Opcode, payload: bytes) -> None:
        """Add a message to the bounded log (count it as dropped when the log is full)."""
        if len(self.logged) >= MAX_WEBSOCKET_MESSAGES:
            self.messages_dropped += 1
            return
        self.logged.append(
            (seconds, direction, opcode._value_, len(payload), bytes(payload[:MESSAGE_HEAD_BYTES]))
        )

    @property
    def messages(self) -> list[WebSocketMessage]:
        """The message log (made from :attr:`logged` at each read)."""
        return list(map(WebSocketMessage._make, self.logged))

    def sealed(self) -> tuple[Any, ...]:
        """Every field as a plain tuple of atoms (see :meth:`Journal.seal`)."""
        return (
            self.handshake,
            tuple(self.offered_subprotocols),
            self.subprotocol,
            tuple(self.offered_extensions),
            tuple(self.extensions),
            self.response_head,
            self.upgraded_at,
            tuple(self.logged),
            self.messages_dropped,
            _sealed_close(self.close_sent),
            _sealed_close(self.close_received),
            self.clean,
            self.unclean_reason,
        )

    @classmethod
    def unsealed(cls, sealed: tuple[Any, ...]) -> WebSocketRecord:
        """The record :meth:`sealed` was made from."""
        (handshake, offered, subprotocol, offered_extensions, extensions, head, upgraded_at,
         logged, dropped, close_sent, close_received, clean, unclean_reason) = sealed  # fmt: skip
        return cls(
            handshake,
            list(offered),
            subprotocol,
            list(offered_extensions),
            list(extensions),
            head,
            upgraded_at,
            list(logged),
            dropped,
            None if close_sent is None else WebSocketClose(*close_sent),
            None if close_received is None else WebSocketClose(*close_received),
            clean,
            unclean_reason,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as the control API shows it (docs/journal.md)."""
        return {
            "handshake": self.handshake,
            "offered_subprotocols": list(self.offered_subprotocols),
            "subprotocol": self.subprotocol,
            "offered_extensions": list(self.offered_extensions),
            "extensions": list(self.extensions),
            "response_head": None
            if self.response_head is None
            else self.response_head.decode("latin-1"),
            "upgraded_at": None if self.upgraded_at is None else round(self.upgraded_at, 6),
            "messages": [message.to_dict() for message in self.messages],
            "messages_dropped": self.messages_dropped,
            "close_sent": None if self.close_sent is None else self.close_sent.to_dict(),
            "close_received": None
            if self.close_received is None
            else self.close_received.to_dict(),
            "clean": self.clean,
            "unclean_reason": self.unclean_reason,
        }
