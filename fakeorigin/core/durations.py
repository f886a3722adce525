"""How long a profile's own schedule takes: the pure computation behind the --max-duration check.

A profile's **scheduled duration** is the time its steps take when nothing waits on the client:
an HTTP/1.1 ``GET`` whose body is complete with its head, read at once, WebSocket messages that
arrive the moment a script awaits them, and no jitter. It is the least time the profile needs
to finish its exchange, so a profile whose scheduled duration reaches ``--max-duration`` is cut
by it every time: ``fakeorigin serve`` refuses such a profile at load, naming the steps that
take the time (a HEAD request skips content and so a dribble; the check is about the GET).

Open-ended steps count 0: ``hang``, a WebSocket ``echo`` without ``close_after``, a catalogue
entry that ends hanging (``102-forever``). The client or ``--max-duration`` ends those by design.

One function per step kind, in a table with the keys of :data:`fakeorigin.core.profile.STEP_KINDS`;
``tests/reliability/test_durations.py`` checks each against the engine itself, run with a fake
clock. Pure: no Twisted, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from fakeorigin.core.actions import Ending, Wait
from fakeorigin.core.engine import echo_document
from fakeorigin.core.journal import BodyRecord
from fakeorigin.core.loader import Problem
from fakeorigin.core.profile import Profile, Repeat, Respond, Step, Violate, WebSocket
from fakeorigin.core.wire import RequestHead

#: The request a scheduled duration is computed for: the smallest GET an HTTP/1.1 client sends
#: (an ``echo`` of it is the shortest echo document, so a dribbled echo is never overestimated).
REFERENCE_REQUEST = RequestHead(b"GET", b"/", b"1.1", ((b"Host", b"a"),))


def scheduled_seconds(profile: Profile) -> float:
    """The seconds ``profile``'s own waits take, at least, for :data:`REFERENCE_REQUEST`."""
    return sum(step_seconds(profile.steps))


def step_seconds(steps: Sequence[Step]) -> list[float]:
    """The scheduled seconds of each step, in order."""
    return [_SECONDS[step.kind](step.value) for step in steps]


def duration_problem(profile: Profile, max_duration: float, source: str) -> Problem | None:
    """A located problem when ``profile`` cannot finish before ``--max-duration`` cuts it.

    The message gives the computed duration and the steps that take it, e.g.
    ``steps: runs 700 s at least (steps[0] sleep: 700 s), not less than --max-duration 600 s``.
    """
    seconds = step_seconds(profile.steps)
    total = sum(seconds)
    if total < max_duration:
        return None
    parts = ", ".join(
        f"steps[{index}] {step.kind}: {_figure(took)} s"
        for index, (step, took) in enumerate(zip(profile.steps, seconds, strict=True))
        if took > 0
    )
    return Problem(
        source,
        "steps",
        f"runs {_figure(total)} s at least ({parts}), not less than --max-duration "
        f"{_figure(max_duration)} s: it would be cut every time (raise --max-duration or "
        "shorten the profile)",
    )


def _figure(seconds: float) -> str:
    return f"{seconds:.6g}"


def _zero(_value: Any) -> float:
    return 0.0


def _sleep(seconds: float) -> float:
    return seconds


def repeat_periods(spec: Repeat) -> tuple[int, float]:
    """How many periods a repeat runs and its length in seconds (``times * every`` or ``for``,
    whichever is less): period k is scheduled ``k * every`` after the start, while that is
    before the end (the engine's ``_repeat``)."""
    lengths = []
    if spec.times is not None:
        lengths.append(spec.times * spec.every)
    if spec.for_seconds is not None:
        lengths.append(spec.for_seconds)
    length = min(lengths)
    periods = math.ceil(length / spec.every)
    while periods > 0 and (periods - 1) * spec.every >= length:
        periods -= 1
    while periods * spec.every < length:
        periods += 1
    return periods, length


def _repeat(spec: Repeat) -> float:
    """Periods never skip: one that takes longer than ``every`` delays the next. So period k
    starts at ``k * max(every, d)`` for steps taking ``d``, and the repeat ends at its length
    or when its last period's steps end, whichever is later."""
    periods, length = repeat_periods(spec)
    inner = sum(step_seconds(spec.steps))
    return max(length, (periods - 1) * max(spec.every, inner) + inner)


def _respond(spec: Respond) -> float:
    if spec.dribble is None or spec.status in (204, 304):
        return 0.0
    if spec.echo:
        body = BodyRecord(complete=True)
        size = len(echo_document(REFERENCE_REQUEST, body))
    else:
        size = len(spec.content())
    pieces = math.ceil(size / spec.dribble.bytes)
    return max(pieces - 1, 0) * spec.dribble.every


def _violate(spec: Violate) -> float:
    """The entry's own waits; an entry that ends hanging never ends by itself: 0."""
    from fakeorigin.core.violations import CATALOGUE, Context  # noqa: PLC0415 (engine._violate)

    entry = CATALOGUE[spec.id]
    if entry.ending is Ending.HANG:
        return 0.0
    actions = entry.actions(spec.parameters, Context(REFERENCE_REQUEST, 0.0))
    return sum(action.seconds for action in actions if isinstance(action, Wait))


def _websocket(spec: WebSocket) -> float:
    """A script's sleeps (a receive is answered at once), cut by ``close_after``; an echo
    lasts until ``close_after``, or as long as the client wants (0)."""
    if spec.mode == "echo":
        return spec.close_after or 0.0
    script = 0.0
    for action in spec.script:
        if action.sleep is not None:
            script += action.sleep
        if action.close is not None:
            break
    return script if spec.close_after is None else min(script, spec.close_after)


#: One function per step kind (the keys of :data:`fakeorigin.core.profile.STEP_KINDS`): the step's
#: value to its scheduled seconds.
_SECONDS: dict[str, Callable[[Any], float]] = {
    "continue": _zero,
    "informational": _zero,
    "sleep": _sleep,
    "repeat": _repeat,
    "read_body": _zero,
    "respond": _respond,
    "raw": _zero,
    "violate": _violate,
    "close": _zero,
    "reset": _zero,
    "hang": _zero,
    "websocket": _websocket,
}
