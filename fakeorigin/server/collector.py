"""When Python's garbage collector runs in ``fakeorigin serve``, so that no collection is long.

Why. A 102 trickled to 10,000 connections must leave on time, and a collection stops
everything while it runs. Measured on a server that had been serving a while (journal full,
rounds of 10,000 trickling connections; bench/FINDINGS.md), Python's own schedule gave young
collections of up to 80 ms and full ones up to 150 ms, for two reasons:

- Python counts *net* allocations (allocations minus deallocations) to decide when to collect
  the young generation. A server in a steady state frees about as much as it allocates (a
  full journal drops a record for each one it keeps; a timer that fires makes way for the
  next), so that count hardly moves, young collections become rare, and each one walks every
  object made since the last: tens of thousands.
- A full collection walks every object of the process that the collector tracks: with
  10,000 exchanges under way, several hundred thousand, whatever the thresholds.

The schedule. Start-up's objects are frozen once listening (they live as long as the process;
no collection walks them again). Python's own schedule collects the two younger generations
every :data:`YOUNG_THRESHOLD` net allocations (that bounds a collection during a burst of
connects, even within one long reactor iteration), and never the oldest. Every
:data:`YOUNG_SECONDS` the reactor collects the two younger generations together as well
(that bounds a collection in a steady state, where the net count hardly moves): what
survives goes straight to the oldest generation. The oldest generation is collected only
when no exchange is under way (a ``hang`` waits for nothing and does not count; a WebSocket
session does) and some exchange has begun or connection closed since the last full
collection, checked every :data:`IDLE_CHECK_SECONDS`; a server whose exchanges never pause
gets one every
:data:`FULL_AT_LEAST_SECONDS` anyway, to bound the cyclic garbage that could wait there.
There is little: a closed connection leaves no reference cycle (tests/reliability/
test_collector.py checks each bundled profile), so reference counting frees it wherever it
is, and a finished journal record is a plain tuple the collector no longer tracks
(:meth:`fakeorigin.core.journal.Journal.seal`), so a full collection walks little more than the
connections that are open.

After a full collection glibc's ``malloc_trim(0)`` hands freed heap pages back to the system
(glibc otherwise keeps them, fragmented among long-lived journal records: 1,000 WebSocket
sessions, each with permessage-deflate's zlib state, left the server 130 MiB above its
baseline with every connection closed). Where the C library has no ``malloc_trim`` (musl,
macOS) only the collection runs.
"""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Callable
from typing import Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime

#: Net allocations of tracked objects between Python's own young collections (its default is
#: 700: the cost of a collection is in the objects it walks, not in how often it runs).
YOUNG_THRESHOLD = 2_000
#: A collection of the younger generations at least this often.
YOUNG_SECONDS = 0.1
#: The oldest generation's threshold for Python's own schedule: never reached (Python's
#: middle-generation threshold is 0: every other collection of its own takes both younger
#: generations).
NEVER = 2**31 - 1
#: How often the schedule looks for a moment when no exchange is under way.
IDLE_CHECK_SECONDS = 1.0
#: A full collection at least this often, even when exchanges never pause.
FULL_AT_LEAST_SECONDS = 600.0
_TICKS_PER_IDLE_CHECK = round(IDLE_CHECK_SECONDS / YOUNG_SECONDS)


class Activity(Protocol):
    """What the schedule asks of the server (an ``OriginFactory``)."""

    def idle(self) -> bool:
        """True when no exchange is under way."""
        ...

    @property
    def progress(self) -> int:
        """A count that grows with every exchange begun and every connection closed."""
        ...


def malloc_trim() -> Callable[[], None] | None:
    """glibc's ``malloc_trim(0)``, or None where the C library has none (looked up among the
    symbols the process already has: ``find_library`` would run ``ldconfig`` at start-up)."""
    try:
        function = getattr(ctypes.CDLL(None), "malloc_trim", None)
    except OSError:
        function = None
    if function is None:
        return None

    def trim() -> None:
        function(0)

    return trim


def collect_and_trim() -> None:
    """A full collection, then freed heap pages handed back (where glibc can)."""
    gc.collect()
    trim = _TRIM
    if trim is not None:
        trim()


_TRIM = malloc_trim()


class CollectorSchedule:
    """Runs the collector as the module docstring says; :meth:`start` once listening.

    Attributes:
        collections: how many collections of the younger generations it ran.
        full_runs: how many full collections it ran (idle or overdue).
    """

    def __init__(
        self,
        clock: IReactorTime,
        activity: Activity,
        full: Callable[[], None] = collect_and_trim,
    ) -> None:
        self.collections = 0
        self.full_runs = 0
        self._clock = clock
        self._activity = activity
        self._full = full
        self._call: IDelayedCall | None = None
        self._ticks = 0
        self._full_at = clock.seconds()
        self._progress = activity.progress

    def start(self) -> None:
        """Freeze start-up's objects, keep Python's own schedule off the oldest generation,
        and tick from now on.

        Frozen without a collection first: the few thousand objects start-up left as garbage
        cost a few hundred KiB once, where collecting the 100,000 objects of a started process
        took 28 ms of start-up. (``python -m fakeorigin`` and the ``fakeorigin`` command start
        with the collector off: start-up makes no garbage worth collecting.)
        """
        gc.freeze()
        gc.set_threshold(YOUNG_THRESHOLD, 0, NEVER)
        gc.enable()
        self._later()

    def stop(self) -> None:
        """Check no more (Python's own collections of the younger generations go on)."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _later(self) -> None:
        self._call = self._clock.callLater(YOUNG_SECONDS, self._tick)

    def _tick(self) -> None:
        self._ticks += 1
        now = self._clock.seconds()
        if self._ticks % _TICKS_PER_IDLE_CHECK == 0 and self._full_due(now):
            self._full()
            self.full_runs += 1
            self._full_at = now
            self._progress = self._activity.progress
        else:
            gc.collect(1)  # the young and the middle generation: survivors go to the oldest
            self.collections += 1
        self._later()

    def _full_due(self, now: float) -> bool:
        """Something happened since the last full collection (an idle server is left alone),
        and no exchange is under way now, or none has paused for too long."""
        if self._activity.progress == self._progress:
            return False
        return now - self._full_at >= FULL_AT_LEAST_SECONDS or self._activity.idle()
