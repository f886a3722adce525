"""Every connection's timers in one heap, driven by one reactor call.

Why not a ``callLater`` per timer. A reactor ``DelayedCall`` is seven objects the garbage
collector tracks (the call, four bound methods, the arguments, the function): 10,000
connections trickling a 102 every second kept 70,000 of them alive at any moment, each one
walked by every young collection while it waited, and those collections took up to 80 ms
(bench/FINDINGS.md). Here a pending timer is one tuple in a heap and one entry in its
connection's dict; the heap holds its earliest due time in a single reactor ``DelayedCall``.

Order and precision are the reactor's: the heap's call fires in the reactor's own timed-call
pass (or ``task.Clock.advance`` in tests), and runs every timer due by then, earliest first
(the order they were set in, for equal times). A cancelled timer stays in the heap until it
falls due, or until cancelled ones are half of it and the heap is rebuilt without them; the
reactor call is cancelled whenever no timer is pending, so an idle server has none.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from itertools import count

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

log = Logger()

#: A timer's handle: what :meth:`Timers.cancel` takes.
Timer = int

#: Cancelled timers tolerated in the heap before it is rebuilt without them (and then only
#: when they are at least half of it).
_REBUILD_AFTER = 1024


class TimerHeap:
    """The heap of every pending timer of one factory's connections.

    Attributes:
        clock: the reactor (or ``task.Clock``) whose time and single call drive the heap.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        # (due time, sequence number, owner): the sequence number orders equal times and
        # names the timer; the owner's dict says whether it is still pending.
        self._heap: list[tuple[float, int, Timers]] = []
        self._sequence = count(1)
        self._pending = 0
        self._cancelled = 0
        self._call: IDelayedCall | None = None
        self._call_due = float("inf")
        self._running = False

    def __len__(self) -> int:
        """How many timers are pending (cancelled ones not counted)."""
        return self._pending

    def push(self, seconds: float, owner: Timers) -> Timer:
        """A new timer of ``owner``'s, due ``seconds`` from now (negative: now)."""
        due = self.clock.seconds() + max(0.0, seconds)
        timer = next(self._sequence)
        heapq.heappush(self._heap, (due, timer, owner))
        self._pending += 1
        if due < self._call_due and not self._running:
            self._schedule(due)
        return timer

    def forget(self) -> None:
        """One pending timer was cancelled (its owner no longer knows it)."""
        self._pending -= 1
        self._cancelled += 1
        if self._running:
            return  # _run tidies up when it is done
        if not self._pending:
            self._heap.clear()
            self._cancelled = 0
            self._unschedule()
        elif self._cancelled > _REBUILD_AFTER and self._cancelled * 2 > len(self._heap):
            self._heap = [entry for entry in self._heap if entry[2].has(entry[1])]
            heapq.heapify(self._heap)
            self._cancelled = 0

    def _schedule(self, due: float) -> None:
        self._unschedule()
        self._call_due = due
        self._call = self.clock.callLater(max(0.0, due - self.clock.seconds()), self._run)

    def _unschedule(self) -> None:
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None
        self._call_due = float("inf")

    def _run(self) -> None:
        """The reactor call: run every timer due by now, then wait for the next one.

        A timer that raises is logged, as the reactor logs a failing ``callLater``, and the
        others still run.
        """
        self._call = None
        self._call_due = float("inf")
        self._running = True
        heap = self._heap
        now = self.clock.seconds()
        try:
            while heap and heap[0][0] <= now:
                _, timer, owner = heapq.heappop(heap)
                function = owner.take(timer)
                if function is None:
                    self._cancelled -= 1
                    continue
                self._pending -= 1
                try:
                    function()
                except Exception:
                    log.failure("fakeorigin: a timer failed")
        finally:
            self._running = False
        if not self._pending:
            heap.clear()
            self._cancelled = 0
        elif heap:
            self._schedule(heap[0][0])


class Timers:
    """One connection's timers on the factory's :class:`TimerHeap`, cancelled together when
    the connection goes.

    Attributes:
        heap: the factory's heap.
    """

    __slots__ = ("_calls", "heap")

    def __init__(self, heap: TimerHeap) -> None:
        self.heap = heap
        self._calls: dict[Timer, Callable[[], None]] = {}

    @property
    def pending(self) -> list[Timer]:
        """This connection's pending timers, oldest first."""
        return list(self._calls)

    def later(self, seconds: float, function: Callable[[], None]) -> Timer:
        """Call ``function`` in ``seconds`` (clamped at 0), unless cancelled first."""
        timer = self.heap.push(seconds, self)
        self._calls[timer] = function
        return timer

    def cancel(self, timer: Timer | None) -> None:
        """Cancel ``timer`` if it is still pending (a fired or unknown one is ignored)."""
        if timer is not None and self._calls.pop(timer, None) is not None:
            self.heap.forget()

    def cancel_all(self) -> None:
        """Cancel every pending timer of this connection."""
        for timer in list(self._calls):
            self.cancel(timer)

    def has(self, timer: Timer) -> bool:
        """Whether ``timer`` is still pending."""
        return timer in self._calls

    def take(self, timer: Timer) -> Callable[[], None] | None:
        """The heap's side: ``timer`` is due; its function, or None if it was cancelled."""
        return self._calls.pop(timer, None)
