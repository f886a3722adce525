"""The engine's vocabulary: what it asks the protocol to do (imperatives), and how an exchange
ends. Pure data, shared by :mod:`fakeorigin.engine` and :mod:`fakeorigin.violations`.

An HTTP exchange yields :data:`Action`; one handed to autobahn after a WebSocket opening
handshake (:class:`HandOff`) then runs a session that yields :data:`SessionAction`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from fakeorigin.journal import Event
from fakeorigin.profile import WebSocket


class Ending(Enum):
    """How an exchange leaves its connection."""

    KEEP_ALIVE = "keep-alive"
    CLOSE = "close"
    RESET = "reset"
    HANG = "hang"


@dataclass(frozen=True, slots=True)
class Write:
    """Write ``data``; journal ``event`` (with ``status``/``detail``) as it goes out."""

    data: bytes
    event: Event | None = None
    status: int | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """Journal ``event``; nothing goes on the wire."""

    event: Event
    status: int | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Wait:
    """Resume after ``seconds`` (>= 0)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class AwaitBody:
    """Resume once the whole request body has arrived."""


@dataclass(frozen=True, slots=True)
class End:
    """The exchange is over; the connection goes on as ``ending`` says."""

    ending: Ending


@dataclass(frozen=True, slots=True)
class HandOff:
    """Hand the connection to autobahn, replaying the request head into it; always last.

    Attributes:
        spec: the ``websocket`` step.
        subprotocol: the subprotocol chosen from the client's offer, or None.
        offered_subprotocols: the client's Sec-WebSocket-Protocol list, in order.
    """

    spec: WebSocket
    subprotocol: str | None
    offered_subprotocols: tuple[str, ...]


Action = Write | Note | Wait | AwaitBody | End | HandOff


# -- a WebSocket session ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    """A complete WebSocket message: its payload and whether it is binary."""

    data: bytes
    binary: bool


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Send ``message`` to the client."""

    message: Message


@dataclass(frozen=True, slots=True)
class SendPing:
    """Send a Ping with ``data`` (at most 125 bytes)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class AwaitMessage:
    """Resume with the client's next message, or with None after ``timeout_seconds``
    (None: no timeout)."""

    timeout_seconds: float | None


@dataclass(frozen=True, slots=True)
class CloseSession:
    """Start the closing handshake with ``code`` and ``reason``; always the last action."""

    code: int
    reason: str


SessionAction = SendMessage | SendPing | AwaitMessage | CloseSession | Wait | Note
