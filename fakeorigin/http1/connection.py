"""The state of one HTTP/1.1 connection, shared by the parts of
:class:`~fakeorigin.http1.protocol.OriginProtocol`: reading and running exchanges
(:mod:`.protocol`), the TLS handshake and backpressure (:mod:`.transport_events`), and how
the connection ends (:mod:`.lifetime`). Each part reads and sets these attributes; the
methods one part calls of another are declared here for the type checker."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import h11
    from autobahn.twisted.websocket import WebSocketServerFactory
    from twisted.internet.interfaces import IReactorTime, ITransport

    from fakeorigin.core.admission import Limits
    from fakeorigin.core.journal import Outcome
    from fakeorigin.core.profile import ConnectionPolicy
    from fakeorigin.core.state import OriginState
    from fakeorigin.http1.exchange import Exchange
    from fakeorigin.http1.framer import Http1Framer
    from fakeorigin.http1.settings import OriginSettings
    from fakeorigin.http2.session import H2Session
    from fakeorigin.transport.timers import Timer, TimerHeap, Timers
    from fakeorigin.transport.tls_facts import TlsFacts
    from fakeorigin.websocket.session import WebSocketSession


class ConnectionFactory(Protocol):
    """What a connection uses of the factory that made it
    (:class:`~fakeorigin.http1.factory.OriginFactory`)."""

    clock: IReactorTime
    settings: OriginSettings
    state: OriginState
    limits: Limits
    rng: random.Random
    timers: TimerHeap
    draining: bool
    idle_closed_connections: int

    def connection_made(self, protocol: Any) -> None: ...
    def connection_lost(self, protocol: Any) -> None: ...
    def websocket_factory(self) -> WebSocketServerFactory: ...


class ConnectionState:
    """Every attribute of a connection, in slots (set by ``OriginProtocol.__init__``)."""

    # Slots: 38 attributes would overflow the dict keys CPython shares between instances (30
    # at most), and each connection would carry a 1.5 KiB dict of its own (bench part 4).
    __slots__ = (
        "_abort_when_write_closed",
        "_client",
        "_closed_after_fin",
        "_closing",
        "_cr",
        "_deadline_call",
        "_exchange",
        "_framer",
        "_h2",
        "_h11",
        "_handshake_call",
        "_handshake_done",
        "_head_call",
        "_idle_call",
        "_idle_due",
        "_idle_since",
        "_index",
        "_late",
        "_origin_closed",
        "_over_tls",
        "_paused",
        "_plain_head",
        "_policy",
        "_producing",
        "_pumping",
        "_raw",
        "_raw_cap",
        "_raw_seen",
        "_read_closed",
        "_reading",
        "_stall_call",
        "_timers",
        "_tls",
        "_wait_call",
        "_websocket",
        "_write_closed",
        "_write_paused",
        "connection_id",
        "factory",
    )

    _abort_when_write_closed: bool
    _client: str
    _closed_after_fin: bool
    _closing: bool
    _cr: bytes
    _deadline_call: Timer | None
    _exchange: Exchange | None
    _framer: Http1Framer
    _h11: h11.Connection | None
    _handshake_call: Timer | None
    _handshake_done: bool
    _head_call: Timer | None
    _idle_call: Timer | None
    _idle_due: float
    _idle_since: float
    _index: int
    _late: str
    _origin_closed: str | None
    _over_tls: bool
    _paused: bool
    _plain_head: bytes
    _policy: ConnectionPolicy | None
    _producing: bool
    _pumping: bool
    _raw: bytearray
    _raw_cap: int
    _raw_seen: int
    _read_closed: bool
    _reading: bool
    _stall_call: Timer | None
    _timers: Timers
    _tls: TlsFacts | None
    _wait_call: Timer | None
    _websocket: WebSocketSession | None
    _h2: H2Session | None
    _write_closed: bool
    _write_paused: bool
    connection_id: int
    factory: Any  # the OriginFactory; Twisted's Protocol types it Any

    if TYPE_CHECKING:
        transport: ITransport | None

        def _advance(self) -> None: ...
        def _arm_deadline(self, exchange: Exchange) -> None: ...
        def _conclude(self, exchange: Exchange, outcome: Outcome) -> None: ...
        def _head_started(self) -> bool: ...
        def _next_request(self) -> None: ...
        def _release_producer(self) -> None: ...
        def _stop_idle_clock(self) -> None: ...
