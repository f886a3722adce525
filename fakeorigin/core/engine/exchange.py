"""Running an exchange: the profile's steps, one handler per step kind, as actions.

See :mod:`fakeorigin.core.engine` for the theory of operation."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fakeorigin.core.actions import (
    Action,
    AwaitBody,
    End,
    EndBody,
    Ending,
    Note,
    ResponseHead,
    SendData,
    SendHead,
    SendInterim,
    Wait,
    WriteHttp1,
    WriteHttp2,
)
from fakeorigin.core.engine.handshake import websocket_step
from fakeorigin.core.engine.view import ExchangeView
from fakeorigin.core.identity_cache import PerObject
from fakeorigin.core.journal import BodyRecord, Event
from fakeorigin.core.profile import (
    Dribble,
    Informational,
    Profile,
    Raw,
    Repeat,
    Respond,
    Step,
    Violate,
    WebSocket,
    cannot_carry,
    step_field,
)
from fakeorigin.core.protocols import H2, HTTP1
from fakeorigin.core.wire import (
    SERVER_HEADER,
    Header,
    RequestHead,
    has_header,
    http_date,
    tokens,
)

#: A body larger than this is written in pieces of this size: the protocol may pause between
#: two (a client that does not read), and no write copies more than this at once.
_PIECE_BYTES = 64 * 1024


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
    (RFC 9112 section 9.6); closing after it is the protocol's part. Over HTTP/2 a profile
    that ends in frames written as they are (an HTTP/2 catalogue entry, a ``raw`` step) ends
    as the entry says (a ``raw`` step: keep-alive): the frames ended the stream, the
    connection is the client's.
    """
    if protocol not in profile.protocols:
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
        from fakeorigin.core.violations import CATALOGUE  # noqa: PLC0415 (see _violate)

        ending = CATALOGUE[last.value.id].ending
        if protocol == H2:  # the entry's frames ended the stream: the connection is not ours
            yield End(ending)
            return
    if kind == "raw" and protocol == H2:  # likewise a raw step's frames
        yield End(Ending.KEEP_ALIVE)
        return
    if ending is not None and ending is not Ending.KEEP_ALIVE:
        if kind == "reset":
            yield End(ending, last.value.h2_error, last.value.h2_connection)
        else:
            yield End(ending)
        return
    keep = view.body.complete and not run.closing
    yield _KEEP_ALIVE if keep else _CLOSE


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


#: The interim response of each informational step (and of its forced-to-HTTP/1.0 variant),
#: made once: a trickle sends the same message every period, which the framer renders once.
_INTERIMS: PerObject[Informational, bool, SendInterim] = PerObject(_interim)


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


#: The two usual ends, made once (a frozen dataclass costs about 0.1 us per field to make).
_KEEP_ALIVE = End(Ending.KEEP_ALIVE)
_CLOSE = End(Ending.CLOSE)


@dataclass(slots=True)
class _Prepared:
    """A respond step's head, whether its fields ask to close, its content, and its
    :class:`EndBody`; ``sent``, the last :class:`SendHead` made from it (reused while the
    Date and the rest stay the same: within a second, for every plain response)."""

    head: ResponseHead
    asked_close: bool
    content: bytes
    end: EndBody
    sent: SendHead | None = None

    def send_head(self, date: bytes, last: bool, body: bool, content: bytes) -> SendHead:
        sent = self.sent
        if (
            sent is not None
            and sent.date == date
            and sent.last is last
            and sent.body is body
            and sent.content is content
        ):
            return sent
        sent = self.sent = SendHead(self.head, date, last, body=body, content=content)
        return sent


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
    end = EndBody(spec.status, spec.trailers if head.chunked else ())
    return _Prepared(head, asked_close, content, end)


#: Respond steps without echo (and their chunked variant), prepared once.
_PREPARED: PerObject[Respond, bool, _Prepared] = PerObject(
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
    content = prepared.content
    # All of it with the head, unless it is paced or large enough to go in pieces between
    # which the protocol may pause (a chunked body is one chunk, as large as it is).
    whole = not bodiless and not spec.dribble and (head.chunked or len(content) <= _PIECE_BYTES)
    last = run.closing and not prepared.asked_close
    yield prepared.send_head(date, last, not bodiless, content if whole else b"")
    if whole or bodiless:
        pass
    elif spec.dribble:
        yield from _dribble(spec.dribble, content)
    else:
        for start in range(0, len(content), _PIECE_BYTES):
            yield SendData(content[start : start + _PIECE_BYTES])
    yield prepared.end


def _dribble(dribble: Dribble, content: bytes) -> Iterator[Action]:
    for start in range(0, len(content), dribble.bytes):
        if start:
            yield Wait(dribble.every)
        yield SendData(content[start : start + dribble.bytes])


def _violate(spec: Violate, run: _Run) -> Iterator[Action]:
    # The catalogue (50 entries, 24 parameter models) is imported when a profile first uses
    # it, not at start-up: most servers never break a rule on purpose.
    from fakeorigin.core.violations import CATALOGUE, Context  # noqa: PLC0415

    context = Context(run.view.request, run.view.wall_clock())
    yield from CATALOGUE[spec.id].actions(spec.parameters, context)


def _raw(spec: Raw, _run: _Run) -> Iterator[Action]:
    if spec.frames is not None:
        frames = spec.http2_frames()
        yield WriteHttp2(frames, Event.RAW_SENT, None, f"{len(frames)} frames")
        return
    data = spec.data()
    yield WriteHttp1(data, Event.RAW_SENT, None, f"{len(data)} bytes")


def _websocket(spec: WebSocket, run: _Run) -> Iterator[Action]:
    return websocket_step(spec, run.view)


def _nothing(_spec: object, _run: _Run) -> Iterator[Action]:
    """close, reset and hang end the profile: run_exchange yields their End."""
    return iter(())


#: One handler per step kind (the same keys as :data:`fakeorigin.core.profile.STEP_KINDS`).
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
