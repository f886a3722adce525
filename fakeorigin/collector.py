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
no collection walks them again). Young collections run every :data:`YOUNG_THRESHOLD` net
allocations, as Python's would (that bounds them during a burst of connects), and also every
:data:`TICK_SECONDS` on a reactor timer (that bounds them in a steady state); every
:data:`MIDDLE_THRESHOLD` of them is a middle-generation collection. Objects that survive one
(live exchanges, journal records) reach the oldest generation, which is never collected while
an exchange is under way: only once none is (a ``hang`` waits for nothing and does not count;
a WebSocket session does) and some exchange has begun or connection closed since the last
one, checked every :data:`IDLE_CHECK_SECONDS`. A server whose exchanges
never pause gets a full collection every :data:`FULL_AT_LEAST_SECONDS` anyway, to bound the
cyclic garbage that could wait there. There is little: a closed connection leaves no reference
cycle (tests/reliability/test_collector.py checks each bundled profile), so reference counting
frees it wherever it is.

After a full collection glibc's ``malloc_trim(0)`` hands freed heap pages back to the system
(glibc otherwise keeps them, fragmented among long-lived journal records: 1,000 WebSocket
sessions, each with permessage-deflate's zlib state, left the server 130 MiB above its
baseline with every connection closed). Where the C library has no ``malloc_trim`` (musl,
macOS) only the collection runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from typing import Protocol

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

#: Net allocations of tracked objects between young collections (Python's default is 700;
#: the cost of a collection is in the objects it walks, not in how often it runs).
YOUNG_THRESHOLD = 2_000
#: Young collections per middle-generation collection (Python's default is 10: a middle
#: collection walks what survived all of them).
MIDDLE_THRESHOLD = 2
#: The oldest generation's threshold: never reached, so Python never starts a full collection
#: on its own (:class:`CollectorSchedule` does, when no exchange is under way).
NEVER = 2**31 - 1
#: A young (or middle) collection at least this often.
TICK_SECONDS = 0.1
#: How often the schedule looks for a moment when no exchange is under way.
IDLE_CHECK_SECONDS = 1.0
#: A full collection at least this often, even when exchanges never pause.
FULL_AT_LEAST_SECONDS = 600.0


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
    """glibc's ``malloc_trim(0)``, or None where the C library has none."""
    name = ctypes.util.find_library("c")
    function = None if name is None else getattr(ctypes.CDLL(name), "malloc_trim", None)
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
        full_runs: how many full collections it ran (idle or overdue).
    """

    def __init__(
        self,
        clock: IReactorTime,
        activity: Activity,
        full: Callable[[], None] = collect_and_trim,
        *,
        tick_seconds: float = TICK_SECONDS,
    ) -> None:
        self.full_runs = 0
        self._activity = activity
        self._full = full
        self._tick_seconds = tick_seconds
        self._ticks = 0
        self._ticks_per_check = max(1, round(IDLE_CHECK_SECONDS / tick_seconds))
        self._ticks_per_full = max(1, round(FULL_AT_LEAST_SECONDS / tick_seconds))
        self._since_full = 0
        self._progress = activity.progress
        self._loop = LoopingCall(self._tick)
        self._loop.clock = clock

    def start(self) -> None:
        """Freeze start-up's objects, set the thresholds, and tick from now on.

        Frozen without a collection first: the few thousand objects start-up left as garbage
        cost a few hundred KiB once, where collecting the 100,000 objects of a started process
        took 28 ms of start-up. (``python -m fakeorigin`` and the ``fakeorigin`` command start
        with the collector off: start-up makes no garbage worth collecting.)
        """
        gc.freeze()
        gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, NEVER)
        gc.enable()
        self._loop.start(self._tick_seconds, now=False)

    def stop(self) -> None:
        """Tick no more (Python's own young and middle collections go on)."""
        if self._loop.running:
            self._loop.stop()

    def _tick(self) -> None:
        self._ticks += 1
        self._since_full += 1
        young_collections = gc.get_count()[1]
        if self._ticks % self._ticks_per_check == 0 and self._full_due():
            self._full()
            self.full_runs += 1
            self._since_full = 0
            self._progress = self._activity.progress
            return
        gc.collect(1 if young_collections >= MIDDLE_THRESHOLD else 0)

    def _full_due(self) -> bool:
        """Something happened since the last full collection (an idle server is left alone),
        and no exchange is under way now, or none has paused for too long."""
        if self._activity.progress == self._progress:
            return False
        return self._since_full >= self._ticks_per_full or self._activity.idle()
