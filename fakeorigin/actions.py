"""The engine's vocabulary: what it asks the protocol to do (imperatives), and how an exchange
ends. Pure data, shared by :mod:`fakeorigin.engine` and :mod:`fakeorigin.violations`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from fakeorigin.journal import Event


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


Action = Write | Note | Wait | AwaitBody | End
