"""The hand-off of a connection to autobahn after a WebSocket opening handshake.

Theory of operation. The engine decides that a request is a valid opening handshake and
yields :class:`~fakeorigin.core.actions.HandOff`. The origin protocol then stops feeding h11 and
builds a :class:`WebSocketSession`: an autobahn ``WebSocketServerProtocol`` connected to the
same transport, into which the request head is replayed (rebuilt from the ``RequestHead``,
which keeps order and case) followed by whatever h11 had buffered after it, as autobahn's
``WebSocketResource`` does for twisted.web. autobahn parses the handshake again, sends the 101
and does every frame; fakeorigin never touches a frame.

Unlike ``WebSocketResource``, the origin protocol stays the transport's protocol and forwards
``dataReceived`` and ``connectionLost``: its ``connectionLost`` then still cancels every timer
of the connection and keeps ``OriginFactory.connections`` right, and TLS needs no reaching into
``ProtocolWrapper``.

What the session does is decided by :func:`fakeorigin.core.engine.run_session` (echo, or a
script); this module carries its actions out with the connection's timers and journals the
handshake, a bounded message log and both Close frames on the exchange's record. autobahn's own
timers (opening and closing handshake timeouts, auto-ping) are switched off: they run on
txaio's global reactor, not on the injected clock. The closing-handshake timeout is ours.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Generator
from typing import Any

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from autobahn.websocket.types import ConnectionRequest
from twisted.internet.interfaces import IReactorTime, ITransport

from fakeorigin.core.actions import HandOff, Note, Wait
from fakeorigin.core.engine import SERVER_HEADER, WRONG_KEY
from fakeorigin.core.engine.session import run_session
from fakeorigin.core.journal import (
    Event,
    ExchangeRecord,
    Outcome,
)
from fakeorigin.core.session_actions import (
    AwaitMessage,
    CloseSession,
    Message,
    SendMessage,
    SendPing,
    SessionAction,
)
from fakeorigin.core.websocket_journal import (
    MAX_WEBSOCKET_MESSAGES,
    Opcode,
    WebSocketClose,
    WebSocketRecord,
)
from fakeorigin.core.wire import CRLF, RequestHead, has_header
from fakeorigin.transport.timers import Timer, Timers

#: How long fakeorigin waits for the client's Close after sending its own, then drops the
#: connection (RFC 6455 section 7.1.1: the server closes the TCP connection first).
CLOSE_HANDSHAKE_SECONDS = 2.0


def replay_head(request: RequestHead) -> bytes:
    """The request head as autobahn must read it: request line, header lines, blank line."""
    line = b"%s %s HTTP/%s\r\n" % (request.method, request.target, request.http_version)
    return line + b"".join(name + b": " + value + CRLF for name, value in request.headers) + CRLF


def autobahn_factory(clock: IReactorTime) -> WebSocketServerFactory:
    """The autobahn factory every session of one origin shares.

    ``server=None``: fakeorigin adds its own ``Server`` with the other 101 headers, so that a
    profile's ``headers`` can replace it. Per-session options are set on each protocol.
    """
    factory: WebSocketServerFactory = WebSocketServerFactory(  # type: ignore[no-untyped-call]
        server=None, reactor=clock
    )
    return factory


def _accept_deflate(offers: list[Any]) -> PerMessageDeflateOfferAccept | None:
    """Accept the client's first permessage-deflate offer (RFC 7692) with its parameters."""
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            accept: PerMessageDeflateOfferAccept = PerMessageDeflateOfferAccept(offer)  # type: ignore[no-untyped-call]
            return accept
    return None


def _decline(_offers: list[Any]) -> None:
    return None


def _ignore(_data: bytes) -> None:
    """Where a released session's bytes would go (none come: the connection is gone)."""


class _Server(WebSocketServerProtocol):
    """autobahn's server protocol, its options set from the step, every event reported.

    autobahn copies each option (``CONFIG_ATTRS``) from the factory unless the protocol
    already has it when it connects, so these are per session.
    """

    openHandshakeTimeout: float  # noqa: N815 (autobahn's option names)
    closeHandshakeTimeout: float  # noqa: N815 (autobahn's option names)
    autoPingInterval: float  # noqa: N815 (autobahn's option names)
    failByDrop: bool  # noqa: N815 (autobahn's option names)
    echoCloseCodeReason: bool  # noqa: N815 (autobahn's option names)
    maxMessagePayloadSize: int  # noqa: N815 (autobahn's option names)
    maxFramePayloadSize: int  # noqa: N815 (autobahn's option names)
    perMessageCompressionAccept: Callable[[list[Any]], Any]  # noqa: N815 (autobahn's option names)

    def __init__(self, session: WebSocketSession) -> None:
        super().__init__()
        self.session = session
        spec = session.spec
        self.openHandshakeTimeout = 0  # the handshake is replayed whole, at once
        self.closeHandshakeTimeout = 0  # ours: WebSocketSession.await_close_reply
        self.autoPingInterval = 0
        self.failByDrop = False  # fail with a Close frame (1002, 1009, ...), then drop
        self.echoCloseCodeReason = True  # answer a client's Close with its code and reason
        self.maxMessagePayloadSize = spec.max_message_bytes
        self.maxFramePayloadSize = spec.max_message_bytes
        self.perMessageCompressionAccept = _accept_deflate if spec.permessage_deflate else _decline

    # autobahn also takes a list of values per name (one header line each); its annotation
    # says str.
    def onConnect(  # type: ignore[override]  # noqa: N802 (autobahn API)
        self, request: ConnectionRequest
    ) -> tuple[str | None, dict[str, list[str]]]:
        return self.session.subprotocol, self.session.headers_101()

    def succeedHandshake(self, res: Any) -> None:  # noqa: N802 (autobahn API)
        if self.session.spec.handshake == "bad-accept":
            # autobahn computes Sec-WebSocket-Accept from the key it stored: give it another.
            self._wskey = WRONG_KEY.decode("ascii")
        super().succeedHandshake(res)

    def failHandshake(  # noqa: N802 (autobahn API)
        self,
        reason: str,
        code: int = 400,
        responseHeaders: Any = None,  # noqa: N803 (autobahn API)
    ) -> None:
        self.session.handshake_failed(code, reason)
        super().failHandshake(reason, code, responseHeaders)

    def onOpen(self) -> None:  # noqa: N802 (autobahn API)
        self.session.opened(self.http_response_data.encode("utf-8"))

    def onMessage(self, payload: bytes, isBinary: bool) -> None:  # noqa: N802, N803
        self.session.received(payload, isBinary)

    def onPing(self, payload: bytes) -> None:  # noqa: N802 (autobahn API)
        self.session.log("received", Opcode.PING, payload)
        super().onPing(payload)  # answers with a Pong

    def onPong(self, payload: bytes) -> None:  # noqa: N802 (autobahn API)
        self.session.log("received", Opcode.PONG, payload)

    def onCloseFrame(self, code: int, reasonRaw: bytes) -> bool | None:  # noqa: N802, N803
        self.session.close_frame("received", code, reasonRaw)
        return super().onCloseFrame(code, reasonRaw)

    def dropConnection(self, abort: bool = False) -> None:  # noqa: N802 (autobahn API)
        """After both Close frames the server closes the TCP connection first (RFC 6455
        section 7.1.1). autobahn aborts it when the server began the closing handshake (an
        RST, to keep TIME_WAIT off a busy server); fakeorigin closes it with a FIN, as
        clients and proxies expect of a clean close. An unclean end still aborts."""
        super().dropConnection(abort and not self.wasClean)

    def sendMessage(  # noqa: N802 (autobahn API)
        self,
        payload: bytes,
        isBinary: bool = False,  # noqa: N803 (autobahn API)
        fragmentSize: int | None = None,  # noqa: N803 (autobahn API)
        sync: bool = False,
        doNotCompress: bool = False,  # noqa: N803 (autobahn API)
    ) -> None:
        self.session.log("sent", Opcode.BINARY if isBinary else Opcode.TEXT, payload)
        super().sendMessage(payload, isBinary, fragmentSize, sync, doNotCompress)  # type: ignore[no-untyped-call]

    def sendPing(self, payload: bytes | None = None) -> None:  # noqa: N802 (autobahn API)
        if self.state == self.STATE_OPEN:
            self.session.log("sent", Opcode.PING, payload or b"")
        super().sendPing(payload)

    def sendPong(self, payload: bytes | None = None) -> None:  # noqa: N802 (autobahn API)
        if self.state == self.STATE_OPEN:
            self.session.log("sent", Opcode.PONG, payload or b"")
        super().sendPong(payload)  # type: ignore[no-untyped-call]

    def sendCloseFrame(  # noqa: N802 (autobahn API)
        self,
        code: int | None = None,
        reasonUtf8: bytes | None = None,  # noqa: N803 (autobahn API)
        isReply: bool = False,  # noqa: N803 (autobahn API)
    ) -> None:
        if self.state == self.STATE_OPEN:
            self.session.close_frame("sent", code, reasonUtf8)
            if not isReply:
                self.session.await_close_reply()
        super().sendCloseFrame(code, reasonUtf8, isReply)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:  # noqa: N802, N803
        self.session.ended(wasClean, self.wasNotCleanReason)


class WebSocketSession:
    """One connection handed to autobahn: its protocol, its session actions, its journal.

    Attributes:
        spec: the ``websocket`` step.
        subprotocol: the engine's choice from the client's offer.
        protocol: the autobahn protocol speaking on the connection.
    """

    def __init__(
        self,
        hand_off: HandOff,
        request: RequestHead,
        record: ExchangeRecord,
        *,
        factory: WebSocketServerFactory,
        timers: Timers,
        elapsed: Callable[[], float],
        on_end: Callable[[Outcome], None],
    ) -> None:
        self.spec = hand_off.spec
        self.subprotocol = hand_off.subprotocol
        self._record = record
        self._timers = timers
        self._elapsed = elapsed
        self._on_end = on_end
        self._actions: Generator[SessionAction, Message | None, None] | None = None
        self._echo = self.spec.mode == "echo"
        self._inbox: deque[Message] = deque()
        self._awaiting = False
        self._pending: Timer | None = None
        self._close_timeout: Timer | None = None
        self.websocket = WebSocketRecord(
            handshake=self.spec.handshake,
            offered_subprotocols=list(hand_off.offered_subprotocols),
            subprotocol=self.subprotocol,
            offered_extensions=[
                v.decode("latin-1") for v in request.values(b"sec-websocket-extensions")
            ],
        )
        record.websocket = self.websocket
        self.protocol = _Server(self)
        self.protocol.factory = factory
        #: Where the connection's bytes go once autobahn has it: autobahn's
        #: framework-independent entry, which its Twisted ``dataReceived`` calls after a debug
        #: line whose arguments are formatted even with debug off (a tenth of an echo's cost).
        self.feed: Callable[[bytes], None] = self.protocol._dataReceived

    def start(self, transport: ITransport, data: bytes) -> None:
        """Connect autobahn to ``transport`` and give it the request head and what followed."""
        self.protocol.makeConnection(transport)  # type: ignore[no-untyped-call]
        self.protocol.dataReceived(data)

    def headers_101(self) -> dict[str, list[str]]:
        """``Server`` (unless ``headers`` has one) and ``headers``, for autobahn's 101."""
        headers: dict[str, list[str]] = {}
        pairs = list(self.spec.headers)
        if not has_header(pairs, b"server"):
            pairs.insert(0, (b"Server", SERVER_HEADER))
        for name, value in pairs:
            headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
        return headers

    # -- autobahn's events ----------------------------------------------------------------

    def handshake_failed(self, code: int, reason: str) -> None:
        """autobahn refused the replayed handshake with a bare status line (for what the
        engine does not check, such as a Host with a port that is no number)."""
        self._record.note(self._elapsed(), Event.RESPONSE_STARTED, code, reason)

    def opened(self, response_head: bytes) -> None:
        """The 101 went out: journal it, start the session and ``close_after``."""
        websocket = self.websocket
        websocket.upgraded_at = self._elapsed()
        websocket.response_head = response_head
        websocket.extensions = [
            line.split(b":", 1)[1].strip().decode("latin-1")
            for line in response_head.split(CRLF)
            if line.lower().startswith(b"sec-websocket-extensions:")
        ]
        negotiated = []
        if self.subprotocol is not None:
            negotiated.append(f"subprotocol {self.subprotocol}")
        if websocket.extensions:
            negotiated.append(f"extensions {', '.join(websocket.extensions)}")
        self._record.note(
            websocket.upgraded_at, Event.UPGRADE_SENT, 101, "; ".join(negotiated) or None
        )
        if self.spec.close_after is not None:
            self._timers.later(self.spec.close_after, self._close_after)
        self._actions = run_session(self.spec)
        self._advance(None)

    def received(self, data: bytes, binary: bool) -> None:
        """A complete message from the client: log it, then hand it to an awaiting action.

        ``echo`` needs no session actions: the message goes straight back, and the journal
        gets the same two entries at one clock read.
        """
        opcode = Opcode.BINARY if binary else Opcode.TEXT
        if self._echo and self._actions is not None:
            self._log_echo(opcode, data)
            # autobahn's own sendMessage: _Server's would log the message a second time.
            WebSocketServerProtocol.sendMessage(self.protocol, data, binary)  # type: ignore[no-untyped-call]
            return
        self.log("received", opcode, data)
        message = Message(data, binary)
        if self._awaiting:
            self._awaiting = False
            self._timers.cancel(self._pending)
            self._advance(message)
        elif self._actions is not None:
            self._inbox.append(message)

    def close_frame(self, direction: str, code: int | None, reason: bytes | None) -> None:
        """A Close frame sent or received: in the message log, the record and the timeline."""
        payload = (b"" if code is None else struct.pack("!H", code)) + (reason or b"")
        self.log(direction, Opcode.CLOSE, payload)
        if direction == "received":
            self._stop()  # RFC 6455 section 5.5.1: no data frames after a Close
        text = None if reason is None else reason.decode("utf-8", "replace")
        close = WebSocketClose(self._since_upgrade(), code, text)
        if direction == "sent":
            self.websocket.close_sent = close
            event = Event.WEBSOCKET_CLOSE_SENT
        else:
            self.websocket.close_received = close
            event = Event.WEBSOCKET_CLOSE_RECEIVED
        detail = " ".join(str(part) for part in (code, text) if part)
        self._record.note(self._elapsed(), event, None, detail or None)

    def await_close_reply(self) -> None:
        """We started the closing handshake: drop the connection if no reply comes."""
        self._stop()
        self._close_timeout = self._timers.later(
            CLOSE_HANDSHAKE_SECONDS, self.protocol.onCloseHandshakeTimeout
        )

    def ended(self, clean: bool, unclean_reason: str | None) -> None:
        """The connection is gone (autobahn's ``onClose``): the session is over."""
        self._stop()
        self._timers.cancel(self._close_timeout)
        self.websocket.clean = clean
        self.websocket.unclean_reason = None if clean else unclean_reason
        detail = "clean" if clean else f"not clean: {unclean_reason}"
        self._record.note(self._elapsed(), Event.WEBSOCKET_CLOSED, None, detail)
        upgraded = self.websocket.upgraded_at is not None
        self._on_end(Outcome.UPGRADED if upgraded else Outcome.REFUSED)

    def release(self) -> None:
        """The connection is gone (autobahn has had ``connectionLost``): break the reference
        cycles, so that the session is freed at once rather than at a full collection.

        autobahn resolves its ``is_closed`` future with the protocol itself, and the session
        and its protocol refer to each other. Left as cycles, each ended session waited for
        the collector's oldest generation, which a busy server reaches rarely, with its
        permessage-deflate zlib state (hundreds of KiB allocated outside Python): the long
        load run peaked 250 MiB higher.
        """
        protocol = self.protocol
        protocol.is_closed = None
        del protocol.session
        self.feed = _ignore

    def close(self, code: int, reason: str) -> bool:
        """Start the closing handshake now; False when it is already under way."""
        if self.protocol.state != self.protocol.STATE_OPEN:
            return False
        self.protocol.sendCloseFrame(code, reason.encode("utf-8"), isReply=False)
        return True

    # -- carrying out the session's actions -------------------------------------------------

    def log(self, direction: str, opcode: Opcode, payload: bytes) -> None:
        """Add to the bounded message log, timed from the 101."""
        if len(self.websocket.logged) >= MAX_WEBSOCKET_MESSAGES:
            self.websocket.messages_dropped += 1  # full: no clock read
            return
        self.websocket.log(self._since_upgrade(), direction, opcode, payload)

    def _log_echo(self, opcode: Opcode, data: bytes) -> None:
        """An echoed message, received and sent at the same moment, in the message log."""
        websocket = self.websocket
        if len(websocket.logged) >= MAX_WEBSOCKET_MESSAGES:
            websocket.messages_dropped += 2  # full: no clock read
            return
        seconds = self._since_upgrade()
        websocket.log(seconds, "received", opcode, data)
        websocket.log(seconds, "sent", opcode, data)

    def _since_upgrade(self) -> float:
        return self._elapsed() - (self.websocket.upgraded_at or 0.0)

    def _stop(self) -> None:
        """No more session actions: cancel what is pending and close the generator."""
        self._awaiting = False
        self._timers.cancel(self._pending)
        self._pending = None
        if self._actions is not None:
            self._actions.close()
            self._actions = None

    def _close_after(self) -> None:
        self.close(1000, "close_after")

    def _timed_out(self) -> None:
        self._pending = None
        self._awaiting = False
        self._advance(None)

    def _resume(self) -> None:
        self._pending = None
        self._advance(None)

    def _advance(self, value: Message | None) -> None:
        """Run the session's actions until one has to wait."""
        while self._actions is not None:
            try:
                action = self._actions.send(value)
            except StopIteration:
                self._actions = None
                return
            value = None
            if isinstance(action, SendMessage):
                message = action.message
                self.protocol.sendMessage(message.data, message.binary)
            elif isinstance(action, SendPing):
                self.protocol.sendPing(action.data)
            elif isinstance(action, AwaitMessage):
                if self._inbox:
                    value = self._inbox.popleft()
                    continue
                self._awaiting = True
                if action.timeout_seconds is not None:
                    self._pending = self._timers.later(action.timeout_seconds, self._timed_out)
                return
            elif isinstance(action, Wait):
                self._pending = self._timers.later(action.seconds, self._resume)
                return
            elif isinstance(action, Note):
                self._record.note(self._elapsed(), action.event, action.status, action.detail)
            elif isinstance(action, CloseSession):
                self.close(action.code, action.reason)  # closes the generator too
