"""How an HTTP/1.1 connection ends: waiting for the next request (``--idle-timeout``), the
origin's own close of a kept connection (a profile's ``connection`` policy) and the late
request that meets it, shutting down, and the close, lingering close and reset themselves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import ISSLTransport

from fakeorigin.core.journal import Event, Outcome
from fakeorigin.core.profile import ConnectionPolicy
from fakeorigin.http1.connection import ConnectionState
from fakeorigin.http1.exchange import Exchange, ResetWhenFlushed
from fakeorigin.transport.tls_facts import TlsFacts, tls_facts

if TYPE_CHECKING:
    from fakeorigin.http1.settings import OriginSettings


class ConnectionLifetime(ConnectionState):
    """The part of :class:`~fakeorigin.http1.protocol.OriginProtocol` that ends connections."""

    __slots__ = ()

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

    def _late_request(self, exchange: Exchange) -> str | None:
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

    def _meet_close(self, exchange: Exchange, why: str) -> None:
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

    # -- shutting down (OriginFactory.drain) -------------------------------------------------

    def drain(self) -> None:
        """The server is shutting down: a connection waiting for a request closes now, and so
        does a ``hang`` (it would only end at ``--max-duration``); a running exchange finishes
        first and its connection is not kept (:meth:`_end`)."""
        exchange = self._exchange
        if self._h2 is not None:
            self._h2.drain()
        elif exchange is not None and exchange.hanging:
            self.shut_down("shutdown: a hang ends here")
        elif exchange is None and not self._head_started() and not self._closing:
            self._closing = True
            self._lose()

    def shut_down(self, why: str) -> None:
        """Shutting down, this connection cannot wait any longer: journal an exchange that
        still runs as closed (``why`` in its timeline), and close."""
        if self._h2 is not None:
            self._h2.shut_down(why)
            return
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

    def _last_request(self, exchange: Exchange, policy: ConnectionPolicy, *, held: bool) -> None:
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
        producer = ResetWhenFlushed(transport)
        transport.registerProducer(producer, False)
        producer.armed = True
        transport.loseConnection()
