"""The idle reclaimer (fakeorigin/heap.py) with task.Clock: when it runs, and when it does not."""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.task import Clock

from fakeorigin.heap import IdleReclaimer, collect_and_trim, malloc_trim


@dataclass
class Counts:
    open_connections: int = 0
    closed_connections: int = 0


def test_runs_once_idle_after_connections_closed() -> None:
    clock, counts, runs = Clock(), Counts(), []
    reclaimer = IdleReclaimer(clock, counts, lambda: runs.append(clock.seconds()))
    reclaimer.start()
    clock.advance(5)
    assert runs == []  # nothing closed yet
    counts.open_connections, counts.closed_connections = 3, 10
    clock.advance(5)
    assert runs == []  # connections still open: no exchange is paused
    counts.open_connections = 0
    clock.advance(1)
    assert runs == [11.0]
    clock.advance(10)
    assert runs == [11.0]  # nothing closed since
    counts.closed_connections = 11
    clock.advance(1)
    assert (runs, reclaimer.runs) == ([11.0, 22.0], 2)
    reclaimer.stop()
    assert clock.getDelayedCalls() == []


def test_collect_and_trim_runs_here() -> None:
    assert malloc_trim() is not None  # glibc (Linux CI); elsewhere only gc runs
    collect_and_trim()
