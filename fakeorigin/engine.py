"""The engine: turns (profile, request) into actions, and does no I/O.

Theory of operation. :func:`run_exchange` is a generator. It walks the profile's steps and
yields actions; the caller (the Twisted protocol, or a test) performs each one and then asks for
the next. While it runs, the engine reads the live state of the exchange through an
:class:`ExchangeView`: how long since the request head was complete, and how much of the request
body has arrived. So a ``continue`` decides at the moment it runs whether the client is still
waiting, and a ``repeat`` schedules each period against the time it began, so its cadence does
not drift.

Actions (imperatives; the caller owns the socket and the clock):

- Messages, which the connection's framer turns into its protocol's bytes and which are
  journaled as they go out (the engine knows nothing of framing): :class:`SendInterim` (a 1xx
  with its fields), :class:`SendHead` (a final response's head, with how its body is framed),
  :class:`SendData` (body data), :class:`EndBody` (the end of the body, with its trailers).
- :class:`WriteHttp1`: these bytes, as they are, on an HTTP/1.1 connection: what only
  HTTP/1.1 can carry (a ``raw`` step, a broken WebSocket handshake; the violation catalogue's
  entries).
- :class:`Note`: journal an event, write nothing (a skipped interim response, say).
- :class:`Wait`: resume after this many seconds (never negative).
- :class:`AwaitBody`: resume once the request body is complete.
- :class:`End`: the exchange is over: keep the connection for the next request, close it,
  reset it, or leave it hanging. The last action, unless :class:`HandOff` is.
- :class:`HandOff`: the request is a WebSocket opening handshake: hand the connection to
  autobahn. Always the last action.

A WebSocket session is a second generator, :func:`run_session`: it yields session actions
(send a message, send a ping, await the client's next message, wait, close) and is resumed
with the message it awaited (or None after a timeout), so an ``echo`` and a ``script`` are
decided here too, and the protocol only carries them out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from fakeorigin import __version__
from fakeorigin.actions import (
    Action,
    AwaitBody,
    AwaitMessage,
    CloseSession,
    End,
    EndBody,
    Ending,
    HandOff,
    Message,
    Note,
    ResponseHead,
    SendData,
    SendHead,
    SendInterim,
    SendMessage,
    SendPing,
    SessionAction,
    Wait,
    WriteHttp1,
)
from fakeorigin.journal import BodyRecord, Event
from fakeorigin.profile import (
    MAX_CLOSE_REASON_BYTES,
    RAW_HANDSHAKES,
    Dribble,
    Informational,
    Profile,
    Raw,
    Repeat,
    Respond,
    ScriptClose,
    ScriptPing,
    ScriptReceive,
    ScriptSend,
    Step,
    Violate,
    WebSocket,
    cannot_carry,
    step_field,
)
from fakeorigin.protocols import HTTP1
from fakeorigin.wire import (
    Header,
    RequestHead,
    has_header,
    http_date,
    response_head,
    tokens,
)

__all__ = [
    "Action",
    "AwaitBody",
    "End",
    "Ending",
    "ExchangeView",
    "HandOff",
    "Note",
    "Wait",
    "WriteHttp1",
    "echo_document",
    "error_response",
    "handshake_problem",
    "run_exchange",
    "run_session",
    "websocket_accept",
]

SERVER_HEADER = b"fakeorigin/" + __version__.encode("ascii")

#: A body larger than this is written in pieces of this size: the protocol may pause between
#: two (a client that does not read), and no write copies more than this at once.
_PIECE_BYTES = 64 * 1024

_S = TypeVar("_S")
_V = TypeVar("_V")


class ExchangeView(Protocol):
    """What the engine may read about the running exchange."""

    @property
    def request(self) -> RequestHead: ...

    @property
    def body(self) -> BodyRecord: ...

    def elapsed(self) -> float:
        """Seconds since the request head was complete."""
        ...

    def wall_clock(self) -> float:
        """Epoch seconds now, for the Date header."""
        ...


@dataclass(slots=True)
class _Run:
    """One exchange's progress through its profile."""

    view: ExchangeView
    rng: random.Random
    continue_sent: bool = False
    # The connection ends after this exchange: the request or the response said so.
    closing: bool = False


def run_exchange(
    profile: Profile,
    view: ExchangeView,
    rng: random.Random,
    index: int = 1,
    protocol: str = HTTP1,
) -> Generator[Action, None, None]:
    """Yield the actions that carry out ``profile`` for the request seen through ``view``,
    the ``index``-th on its connection, which speaks ``protocol``.

    A profile with a step that ``protocol`` cannot carry (:attr:`Profile.protocols`) is not
    run: the request is answered 501 with the step and the reason, journaled as a note.

    When the steps end without close, reset or hang, the connection is kept for the next
    request if the body is complete and neither the request nor the response asked to close;
    otherwise it is closed. A response that is the connection's last by the profile's
    ``connection.max_requests`` says ``Connection: close`` when ``close_header`` asks it to
    (RFC 9112 section 9.6); closing after it is the protocol's part.
    """
    if protocol != HTTP1 and protocol not in profile.protocols:  # HTTP/1.1 carries every step
        yield from _refuse_protocol(profile, protocol, view)
        return
    policy = profile.connection
    last_by_policy = (
        policy is not None
        and policy.close_header
        and policy.max_requests is not None
        and index >= policy.max_requests
    )
    run = _Run(view, rng, closing=view.request.wants_close or last_by_policy)
    for step in profile.steps:  # _steps, one generator fewer on the way of every action
        attribute, kind = step_field(type(step))
        yield from _HANDLERS[kind](getattr(step, attribute), run)
    last = profile.steps[-1]
    kind = last.kind
    if kind == "websocket":
        return  # it ended the exchange itself: refused, handed off, or broken on purpose
    ending = _TERMINAL_ENDINGS.get(kind)
    if kind == "violate":
        from fakeorigin.violations import CATALOGUE  # noqa: PLC0415 (see _violate)

        ending = CATALOGUE[last.value.id].ending
    if ending is not None and ending is not Ending.KEEP_ALIVE:
        yield End(ending)
        return
    keep = view.body.complete and not run.closing
    yield End(Ending.KEEP_ALIVE if keep else Ending.CLOSE)


def _refuse_protocol(profile: Profile, protocol: str, view: ExchangeView) -> Iterator[Action]:
    """501 (RFC 9110 section 15.6.2: the server lacks what the request needs): this profile
    cannot run over this connection's protocol."""
    why = cannot_carry(profile.steps, protocol)
    text = f"profile {profile.name} cannot run over {protocol}: {why}"
    content = (text + "\n").encode("utf-8")
    yield Note(Event.NOTE, None, f"refused: {text}")
    fields = ((b"Content-Type", b"text/plain; charset=utf-8"),)
    head = ResponseHead(501, None, fields, True, ((b"Server", SERVER_HEADER),), len(content))
    closing = view.request.wants_close or not view.body.complete
    yield SendHead(head, http_date(view.wall_clock()), closing, body=not view.request.is_head)
    if not view.request.is_head:
        yield SendData(content)
    yield EndBody(501)
    yield End(Ending.CLOSE if closing else Ending.KEEP_ALIVE)


_TERMINAL_ENDINGS = {"close": Ending.CLOSE, "reset": Ending.RESET, "hang": Ending.HANG}


def _steps(steps: Sequence[Step], run: _Run) -> Iterator[Action]:
    for step in steps:
        attribute, kind = step_field(type(step))
        yield from _HANDLERS[kind](getattr(step, attribute), run)


def _continue(_spec: object, run: _Run) -> Iterator[Action]:
    """RFC 9110 section 10.1.1: 100 only to an HTTP/1.1 client that asked and is still waiting."""
    request = run.view.request
    why = None
    if run.continue_sent:
        why = "100 Continue already sent in this exchange"
    elif request.is_http10:
        why = "HTTP/1.0 request: no 1xx to HTTP/1.0 (RFC 9110 section 15.2)"
    elif not request.expects_continue:
        why = "request has no Expect: 100-continue"
    elif run.view.body.complete:
        why = "request body already complete"
    if why is not None:
        yield Note(Event.INTERIM_SKIPPED, 100, why)
        return
    run.continue_sent = True
    yield _CONTINUE


def _informational(spec: Informational, run: _Run) -> Iterator[Action]:
    if run.view.request.is_http10 and not spec.force:
        yield Note(
            Event.INTERIM_SKIPPED,
            spec.status,
            "HTTP/1.0 request: no 1xx to HTTP/1.0 (RFC 9110 section 15.2); force: true sends it",
        )
        return
    run.continue_sent = run.continue_sent or spec.status == 100
    yield _INTERIMS.get(spec, run.view.request.is_http10)


#: RFC 9110 section 15.2.1: ``100 Continue``, no fields.
_CONTINUE = SendInterim(100)


def _interim(spec: Informational, forced: bool) -> SendInterim:
    detail = "forced to an HTTP/1.0 client" if forced else None
    return SendInterim(spec.status, spec.reason, spec.headers, detail)


class _PerStep(Generic[_S, _V]):
    """A value made once per step and variant (``made(step, variant)``), looked up by the
    step's identity: the step is kept beside it, so that its id cannot be reused. Bounded:
    profiles replaced through the API leave theirs behind until it is cleared."""

    def __init__(self, made: Callable[[_S, bool], _V], most: int = 1024) -> None:
        self._made = made
        self._most = most
        self._values: dict[int, tuple[_S, _V]] = {}

    def get(self, step: _S, variant: bool) -> _V:
        key = id(step) * 2 + variant
        cached = self._values.get(key)
        if cached is not None and cached[0] is step:
            return cached[1]
        if len(self._values) >= self._most:
            self._values.clear()
        value = self._made(step, variant)
        self._values[key] = (step, value)
        return value


#: The interim response of each informational step (and of its forced-to-HTTP/1.0 variant),
#: made once: a trickle sends the same message every period, which the framer renders once.
_INTERIMS: _PerStep[Informational, SendInterim] = _PerStep(_interim)


def _sleep(seconds: float, _run: _Run) -> Iterator[Action]:
    yield Wait(seconds)


def _wait_until(target: float, run: _Run) -> Iterator[Action]:
    delay = target - run.view.elapsed()
    if delay > 0:
        yield Wait(delay)


def _repeat(spec: Repeat, run: _Run) -> Iterator[Action]:
    start = run.view.elapsed()
    lengths = []
    if spec.times is not None:
        lengths.append(spec.times * spec.every)
    if spec.for_seconds is not None:
        lengths.append(spec.for_seconds)
    end = start + min(lengths)
    period = 0
    view = run.view
    while start + period * spec.every < end:
        offset = run.rng.uniform(0, spec.jitter) if spec.jitter else 0.0
        # _wait_until, inline: a generator kept alive through every wait of a trickle is one
        # more object for the collector to walk per connection.
        delay = min(start + period * spec.every + offset, end) - view.elapsed()
        if delay > 0:
            yield Wait(delay)
        yield from _steps(spec.steps, run)
        period += 1
    yield from _wait_until(end, run)


def _read_body(_spec: object, run: _Run) -> Iterator[Action]:
    if not run.view.body.complete:
        yield AwaitBody()


def echo_document(request: RequestHead, body: BodyRecord) -> bytes:
    """The JSON an ``echo`` response carries: the request as received, like httpbin /anything."""
    document = {
        "method": request.method.decode("latin-1"),
        "target": request.target.decode("latin-1"),
        "http_version": request.http_version.decode("latin-1"),
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in request.headers],
        "body": {"length": body.length, "sha256": body.sha256, "complete": body.complete},
    }
    return json.dumps(document, indent=2).encode("utf-8") + b"\n"


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A respond step's head, whether its fields ask to close, and its content."""

    head: ResponseHead
    asked_close: bool
    content: bytes


def _prepare(spec: Respond, content: bytes, chunked: bool, *, fixed: bool) -> _Prepared:
    headers = list(spec.headers)
    if spec.echo and not has_header(headers, b"content-type"):
        headers.append((b"Content-Type", b"application/json"))
    date = "date" not in spec.omit and not has_header(headers, b"date")
    trailing: tuple[Header, ...] = ()
    if "server" not in spec.omit and not has_header(headers, b"server"):
        trailing = ((b"Server", SERVER_HEADER),)
    no_body = spec.status in (204, 304)
    head = ResponseHead(
        spec.status,
        spec.reason,
        tuple(headers),
        date,
        trailing,
        length=None if no_body or chunked else len(content),
        chunked=chunked and not no_body,
        fixed=fixed,
    )
    asked_close = any(b"close" in tokens(v) for n, v in headers if n.lower() == b"connection")
    return _Prepared(head, asked_close, content)


#: Respond steps without echo (and their chunked variant), prepared once.
_PREPARED: _PerStep[Respond, _Prepared] = _PerStep(
    lambda spec, chunked: _prepare(spec, spec.content(), chunked, fixed=True)
)


def _respond(spec: Respond, run: _Run) -> Iterator[Action]:
    request, body = run.view.request, run.view.body
    chunked = spec.chunked
    if chunked and request.is_http10:
        chunked = False
        yield Note(Event.NOTE, None, "chunked not sent to HTTP/1.0 (RFC 9112 section 6.1)")
    if spec.echo:
        prepared = _prepare(spec, echo_document(request, body), chunked, fixed=False)
    else:
        prepared = _PREPARED.get(spec, chunked)
    head = prepared.head
    run.closing = run.closing or prepared.asked_close or not body.complete
    date = http_date(run.view.wall_clock()) if head.date else b""
    bodiless = request.is_head or spec.status in (204, 304)
    yield SendHead(head, date, run.closing and not prepared.asked_close, body=not bodiless)
    content = prepared.content
    if bodiless:
        pass
    elif spec.dribble:
        yield from _dribble(spec.dribble, content)
    elif len(content) > _PIECE_BYTES and not head.chunked:
        # In pieces: the protocol may pause between them. (A chunked body is one chunk.)
        for start in range(0, len(content), _PIECE_BYTES):
            yield SendData(content[start : start + _PIECE_BYTES])
    elif content:
        yield SendData(content)  # all of it at once: no pieces to cut
    yield EndBody(spec.status, spec.trailers if head.chunked else ())


def _dribble(dribble: Dribble, content: bytes) -> Iterator[Action]:
    for start in range(0, len(content), dribble.bytes):
        if start:
            yield Wait(dribble.every)
        yield SendData(content[start : start + dribble.bytes])


def _violate(spec: Violate, run: _Run) -> Iterator[Action]:
    # The catalogue (50 entries, 24 parameter models) is imported when a profile first uses
    # it, not at start-up: most servers never break a rule on purpose.
    from fakeorigin.violations import CATALOGUE, Context  # noqa: PLC0415

    context = Context(run.view.request, run.view.wall_clock())
    yield from CATALOGUE[spec.id].actions(spec.parameters, context)


def _raw(spec: Raw, _run: _Run) -> Iterator[Action]:
    data = spec.data()
    yield WriteHttp1(data, Event.RAW_SENT, None, f"{len(data)} bytes")


def _nothing(_spec: object, _run: _Run) -> Iterator[Action]:
    """close, reset and hang end the profile: run_exchange yields their End."""
    return iter(())


# -- WebSocket ----------------------------------------------------------------------------

#: RFC 6455 section 1.3: the GUID a server appends to Sec-WebSocket-Key.
_WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: A key whose accept value is sent by ``bad-accept`` (the client's key never is).
WRONG_KEY = b"AAAAAAAAAAAAAAAAAAAAAA=="
#: What ``http-after-101`` sends where the first WebSocket frame belongs.
HTTP_AFTER_101 = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 36\r\n\r\n"
    b"this is HTTP, not a WebSocket frame\n"
)

#: Each broken handshake and the rule it breaks, for the journal.
BROKEN_HANDSHAKES = {
    "bad-accept": "a wrong Sec-WebSocket-Accept (breaks RFC 6455 section 4.2.2)",
    "missing-upgrade-header": "a 101 without Upgrade (breaks RFC 9110 section 7.8 and "
    "RFC 6455 section 4.2.2)",
    "status-200": "200 instead of 101 (breaks RFC 6455 section 4.2.2)",
    "close-after-101": "a FIN right after the 101, no Close frame (breaks RFC 6455 section 7.1.2)",
    "http-after-101": "an HTTP response after the 101 (breaks RFC 9110 section 7.8)",
    "unsolicited-101": "a 101 the request did not ask for (breaks RFC 9110 section 7.8)",
}


def websocket_accept(key: bytes) -> bytes:
    """Sec-WebSocket-Accept for ``key``: base64 of the SHA-1 of the key and the GUID (RFC 6455
    section 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.strip() + _WEBSOCKET_GUID).digest())


def _list_values(request: RequestHead, name: bytes) -> list[bytes]:
    """The members of a comma-separated list field, in order, across repeated lines."""
    return [
        part.strip() for value in request.values(name) for part in value.split(b",") if part.strip()
    ]


def offered_subprotocols(request: RequestHead) -> tuple[str, ...]:
    """The client's Sec-WebSocket-Protocol list, in its order."""
    return tuple(p.decode("latin-1") for p in _list_values(request, b"sec-websocket-protocol"))


def _valid_key(key: bytes) -> bool:
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except binascii.Error:
        return False


#: RFC 6455 section 4.2.2: a server that does not speak the client's version answers 426 with
#: the versions it does speak; a request that is no upgrade at all gets the same (RFC 9110
#: section 15.5.22: a 426 names the protocol in Upgrade).
_UPGRADE_REQUIRED = 426


def handshake_problem(request: RequestHead) -> tuple[int, str] | None:
    """Why ``request`` is not a WebSocket opening handshake (RFC 6455 section 4.1), as the
    status to refuse it with (426 or 400) and the reason; None when it is one."""
    if b"websocket" not in {t.lower() for t in _list_values(request, b"upgrade")} or (
        b"upgrade" not in {t.lower() for t in _list_values(request, b"connection")}
    ):
        return _UPGRADE_REQUIRED, (
            "this resource speaks WebSocket: send an opening handshake with "
            "Upgrade: websocket and Connection: Upgrade (RFC 6455 section 4.1)"
        )
    versions = request.values(b"sec-websocket-version")
    if [v.strip() for v in versions] != [b"13"]:
        got = b", ".join(versions).decode("latin-1") or "none"
        return _UPGRADE_REQUIRED, (
            f"Sec-WebSocket-Version must be 13 (got {got}) (RFC 6455 section 4.2.2)"
        )
    if request.method != b"GET":
        return 400, "a WebSocket opening handshake is a GET (RFC 6455 section 4.1)"
    if request.http_version != b"1.1":
        return 400, "a WebSocket opening handshake needs HTTP/1.1 (RFC 6455 section 4.1)"
    keys = request.values(b"sec-websocket-key")
    if len(keys) != 1 or not _valid_key(keys[0]):
        return 400, (
            "a WebSocket opening handshake has one Sec-WebSocket-Key: 16 bytes in base64 "
            "(RFC 6455 section 4.1)"
        )
    offered = offered_subprotocols(request)
    if len(set(offered)) != len(offered):
        return 400, "Sec-WebSocket-Protocol offers a subprotocol twice (RFC 6455 section 4.1)"
    return None


def _websocket(spec: WebSocket, run: _Run) -> Iterator[Action]:
    """Refuse a request that is no opening handshake, else upgrade (or break it on purpose)."""
    request = run.view.request
    if spec.handshake == "unsolicited-101":
        yield Note(Event.WEBSOCKET_BROKEN_HANDSHAKE, None, _broken(spec.handshake))
        head = response_head(101, None, _upgrade_headers(spec, None, None))
        yield WriteHttp1(head, Event.UPGRADE_SENT, 101)
        yield End(Ending.CLOSE)
        return
    problem = handshake_problem(request)
    offered = offered_subprotocols(request)
    chosen = next((name for name in offered if name in spec.subprotocols), None)
    if problem is None and spec.require_subprotocol and chosen is None:
        problem = (
            400,
            (
                f"this resource needs one of the subprotocols {', '.join(spec.subprotocols)} "
                f"(offered: {', '.join(offered) or 'none'})"
            ),
        )
    if problem is not None:
        yield from _refuse_handshake(*problem, run)
        return
    if not run.view.body.complete:
        yield AwaitBody()  # what follows the body is WebSocket frames
    if spec.handshake != "conformant":
        yield Note(Event.WEBSOCKET_BROKEN_HANDSHAKE, None, _broken(spec.handshake))
    if spec.handshake in RAW_HANDSHAKES:
        key = request.first(b"sec-websocket-key") or b""
        yield from _RAW_HANDSHAKES[spec.handshake](_upgrade_headers(spec, key, chosen), run)
        yield End(Ending.CLOSE)
        return
    yield HandOff(spec, chosen, offered)


def _broken(handshake: str) -> str:
    return f"{handshake}: {BROKEN_HANDSHAKES[handshake]}"


def _upgrade_headers(spec: WebSocket, key: bytes | None, chosen: str | None) -> list[Header]:
    """A 101's header fields in the order autobahn sends them (``Server`` and ``headers`` go
    where autobahn puts the extra headers fakeorigin gives it)."""
    headers = [(b"Upgrade", b"websocket"), (b"Connection", b"Upgrade")]
    if not has_header(spec.headers, b"server"):
        headers.append((b"Server", SERVER_HEADER))
    headers.extend(spec.headers)
    if chosen is not None:
        headers.append((b"Sec-WebSocket-Protocol", chosen.encode("latin-1")))
    if key is not None:
        headers.append((b"Sec-WebSocket-Accept", websocket_accept(key)))
    return headers


def _without_upgrade(headers: list[Header], _run: _Run) -> Iterator[Action]:
    kept = [(name, value) for name, value in headers if name != b"Upgrade"]
    yield WriteHttp1(response_head(101, None, kept), Event.UPGRADE_SENT, 101)


def _status_200(headers: list[Header], run: _Run) -> Iterator[Action]:
    date = (b"Date", http_date(run.view.wall_clock()))
    head = response_head(200, None, [*headers, date, (b"Content-Length", b"0")])
    yield WriteHttp1(head, Event.RESPONSE_STARTED, 200)


def _upgrade_only(headers: list[Header], _run: _Run) -> Iterator[Action]:
    yield WriteHttp1(response_head(101, None, headers), Event.UPGRADE_SENT, 101)


def _http_after_101(headers: list[Header], run: _Run) -> Iterator[Action]:
    yield from _upgrade_only(headers, run)
    yield WriteHttp1(HTTP_AFTER_101, Event.RESPONSE_STARTED, 200, "after the 101")


#: The broken handshakes that write their own bytes (no autobahn session), by name.
_RAW_HANDSHAKES: dict[str, Callable[[list[Header], _Run], Iterator[Action]]] = {
    "missing-upgrade-header": _without_upgrade,
    "status-200": _status_200,
    "close-after-101": _upgrade_only,
    "http-after-101": _http_after_101,
}


def _refuse_handshake(status: int, text: str, run: _Run) -> Iterator[Action]:
    """An ordinary final response: the connection is kept when the request allows it."""
    request, body = run.view.request, run.view.body
    content = (text + "\n").encode("utf-8")
    closing = request.wants_close or not body.complete
    connection = [b"Upgrade"] if status == _UPGRADE_REQUIRED else []
    connection += [b"close"] if closing else []
    headers: list[Header] = []
    if status == _UPGRADE_REQUIRED:
        headers += [(b"Upgrade", b"websocket"), (b"Sec-WebSocket-Version", b"13")]
    if connection:
        headers.append((b"Connection", b", ".join(connection)))
    headers.append((b"Content-Type", b"text/plain; charset=utf-8"))
    headers += [(b"Date", http_date(run.view.wall_clock())), (b"Server", SERVER_HEADER)]
    headers.append((b"Content-Length", b"%d" % len(content)))
    head = response_head(status, None, headers)
    yield WriteHttp1(
        head if request.is_head else head + content, Event.RESPONSE_STARTED, status, text
    )
    yield End(Ending.CLOSE if closing else Ending.KEEP_ALIVE)


Session = Generator[SessionAction, Message | None, bool]


def run_session(spec: WebSocket) -> Generator[SessionAction, Message | None, None]:
    """The actions of a WebSocket session after the 101; resume it with ``send(message)``
    after an :class:`AwaitMessage` (None when it timed out), else with ``send(None)``.

    ``echo`` awaits and returns every message for ever (the client, ``close_after`` or
    ``--max-duration`` ends it); a ``script`` runs its actions and closes with 1000 unless
    one of them closed first.
    """
    if spec.mode == "echo":
        while True:
            message = yield AwaitMessage(None)
            if message is not None:
                yield SendMessage(message)
    for action in spec.script:
        handler = _SCRIPT_HANDLERS[action.kind]
        if (yield from handler(getattr(action, action.kind))):
            return
    yield CloseSession(1000, "")


def _send(spec: ScriptSend) -> Session:
    data, binary = spec.payload()
    yield SendMessage(Message(data, binary))
    return False


def _describe(data: bytes, binary: bool) -> str:
    if binary:
        return f"a binary message of {len(data)} bytes"
    text = data.decode("utf-8", "replace")
    return f"the text {text[:40]!r}" + ("..." if len(text) > 40 else "")


def _receive(spec: ScriptReceive) -> Session:
    message = yield AwaitMessage(spec.timeout)
    expected = spec.expected()
    if message is None:
        why = f"no message within {spec.timeout} s"
    elif expected is None or (message.data, message.binary) == expected:
        return False
    else:
        why = f"expected {_describe(*expected)}, got {_describe(message.data, message.binary)}"
    yield Note(Event.WEBSOCKET_MISMATCH, None, why)
    reason = why.encode("utf-8")[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore")
    yield CloseSession(1008, reason)  # RFC 6455 section 7.4.1: policy violation
    return True


def _script_sleep(seconds: float) -> Session:
    yield Wait(seconds)
    return False


def _ping(spec: ScriptPing) -> Session:
    yield SendPing(spec.text.encode("utf-8"))
    return False


def _close(spec: ScriptClose) -> Session:
    yield CloseSession(spec.code, spec.reason)
    return True


#: One handler per script action (the keys of :class:`fakeorigin.profile.ScriptAction`);
#: each returns True when it ended the session.
_SCRIPT_HANDLERS: dict[str, Callable[[Any], Session]] = {
    "send": _send,
    "receive": _receive,
    "sleep": _script_sleep,
    "ping": _ping,
    "close": _close,
}


#: One handler per step kind (the same keys as :data:`fakeorigin.profile.STEP_KINDS`).
_HANDLERS: dict[str, Callable[[Any, _Run], Iterator[Action]]] = {
    "continue": _continue,
    "informational": _informational,
    "sleep": _sleep,
    "repeat": _repeat,
    "read_body": _read_body,
    "respond": _respond,
    "raw": _raw,
    "violate": _violate,
    "close": _nothing,
    "reset": _nothing,
    "hang": _nothing,
    "websocket": _websocket,
}


def error_response(status: int, text: str, now: float) -> bytes:
    """A complete ``Connection: close`` response with a plain-text body, for refusals.

    Used for a request h11 refuses (RFC 9112 section 3: 400 for a malformed request) and for
    an unknown in-band profile name.
    """
    content = text.encode("utf-8")
    headers = [
        (b"Content-Type", b"text/plain; charset=utf-8"),
        (b"Date", http_date(now)),
        (b"Server", SERVER_HEADER),
        (b"Content-Length", b"%d" % len(content)),
        (b"Connection", b"close"),
    ]
    return response_head(status, None, headers) + content
