"""The origin's factory: one :class:`~fakeorigin.http1.protocol.OriginProtocol` per
connection, sharing the state, the clock, the timers and the settings; the connection count and
limit; draining at shutdown."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IReactorTime,
)
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger

from fakeorigin.core.admission import (
    DEFAULT_MAX_CONNECTIONS,
    Limits,
)
from fakeorigin.core.state import Claim, OriginState
from fakeorigin.http1.protocol import OriginProtocol, RefusedProtocol
from fakeorigin.http1.settings import OriginSettings
from fakeorigin.transport.timers import TimerHeap

if TYPE_CHECKING:
    # autobahn (tens of ms of imports) is imported at the first WebSocket upgrade.
    from autobahn.twisted.websocket import WebSocketServerFactory


log = Logger()

#: After the shutdown grace, connections still open this much later are aborted (a WebSocket
#: whose client does not answer the 1001, a close the peer does not complete).
_ABORT_AFTER_SECONDS = 1.0


class OriginFactory(ServerFactory):
    """Builds one :class:`OriginProtocol` per connection, sharing state, clock and settings.

    Attributes:
        limits: what a request head and body may be (``--max-header-bytes``,
            ``--max-body-bytes``).
        max_connections: connections open at once; one more is reset as soon as it is
            accepted, and counted (``--max-connections``).
        connections: the protocols whose connections are open (tests check it drains).
        refused_connections: connections reset at accept because ``max_connections`` were
            open (each episode is logged when it starts and when it ends).
        closed_connections: connections that were open and have gone.
        idle_closed_connections: connections closed by ``--idle-timeout``.
        draining: True once :meth:`drain` began: no new request is served.
    """

    noisy = False  # no "Starting factory" line per listening port

    def __init__(
        self,
        state: OriginState,
        clock: IReactorTime,
        settings: OriginSettings | None = None,
        rng: random.Random | None = None,
        *,
        limits: Limits | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.state = state
        self.clock = clock
        self.settings = settings or OriginSettings()
        self.rng = rng or random.Random()
        self.limits = limits or Limits()
        self.max_connections = max_connections
        self.connections: set[OriginProtocol] = set()
        self.refused_connections = 0
        self.closed_connections = 0
        self.idle_closed_connections = 0
        self.draining = False
        self._refused_before_full: int | None = None
        self._drained: Deferred[None] | None = None
        self._drain_calls: list[IDelayedCall] = []
        self._next_connection_id = 1
        self.timers = TimerHeap(clock)
        self._websocket_factory: WebSocketServerFactory | None = None
        #: In a worker of ``--workers N``: asks the parent for one use of a counted rule
        #: (:class:`fakeorigin.core.state.Claim`); set by :mod:`fakeorigin.workers.child`.
        self.claim: Callable[[int], Deferred[bool]] = _no_parent

    def ask(self, claim: Claim, then: Callable[[Claim, bool], None]) -> None:
        """Ask the parent of ``--workers N`` for one use of ``claim``'s rule; ``then(claim,
        granted)`` with the answer (not granted when the parent cannot answer)."""
        asked = self.claim(claim.rule.id)
        asked.addCallback(lambda granted: then(claim, granted))
        asked.addErrback(lambda _: then(claim, False))

    def buildProtocol(self, addr: IAddress | None) -> OriginProtocol:  # noqa: N802 (Twisted API)
        limit = self.max_connections
        if len(self.connections) >= limit or self.draining:
            self.refused_connections += 1
            if self._refused_before_full is None:
                self._refused_before_full = self.refused_connections - 1
                log.warn(
                    "fakeorigin: refusing new connections: {open} open "
                    "(--max-connections {limit}{draining})",
                    open=len(self.connections),
                    limit=limit,
                    draining=", shutting down" if self.draining else "",
                )
            return RefusedProtocol(self)
        protocol = OriginProtocol(self, self._next_connection_id)
        self._next_connection_id += 1
        return protocol

    def connection_made(self, protocol: OriginProtocol) -> None:
        """``protocol``'s connection is open: it counts against ``max_connections``."""
        self.connections.add(protocol)

    @property
    def open_connections(self) -> int:
        """How many connections are open now."""
        return len(self.connections)

    @property
    def progress(self) -> int:
        """Grows with every exchange begun (journaled) and every connection closed."""
        return self.state.journal.opened + self.closed_connections

    def idle(self) -> bool:
        """True when no exchange is under way on any connection: no request is being served
        (a ``hang`` waits for nothing and does not count) and no WebSocket session runs. The
        collector's full collections wait for such a moment (:mod:`fakeorigin.server.collector`)."""
        return not any(protocol.busy for protocol in self.connections)

    def connection_lost(self, protocol: OriginProtocol) -> None:
        """``protocol``'s connection is gone: log the end of a refusal episode, finish a drain."""
        self.connections.discard(protocol)
        self.closed_connections += 1
        below = len(self.connections) < self.max_connections
        if self._refused_before_full is not None and below and not self.draining:
            log.info(
                "fakeorigin: accepting connections again; {count} refused while "
                "{limit} were open ({total} refused in all)",
                count=self.refused_connections - self._refused_before_full,
                limit=self.max_connections,
                total=self.refused_connections,
            )
            self._refused_before_full = None
        if self._drained is not None and not self.connections:
            for call in self._drain_calls:
                if call.active():
                    call.cancel()
            drained, self._drained = self._drained, None
            drained.callback(None)

    def drain(self, grace_seconds: float) -> Deferred[None]:
        """Shut down gracefully: serve no new request, close idle connections now, let running
        exchanges finish for up to ``grace_seconds``, then close the rest (a second later,
        abort what is still open). Fires once every connection is gone.

        Stop listening first: a connection accepted while draining is refused.
        """
        self.draining = True
        drained: Deferred[None] = Deferred()
        if not self.connections:
            drained.callback(None)
            return drained
        self._drained = drained
        self._drain_calls = [
            self.clock.callLater(grace_seconds, self._grace_over, grace_seconds),
            self.clock.callLater(grace_seconds + _ABORT_AFTER_SECONDS, self._abort_all),
        ]
        for protocol in list(self.connections):
            protocol.drain()
        return drained

    def end_grace(self, why: str) -> None:
        """While draining, do not wait for the grace any longer: close what still runs now
        (journaled with ``why``), and abort what is still open a second later."""
        if self._drained is None:
            return
        for call in self._drain_calls:
            if call.active():
                call.cancel()
        self._drain_calls = [self.clock.callLater(_ABORT_AFTER_SECONDS, self._abort_all)]
        log.info(
            "fakeorigin: {why}: closing {count} connections", why=why, count=len(self.connections)
        )
        for protocol in list(self.connections):
            protocol.shut_down(f"shutdown: {why}")

    def _grace_over(self, grace_seconds: float) -> None:
        if self.connections:
            log.info(
                "fakeorigin: --shutdown-grace {grace:g} s is over: closing {count} connections",
                grace=grace_seconds,
                count=len(self.connections),
            )
        for protocol in list(self.connections):
            protocol.shut_down(f"shutdown: --shutdown-grace {grace_seconds:g} s is over")

    def _abort_all(self) -> None:
        for protocol in list(self.connections):
            protocol.transport.abortConnection()  # type: ignore[union-attr]

    def websocket_factory(self) -> WebSocketServerFactory:
        """The autobahn factory of this origin's WebSocket sessions (made at the first one)."""
        if self._websocket_factory is None:
            from fakeorigin.websocket.session import autobahn_factory  # noqa: PLC0415 (autobahn: lazily)

            self._websocket_factory = autobahn_factory(self.clock)
        return self._websocket_factory


def _no_parent(rule_id: int) -> Deferred[bool]:
    """A single process has no parent to ask: its state never makes a claim."""
    raise RuntimeError(f"rule {rule_id}: a claim without --workers")
