"""The engine's vocabulary: what it asks the protocol to do (imperatives), and how an exchange
ends. Pure data, shared by :mod:`fakeorigin.core.engine` and :mod:`fakeorigin.core.violations`.

An HTTP exchange yields :data:`Action`. Its output is in messages, not bytes: an interim
response, a final response's head with how its body is framed, body data, the end of the body
with its trailers (:data:`Outgoing`). Each protocol edge has a framer that turns them into its
bytes (:mod:`fakeorigin.http1.framer` for HTTP/1.1), so one profile can run over any framing;
what only one protocol can carry (a ``raw`` step's bytes, an HTTP/2 catalogue entry's frames)
is an explicit protocol-specific action (:class:`WriteHttp1`, :class:`WriteHttp2`). An
exchange handed to autobahn after a WebSocket opening handshake (:class:`HandOff`) then runs
a session, whose vocabulary (:mod:`fakeorigin.core.session_actions`) loads with WebSocket.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from fakeorigin.core.frames import Frame
from fakeorigin.core.journal import Event
from fakeorigin.core.profile.websocket import WebSocket
from fakeorigin.core.wire import Header


class Ending(Enum):
    """How an exchange leaves its connection."""

    KEEP_ALIVE = "keep-alive"
    CLOSE = "close"
    RESET = "reset"
    HANG = "hang"


@dataclass(frozen=True, slots=True)
class SendInterim:
    """Send an interim (1xx) response; journal ``interim-sent`` with ``status`` and ``detail``.

    Attributes:
        status: 100..199.
        reason: HTTP/1.1's reason phrase (None: the registered one); HTTP/2 has none.
        fields: the header fields, in order and case as given.
        detail: what the journal says beside the event, or None.
    """

    status: int
    reason: str | None = None
    fields: tuple[Header, ...] = ()
    detail: str | None = None
    event: ClassVar[Event] = Event.INTERIM_SENT


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """A final response's head as its step fixes it; the parts that change per exchange (the
    Date value, whether it is the connection's last response) travel in :class:`SendHead`.

    The fields go out in this order: ``fields``, then ``Date`` when ``date``, then
    ``trailing`` (``Server``), then what frames the body.

    Attributes:
        status: 101..599.
        reason: HTTP/1.1's reason phrase (None: the registered one).
        fields: the step's header fields, in order and case as given.
        date: a Date field follows ``fields`` (RFC 9110 section 6.6.1).
        trailing: fields after the Date (``Server``).
        length: the body's size, sent as Content-Length; None: no length field.
        chunked: the body is framed by the protocol as it goes (HTTP/1.1: ``Transfer-Encoding:
            chunked``, RFC 9112 section 7.1), its end marked by :class:`EndBody`.
        fixed: made once and sent many times (a step's head): a framer may keep what it
            rendered of it.
    """

    status: int
    reason: str | None
    fields: tuple[Header, ...]
    date: bool = True
    trailing: tuple[Header, ...] = ()
    length: int | None = None
    chunked: bool = False
    fixed: bool = False


@dataclass(frozen=True, slots=True)
class SendHead:
    """Send a final response's head; journal ``response-started`` with its status.

    Attributes:
        head: the head as the step fixed it.
        date: the Date field's value (an IMF-fixdate) when ``head.date``.
        last: the connection closes after this response; HTTP/1.1 says so with
            ``Connection: close`` (RFC 9112 section 9.6).
        body: a body follows; False for a response to HEAD and a 204 or 304, whose head may
            still describe a body (RFC 9110 sections 6.4.1 and 9.3.2).
        content: the start of that body, sent with the head (for a plain ``respond``, all of
            it); framed as :class:`SendData` frames it. More may follow in :class:`SendData`.
        detail: what the journal says beside the event, or None.
    """

    head: ResponseHead
    date: bytes = b""
    last: bool = False
    body: bool = True
    content: bytes = b""
    detail: str | None = None
    event: ClassVar[Event] = Event.RESPONSE_STARTED

    @property
    def status(self) -> int:
        return self.head.status


@dataclass(frozen=True, slots=True)
class SendData:
    """Send ``data`` of the response's body, framed as its head said; journal nothing."""

    data: bytes
    event: ClassVar[None] = None
    status: ClassVar[None] = None
    detail: ClassVar[None] = None


@dataclass(frozen=True, slots=True)
class EndBody:
    """The response's body is complete: end it with ``trailers`` (HTTP/1.1 chunked: the last
    chunk, RFC 9112 section 7.1.2); journal ``response-complete`` with ``status``."""

    status: int
    trailers: tuple[Header, ...] = ()
    event: ClassVar[Event] = Event.RESPONSE_COMPLETE
    detail: ClassVar[None] = None


@dataclass(frozen=True, slots=True)
class WriteHttp1:
    """HTTP/1.1 only: write ``data`` as it is (a ``raw`` step, a catalogue entry, a broken
    WebSocket handshake); journal ``event`` (with ``status``/``detail``) when given.

    Only an HTTP/1.1 connection carries it: a step that yields it declares ``http/1.1`` as
    its only protocol (:data:`fakeorigin.core.profile.HTTP1`).
    """

    data: bytes
    event: Event | None = None
    status: int | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class WriteHttp2:
    """HTTP/2 only: write ``frames`` as they are (an HTTP/2 catalogue entry), after whatever
    the connection has queued; journal ``event`` (with ``status``/``detail``) when given.

    The connection does not run them through its HTTP/2 state machine (h2 would refuse most
    of them); it encodes their field blocks with its own HPACK encoder. Only an HTTP/2
    connection carries it: an entry that yields it declares ``h2`` as its only protocol.
    """

    frames: tuple[Frame, ...]
    event: Event | None = None
    status: int | None = None
    detail: str | None = None


#: What a framer turns into bytes: the message-level actions and the HTTP/1.1-only one.
Outgoing = SendInterim | SendHead | SendData | EndBody | WriteHttp1


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
    """The exchange is over; the connection goes on as ``ending`` says. A ``reset`` step's
    HTTP/2 error code (by name) and whether it ends the whole HTTP/2 connection come along
    (HTTP/1.1 has one reset)."""

    ending: Ending
    h2_error: str = "INTERNAL_ERROR"
    h2_connection: bool = False


@dataclass(frozen=True, slots=True)
class HandOff:
    """Hand the connection to autobahn, replaying the request head into it; always last.

    Attributes:
        spec: the ``websocket`` step.
        subprotocol: the subprotocol chosen from the client's offer, or None.
        offered_subprotocols: the client's Sec-WebSocket-Protocol list, in order.
    """

    spec: WebSocket
    subprotocol: str | None
    offered_subprotocols: tuple[str, ...]


Action = (
    SendInterim
    | SendHead
    | SendData
    | EndBody
    | WriteHttp1
    | WriteHttp2
    | Note
    | Wait
    | AwaitBody
    | End
    | HandOff
)
