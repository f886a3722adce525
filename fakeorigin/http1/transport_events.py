"""What the transport tells an HTTP/1.1 connection besides its bytes: that the TLS handshake
is done (or never completes within ``--header-timeout``), and that its write buffer is full
or has drained (backpressure: the protocol is its transport's streaming producer)."""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from fakeorigin.core.journal import Event, Outcome
from fakeorigin.http1.connection import ConnectionState

log = Logger()


class TransportEvents(ConnectionState):
    """The TLS handshake and backpressure part of
    :class:`~fakeorigin.http1.protocol.OriginProtocol`."""

    __slots__ = ()

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
