"""What the engine may read about the running exchange: the protocol edge implements it."""

from __future__ import annotations

from typing import Protocol

from fakeorigin.core.journal import BodyRecord
from fakeorigin.core.wire import RequestHead


class ExchangeView(Protocol):
    """What the engine may read about the running exchange."""

    @property
    def request(self) -> RequestHead: ...

    @property
    def body(self) -> BodyRecord: ...

    def elapsed(self) -> float:
        """Seconds since the request head was complete."""
        ...

    def wall_clock(self) -> float:
        """Epoch seconds now, for the Date header."""
        ...
