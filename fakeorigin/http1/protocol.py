"""The origin's Twisted protocol: h11 reads requests, the engine decides, this module acts.

Not twisted.web: twisted.web sends ``100 Continue`` on its own before application code runs
(Twisted ticket 4673), buffers the whole body before ``render`` and rewrites headers. Here h11
(server role, fed incrementally) parses one request at a time, and every response byte comes
from :mod:`fakeorigin.core.engine` through :mod:`fakeorigin.core.wire`.

Per connection: for each request head, pick a profile (:meth:`OriginState.select`), open a
journal record, and run the engine's actions with the injected clock (``IReactorTime``), so
tests drive it with ``task.Clock`` and ``StringTransport``. Every pending ``callLater`` of a
connection is cancelled when the connection goes away.

When the engine hands a WebSocket opening handshake off (``HandOff``), h11 reads no more: the
connection's bytes go to an autobahn protocol (:mod:`fakeorigin.websocket.session`) while this
protocol stays the transport's, so its timers and ``OriginFactory.connections`` stay in one place.
"""

from __future__ import annotations

import random
import re
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import h11
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IHalfCloseableProtocol,
    IHandshakeListener,
    IPushProducer,
    IReactorTime,
    ISSLTransport,
    ITransport,
)
from twisted.internet.protocol import Protocol, ServerFactory, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from fakeorigin.core.admission import (
    DEFAULT_MAX_CONNECTIONS,
    Limits,
    Refusal,
    admit,
    body_too_large,
)
from fakeorigin.core.engine import (
    Action,
    AwaitBody,
    End,
    Ending,
    HandOff,
    Note,
    Wait,
    run_exchange,
)
from fakeorigin.core.journal import RAW_REQUEST_BYTES, BodyRecord, Event, ExchangeRecord, Outcome
from fakeorigin.core.profile import ConnectionPolicy
from fakeorigin.core.state import OriginState, UnknownProfileError
from fakeorigin.core.wire import RequestHead, reason_phrase, simple_request
from fakeorigin.http1.framer import FRAMES, Http1Framer, error_response
from fakeorigin.transport import send_now
from fakeorigin.transport.timers import Timer, TimerHeap, Timers
from fakeorigin.transport.tls_facts import TlsFacts, tls_facts

if TYPE_CHECKING:
    # autobahn (tens of ms of imports) is imported at the first WebSocket upgrade.
    from autobahn.twisted.websocket import WebSocketServerFactory

    from fakeorigin.websocket.session import WebSocketSession

log = Logger()

#: A record's ``error`` when fakeorigin itself failed (the traceback is in the log).
INTERNAL_ERROR = "internal error: see the server log"

#: Pipelined bytes h11 may hold while a request is served; beyond, reading pauses (TCP flow
#: control holds the rest at the client) until that request's turn comes.
_PIPELINE_BYTES = 64 * 1024

#: Consecutive writes are gathered into one ``transport.write`` up to this many bytes; then
#: they go out, and the profile goes on only if Twisted's buffer has room (backpressure).
_FLUSH_BYTES = 64 * 1024

#: Empty lines (CRLF or a bare LF) before a request line: skipped (RFC 9112 section 2.2).
_EMPTY_LINES = re.compile(rb"(?:\r?\n)*")
_LINE_ENDS = (b"\r", b"\n")

#: After the shutdown grace, connections still open this much later are aborted (a WebSocket
#: whose client does not answer the 1001, a close the peer does not complete).
_ABORT_AFTER_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class OriginSettings:
    """Per-connection limits.

    Attributes:
        max_duration_seconds: an exchange still running after this long is closed and
            journaled as ``max-duration`` (``hang`` ends here).
        linger_seconds: how long a lingering close drains an unread upload before closing.
        header_timeout_seconds: how long a request head may take to arrive, from its first
            byte (or from the end of the previous exchange, when it began during that one);
            then it is answered 408 (``--header-timeout``).
        idle_timeout_seconds: how long a connection may wait with no request under way (no
            byte of one yet: a new connection, or a kept one after its response); then it is
            closed with a FIN (``--idle-timeout``).
        stall_timeout_seconds: how long the response may wait on a client that reads nothing
            (Twisted's write buffer full, the profile paused); then the exchange is journaled
            ``stalled`` and the connection reset (``--stall-timeout``).
    """

    max_duration_seconds: float = 600.0
    linger_seconds: float = 2.0
    header_timeout_seconds: float = 60.0
    idle_timeout_seconds: float = 300.0
    stall_timeout_seconds: float = 60.0


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
            return _Refused(self)
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


@dataclass(slots=True, eq=False)
class _Exchange:
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
class _ResetWhenFlushed:
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


@implementer(IHalfCloseableProtocol, IPushProducer, IHandshakeListener)
class OriginProtocol(Protocol):
    """One client connection to the origin.

    It is also its transport's streaming producer: when Twisted's write buffer for a client
    that does not read passes its size (64 KiB), ``pauseProducing`` stops the profile after
    its current write, ``resumeProducing`` carries on once the buffer has drained, and a pause
    longer than ``--stall-timeout`` ends the exchange. So a client that stops reading costs
    the server a buffer, not the whole response (nor a 102 a second for ten minutes).
    """

    # Slots: 37 attributes would overflow the dict keys CPython shares between instances (30
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

    def __init__(self, factory: OriginFactory, connection_id: int) -> None:
        self.factory = factory
        self.connection_id = connection_id
        limits = factory.limits
        # Made for the first bytes a plain head cannot account for (simple_request): a
        # connection whose requests all take the plain path never needs one (865 bytes).
        self._h11: h11.Connection | None = None
        self._plain_head = b""  # the plain head of the running exchange, while h11 has none
        self._cr = b""  # a CR that may begin an empty line before the next request line
        self._timers = Timers(factory.timers)
        self._exchange: _Exchange | None = None
        self._framer = Http1Framer()  # the engine's messages as HTTP/1.1 bytes
        self._index = 0
        # The bytes of the request head under way (for the checks, and for the journal when
        # it is refused), and how many arrived in all.
        self._raw = bytearray()
        self._raw_seen = 0
        self._raw_cap = max(RAW_REQUEST_BYTES, limits.max_header_bytes)
        self._reading = True
        self._paused = False
        self._pumping = False
        self._closing = False
        self._read_closed = False
        self._closed_after_fin = False
        self._client = "unknown"
        self._wait_call: Timer | None = None
        self._deadline_call: Timer | None = None
        self._head_call: Timer | None = None
        self._idle_call: Timer | None = None
        self._idle_due = 0.0
        self._idle_since = 0.0
        # The connection policy of the latest exchange's profile; once the origin has closed
        # (or holds a close until the next request), why, and what a late request gets.
        self._policy: ConnectionPolicy | None = None
        self._origin_closed: str | None = None
        self._late = "ignore"
        self._write_closed = False  # our half-close is done: nothing of ours is buffered
        self._abort_when_write_closed = False
        self._write_paused = False  # Twisted's write buffer is full: the profile waits
        self._stall_call: Timer | None = None
        self._producing = False  # registered as the transport's streaming producer
        self._over_tls = False
        self._tls: TlsFacts | None = None  # read at the first request (the handshake is done)
        self._handshake_done = False
        self._handshake_call: Timer | None = None
        self._websocket: WebSocketSession | None = None

    @property
    def busy(self) -> bool:
        """An exchange is under way here: a request being served, or a WebSocket session."""
        exchange = self._exchange
        return self._websocket is not None or (exchange is not None and not exchange.finished)

    # -- Twisted's side -------------------------------------------------------------------

    def connectionMade(self) -> None:  # noqa: N802 (Twisted API)
        # A TCP transport's peer as the tuple it was accepted with: getPeer() builds an
        # address object for every connection.
        client = getattr(self.transport, "client", None)
        if type(client) is tuple and len(client) >= 2:
            self._client = f"{client[0]}:{client[1]}"
        else:
            peer = self.transport.getPeer()  # type: ignore[union-attr]
            host, port = getattr(peer, "host", None), getattr(peer, "port", None)
            self._client = f"{host}:{port}" if host is not None else str(peer)
        self.factory.connection_made(self)
        self._over_tls = ISSLTransport.providedBy(self.transport)
        self.transport.registerProducer(self, True)  # type: ignore[union-attr]
        self._producing = True
        if self._over_tls:
            self._handshake_call = self._timers.later(
                self.factory.settings.header_timeout_seconds, self._handshake_timed_out
            )
        self._write_on_accept()
        self._become_idle()

    # -- TLS (IHandshakeListener) -----------------------------------------------------------

    def handshakeCompleted(self) -> None:  # noqa: N802 (Twisted API)
        """The TLS handshake is done: requests may come."""
        self._handshake_done = True
        self._timers.cancel(self._handshake_call)
        self._handshake_call = None

    def _handshake_timed_out(self) -> None:
        """No complete TLS handshake within ``--header-timeout``: journaled, and a FIN on the
        TCP connection (there is no TLS session to send close_notify in)."""
        self._handshake_call = None
        if self._handshake_done:
            return
        seconds = self.factory.settings.header_timeout_seconds
        self._journal_tls_failure(
            f"the TLS handshake was not complete within {seconds:g} s (--header-timeout)"
        )
        self._closing = True
        self._stop_idle_clock()
        self._release_producer()
        transport: Any = self.transport
        getattr(transport, "transport", transport).loseConnection()

    def _journal_tls_failure(self, why: str) -> None:
        """A record for a connection whose TLS never carried a request (bad-request)."""
        clock = self.factory.clock
        self._index += 1
        record = self.factory.state.journal.open(
            self.connection_id, self._index, self._client, clock.seconds()
        )
        record.error = why
        record.note(0.0, Event.BAD_REQUEST, None, why)
        record.outcome = Outcome.BAD_REQUEST
        self.factory.state.journal.touch(record)
        self.factory.state.journal.seal(record)

    # -- backpressure (IPushProducer) -------------------------------------------------------

    def pauseProducing(self) -> None:  # noqa: N802 (Twisted API)
        """Twisted's write buffer is over its size: the profile writes nothing more until it
        drains, for up to ``--stall-timeout``."""
        self._write_paused = True
        if self._stall_call is None:
            self._stall_call = self._timers.later(
                self.factory.settings.stall_timeout_seconds, self._stalled
            )
        exchange = self._exchange
        if exchange is not None and exchange.running:
            self._arm_deadline(exchange)  # a pause may outlast --max-duration

    def resumeProducing(self) -> None:  # noqa: N802 (Twisted API)
        """The buffer has drained: the profile carries on where it paused."""
        self._write_paused = False
        self._timers.cancel(self._stall_call)
        self._stall_call = None
        self._advance()

    def stopProducing(self) -> None:  # noqa: N802 (Twisted API)
        """The connection is going: :meth:`connectionLost` does the rest."""

    def _stalled(self) -> None:
        """The client has taken no byte for ``--stall-timeout`` seconds: end the exchange
        (journaled ``stalled``) and reset the connection, since a FIN would wait behind the
        bytes the client does not read."""
        self._stall_call = None
        if not self._write_paused:
            return
        seconds = self.factory.settings.stall_timeout_seconds
        why = f"the client read nothing for {seconds:g} s while the response waited"
        exchange = self._exchange
        if exchange is not None and exchange.record.outcome is Outcome.RUNNING:
            if exchange.actions is not None:
                exchange.actions.close()
                exchange.actions = None
            exchange.note(Event.STALLED, None, why + " (--stall-timeout)")
            self._conclude(exchange, Outcome.STALLED)
        else:
            log.info(
                "connection {id}: {why}; reset (--stall-timeout)", id=self.connection_id, why=why
            )
        self._timers.cancel_all()
        self._closing = True
        self._reading = False
        self.transport.abortConnection()  # type: ignore[union-attr]

    # -- waiting for a request (--idle-timeout) ---------------------------------------------

    @property
    def _waiting(self) -> bool:
        """No request under way and nothing else happening: the client owes the next head."""
        return (
            self._exchange is None
            and not self._head_started()
            and self._reading
            and not self._closing
            and not self._read_closed
            and self._websocket is None
        )

    def _idle_seconds(self) -> float:
        """How long this connection may wait for a request: the latest profile's
        ``connection.idle_timeout`` (unless it holds the close for the next request), else
        ``--idle-timeout``."""
        policy = self._policy
        if policy is None or policy.idle_timeout is None or policy.close_on_next_request:
            settings: OriginSettings = self.factory.settings
            return settings.idle_timeout_seconds
        return policy.idle_timeout

    def _become_idle(self) -> None:
        """The connection waits for a request from now on. One timer per connection, armed
        only when none is pending that falls due in time: a kept connection serving request
        after request costs no timer each, and the timer, when it fires, looks at how long the
        wait has lasted."""
        now = self.factory.clock.seconds()
        self._idle_since = now
        if self._closing:
            return
        if self._policy is None:  # (the usual case, without a call)
            due = now + self.factory.settings.idle_timeout_seconds
        else:
            due = now + self._idle_seconds()
        if self._idle_call is not None and self._idle_due <= due + 1e-6:
            return
        self._timers.cancel(self._idle_call)
        self._idle_call = self._timers.later(due - now, self._idle_timed_out)
        self._idle_due = due

    def _stop_idle_clock(self) -> None:
        """The connection is closing: it waits for no request any more."""
        self._timers.cancel(self._idle_call)
        self._idle_call = None

    def _idle_timed_out(self) -> None:
        """``--idle-timeout`` (or the profile's ``connection.idle_timeout``): a connection
        still waiting for a request after this long is closed cleanly, a FIN after what was
        written (:meth:`_close_kept`). Nothing is journaled unless a request crosses the FIN:
        no request began (a head that began is ``--header-timeout``'s)."""
        self._idle_call = None
        if not self._waiting:
            return  # busy: the wait that follows arms the timer again
        timeout = self._idle_seconds()
        now = self.factory.clock.seconds()
        waited = now - self._idle_since
        if waited < timeout - 1e-6:  # (a float's rounding is not a new wait)
            self._idle_call = self._timers.later(timeout - waited, self._idle_timed_out)
            self._idle_due = now + timeout - waited
            return
        self.factory.idle_closed_connections += 1
        policy = self._policy
        if (
            policy is not None
            and policy.idle_timeout is not None
            and not policy.close_on_next_request
        ):
            why = f"the origin closed the connection after {timeout:g} s idle"
            self._close_kept(why + " (connection.idle_timeout)", policy.late_request)
        else:
            self._close_kept(
                f"the origin closed the connection after {timeout:g} s idle (--idle-timeout)",
                "ignore",
            )

    def _close_kept(self, why: str, late: str) -> None:
        """The origin ends a kept connection on its own (idle, or after its last request): a
        FIN now, then reading goes on until the client's FIN (or the linger time, 2 s), so that
        a request that crossed the FIN is journaled (``late-request``) and answered as ``late``
        says (:meth:`_meet_close`) instead of vanishing into the kernel's RST."""
        self._origin_closed = why
        self._late = late
        self._closing = True
        self._stop_idle_clock()
        self._release_producer()
        transport: Any = self.transport
        half_close = getattr(transport, "loseWriteConnection", None)
        if self._read_closed or half_close is None or ISSLTransport.providedBy(transport):
            transport.loseConnection()
            return
        half_close()
        self._timers.later(self.factory.settings.linger_seconds, transport.loseConnection)

    def _late_request(self, exchange: _Exchange) -> str | None:
        """Why this request meets the origin's close, if it does: the origin closed the
        connection (or holds a close for it), or it arrives after the profile's
        ``connection.idle_timeout`` with ``close_on_next_request`` (then the profile's
        ``late_request`` says how it is answered)."""
        if self._origin_closed is not None:
            return self._origin_closed
        policy = self._policy
        if policy is None or policy.idle_timeout is None or not policy.close_on_next_request:
            return None
        idle = exchange.head_time - self._idle_since
        if idle < policy.idle_timeout - 1e-6:  # (a float's rounding is not a shorter wait)
            return None
        self._late = policy.late_request
        return (
            f"the origin closed the connection after {idle:.3f} s idle "
            f"(connection.idle_timeout: {policy.idle_timeout:g}, close_on_next_request)"
        )

    def _meet_close(self, exchange: _Exchange, why: str) -> None:
        """A request met the origin's close (the keep-alive race): journal it, never answer
        it, and end the connection as ``late_request`` says: ``ignore``, a FIN (already sent,
        or sent now) and nothing more; ``reset``, an RST (what a kernel answers bytes sent to
        a socket its server closed)."""
        exchange.started = True
        self._reading = False  # nothing after it is read as a request
        exchange.note(Event.LATE_REQUEST, None, f"{why}: not answered")
        if self._late == "reset":
            exchange.note(Event.RESET)
            self._conclude(exchange, Outcome.RESET)
            if not self._closing:
                self._reset()  # what was written goes out first, then the RST
            elif self._write_closed:
                self.transport.abortConnection()  # type: ignore[union-attr]
            else:
                self._abort_when_write_closed = True  # after the earlier response is out
            return
        exchange.note(Event.CLOSE)
        self._conclude(exchange, Outcome.CLOSED)
        if not self._closing:
            self._close_kept(why, self._late)

    def _write_on_accept(self) -> None:
        """An active profile that is one ``violate`` step speaks first if its entry does.

        ``respond-before-request`` writes a response before any request (RFC 9112 section
        9.2); every other entry and every other profile writes nothing here. No request can
        pick the profile yet, so only the active one counts; nothing is journaled (there is
        no exchange yet).
        """
        state = self.factory.state
        first = state.profile(state.active).steps[0]
        if first.kind == "violate":
            from fakeorigin.core.violations import accept_bytes  # noqa: PLC0415 (see engine._violate)

            data = accept_bytes(first.value, self.factory.clock.seconds())
            if data:
                send_now.write(self.transport, data)

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 (Twisted API)
        if self._websocket is not None:
            self._websocket.feed(data)
            return
        closed = self._h11 is not None and self._h11.their_state is h11.MUST_CLOSE
        if not self._reading or closed:
            # A refused head's connection reads no more requests; and after the client's last
            # request (HTTP/1.0, or Connection: close) what follows is not a request (RFC 9112
            # section 9.6; h11 would call it an error).
            return
        exchange = self._exchange
        between = self._raw_seen == 0 and (exchange is None or exchange.body.complete)
        if between and (self._cr or data.startswith(_LINE_ENDS)):  # no byte of a head yet
            data = self._skip_empty_lines(data)
            if not data:
                return
        if exchange is None and self._h11 is None and not self._read_closed:
            request = simple_request(data)
            if request is not None:
                # One plain head and nothing else, the usual case: h11's per-request state
                # machine cost more than the rest of the exchange.
                self._plain_head = data
                exchange = self._open_request(request, data, len(data), plain=True)
                exchange.body.complete = True  # no body, nothing after it: nothing to pump
                exchange.note(Event.BODY_COMPLETE, None, "0 bytes")
                self._start(exchange)
                return
        if exchange is None or exchange.body.complete:
            # What arrives between requests is the next head: kept for the checks and the
            # journal.
            room = self._raw_cap - len(self._raw)
            if room > 0:
                self._raw += data[:room]
            self._raw_seen += len(data)
        try:
            self._parser().receive_data(data)
        except RuntimeError:
            return  # h11 is past the end of this connection (closing): input is discarded
        self._pump()
        if self._exchange is None and self._head_call is None and self._head_started():
            # A head still incomplete after this packet: a complete one needs no timer.
            self._await_head()
        self._hold_pipeline()

    def _skip_empty_lines(self, data: bytes) -> bytes:
        """``data`` without the empty lines in front of a request line.

        RFC 9112 section 2.2: "a server that is expecting to receive and parse a request-line
        SHOULD ignore at least one empty line (CRLF) received prior to the request-line" (some
        clients send one after a request body); h11 refuses them. CRLF and a bare LF (section
        2.2 lets a recipient take LF as a line terminator) are skipped, any number of them; a
        CR at the end of ``data`` waits for the next bytes to say whether it starts one more.
        """
        data = self._cr + data
        self._cr = b""
        found = _EMPTY_LINES.match(data)
        if found is not None:
            data = data[found.end() :]
        if data == b"\r":
            self._cr, data = data, b""
        return data

    def _hold_pipeline(self) -> None:
        """Stop reading while a request runs and more than :data:`_PIPELINE_BYTES` of what
        follows it wait in h11 (which would otherwise buffer whatever a client sends); read
        again once they are fewer. ``_raw_seen`` counts them: h11 takes none while it waits
        for the running request to end."""
        exchange = self._exchange
        over = (
            exchange is not None
            and exchange.body.complete
            and not self._closing
            and self._raw_seen > max(_PIPELINE_BYTES, self._raw_cap)
        )
        if over != self._paused:
            self._paused = over
            if over:
                self.transport.pauseProducing()  # type: ignore[union-attr]
            else:
                self.transport.resumeProducing()  # type: ignore[union-attr]

    def readConnectionLost(self) -> None:  # noqa: N802 (Twisted API)
        """The client shut down its sending side (FIN) but may still read: RFC 9112 section 9.6.

        Requests already received are served; then the connection closes. A body cut short
        by the FIN is a malformed request (h11 says so).
        """
        self._read_closed = True
        if self._websocket is not None:
            # autobahn knows no half-close: for it the connection ends here.
            self._lose()
            return
        exchange = self._exchange
        if exchange is not None and not (exchange.finished and not exchange.hanging):
            exchange.note(Event.CLIENT_FIN)
        self._parser().receive_data(b"")
        self._pump()

    def writeConnectionLost(self) -> None:  # noqa: N802 (Twisted API)
        """Our own half-close is done (every byte written went out before the FIN); the drain
        goes on, unless a late request is owed its reset."""
        self._write_closed = True
        if self._abort_when_write_closed:
            self.transport.abortConnection()  # type: ignore[union-attr]

    def connectionLost(self, reason: Failure = connectionDone) -> None:  # noqa: N802 (Twisted API)
        if self._websocket is not None:
            self._websocket.protocol.connectionLost(reason)
            self._websocket.release()
            self._websocket = None  # the session's end callback refers to this protocol
        self._timers.cancel_all()
        if self._over_tls and not self._handshake_done and self._index == 0:
            from OpenSSL.SSL import Error as TLSError  # noqa: PLC0415 (TLS connections only)

            if reason.check(TLSError):  # type: ignore[no-untyped-call]
                self._journal_tls_failure(f"the TLS handshake failed: {reason.getErrorMessage()}")
        exchange = self._exchange
        if exchange is not None:
            if exchange.actions is not None:
                exchange.actions.close()
            if not exchange.finished or exchange.hanging:
                exchange.note(Event.CLIENT_GONE, None, reason.getErrorMessage())
                self._conclude(exchange, Outcome.CLIENT_GONE)
            self.factory.state.journal.seal(exchange.record)
        self.factory.connection_lost(self)

    # -- shutting down (OriginFactory.drain) -------------------------------------------------

    def drain(self) -> None:
        """The server is shutting down: a connection waiting for a request closes now, and so
        does a ``hang`` (it would only end at ``--max-duration``); a running exchange finishes
        first and its connection is not kept (:meth:`_end`)."""
        exchange = self._exchange
        if exchange is not None and exchange.hanging:
            self.shut_down("shutdown: a hang ends here")
        elif exchange is None and not self._head_started() and not self._closing:
            self._closing = True
            self._lose()

    def shut_down(self, why: str) -> None:
        """Shutting down, this connection cannot wait any longer: journal an exchange that
        still runs as closed (``why`` in its timeline), and close."""
        exchange = self._exchange
        if exchange is not None and exchange.record.outcome is Outcome.RUNNING:
            if exchange.actions is not None:
                exchange.actions.close()
            exchange.note(Event.CLOSE, None, why)
            self._conclude(exchange, Outcome.CLOSED)
        self._reading = False
        if self._websocket is not None and self._websocket.close(1001, "shutting down"):
            return  # RFC 6455 section 7.4.1: 1001, going away
        self._timers.cancel_all()
        self._lose()

    def _parser(self) -> h11.Connection:
        """h11, made on first need; told of the running exchange's plain head, so that what
        the client sends next (a pipelined request, a FIN) is read as it follows that one."""
        if self._h11 is None:
            limit = self.factory.limits.max_header_bytes
            self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=limit)
            if self._plain_head:
                self._h11.receive_data(self._plain_head)
                while self._h11.next_event() is not h11.NEED_DATA:
                    pass  # the Request and its EndOfMessage, already journaled
                self._plain_head = b""
        return self._h11

    # -- reading ----------------------------------------------------------------------------

    def _head_started(self) -> bool:
        """True once a byte of the next request head has arrived."""
        return self._raw_seen > 0

    def _await_head(self) -> None:
        """Start the ``--header-timeout`` clock for the request head under way: from its first
        byte, or from the end of the previous exchange when it began during that one. An idle
        connection (no byte of a head) has no clock: ``--max-connections`` bounds those."""
        self._timers.cancel(self._head_call)
        self._head_call = self._timers.later(
            self.factory.settings.header_timeout_seconds, self._head_timed_out
        )

    def _head_timed_out(self) -> None:
        """No complete request head in time: 408 (RFC 9110 section 15.5.9) and close."""
        self._head_call = None
        if self._exchange is not None or self._closing:
            return
        seconds = self.factory.settings.header_timeout_seconds
        why = f"the request head was not complete within {seconds:g} s (--header-timeout)"
        self._refuse_head(408, why)

    def _pump(self) -> None:
        """Take every event h11 has ready and start the exchange they complete.

        A new exchange starts only once the events that arrived with its head are taken, so
        the engine sees a body that came in the same packet as already received. Pipelined
        requests wait in h11 until their turn; this loop (not recursion) serves each in turn.
        """
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._take_events():
                exchange = self._exchange
                if exchange is None or exchange.started:
                    break
                self._start(exchange)
                if self._exchange is not None:
                    break  # still running, or ended by closing the connection
        finally:
            self._pumping = False
        self._close_when_input_done()

    def _close_when_input_done(self) -> None:
        """After the client's FIN, close once nothing is left to serve.

        A ``hang`` waits for the client to leave, and a FIN is how a client leaves.
        """
        exchange = self._exchange
        if not self._read_closed or self._closed_after_fin:
            return
        if exchange is not None and exchange.hanging:
            exchange.note(Event.CLIENT_GONE, None, "the client sent FIN during hang")
            self._conclude(exchange, Outcome.CLIENT_GONE)
        idle = exchange is None or exchange.finished
        if idle:
            self._closed_after_fin = True
            self._lose()

    def _take_events(self) -> bool:
        """Feed h11's ready events to the exchange; False once h11 refused the input."""
        while True:
            if self._h11 is None:
                return True  # nothing buffered: every request so far took the plain path
            if self._h11.their_state is h11.MUST_CLOSE:
                return True  # the last request is complete; bytes after it are discarded
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as err:
                self._bad_request(err)
                return False
            if isinstance(event, h11.Request):
                self._open(event)
            elif isinstance(event, h11.Data):
                self._body_data(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._body_complete()
            else:  # NEED_DATA, PAUSED, ConnectionClosed: nothing more for now
                return True

    def _body_data(self, data: bytes) -> None:
        exchange = self._exchange
        if exchange is None or not data:
            return
        if exchange.body.length == 0:
            exchange.note(Event.BODY_FIRST_BYTE)
        exchange.body.add(data)
        if exchange.refusal is None and exchange.running:
            exchange.refusal = body_too_large(exchange.body.length, self.factory.limits)
            if exchange.refusal is not None and exchange.started:
                self._stop_exchange(exchange, exchange.refusal)

    def _body_complete(self) -> None:
        exchange = self._exchange
        if exchange is None:
            return
        exchange.body.complete = True
        exchange.note(Event.BODY_COMPLETE, None, f"{exchange.body.length} bytes")
        trailing = b"" if self._h11 is None else self._h11.trailing_data[0]
        self._raw = bytearray(trailing[: self._raw_cap])
        self._raw_seen = len(trailing)
        if exchange.awaiting_body:
            exchange.awaiting_body = False
            self._advance()
        elif exchange.finished and self._closing:
            # A lingering close has drained the upload: nothing more is expected.
            self._lose()

    # -- running an exchange ----------------------------------------------------------------

    def _open(self, event: h11.Request) -> None:
        """A request head is complete: journal it; it starts when the pump is done."""
        request = RequestHead(
            method=bytes(event.method),
            target=bytes(event.target),
            http_version=bytes(event.http_version),
            headers=tuple((bytes(n), bytes(v)) for n, v in event.headers.raw_items()),
        )
        head_size = self._raw_seen - len(self._parser().trailing_data[0])
        self._open_request(request, bytes(self._raw[:head_size]), head_size)

    def _open_request(
        self, request: RequestHead, head: bytes, head_size: int, *, plain: bool = False
    ) -> _Exchange:
        self._timers.cancel(self._head_call)
        self._head_call = None
        self._index += 1
        clock = self.factory.clock
        now = clock.seconds()
        record = self.factory.state.journal.open(self.connection_id, self._index, self._client, now)
        if self._over_tls:
            record.tls = self._tls_facts()
        record.method = request.method.decode("latin-1")
        record.target = request.target.decode("latin-1")
        record.http_version = request.http_version.decode("latin-1")
        record.headers = request.headers
        exchange = _Exchange(
            request, record, clock, now, head=head, head_size=head_size, plain=plain
        )
        self._exchange = exchange
        self._raw.clear()
        self._raw_seen = 0
        self.factory.state.journal.touch(record)
        return exchange

    def _start(self, exchange: _Exchange) -> None:
        """Check the request, pick the profile (read once, so later changes never touch this
        exchange) and run it."""
        exchange.started = True
        record = exchange.record
        head, exchange.head = exchange.head, b""
        if self._origin_closed is not None or self._policy is not None:
            late = self._late_request(exchange)
            if late is not None:
                self._meet_close(exchange, late)
                return
        if self.factory.draining:
            record.error = "fakeorigin is shutting down"
            self._refuse(
                exchange, 503, f"503 Service Unavailable: {record.error}\n", Outcome.REFUSED
            )
            return
        limits = self.factory.limits
        refusal = (
            admit(head, exchange.head_size, exchange.request, limits, plain=exchange.plain)
            or exchange.refusal
        )
        if refusal is not None:
            record.raw_request = head[:RAW_REQUEST_BYTES]
            self._stop_exchange(exchange, refusal)
            return
        try:
            selection = self.factory.state.select(exchange.request)
        except UnknownProfileError as err:
            record.selected_by = "header"
            self._refuse(exchange, 400, f"{err}\n", Outcome.REFUSED)
            return
        except Exception:
            self._internal_error(exchange, "choosing its profile")
            return
        record.profile = selection.profile.name
        record.selected_by = selection.selected_by
        exchange.policy = self._policy = selection.profile.connection
        exchange.actions = run_exchange(selection.profile, exchange, self.factory.rng, record.index)
        self._advance()

    def _arm_deadline(self, exchange: _Exchange) -> None:
        """``--max-duration``, armed when the exchange first waits for something that may
        outlast it (the body, a hang, a WebSocket session, a wait that ends after it): most
        exchanges end in the call that started them, and a trickle's waits each end before
        it, so neither keeps a timer pending for ten minutes."""
        if self._deadline_call is None:
            deadline = exchange.head_time + self.factory.settings.max_duration_seconds
            self._deadline_call = self._timers.later(
                deadline - self.factory.clock.seconds(), self._max_duration
            )

    def _resume(self) -> None:
        self._wait_call = None
        self._advance()

    def _advance(self) -> None:
        """Carry out the engine's actions until one of them has to wait."""
        exchange = self._exchange
        if exchange is None or exchange.actions is None or exchange.finished:
            return
        if self._write_paused:
            return  # resumeProducing carries on
        out: list[bytes] = []  # consecutive writes (a head and its body) go out as one
        size = 0
        try:
            for action in exchange.actions:
                frame = FRAMES.get(type(action))
                if frame is not None:
                    data = frame(self._framer, action)
                    out.append(data)
                    event = action.event  # type: ignore[union-attr]
                    # An interim response leaves room for a final 400 on a broken body.
                    exchange.wrote = exchange.wrote or event is not Event.INTERIM_SENT
                    if event is not None:
                        exchange.note(event, action.status, action.detail)  # type: ignore[union-attr]
                    size += len(data)
                    if size >= _FLUSH_BYTES:
                        self._write(b"".join(out))
                        out.clear()
                        size = 0
                        if self._write_paused:
                            return  # resumeProducing carries on
                    continue
                if out:
                    self._write(b"".join(out))
                    out.clear()
                if isinstance(action, Note):
                    exchange.note(action.event, action.status, action.detail)
                elif isinstance(action, Wait):
                    self._wait_call = self._timers.later(action.seconds, self._resume)
                    limit = self.factory.settings.max_duration_seconds
                    if exchange.elapsed() + action.seconds >= limit:
                        self._arm_deadline(exchange)  # else the exchange is back before it
                    return
                elif isinstance(action, AwaitBody):
                    if not exchange.body.complete:
                        exchange.awaiting_body = True
                        self._arm_deadline(exchange)
                        return
                elif isinstance(action, End):
                    exchange.actions = None  # the engine is done: its frames can go
                    if action.ending is Ending.HANG:
                        self._arm_deadline(exchange)
                    self._end(exchange, action.ending)
                    return
                elif isinstance(action, HandOff):
                    self._arm_deadline(exchange)
                    self._hand_off(exchange, action)
                    return
            if out:
                self._write(b"".join(out))
        except Exception:
            if out:  # what the profile wrote before it failed goes out first, as it would have
                self._write(b"".join(out))
            self._internal_error(exchange, "running its profile")

    def _write(self, data: bytes) -> None:
        """Send ``data`` at once when the connection is idle (:mod:`fakeorigin.transport.send_now`),
        except while pipelined requests are served in a row: then Twisted's buffer gathers
        their responses into one ``send``, as it always did."""
        if self._pumping:
            self.transport.write(data)  # type: ignore[union-attr]
        else:
            send_now.write(self.transport, data)

    def _internal_error(self, exchange: _Exchange, doing: str) -> None:
        """fakeorigin itself failed (a bug): log the traceback, journal it, and answer 500 if
        no final response has begun, else abort the connection (the client cannot tell a
        response cut short from a complete one otherwise)."""
        log.failure(
            "fakeorigin: exchange {id} failed while {doing}", id=exchange.record.id, doing=doing
        )
        exchange.record.error = INTERNAL_ERROR
        if exchange.actions is not None:
            exchange.actions.close()
        self._timers.cancel_all()
        if exchange.wrote or self._closing:
            self._conclude(exchange, Outcome.CLOSED)
            self.transport.abortConnection()  # type: ignore[union-attr]
            return
        text = "500 Internal Server Error: fakeorigin failed on this request (see its log)\n"
        self._refuse(exchange, 500, text, Outcome.CLOSED)

    def _conclude(self, exchange: _Exchange, outcome: Outcome) -> None:
        """The exchange is over: record how, and wake whoever waits on the journal."""
        exchange.finished = True
        exchange.hanging = False
        exchange.record.outcome = outcome
        self.factory.state.journal.touch(exchange.record)

    def _end(self, exchange: _Exchange, ending: Ending) -> None:
        if ending is Ending.HANG:
            exchange.finished = True
            exchange.hanging = True
            exchange.note(Event.HANG)
            return
        self._timers.cancel(self._deadline_call)
        self._deadline_call = None
        client_closed = self._h11 is not None and self._h11.their_state is h11.CLOSED
        if ending is Ending.KEEP_ALIVE and client_closed:
            ending = Ending.CLOSE  # the client's FIN came after this request: nothing follows
        policy = exchange.policy
        if (
            policy is not None
            and policy.max_requests is not None
            and exchange.record.index >= policy.max_requests
            and ending in (Ending.KEEP_ALIVE, Ending.CLOSE)
            and exchange.body.complete
            and not self.factory.draining
        ):
            self._last_request(exchange, policy, held=ending is Ending.KEEP_ALIVE)
        elif ending is Ending.KEEP_ALIVE and self.factory.draining:
            exchange.note(Event.CLOSE, None, "shutting down: the connection is not kept")
            self._conclude(exchange, Outcome.CLOSED)
            self._close(linger=False)
        elif ending is Ending.KEEP_ALIVE:
            self._conclude(exchange, Outcome.KEEP_ALIVE)
            self._next_request()
        elif ending is Ending.RESET:
            exchange.note(Event.RESET)
            self._conclude(exchange, Outcome.RESET)
            self._reset()
        else:
            exchange.note(Event.CLOSE)
            self._conclude(exchange, Outcome.CLOSED)
            self._close(linger=not exchange.body.complete)

    def _last_request(self, exchange: _Exchange, policy: ConnectionPolicy, *, held: bool) -> None:
        """The connection's last request by ``connection.max_requests`` has its response: the
        origin closes now (a FIN; its response said ``Connection: close`` if ``close_header``),
        or, with ``close_on_next_request`` and no close announced, when the next request
        arrives. Either way reading goes on, so a request that follows is journaled."""
        limit = policy.max_requests
        why = f"the origin closed the connection after {limit} requests (connection.max_requests)"
        if held and policy.close_on_next_request:
            exchange.note(
                Event.NOTE,
                None,
                f"the connection's last request (connection.max_requests: {limit}): the origin "
                "closes it when the next request arrives (close_on_next_request)",
            )
            self._conclude(exchange, Outcome.KEEP_ALIVE)
            self._origin_closed = why
            self._late = policy.late_request
        else:
            silent = ", without Connection: close" if held else ""
            exchange.note(
                Event.CLOSE,
                None,
                f"the connection's last request (connection.max_requests: {limit}){silent}",
            )
            self._conclude(exchange, Outcome.CLOSED)
            self._close_kept(why, policy.late_request)
        self._next_request()

    def _hand_off(self, exchange: _Exchange, hand_off: HandOff) -> None:
        """Give the connection to autobahn: h11 reads no more, every byte goes to autobahn.

        The request head is replayed from the RequestHead, then what h11 had buffered after
        it (frames a client sent without waiting for the 101).
        """
        from fakeorigin.websocket.session import WebSocketSession, replay_head  # noqa: PLC0415

        exchange.finished = True
        buffered = b"" if self._h11 is None else self._h11.trailing_data[0]
        session = WebSocketSession(
            hand_off,
            exchange.request,
            exchange.record,
            factory=self.factory.websocket_factory(),
            timers=self._timers,
            elapsed=exchange.elapsed,
            on_end=lambda outcome: self._websocket_ended(exchange, outcome),
        )
        self._websocket = session
        self._release_producer()  # autobahn writes from now on
        session.start(self.transport, replay_head(exchange.request) + buffered)  # type: ignore[arg-type]

    def _websocket_ended(self, exchange: _Exchange, outcome: Outcome) -> None:
        if exchange.record.outcome is Outcome.RUNNING:  # else --max-duration ended it
            self._conclude(exchange, outcome)

    def _next_request(self) -> None:
        """The next request gets a fresh h11 connection, fed what followed this one.

        h11 tracks our side only from what is sent through it, and nothing is: telling it
        about a response (two sends and ``start_next_cycle``) cost more than parsing the
        request. A new connection is the state a new cycle would be in: this request was
        complete and neither side asked to close.
        """
        self._plain_head = b""
        if self._h11 is not None:
            buffered, closed = self._h11.trailing_data
            self._h11 = None
            buffered = self._skip_empty_lines(buffered)
            self._raw = bytearray(buffered[: self._raw_cap])
            self._raw_seen = len(buffered)
            if buffered:
                self._parser().receive_data(buffered)
            if closed:
                self._parser().receive_data(b"")
        if self._exchange is not None:
            self.factory.state.journal.seal(self._exchange.record)  # nothing changes it now
        self._exchange = None
        if self._head_started():
            self._idle_since = self.factory.clock.seconds()  # no wait: the next head is here
            self._await_head()
        else:
            self._become_idle()
        self._pump()
        self._hold_pipeline()

    def _refuse(self, exchange: _Exchange, status: int, text: str, outcome: Outcome) -> None:
        clock = self.factory.clock
        self._write(error_response(status, text, clock.seconds()))
        exchange.note(Event.RESPONSE_STARTED, status, text.strip())
        exchange.note(Event.CLOSE)
        self._conclude(exchange, outcome)
        self._close(linger=not exchange.body.complete)

    def _stop_exchange(self, exchange: _Exchange, refusal: Refusal) -> None:
        """The request is refused while its exchange runs (or before it starts): answer the
        refusal's status if no final response has begun, else close."""
        exchange.started = True
        exchange.record.error = refusal.reason
        if exchange.actions is not None:
            exchange.actions.close()
        self._timers.cancel_all()
        exchange.note(Event.BAD_REQUEST, refusal.status, refusal.reason)
        if not exchange.wrote:
            text = f"{refusal.status} {reason_phrase(refusal.status)}: {refusal.reason}\n"
            self._refuse(exchange, refusal.status, text, Outcome.BAD_REQUEST)
            return
        self._conclude(exchange, Outcome.BAD_REQUEST)
        self._close(linger=False)

    def _bad_request(self, err: h11.RemoteProtocolError) -> None:
        """h11 refused the request (RFC 9112): answer its status hint and close."""
        exchange = self._exchange
        if exchange is not None and exchange.running:
            # Broken framing in the body: answered if no final response has begun.
            self._stop_exchange(exchange, Refusal(err.error_status_hint, str(err)))
            return
        if exchange is not None:
            return  # the exchange already ended; the rest of its input is being drained
        self._refuse_head(err.error_status_hint, str(err))

    def _refuse_head(self, status: int, why: str) -> None:
        """Refuse a request head that never became a request: a record with its raw bytes, the
        status, and a close; nothing more is read as a request on this connection."""
        self._timers.cancel(self._head_call)
        self._head_call = None
        self._reading = False
        clock = self.factory.clock
        self._index += 1
        record = self.factory.state.journal.open(
            self.connection_id, self._index, self._client, clock.seconds()
        )
        record.raw_request = bytes(self._raw[:RAW_REQUEST_BYTES])
        record.error = why
        if self._over_tls:
            record.tls = self._tls_facts()
        exchange = _Exchange(RequestHead(b"", b"", b"", ()), record, clock, clock.seconds())
        exchange.started = True
        self._exchange = exchange
        exchange.note(Event.BAD_REQUEST, status, why)
        self._refuse(
            exchange, status, f"{status} {reason_phrase(status)}: {why}\n", Outcome.BAD_REQUEST
        )

    def _max_duration(self) -> None:
        self._deadline_call = None
        exchange = self._exchange
        if exchange is None:
            return
        exchange.note(Event.MAX_DURATION, None, f"{self.factory.settings.max_duration_seconds} s")
        self._conclude(exchange, Outcome.MAX_DURATION)
        if self._websocket is not None:
            # RFC 6455 section 7.4.1: 1001, going away; the closing handshake timeout drops it.
            if not self._websocket.close(1001, "max-duration"):
                self._lose()
            return
        self._timers.cancel(self._wait_call)
        if exchange.actions is not None:
            exchange.actions.close()
        self._close(linger=not exchange.body.complete)

    # -- ending a connection ------------------------------------------------------------

    def _close(self, *, linger: bool) -> None:
        """FIN after flushing; with ``linger``, drain the unread upload first (lingering close)."""
        self._closing = True
        self._stop_idle_clock()
        self._release_producer()
        transport: Any = self.transport
        half_close = getattr(transport, "loseWriteConnection", None)
        if (
            not linger
            or self._read_closed
            or half_close is None
            or ISSLTransport.providedBy(transport)
        ):
            transport.loseConnection()
            return
        half_close()
        self._timers.later(self.factory.settings.linger_seconds, transport.abortConnection)

    def _tls_facts(self) -> TlsFacts | None:
        """The connection's TLS version, SNI name and ALPN protocol, read once."""
        if self._tls is None:
            self._tls = tls_facts(self.transport)
        return self._tls

    def _release_producer(self) -> None:
        """Stop being the transport's producer, as the connection closes: with a paused
        streaming producer registered, Twisted's TCP transport resumes it when the buffer has
        drained instead of carrying out the close, and its TLS transport sends no
        close_notify (nor FIN) while any producer is registered."""
        if self._producing:
            self._producing = False
            self.transport.unregisterProducer()  # type: ignore[union-attr]

    def _lose(self) -> None:
        """``loseConnection``: a FIN once everything written has gone out."""
        self._release_producer()
        self.transport.loseConnection()  # type: ignore[union-attr]

    def _reset(self) -> None:
        """An RST once what was written has gone out. Over TLS the RST is the TCP
        connection's, after the encrypted bytes it holds (no close_notify: a reset is a
        reset); a TLS transport with nothing below it to flush is aborted at once."""
        self._closing = True
        self._stop_idle_clock()
        self._release_producer()
        transport: Any = self.transport
        if ISSLTransport.providedBy(transport):
            below = getattr(transport, "transport", None)
            if below is None or getattr(below, "producer", True) is not None:
                transport.abortConnection()
                return
            transport = below
        producer = _ResetWhenFlushed(transport)
        transport.registerProducer(producer, False)
        producer.armed = True
        transport.loseConnection()


class _Refused(OriginProtocol):
    """A connection over ``--max-connections``: reset as soon as it is made, nothing read.

    An :class:`OriginProtocol` to Twisted and to typing, but none of its state is made: a
    flood of refused connections costs one small object each.
    """

    def __init__(self, factory: OriginFactory) -> None:  # the exchange state is never made
        self.factory = factory

    def connectionMade(self) -> None:  # noqa: N802 (Twisted API)
        self.transport.abortConnection()  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 (Twisted API)
        """Nothing is read from a refused connection."""

    def readConnectionLost(self) -> None:  # noqa: N802 (Twisted API)
        """Nothing is read from a refused connection."""

    def connectionLost(self, reason: Failure = connectionDone) -> None:  # noqa: N802 (Twisted API)
        """It never counted as open."""
