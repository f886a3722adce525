"""The timer heap (fakeorigin/transport/timers.py) with task.Clock: order, cancelling, one
reactor call, the rebuild after many cancels, a timer that fails."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock

from fakeorigin.transport import timers
from fakeorigin.transport.timers import TimerHeap, Timers
from tests.reliability.support import captured_logs


def timers_on_a_clock() -> tuple[Clock, TimerHeap, Timers]:
    """A heap on a ``task.Clock`` and one connection's timers on it."""
    clock = Clock()
    heap = TimerHeap(clock)
    return clock, heap, Timers(heap)


def test_timers_fire_in_time_order_on_one_reactor_call() -> None:
    clock = Clock()
    heap = TimerHeap(clock)
    a, b = Timers(heap), Timers(heap)
    fired: list[str] = []
    a.later(2.0, lambda: fired.append("a2"))
    b.later(1.0, lambda: fired.append("b1"))
    a.later(1.0, lambda: fired.append("a1"))  # same time as b1: in the order they were set
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(1.0)
    assert fired == ["b1", "a1"]
    clock.advance(1.0)
    assert fired == ["b1", "a1", "a2"]
    assert clock.getDelayedCalls() == []
    assert len(heap) == 0


def test_cancelled_timers_never_fire_and_leave_no_reactor_call() -> None:
    clock, heap, owner = timers_on_a_clock()
    fired: list[int] = []
    first = owner.later(1.0, lambda: fired.append(1))
    owner.later(2.0, lambda: fired.append(2))
    owner.cancel(first)
    owner.cancel(first)  # twice: nothing more happens
    owner.cancel(None)
    clock.advance(1.0)
    assert fired == []
    owner.cancel_all()
    assert (owner.pending, len(heap), clock.getDelayedCalls()) == ([], 0, [])
    clock.advance(5.0)
    assert fired == []


def test_a_timer_set_while_timers_run_is_scheduled_for_its_own_time() -> None:
    clock, _heap, owner = timers_on_a_clock()
    fired: list[float] = []

    def set_another() -> None:
        owner.later(0.5, lambda: fired.append(clock.seconds()))

    owner.later(1.0, set_another)
    owner.later(3.0, lambda: fired.append(clock.seconds()))
    clock.pump([0.5] * 8)
    assert fired == [1.5, 3.0]


def test_the_heap_is_rebuilt_once_cancelled_timers_are_most_of_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(timers, "_REBUILD_AFTER", 10)
    _clock, heap, owner = timers_on_a_clock()
    kept = owner.later(100.0, lambda: None)
    cancelled = [owner.later(50.0, lambda: None) for _ in range(30)]
    for timer in cancelled[:15]:
        owner.cancel(timer)
    assert len(heap._heap) == 31  # 15 of 31 cancelled: not yet half
    owner.cancel(cancelled[15])
    assert len(heap._heap) == 15  # more than half: rebuilt without them
    for timer in cancelled[16:]:
        owner.cancel(timer)
    assert owner.pending == [kept]
    assert len(heap) == 1


def test_a_failing_timer_is_logged_and_the_others_still_run() -> None:
    clock, _heap, owner = timers_on_a_clock()
    fired: list[str] = []

    def fail() -> None:
        raise RuntimeError("boom")

    owner.later(1.0, fail)
    owner.later(1.0, lambda: fired.append("after"))
    with captured_logs() as logs:
        clock.advance(1.0)
    assert fired == ["after"]
    [failure] = logs.failures
    assert "RuntimeError: boom" in failure
