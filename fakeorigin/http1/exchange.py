"""One request on a connection as the HTTP/1.1 protocol runs it: what the engine sees of it
(an ``ExchangeView``) and its journal record; and the producer that resets a connection once
Twisted has flushed what was written."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twisted.internet.interfaces import (
    IReactorTime,
    ITransport,
)

from fakeorigin.core.admission import (
    Refusal,
)
from fakeorigin.core.engine import (
    Action,
)
from fakeorigin.core.journal import BodyRecord, Event, ExchangeRecord
from fakeorigin.core.profile import ConnectionPolicy
from fakeorigin.core.wire import RequestHead

if TYPE_CHECKING:
    # autobahn (tens of ms of imports) is imported at the first WebSocket upgrade.

    pass


@dataclass(slots=True, eq=False)
class Exchange:
    """One request on a connection: what the engine sees (an ExchangeView) and its record."""

    request: RequestHead
    record: ExchangeRecord
    clock: IReactorTime
    head_time: float
    head: bytes = b""
    head_size: int = 0
    plain: bool = False  # the head took the fast path (wire.simple_request)
    refusal: Refusal | None = None
    policy: ConnectionPolicy | None = None  # the connection policy of its profile
    actions: Generator[Action, None, None] | None = None
    started: bool = False
    wrote: bool = False
    awaiting_body: bool = False
    finished: bool = False
    hanging: bool = False

    @property
    def body(self) -> BodyRecord:
        return self.record.body

    @property
    def running(self) -> bool:
        """Not over: about to start, running, or hanging."""
        return not self.finished or self.hanging

    def elapsed(self) -> float:
        return self.clock.seconds() - self.head_time

    def wall_clock(self) -> float:
        return self.clock.seconds()

    def note(self, event: Event, status: int | None = None, detail: str | None = None) -> None:
        self.record.note(self.clock.seconds() - self.head_time, event, status, detail)


@dataclass(slots=True)
class ResetWhenFlushed:
    """A pull producer whose ``resumeProducing`` means "Twisted's write buffer is empty".

    ``abortConnection`` alone discards bytes still in the buffer; registering this producer and
    calling ``loseConnection`` makes Twisted flush first and then ask us for more, at which
    point we abort: the peer gets everything written, then an RST (SO_LINGER 0).
    """

    transport: ITransport
    armed: bool = False

    def resumeProducing(self) -> None:  # noqa: N802 (Twisted API)
        if self.armed:
            self.armed = False
            self.transport.abortConnection()  # type: ignore[attr-defined]

    def stopProducing(self) -> None:  # noqa: N802 (Twisted API)
        self.armed = False
