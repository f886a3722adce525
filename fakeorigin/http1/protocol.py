"""The origin's Twisted protocol: h11 reads requests, the engine decides, this module acts.

Not twisted.web: twisted.web sends ``100 Continue`` on its own before application code runs
(Twisted ticket 4673), buffers the whole body before ``render`` and rewrites headers. Here h11
(server role, fed incrementally) parses one request at a time, and every response byte comes
from the engine's messages (:mod:`fakeorigin.core.engine`) through the HTTP/1.1 framer
(:mod:`fakeorigin.http1.framer`).

The protocol is one class in parts: this module reads requests and runs exchanges;
:mod:`.transport_events` hears the TLS handshake and the write buffer (backpressure);
:mod:`.lifetime` ends connections (idle timeout, the origin's own close, shutdown, close,
lingering close, reset); :mod:`.connection` holds the attributes they share, and
:mod:`.factory` makes one protocol per connection.

Per connection: for each request head, pick a profile (:meth:`OriginState.select`), open a
journal record, and run the engine's actions with the injected clock (``IReactorTime``), so
tests drive it with ``task.Clock`` and ``StringTransport``. Every pending ``callLater`` of a
connection is cancelled when the connection goes away.

When the engine hands a WebSocket opening handshake off (``HandOff``), h11 reads no more: the
connection's bytes go to an autobahn protocol (:mod:`fakeorigin.websocket.session`) while this
protocol stays the transport's, so its timers and ``OriginFactory.connections`` stay in one place.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import h11
from twisted.internet.interfaces import (
    IHalfCloseableProtocol,
    IHandshakeListener,
    IPushProducer,
    ISSLTransport,
)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from fakeorigin.core.admission import (
    Refusal,
    admit,
    body_too_large,
)
from fakeorigin.core.engine import (
    AwaitBody,
    End,
    Ending,
    HandOff,
    Note,
    Wait,
    run_exchange,
)
from fakeorigin.core.journal import INTERNAL_ERROR, RAW_REQUEST_BYTES, Event, Outcome
from fakeorigin.core.profile import ConnectionPolicy
from fakeorigin.core.state import Claim, UnknownProfileError
from fakeorigin.core.wire import RequestHead, reason_phrase, simple_request
from fakeorigin.http1.connection import ConnectionFactory
from fakeorigin.http1.exchange import Exchange
from fakeorigin.http1.framer import FRAMES, Http1Framer, error_response
from fakeorigin.http1.lifetime import ConnectionLifetime
from fakeorigin.http1.transport_events import TransportEvents
from fakeorigin.transport import send_now
from fakeorigin.transport.timers import Timer, Timers
from fakeorigin.transport.tls_facts import TlsFacts

if TYPE_CHECKING:
    # autobahn (tens of ms of imports) is imported at the first WebSocket upgrade.

    from fakeorigin.http2.session import H2Session
    from fakeorigin.websocket.session import WebSocketSession

log = Logger()


#: Pipelined bytes h11 may hold while a request is served; beyond, reading pauses (TCP flow
#: control holds the rest at the client) until that request's turn comes.
_PIPELINE_BYTES = 64 * 1024

#: Consecutive writes are gathered into one ``transport.write`` up to this many bytes; then
#: they go out, and the profile goes on only if Twisted's buffer has room (backpressure).
_FLUSH_BYTES = 64 * 1024

#: Empty lines (CRLF or a bare LF) before a request line: skipped (RFC 9112 section 2.2).
_EMPTY_LINES = re.compile(rb"(?:\r?\n)*")
_LINE_ENDS = (b"\r", b"\n")


#: HTTP/2's client connection preface (RFC 9113 section 3.4).
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@implementer(IHalfCloseableProtocol, IPushProducer, IHandshakeListener)
class OriginProtocol(TransportEvents, ConnectionLifetime, Protocol):
    """One client connection to the origin.

    It is also its transport's streaming producer: when Twisted's write buffer for a client
    that does not read passes its size (64 KiB), ``pauseProducing`` stops the profile after
    its current write, ``resumeProducing`` carries on once the buffer has drained, and a pause
    longer than ``--stall-timeout`` ends the exchange. So a client that stops reading costs
    the server a buffer, not the whole response (nor a 102 a second for ten minutes).
    """

    def __init__(self, factory: ConnectionFactory, connection_id: int) -> None:
        self.factory = factory
        self.connection_id = connection_id
        limits = factory.limits
        # Made for the first bytes a plain head cannot account for (simple_request): a
        # connection whose requests all take the plain path never needs one (865 bytes).
        self._h11: h11.Connection | None = None
        self._plain_head = b""  # the plain head of the running exchange, while h11 has none
        self._cr = b""  # a CR that may begin an empty line before the next request line
        self._timers = Timers(factory.timers)
        self._exchange: Exchange | None = None
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
        self._h2: H2Session | None = None

    @property
    def busy(self) -> bool:
        """An exchange is under way here: a request being served, a WebSocket session, or an
        HTTP/2 stream."""
        exchange = self._exchange
        if self._h2 is not None:
            return bool(self._h2.streams)
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
        if self._h2 is not None:
            self._h2.feed(data)
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
            if self._index == 0 and self._speaks_h2(data):
                self._become_h2(data)
                return
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

    def _speaks_h2(self, data: bytes) -> bool:
        """The connection's first bytes: HTTP/2's client preface (prior knowledge, RFC 9113
        section 3.3), or any bytes on a TLS connection whose ALPN agreed ``h2`` (section 3.2)."""
        if data[:4] == b"PRI ":
            return data[:24] == _H2_PREFACE[: len(data[:24])]
        if self._over_tls:
            facts = self._tls_facts()
            return facts is not None and facts[2] == "h2"
        return False

    def _become_h2(self, data: bytes) -> None:
        """Hand the connection to HTTP/2 (:mod:`fakeorigin.http2.session`): HTTP/1.1's clocks
        stop; every stream is an exchange of its own."""
        from fakeorigin.http2.session import H2Session  # noqa: PLC0415 (h2 on first use)

        self._stop_idle_clock()
        self._timers.cancel(self._head_call)
        self._head_call = None
        self._handshake_done = True
        tls = self._tls_facts() if self._over_tls else None
        self._h2 = H2Session(self.transport, self.factory, self.connection_id, self._client, tls)
        self._h2.feed(data)

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
        if self._h2 is not None:
            self._h2.connection_lost(reason.getErrorMessage())
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
    ) -> Exchange:
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
        exchange = Exchange(
            request, record, clock, now, head=head, head_size=head_size, plain=plain
        )
        self._exchange = exchange
        self._raw.clear()
        self._raw_seen = 0
        self.factory.state.journal.touch(record)
        return exchange

    def _start(self, exchange: Exchange) -> None:
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
        self._choose(exchange, None, False)

    def _choose(self, exchange: Exchange, claim: Claim | None, granted: bool) -> None:
        """Pick the profile and run it; with ``claim``, after the parent of ``--workers N``
        answered it (``granted``). A rule with a count, in a worker, asks the parent first:
        the exchange waits for the answer (what arrives meanwhile is kept as ever)."""
        record = exchange.record
        state = self.factory.state
        try:
            if claim is None:
                selection = state.choose(exchange.request)
            else:
                if exchange is not self._exchange or exchange.finished:
                    return  # the connection ended while the parent answered
                selection = state.claimed(exchange.request, claim, granted)
        except UnknownProfileError as err:
            record.selected_by = "header"
            self._refuse(exchange, 400, f"{err}\n", Outcome.REFUSED)
            return
        except Exception:
            self._internal_error(exchange, "choosing its profile")
            return
        if isinstance(selection, Claim):
            self.factory.ask(selection, lambda claim, yes: self._choose(exchange, claim, yes))
            return
        record.profile = selection.profile.name
        record.selected_by = selection.selected_by
        exchange.policy = self._policy = selection.profile.connection
        exchange.actions = run_exchange(selection.profile, exchange, self.factory.rng, record.index)
        self._advance()

    def _arm_deadline(self, exchange: Exchange) -> None:
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
                if type(action) is End:  # the usual one, looked for first
                    exchange.actions = None  # the engine is done: its frames can go
                    if action.ending is Ending.HANG:
                        self._arm_deadline(exchange)
                    self._end(exchange, action.ending)
                    return
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

    def _internal_error(self, exchange: Exchange, doing: str) -> None:
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

    def _conclude(self, exchange: Exchange, outcome: Outcome) -> None:
        """The exchange is over: record how, and wake whoever waits on the journal."""
        exchange.finished = True
        exchange.hanging = False
        exchange.record.outcome = outcome
        self.factory.state.journal.touch(exchange.record)

    def _end(self, exchange: Exchange, ending: Ending) -> None:
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

    def _hand_off(self, exchange: Exchange, hand_off: HandOff) -> None:
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

    def _websocket_ended(self, exchange: Exchange, outcome: Outcome) -> None:
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

    def _refuse(self, exchange: Exchange, status: int, text: str, outcome: Outcome) -> None:
        clock = self.factory.clock
        self._write(error_response(status, text, clock.seconds()))
        exchange.note(Event.RESPONSE_STARTED, status, text.strip())
        exchange.note(Event.CLOSE)
        self._conclude(exchange, outcome)
        self._close(linger=not exchange.body.complete)

    def _stop_exchange(self, exchange: Exchange, refusal: Refusal) -> None:
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
        exchange = Exchange(RequestHead(b"", b"", b"", ()), record, clock, clock.seconds())
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


class RefusedProtocol(OriginProtocol):
    """A connection over ``--max-connections``: reset as soon as it is made, nothing read.

    An :class:`OriginProtocol` to Twisted and to typing, but none of its state is made: a
    flood of refused connections costs one small object each.
    """

    def __init__(self, factory: ConnectionFactory) -> None:  # the exchange state is never made
        self.factory = factory

    def connectionMade(self) -> None:  # noqa: N802 (Twisted API)
        self.transport.abortConnection()  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 (Twisted API)
        """Nothing is read from a refused connection."""

    def readConnectionLost(self) -> None:  # noqa: N802 (Twisted API)
        """Nothing is read from a refused connection."""

    def connectionLost(self, reason: Failure = connectionDone) -> None:  # noqa: N802 (Twisted API)
        """It never counted as open."""
