"""A WebSocket session's vocabulary: what the session engine
(:func:`fakeorigin.core.engine.session.run_session`) asks the WebSocket edge to do after the
101. Pure data, loaded with WebSocket (at the first opening handshake, as autobahn is), not
with the HTTP engine at start-up: defining these classes is about 2 ms (Python 3.11's
dataclasses).
"""

from __future__ import annotations

from dataclasses import dataclass

from fakeorigin.core.actions import Note, Wait


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
