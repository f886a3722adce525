"""The engine: turns (profile, request) into actions, and does no I/O.

Theory of operation. :func:`run_exchange` is a generator. It walks the profile's steps and
yields actions; the caller (the Twisted protocol, or a test) performs each one and then asks for
the next. While it runs, the engine reads the live state of the exchange through an
:class:`ExchangeView`: how long since the request head was complete, and how much of the request
body has arrived. So a ``continue`` decides at the moment it runs whether the client is still
waiting, and a ``repeat`` schedules each period against the time it began, so its cadence does
not drift.

Actions (imperatives; the caller owns the socket and the clock):

- :class:`Write`: put these bytes on the wire now; journal ``event`` if given.
- :class:`Note`: journal an event, write nothing (a skipped interim response, say).
- :class:`Wait`: resume after this many seconds (never negative).
- :class:`AwaitBody`: resume once the request body is complete.
- :class:`End`: the exchange is over: keep the connection for the next request, close it,
  reset it, or leave it hanging. Always the last action.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Protocol

from fakeorigin import __version__
from fakeorigin.actions import Action, AwaitBody, End, Ending, Note, Wait, Write
from fakeorigin.journal import BodyRecord, Event
from fakeorigin.profile import (
    Informational,
    Profile,
    Raw,
    Repeat,
    Respond,
    Step,
    Violate,
)
from fakeorigin.violations import CATALOGUE, Context
from fakeorigin.wire import (
    Header,
    RequestHead,
    chunk,
    has_header,
    last_chunk,
    response_head,
    tokens,
)

__all__ = [
    "Action",
    "AwaitBody",
    "End",
    "Ending",
    "ExchangeView",
    "Note",
    "Wait",
    "Write",
    "echo_document",
    "error_response",
    "run_exchange",
]

SERVER_HEADER = b"fakeorigin/" + __version__.encode("ascii")


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
    closing: bool = False


def run_exchange(
    profile: Profile, view: ExchangeView, rng: random.Random
) -> Generator[Action, None, None]:
    """Yield the actions that carry out ``profile`` for the request seen through ``view``.

    When the steps end without close, reset or hang, the connection is kept for the next
    request if the body is complete and neither the request nor the response asked to close;
    otherwise it is closed.
    """
    run = _Run(view, rng)
    yield from _steps(profile.steps, run)
    last = profile.steps[-1]
    ending = _TERMINAL_ENDINGS.get(last.kind)
    if last.kind == "violate":
        ending = CATALOGUE[last.value.id].ending
    if ending is not None and ending is not Ending.KEEP_ALIVE:
        yield End(ending)
        return
    keep = view.body.complete and not view.request.wants_close and not run.closing
    yield End(Ending.KEEP_ALIVE if keep else Ending.CLOSE)


_TERMINAL_ENDINGS = {"close": Ending.CLOSE, "reset": Ending.RESET, "hang": Ending.HANG}


def _steps(steps: Sequence[Step], run: _Run) -> Iterator[Action]:
    for step in steps:
        yield from _HANDLERS[step.kind](step.value, run)


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
    yield Write(response_head(100, None, ()), Event.INTERIM_SENT, 100)


def _informational(spec: Informational, run: _Run) -> Iterator[Action]:
    if run.view.request.is_http10 and not spec.force:
        yield Note(
            Event.INTERIM_SKIPPED,
            spec.status,
            "HTTP/1.0 request: no 1xx to HTTP/1.0 (RFC 9110 section 15.2); force: true sends it",
        )
        return
    detail = "forced to an HTTP/1.0 client" if run.view.request.is_http10 else None
    run.continue_sent = run.continue_sent or spec.status == 100
    yield Write(
        response_head(spec.status, spec.reason, spec.headers),
        Event.INTERIM_SENT,
        spec.status,
        detail,
    )


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
    while start + period * spec.every < end:
        offset = run.rng.uniform(0, spec.jitter) if spec.jitter else 0.0
        yield from _wait_until(min(start + period * spec.every + offset, end), run)
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


def _respond(spec: Respond, run: _Run) -> Iterator[Action]:
    request, body = run.view.request, run.view.body
    content = echo_document(request, body) if spec.echo else spec.content()
    chunked = spec.chunked
    if chunked and request.is_http10:
        chunked = False
        yield Note(Event.NOTE, None, "chunked not sent to HTTP/1.0 (RFC 9112 section 6.1)")
    headers = list(spec.headers)
    if spec.echo and not has_header(headers, b"content-type"):
        headers.append((b"Content-Type", b"application/json"))
    headers.extend(_generated_headers(spec, run.view.wall_clock(), headers))
    if spec.status not in (204, 304):
        if chunked:
            headers.append((b"Transfer-Encoding", b"chunked"))
        else:
            headers.append((b"Content-Length", b"%d" % len(content)))
    asked_close = any(b"close" in tokens(v) for n, v in headers if n.lower() == b"connection")
    run.closing = run.closing or asked_close or request.wants_close or not body.complete
    if run.closing and not asked_close:
        headers.append((b"Connection", b"close"))
    yield Write(
        response_head(spec.status, spec.reason, headers), Event.RESPONSE_STARTED, spec.status
    )
    if not (request.is_head or spec.status in (204, 304)):
        yield from _content(spec, content, chunked, run)
    yield Note(Event.RESPONSE_COMPLETE, spec.status)


def _generated_headers(spec: Respond, now: float, given: list[Header]) -> list[Header]:
    out = []
    if "date" not in spec.omit and not has_header(given, b"date"):
        out.append((b"Date", formatdate(now, usegmt=True).encode("ascii")))
    if "server" not in spec.omit and not has_header(given, b"server"):
        out.append((b"Server", SERVER_HEADER))
    return out


def _content(spec: Respond, content: bytes, chunked: bool, run: _Run) -> Iterator[Action]:
    size = spec.dribble.bytes if spec.dribble else max(len(content), 1)
    pieces = [content[i : i + size] for i in range(0, len(content), size)]
    for index, piece in enumerate(pieces):
        if index and spec.dribble:
            yield Wait(spec.dribble.every)
        yield Write(chunk(piece) if chunked else piece)
    if chunked:
        yield Write(last_chunk(spec.trailers))


def _violate(spec: Violate, run: _Run) -> Iterator[Action]:
    context = Context(run.view.request, run.view.wall_clock())
    yield from CATALOGUE[spec.id].actions(spec.parameters, context)


def _raw(spec: Raw, _run: _Run) -> Iterator[Action]:
    data = spec.data()
    yield Write(data, Event.RAW_SENT, None, f"{len(data)} bytes")


def _nothing(_spec: object, _run: _Run) -> Iterator[Action]:
    """close, reset and hang end the profile: run_exchange yields their End."""
    return iter(())


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
}


def error_response(status: int, text: str, now: float) -> bytes:
    """A complete ``Connection: close`` response with a plain-text body, for refusals.

    Used for a request h11 refuses (RFC 9112 section 3: 400 for a malformed request) and for
    an unknown in-band profile name.
    """
    content = text.encode("utf-8")
    headers = [
        (b"Content-Type", b"text/plain; charset=utf-8"),
        (b"Date", formatdate(now, usegmt=True).encode("ascii")),
        (b"Server", SERVER_HEADER),
        (b"Content-Length", b"%d" % len(content)),
        (b"Connection", b"close"),
    ]
    return response_head(status, None, headers) + content
