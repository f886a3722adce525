"""HTTP/2 on one connection (RFC 9113), on the sans-I/O ``h2`` library: every stream is an
exchange, chosen, run and journaled like an HTTP/1.1 request.

The connection reaches here from :class:`fakeorigin.http1.protocol.OriginProtocol`: on the
cleartext port when its first bytes are the client connection preface (prior-knowledge h2c,
RFC 9113 section 3.3), on the TLS port when ALPN agreed ``h2`` (section 3.2). A cleartext
``Upgrade: h2c`` request stays HTTP/1.1 (section 3.1 deprecates that upgrade).

What each of the engine's messages becomes (:mod:`fakeorigin.core.actions`):

- ``SendInterim``: a HEADERS frame with the 1xx ``:status`` and its fields, never with
  END_STREAM (section 8.1: "an informational (1xx) response ... zero or more"); several per
  stream are fine.
- ``SendHead``: HEADERS with ``:status``, the step's fields (names lower-cased, as section
  8.2.1 requires; the connection-specific ones of section 8.2.2 dropped), ``date``, ``server``
  and ``content-length`` when the length is known; END_STREAM when no body follows.
- ``SendData``: DATA frames within the peer's flow-control windows (section 5.2); what does
  not fit waits for a WINDOW_UPDATE. ``EndBody``: END_STREAM (or a trailers HEADERS block
  with it) once every byte went out.
- ``Wait``: a timer. ``AwaitBody``: the stream's request body until END_STREAM. Request body
  bytes are acknowledged (WINDOW_UPDATE) as the engine reads the body, so a profile that
  answers before reading leaves the client's window as it found it.
- ``End``: keep-alive ends the stream's exchange; close sends GOAWAY and closes the
  connection once it is written, or, when the request body is not complete, only ends the
  stream with RST_STREAM(NO_ERROR) (section 8.1: a complete response "prior to the client
  sending an entire request"); reset sends RST_STREAM with the step's ``h2_error`` (or GOAWAY
  with it, ``h2_connection``); hang leaves the stream open until the client resets it or
  ``--max-duration`` (RST_STREAM(CANCEL)).

The connection's own life: ``--idle-timeout`` with no stream open ends it with GOAWAY;
shutdown sends GOAWAY and lets the streams already open finish (:meth:`H2Session.drain`); bad
input from the client gets h2's GOAWAY and a bad-request record.

An HTTP/2 catalogue entry's or a ``raw`` step's frames (``WriteHttp2``) go out as they are,
after what h2 has queued, their field blocks encoded with h2's HPACK encoder; h2 does not see
them, so the stream is then over on our side without a frame of h2's
(:meth:`H2Session._raw_end`), and its record keeps journaling what the client answers for
:data:`LINGER_SECONDS`. Every frame sent and received is journaled on its stream's record
(``frame-sent``, ``frame-received``; :data:`MAX_FRAME_EVENTS` a stream).

A profile with a step HTTP/2 cannot carry (raw bytes, the HTTP/1.1 violations, WebSocket) is
answered 501 by the engine (``Profile.protocols``). Over HTTP/2 a journal record's ``index``
is the stream id and its ``http_version`` ``2``.
"""

from __future__ import annotations

import contextlib
import random
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Protocol

from h2.config import H2Configuration
from h2.connection import ConnectionState, H2Connection
from h2.errors import ErrorCodes
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RequestReceived,
    StreamEnded,
    StreamReset,
    WindowUpdated,
)
from h2.exceptions import ProtocolError
from hyperframe.frame import GoAwayFrame
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from fakeorigin.core.actions import (
    AwaitBody,
    End,
    EndBody,
    Ending,
    Note,
    SendData,
    SendHead,
    SendInterim,
    Wait,
    WriteHttp2,
)
from fakeorigin.core.engine import Action, run_exchange
from fakeorigin.core.frames import DATA, FrameReader, Seen, summary
from fakeorigin.core.journal import INTERNAL_ERROR, BodyRecord, Event, ExchangeRecord, Outcome
from fakeorigin.core.protocols import H2
from fakeorigin.core.state import Claim, OriginState, Selection, UnknownProfileError
from fakeorigin.core.wire import RequestHead
from fakeorigin.transport.tls_facts import TlsFacts


class SessionSettings(Protocol):
    """The limits a session applies (``OriginSettings``)."""

    @property
    def max_duration_seconds(self) -> float: ...

    @property
    def idle_timeout_seconds(self) -> float: ...


class SessionFactory(Protocol):
    """What a session reads of the origin's factory (``OriginFactory``, which hands the
    connection over): the state, the clock, the settings, the random source, how it asks the
    parent of ``--workers N`` for a counted rule, and the idle-close count."""

    state: OriginState
    clock: IReactorTime
    settings: SessionSettings
    rng: random.Random
    idle_closed_connections: int

    def ask(self, claim: Claim, then: Callable[[Claim, bool], None]) -> None: ...


log = Logger()

#: Body bytes held before they are pumped out mid-step (a large body is not held whole).
_PUMP_BYTES = 65_536


class Stream:
    """One stream's exchange: what the engine sees of it (an ``ExchangeView``), its record,
    and what it still has to send."""

    def __init__(
        self, session: H2Session, stream_id: int, request: RequestHead, record: ExchangeRecord
    ) -> None:
        self.session = session
        self.stream_id = stream_id
        self.request = request
        self.record = record
        self.head_time = session.clock.seconds()
        self.actions: Generator[Action, None, None] | None = None
        self.pending: deque[bytes] = deque()
        self.end: EndBody | None = None  # held until ``pending`` is sent
        self.awaiting_body = False
        self.body_read = False  # the engine read the body: acknowledge what arrives at once
        self.unacknowledged = 0
        self.finished = False
        self.hanging = False
        self.ending: End | None = None  # how it ends, once the rest of the body is out
        self.blocked = False  # the actions stopped until a window opens
        self.timer: Any = None
        self.deadline: Any = None
        self.raw = False  # an entry or a raw step wrote frames h2 does not know of
        self.frames_logged = 0

    @property
    def body(self) -> BodyRecord:
        return self.record.body

    def elapsed(self) -> float:
        return self.session.clock.seconds() - self.head_time

    def wall_clock(self) -> float:
        return self.session.clock.seconds()

    def note(self, event: Event, status: int | None = None, detail: str | None = None) -> None:
        self.record.note(self.elapsed(), event, status, detail)

    def frame(self, event: Event, seen: Seen) -> None:
        """Journal a frame sent or received on this stream (or the connection), up to
        :data:`MAX_FRAME_EVENTS`."""
        self.frames_logged += 1
        if self.frames_logged <= MAX_FRAME_EVENTS:
            self.record.note(self.elapsed(), event, None, summary(seen))
        elif self.frames_logged == MAX_FRAME_EVENTS + 1:
            self.note(Event.NOTE, None, f"{MAX_FRAME_EVENTS} frames journaled: no more")


class H2Session:
    """The HTTP/2 connection: h2's state machine fed by the transport, one :class:`Stream`
    per request."""

    def __init__(
        self,
        transport: Any,
        factory: SessionFactory,
        connection_id: int,
        client: str,
        tls: TlsFacts | None = None,
    ) -> None:
        """``client``: the peer's address as the journal writes it; ``tls``: the connection's
        TLS facts (None in cleartext)."""
        self.transport = transport
        self.factory = factory
        self.clock = factory.clock
        self.connection_id = connection_id
        self.client = client
        self.tls = tls
        config = H2Configuration(client_side=False, header_encoding=None)
        self.h2 = H2Connection(config=config)
        self.streams: dict[int, Stream] = {}
        self.closing = False
        self.draining = False
        self.goaway_sent = False
        self.peer_gone_away = False
        self._preface: bytes | None = b""  # until the first frame's type is known
        self.idle_call: Any = None
        self._frames_in = FrameReader(skip=_MAGIC_BYTES)
        self._frames_out = FrameReader()
        self._early: dict[int, list[Seen]] = {}  # received before their stream's record
        self.lingering: dict[int, Stream] = {}  # ended by an entry's frames, still listening
        self.h2.initiate_connection()
        self.flush()

    # -- input ------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.closing:
            return
        if self._preface is not None:
            # RFC 9113 section 3.4: the preface's magic "MUST be followed by a SETTINGS
            # frame" (h2 does not check it); held until the first frame's type has come.
            data = self._preface + data
            if len(data) < _FIRST_FRAME_TYPE + 1:
                self._preface = data
                return
            self._preface = None
            if data[_FIRST_FRAME_TYPE] != _SETTINGS:
                self.h2.close_connection(error_code=ErrorCodes.PROTOCOL_ERROR)
                self._bad_input(ProtocolError("the connection preface is not followed by SETTINGS"))
                return
        self._journal_frames(Event.FRAME_RECEIVED, self._frames_in.feed(data))
        try:
            events = self.h2.receive_data(data)
        except ProtocolError as err:
            self._early.clear()
            self._bad_input(err)
            return
        for event in events:
            if isinstance(event, RequestReceived):
                self._request(event.stream_id, event.headers, event.stream_ended is not None)
            elif isinstance(event, DataReceived):
                self._data(event.stream_id, event.data, event.flow_controlled_length)
                if event.stream_ended is not None:
                    self._ended(event.stream_id)
            elif isinstance(event, StreamEnded):
                self._ended(event.stream_id)
            elif isinstance(event, StreamReset):
                self._gone(event.stream_id, f"the client reset the stream ({event.error_code!r})")
            elif isinstance(event, WindowUpdated):
                self._window_opened(event.stream_id)
            elif isinstance(event, ConnectionTerminated):
                self._peer_goaway(event.error_code)
        self._early.clear()
        self.flush()

    def _journal_frames(self, event: Event, frames: list[Seen]) -> None:
        """Journal frames on their stream's record, connection frames (stream 0) on every
        open record; a received frame whose stream has no record yet (the request's HEADERS)
        is kept for it."""
        for seen in frames:
            stream_id = seen[2]
            if stream_id == 0:
                for each in (*self.streams.values(), *self.lingering.values()):
                    each.frame(event, seen)
                continue
            target = self.streams.get(stream_id) or self.lingering.get(stream_id)
            if target is not None:
                target.frame(event, seen)
            elif event is Event.FRAME_RECEIVED:
                self._early.setdefault(stream_id, []).append(seen)

    def _send(self, data: bytes) -> None:
        """Write ``data``, its frames journaled."""
        self._journal_frames(Event.FRAME_SENT, self._frames_out.feed(data))
        self.transport.write(data)

    def _peer_goaway(self, code: Any) -> None:
        """The client sent GOAWAY. With NO_ERROR the streams it already opened go on (RFC
        9113 section 6.8: GOAWAY only stops new ones; Node.js answers a server's GOAWAY with
        its own and waits for its streams), so the connection closes when the last one ends;
        h2 refuses to send anything once it received a GOAWAY, so its state is put back to
        open for them. With an error code, or nothing open, the connection closes now."""
        if code == ErrorCodes.NO_ERROR and self.streams:
            self.peer_gone_away = True
            self.h2.state_machine.state = ConnectionState.SERVER_OPEN
            return
        self.close()

    def _bad_input(self, err: ProtocolError) -> None:
        """The client broke RFC 9113 (a bad preface or frame, a HEADERS flood, a bad HPACK
        block, a window overflow, a stream id going backwards...): h2 has queued the GOAWAY
        with the error code the RFC gives; it goes out, the connection closes, and a
        bad-request record says why (the server serves on)."""
        code = getattr(err, "error_code", None) or ErrorCodes.PROTOCOL_ERROR
        if str(err) == _BAD_PREAMBLE:
            # The rest of the preface, come in a later packet, is not HTTP/2's (its start
            # was). RFC 9113 section 3.4 makes that a connection error of type
            # PROTOCOL_ERROR whose GOAWAY "MAY be omitted"; h2 queues none, but our
            # SETTINGS went out already, so the client is told why the connection ends.
            self.h2.close_connection(error_code=ErrorCodes.PROTOCOL_ERROR)
        pending = self.h2.data_to_send()
        if str(err).startswith(_HPACK_FAILURE):
            # RFC 9113 section 4.3: "A decoding error in a field block MUST be treated as a
            # connection error of type COMPRESSION_ERROR"; h2 says PROTOCOL_ERROR, so its
            # GOAWAY (the last 17 bytes queued) is sent with the right code.
            code = ErrorCodes.COMPRESSION_ERROR
            pending = _recode_goaway(pending, code)
        self._send(pending)
        why = f"HTTP/2: {err} (GOAWAY {ErrorCodes(code).name})"
        journal = self.factory.state.journal
        record = journal.open(self.connection_id, 0, self.client, self.clock.seconds())
        record.http_version = "2"
        record.error = why
        record.note(0.0, Event.BAD_REQUEST, None, why)
        record.outcome = Outcome.BAD_REQUEST
        journal.touch(record)
        journal.seal(record)
        self.goaway_sent = True
        self.close()

    def _request(self, stream_id: int, headers: Any, ended: bool) -> None:
        """A request head (``ended``: with END_STREAM, no body follows): open its record and
        run its exchange."""
        pseudo: dict[bytes, bytes] = {}
        fields = []
        for name, value in headers:
            if name.startswith(b":"):
                pseudo[name] = value
            else:
                fields.append((name, value))
        if b":authority" in pseudo and not any(name == b"host" for name, _ in fields):
            fields.insert(0, (b"host", pseudo[b":authority"]))
        request = RequestHead(
            pseudo.get(b":method", b""), pseudo.get(b":path", b""), b"2", tuple(fields)
        )
        journal = self.factory.state.journal
        record = journal.open(self.connection_id, stream_id, self.client, self.clock.seconds())
        record.method = request.method.decode("latin-1")
        record.target = request.target.decode("latin-1")
        record.http_version = "2"
        record.headers = request.headers
        record.tls = self.tls
        stream = Stream(self, stream_id, request, record)
        self.streams[stream_id] = stream
        for seen in self._early.pop(stream_id, ()):
            stream.frame(Event.FRAME_RECEIVED, seen)
        if self.idle_call is not None and self.idle_call.active():
            self.idle_call.cancel()
        self.idle_call = None
        if ended:
            stream.body.complete = True
            stream.note(Event.BODY_COMPLETE, None, "0 bytes")
        journal.touch(record)
        if self.draining:  # above the GOAWAY's last-stream-id: not processed (section 6.8)
            record.error = "fakeorigin is shutting down"
            stream.note(Event.RESET, None, "RST_STREAM (REFUSED_STREAM): shutting down")
            self.h2.reset_stream(stream_id, ErrorCodes.REFUSED_STREAM)
            self._conclude(stream, Outcome.REFUSED)
            return
        max_duration = self.factory.settings.max_duration_seconds
        stream.deadline = self.clock.callLater(max_duration, self._max_duration, stream)
        self._choose(stream, None, False)

    def _choose(self, stream: Stream, claim: Claim | None, granted: bool) -> None:
        """Pick the profile (a worker's counted rule asks the parent first) and run it."""
        state = self.factory.state
        try:
            if claim is None:
                selection = state.choose(stream.request)
            elif stream.finished:
                return
            else:
                selection = state.claimed(stream.request, claim, granted)
        except UnknownProfileError as err:
            stream.record.selected_by = "header"
            self._refuse(stream, 400, f"{err}\n")
            return
        except Exception:
            log.failure("fakeorigin: choosing the profile of an HTTP/2 stream failed")
            stream.record.error = INTERNAL_ERROR
            self._refuse(
                stream, 500, "500 Internal Server Error: fakeorigin failed (see its log)\n"
            )
            return
        if isinstance(selection, Claim):
            self.factory.ask(selection, lambda claim, yes: self._choose(stream, claim, yes))
            return
        self._run(stream, selection)

    def _run(self, stream: Stream, selection: Selection) -> None:
        stream.record.profile = selection.profile.name
        stream.record.selected_by = selection.selected_by
        stream.actions = run_exchange(
            selection.profile, stream, self.factory.rng, stream.stream_id, H2
        )
        self._advance(stream)
        self.flush()

    def _refuse(self, stream: Stream, status: int, text: str) -> None:
        content = text.encode("utf-8")
        headers = [
            (b":status", str(status).encode("ascii")),
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(content)).encode("ascii")),
        ]
        self.h2.send_headers(stream.stream_id, headers)
        stream.note(Event.RESPONSE_STARTED, status, text.strip())
        self.h2.send_data(stream.stream_id, content, end_stream=True)
        stream.note(Event.RESPONSE_COMPLETE, status)
        self._conclude(stream, Outcome.REFUSED)
        self.flush()

    def _data(self, stream_id: int, data: bytes, flow_controlled: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is None:
            self.h2.acknowledge_received_data(flow_controlled, stream_id)
            return
        if data:
            if stream.body.length == 0:
                stream.note(Event.BODY_FIRST_BYTE)
            stream.body.add(data)
        if stream.body_read or stream.finished:
            self.h2.acknowledge_received_data(flow_controlled, stream_id)
        else:
            stream.unacknowledged += flow_controlled

    def _ended(self, stream_id: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is None or stream.body.complete:
            return  # gone, or already known complete (its head carried END_STREAM)
        stream.body.complete = True
        stream.note(Event.BODY_COMPLETE, None, f"{stream.body.length} bytes")
        if stream.awaiting_body:
            stream.awaiting_body = False
            self._advance(stream)

    def _window_opened(self, stream_id: int) -> None:
        streams = list(self.streams.values()) if stream_id == 0 else [self.streams.get(stream_id)]
        for stream in streams:
            if stream is not None and stream.pending:
                self._pump(stream)
                if stream.blocked and not stream.pending:
                    stream.blocked = False  # the actions stopped for the window: go on
                    self._advance(stream)

    # -- output -----------------------------------------------------------------------------

    def _advance(self, stream: Stream) -> None:
        """Carry out the stream's actions until one has to wait; a failure of fakeorigin's
        own resets the stream (INTERNAL_ERROR) and is logged and journaled."""
        if stream.actions is None or stream.finished:
            return
        try:
            self._carry_out(stream)
        except Exception:
            log.failure("fakeorigin: an HTTP/2 stream's exchange failed")
            stream.record.error = INTERNAL_ERROR
            stream.note(Event.RESET, None, "RST_STREAM (INTERNAL_ERROR): " + INTERNAL_ERROR)
            with contextlib.suppress(Exception):
                self.h2.reset_stream(stream.stream_id, ErrorCodes.INTERNAL_ERROR)
            self._conclude(stream, Outcome.RESET)
        self.flush()

    def _carry_out(self, stream: Stream) -> None:
        assert stream.actions is not None
        for action in stream.actions:
            if isinstance(action, SendInterim):
                self._interim(stream, action)
            elif isinstance(action, SendHead):
                self._head(stream, action)
            elif isinstance(action, SendData):
                stream.pending.append(action.data)
            elif isinstance(action, EndBody):
                stream.end = action
            elif isinstance(action, Note):
                stream.note(action.event, action.status, action.detail)
            elif isinstance(action, WriteHttp2):
                self._pump(stream)
                self._frames(stream, action)
            else:
                # Whatever waits, or ends the exchange, goes after the body pieces so far:
                # sent now (the last with END_STREAM when the body is over), as the windows
                # allow.
                self._pump(stream)
                if isinstance(action, Wait):
                    stream.timer = self.clock.callLater(action.seconds, self._resume, stream)
                    break
                if isinstance(action, AwaitBody):
                    self._read_body(stream)
                    if not stream.body.complete:
                        stream.awaiting_body = True
                        break
                elif isinstance(action, End):
                    if stream.pending or stream.end is not None:
                        stream.ending = action  # once the window lets the rest out
                    else:
                        self._end(stream, action)
                    break
            if sum(map(len, stream.pending)) > _PUMP_BYTES:
                self._pump(stream)
                if stream.pending:
                    stream.blocked = True  # a window is full: a WINDOW_UPDATE carries on
                    break
        else:
            self._pump(stream)
        self.flush()

    def _resume(self, stream: Stream) -> None:
        stream.timer = None
        self._advance(stream)

    def _read_body(self, stream: Stream) -> None:
        stream.body_read = True
        if stream.unacknowledged:
            self.h2.acknowledge_received_data(stream.unacknowledged, stream.stream_id)
            stream.unacknowledged = 0

    def _interim(self, stream: Stream, action: SendInterim) -> None:
        headers = [(b":status", str(action.status).encode("ascii")), *_fields(action.fields)]
        self.h2.send_headers(stream.stream_id, headers)
        stream.note(Event.INTERIM_SENT, action.status, action.detail)

    def _head(self, stream: Stream, action: SendHead) -> None:
        head = action.head
        headers = [(b":status", str(head.status).encode("ascii")), *_fields(head.fields)]
        if head.date:
            headers.append((b"date", action.date))
        headers += _fields(head.trailing)
        if head.length is not None:
            headers.append((b"content-length", str(head.length).encode("ascii")))
        self.h2.send_headers(stream.stream_id, headers, end_stream=not action.body)
        stream.note(Event.RESPONSE_STARTED, head.status, action.detail)
        if action.content:
            stream.pending.append(action.content)

    def _frames(self, stream: Stream, action: WriteHttp2) -> None:
        """An HTTP/2 catalogue entry's or a raw step's frames, written as they are after what
        h2 queued; their field blocks go through h2's HPACK encoder (the client's decoder
        follows its table), their DATA comes off the connection's send window (h2 does not
        see it)."""
        self.flush()
        if action.event is not None:
            stream.note(action.event, action.status, action.detail)
        encode = self.h2.encoder.encode
        frames = action.frames
        self._send(b"".join(f.serialize(stream.stream_id, encode) for f in frames))
        self.h2.outbound_flow_control_window -= sum(
            len(f.payload) for f in frames if f.type == DATA
        )
        stream.raw = True

    def _pump(self, stream: Stream) -> None:
        """Send what the flow-control windows allow; END_STREAM with the last piece when the
        body is over (or alone, or on a trailers block)."""
        stream_id = stream.stream_id
        end = stream.end
        while stream.pending:
            window = min(
                self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size
            )
            if window <= 0:
                return
            chunk = stream.pending[0]
            if len(chunk) > window:
                stream.pending[0] = chunk[window:]
                chunk = chunk[:window]
            else:
                stream.pending.popleft()
            if not stream.pending and end is not None and not end.trailers:
                self.h2.send_data(stream_id, chunk, end_stream=True)
                self._ended_body(stream, end)
                return
            self.h2.send_data(stream_id, chunk)
        if end is not None:
            if end.trailers:
                self.h2.send_headers(stream_id, _fields(end.trailers), end_stream=True)
            else:
                self.h2.end_stream(stream_id)
            self._ended_body(stream, end)

    def _ended_body(self, stream: Stream, end: EndBody) -> None:
        stream.end = None
        stream.note(Event.RESPONSE_COMPLETE, end.status)
        if stream.ending is not None:
            ending, stream.ending = stream.ending, None
            self._end(stream, ending)

    def _end(self, stream: Stream, end: End) -> None:
        ending = end.ending
        if ending is Ending.HANG:
            stream.hanging = True
            stream.note(Event.HANG)
            return
        if stream.raw and ending in (Ending.KEEP_ALIVE, Ending.CLOSE):
            self._raw_end(stream, ending)
        elif ending is Ending.KEEP_ALIVE:
            self._conclude(stream, Outcome.KEEP_ALIVE)
        elif ending is Ending.RESET:
            name = end.h2_error
            code = ErrorCodes[name]
            if end.h2_connection:
                stream.note(Event.RESET, None, f"GOAWAY ({name}), then the connection is closed")
                self._conclude(stream, Outcome.RESET)
                self.h2.close_connection(error_code=code, last_stream_id=stream.stream_id)
                self.goaway_sent = True
                self.flush()
                self.close()
                return
            self.h2.reset_stream(stream.stream_id, code)
            stream.note(Event.RESET, None, f"RST_STREAM ({name})")
            self._conclude(stream, Outcome.RESET)
        elif not stream.body.complete:
            self.h2.reset_stream(stream.stream_id, ErrorCodes.NO_ERROR)
            stream.note(Event.CLOSE, None, "RST_STREAM (NO_ERROR): the request body is not read")
            self._conclude(stream, Outcome.CLOSED)
        else:
            self.h2.close_connection(last_stream_id=stream.stream_id)
            self.goaway_sent = True
            stream.note(Event.CLOSE, None, "GOAWAY, then the connection is closed")
            self._conclude(stream, Outcome.CLOSED)
            self.flush()
            self.close()

    def _raw_end(self, stream: Stream, ending: Ending) -> None:
        """After frames h2 does not know of (an entry's, a raw step's): keep-alive leaves the
        connection to the client (the stream is over on our side; h2 forgets it without a
        frame: its RST_STREAM is dropped, so frames the client still sends on it are ignored),
        close closes the connection without a GOAWAY of ours (the frames say what they say)."""
        self.flush()
        with contextlib.suppress(Exception):
            self.h2.reset_stream(stream.stream_id, ErrorCodes.CANCEL)
        self.h2.data_to_send()  # dropped: nothing the entry did not write goes out
        if ending is Ending.KEEP_ALIVE:
            self._conclude(stream, Outcome.KEEP_ALIVE, linger=True)
            return
        stream.note(Event.CLOSE, None, "the connection is closed (no GOAWAY of fakeorigin's)")
        self._conclude(stream, Outcome.CLOSED, linger=True)
        self.close()

    def _conclude(self, stream: Stream, outcome: Outcome, *, linger: bool = False) -> None:
        """The stream's exchange is over: its record is complete and sealed, or, ``linger``
        (frames h2 does not know of ended it), journals what the client sends on the stream
        and the connection for :data:`LINGER_SECONDS` more (or until the connection ends)."""
        self.flush()  # the frames h2 queued for it are journaled on its record
        stream.finished = True
        stream.record.outcome = outcome
        for call in (stream.timer, stream.deadline):
            if call is not None and call.active():
                call.cancel()
        if stream.unacknowledged:
            self.h2.acknowledge_received_data(stream.unacknowledged, stream.stream_id)
            stream.unacknowledged = 0
        journal = self.factory.state.journal
        journal.touch(stream.record)
        if linger and not self.closing:
            self.lingering[stream.stream_id] = stream
            stream.timer = self.clock.callLater(LINGER_SECONDS, self._unlinger, stream)
        else:
            journal.seal(stream.record)
        self.streams.pop(stream.stream_id, None)
        if not self.streams and not self.closing:
            if self.peer_gone_away:
                self.flush()
                self.close()
            elif self.draining:
                self._goaway()
            else:
                seconds = self.factory.settings.idle_timeout_seconds
                self.idle_call = self.clock.callLater(seconds, self._idle)

    def _unlinger(self, stream: Stream) -> None:
        stream.timer = None
        if self.lingering.pop(stream.stream_id, None) is not None:
            journal = self.factory.state.journal
            journal.touch(stream.record)
            journal.seal(stream.record)

    def _idle(self) -> None:
        """``--idle-timeout`` with no stream open: GOAWAY (NO_ERROR), then close."""
        self.idle_call = None
        if not self.streams and not self.closing:
            self.factory.idle_closed_connections += 1
            self._goaway()

    def _goaway(self) -> None:
        """GOAWAY (NO_ERROR) through h2, then close (nothing follows it)."""
        if not self.goaway_sent:
            self.goaway_sent = True
            self.h2.close_connection()
            self.flush()
        self.close()

    def drain(self) -> None:
        """The server is shutting down: GOAWAY now (RFC 9113 section 6.8: no new streams;
        those open go on), a ``hang`` ends; the connection closes when its last stream ends,
        or now if none is open."""
        self.draining = True
        last = max(self.streams, default=0)  # the highest stream processed, hung ones too
        for stream in list(self.streams.values()):
            if stream.hanging:
                stream.note(Event.CLOSE, None, "shutdown: a hang ends here (RST_STREAM CANCEL)")
                self.h2.reset_stream(stream.stream_id, ErrorCodes.CANCEL)
                self._conclude(stream, Outcome.CLOSED)
        if not self.streams:
            self._goaway()
            return
        # h2 sends nothing after its own GOAWAY, where RFC 9113 lets the streams up to the
        # frame's last-stream-id finish: the frame is written here, h2 does not know of it.
        self.flush()
        goaway = GoAwayFrame(0, last_stream_id=last, error_code=0)
        self._send(goaway.serialize())

    def shut_down(self, why: str) -> None:
        """Shutting down, no stream may wait any longer: each is journaled as closed (``why``),
        then GOAWAY and close."""
        for stream in list(self.streams.values()):
            if stream.actions is not None:
                stream.actions.close()
            stream.note(Event.CLOSE, None, why)
            self._conclude(stream, Outcome.CLOSED)
        if not self.closing:
            self._goaway()

    def _max_duration(self, stream: Stream) -> None:
        stream.deadline = None
        if stream.finished:
            return
        seconds = self.factory.settings.max_duration_seconds
        stream.note(Event.MAX_DURATION, None, f"--max-duration {seconds:g} s: RST_STREAM (CANCEL)")
        if stream.actions is not None:
            stream.actions.close()
        self.h2.reset_stream(stream.stream_id, ErrorCodes.CANCEL)
        self._conclude(stream, Outcome.MAX_DURATION)
        self.flush()

    def _gone(self, stream_id: int, why: str) -> None:
        stream = self.streams.get(stream_id)
        if stream is None:
            return
        stream.note(Event.CLIENT_GONE, None, why)
        if stream.actions is not None:
            stream.actions.close()
        self._conclude(stream, Outcome.CLIENT_GONE)

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None:
            self._send(data)

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self.transport.loseConnection()

    def connection_lost(self, why: str) -> None:
        """The connection is gone: every stream still running ends with it."""
        self.closing = True
        if self.idle_call is not None and self.idle_call.active():
            self.idle_call.cancel()
        for stream_id in list(self.streams):
            self._gone(stream_id, why)
        for stream in list(self.lingering.values()):
            if stream.timer is not None and stream.timer.active():
                stream.timer.cancel()
            stream.note(Event.NOTE, None, f"the connection ended: {why}")
            self._unlinger(stream)


def _fields(fields: Any) -> list[tuple[bytes, bytes]]:
    """Header fields for h2: names lower-cased (RFC 9113 section 8.2.1)."""
    return [(name.lower(), value) for name, value in fields]


#: The client connection preface's magic (RFC 9113 section 3.4), before its first frame.
_MAGIC_BYTES = 24

#: Frames journaled per stream, at most: the rest (a long body's DATA) only counted.
MAX_FRAME_EVENTS = 64

#: How long a stream an entry's frames ended keeps journaling what the client sends (its
#: RST_STREAM, its GOAWAY): the verdict of whatever is under test.
LINGER_SECONDS = 1.0

#: Where the first frame's type byte is: after the 24-byte magic and a 3-byte length.
_FIRST_FRAME_TYPE = 27
_SETTINGS = 0x4

#: How h2 words a field block it could not decode.
_HPACK_FAILURE = "Error decoding header block"
#: h2's ProtocolError for a connection preface that goes wrong after its first packet.
_BAD_PREAMBLE = "Invalid HTTP/2 preamble."


def _recode_goaway(pending: bytes, code: int) -> bytes:
    """``pending`` with the GOAWAY frame at its end (9-byte header, 8-byte payload, as h2
    queues it) given error code ``code``; unchanged when it does not end with one."""
    if len(pending) < 17:
        return pending
    frame = pending[-17:]
    if frame[:3] != b"\x00\x00\x08" or frame[3] != 0x7:
        return pending
    return pending[:-4] + int(code).to_bytes(4, "big")
