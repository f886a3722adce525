"""The collector's schedule (fakeorigin/server/collector.py) with task.Clock, and what it relies
on: an exchange of any bundled profile leaves no reference cycle once its connection is gone, so
reference counting frees it even in the oldest generation, which is collected only when no
exchange is under way."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from twisted.internet.task import Clock

from fakeorigin.server.collector import (
    FULL_AT_LEAST_SECONDS,
    NEVER,
    YOUNG_SECONDS,
    YOUNG_THRESHOLD,
    CollectorSchedule,
    collect_and_trim,
    malloc_trim,
)
from tests.memory import MemoryOrigin, bundled_profiles


@dataclass
class Activity:
    busy: bool = False
    progress: int = 0

    def idle(self) -> bool:
        return not self.busy


@pytest.fixture
def collector_state() -> Iterator[list[int]]:
    """The process's collector settings restored afterwards; the generations each collection
    collected meanwhile."""
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    collected: list[int] = []

    def watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            collected.append(int(info["generation"]))

    gc.callbacks.append(watch)
    try:
        yield collected
    finally:
        gc.callbacks.remove(watch)
        gc.unfreeze()
        gc.set_threshold(*threshold)
        (gc.enable if enabled else gc.disable)()


def test_start_freezes_and_keeps_python_off_the_oldest_generation(
    collector_state: list[int],
) -> None:
    clock = Clock()
    schedule = CollectorSchedule(clock, Activity())
    gc.disable()
    schedule.start()
    assert gc.isenabled()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 0, NEVER)
    assert gc.get_freeze_count() > 1000  # this process's modules, at least
    made = [[index] for index in range(10 * YOUNG_THRESHOLD)]  # Python's own collections
    assert 0 in collector_state
    assert 1 in collector_state
    assert 2 not in collector_state
    del made
    schedule.stop()
    assert clock.getDelayedCalls() == []


def test_the_younger_generations_every_tenth_of_a_second(collector_state: list[int]) -> None:
    clock = Clock()
    schedule = CollectorSchedule(clock, Activity(busy=True), lambda: None)
    schedule.start()
    gc.disable()  # only the reactor's ticks here: Python's own schedule is the test above
    collector_state.clear()
    clock.advance(YOUNG_SECONDS * 0.9)
    assert collector_state == []
    clock.advance(YOUNG_SECONDS * 0.1)
    assert collector_state == [1]  # the young and middle generations together
    clock.pump([YOUNG_SECONDS] * 3)
    assert collector_state == [1, 1, 1, 1]
    assert schedule.collections == 4
    schedule.stop()


def test_a_full_collection_waits_until_no_exchange_is_under_way(
    collector_state: list[int],
) -> None:
    clock, activity, runs = Clock(), Activity(busy=True), []
    schedule = CollectorSchedule(clock, activity, lambda: runs.append(clock.seconds()))
    schedule.start()
    clock.pump([0.1] * 20)
    assert runs == []  # nothing served yet
    activity.progress += 1
    clock.pump([0.1] * 30)
    assert runs == []  # busy: the oldest generation waits
    activity.busy = False
    clock.pump([0.1] * 10)
    assert len(runs) == 1
    assert 5.0 < runs[0] <= 6.0
    clock.pump([0.1] * 30)
    assert len(runs) == 1  # nothing served since
    activity.progress += 1
    clock.pump([0.1] * 10)
    assert (len(runs), schedule.full_runs) == (2, 2)
    schedule.stop()


def test_a_server_never_idle_still_gets_a_full_collection_now_and_then(
    collector_state: list[int],
) -> None:
    clock, runs, activity = Clock(), [], Activity(busy=True)
    schedule = CollectorSchedule(clock, activity, lambda: runs.append(clock.seconds()))
    schedule.start()
    activity.progress += 1
    clock.pump([1.0] * round(FULL_AT_LEAST_SECONDS - 2))
    assert runs == []
    clock.pump([1.0] * 3)
    assert len(runs) == 1
    schedule.stop()


def test_collect_and_trim_runs_here() -> None:
    assert malloc_trim() is not None  # glibc (Linux CI); elsewhere only gc runs
    collect_and_trim()


# -- no cycle left behind -----------------------------------------------------------------

HANDSHAKE = (
    b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)
UPLOAD = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
#: A masked text frame "hi", then a masked Close 1000.
FRAMES = b"\x81\x82\x00\x00\x00\x00hi" + b"\x88\x82\x00\x00\x00\x00\x03\xe8"


def exchange(origin: MemoryOrigin, name: str) -> None:
    """One exchange of profile ``name``, to its end, then the connection goes."""
    client = origin.connect()
    head = HANDSHAKE if name.startswith("websocket") else UPLOAD
    client.send(head + b"Fakeorigin-Profile: " + name.encode() + b"\r\n\r\n")
    origin.advance(0.5)
    client.send(FRAMES if name.startswith("websocket") else b"hello")
    for _ in range(40):
        origin.advance(0.5)
    client.lose()


#: Where the objects of a connection come from: none of them may be left in a cycle.
_CONNECTION_MODULES = ("fakeorigin", "twisted", "autobahn", "tests", "h11")


@pytest.mark.parametrize("name", sorted(bundled_profiles()))
def test_an_ended_exchange_leaves_no_reference_cycle(name: str) -> None:
    """What reaches the oldest generation waits there until no exchange is under way; a
    connection that left a cycle would wait too, and its memory with it. (The echo's indented
    JSON is made by the json module's pure-Python encoder, whose closures refer to each
    other: young garbage, made and dropped in one call, that the next young collection
    frees.)"""
    origin = MemoryOrigin()
    origin.settings(max_duration_seconds=15.0)
    exchange(origin, "default")  # imports, caches and autobahn's factory: made once
    exchange(origin, name if name != "websocket-echo" else "websocket-script-demo")
    origin.clients.clear()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        exchange(origin, name)
        origin.clients.clear()
        gc.collect()
        left = sorted(
            {
                f"{type(o).__module__}.{type(o).__qualname__}"
                for o in gc.garbage
                if type(o).__module__.split(".")[0] in _CONNECTION_MODULES
            }
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert [record.outcome.value for record in origin.records()][-1] != "running"
    assert left == []
