"""What one period of a 102 trickle leaves for the garbage collector, in memory.

    python bench/period_census.py                    # this checkout
    python bench/period_census.py --source ../old    # another checkout, e.g. 6b80bac

N connections (default 10,000) are opened on fakeorigin's in-memory test harness
(tests/memory.py) with the profile "102 every 1 s, six times, then 200", every request sent;
then, with the collector off, the clock moves one period at a time. For each period: the
objects the collector tracks that the period added to the youngest generation, per connection
and by type, and how long ``gc.collect(1)`` takes to walk them. The clock is a heap of
Twisted's own ``DelayedCall`` objects (``task.Clock`` sorts its whole list at every call, which
would measure the clock). Prints one JSON line. No sockets: the server's own objects only.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

PROFILE = (
    {"repeat": {"times": 6, "every": 1, "steps": [{"informational": {"status": 102}}]}},
    {"respond": {"status": 200, "body": "done\n"}},
)
REQUEST = b"GET /trickle HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"


class HeapClock:
    """An ``IReactorTime`` on a heap of Twisted's ``DelayedCall``, as the reactor keeps them."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.calls: list[Any] = []

    def seconds(self) -> float:
        return self.now

    def callLater(self, delay: float, function: Any, *args: Any, **kw: Any) -> Any:  # noqa: N802
        from twisted.internet.base import DelayedCall  # noqa: PLC0415 (after sys.path is set)

        call = DelayedCall(
            self.now + delay, function, args, kw, lambda c: None, lambda c: None, self.seconds
        )
        heapq.heappush(self.calls, call)
        return call

    def getDelayedCalls(self) -> list[Any]:  # noqa: N802
        return [c for c in self.calls if c.active()]

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while self.calls and self.calls[0].getTime() <= self.now:
            call = heapq.heappop(self.calls)
            if not call.cancelled and not call.called:
                call.called = 1
                call.func(*call.args, **call.kw)


def census(connections: int, periods: int) -> dict[str, Any]:
    from tests.memory import START, MemoryOrigin  # noqa: PLC0415 (after sys.path is set)

    origin = MemoryOrigin()
    clock = HeapClock(START)
    origin.clock = origin.factory.clock = clock  # type: ignore[assignment]
    if hasattr(origin.factory, "timers"):  # the timer heap of later checkouts
        from fakeorigin.transport.timers import TimerHeap  # noqa: PLC0415

        origin.factory.timers = TimerHeap(clock)  # type: ignore[arg-type]
    origin.factory.max_connections = connections + 1
    origin.use(*PROFILE, name="trickle")
    gc.collect()
    gc.disable()
    for _ in range(connections):
        origin.connect().send(REQUEST)
    gc.collect(1)
    rows = []
    for period in range(periods):
        before = len(gc.get_objects(0))
        begin = time.perf_counter()
        clock.advance(1.0)
        seconds = time.perf_counter() - begin
        young = gc.get_objects(0)
        kinds = Counter(type(o).__qualname__ for o in young)
        del young
        begin = time.perf_counter()
        gc.collect(1)
        walked = time.perf_counter() - begin
        rows.append(
            {
                "period": period + 1,
                "tracked_per_connection": (sum(kinds.values()) - before) / connections,
                "by_type": dict(kinds.most_common(8)),
                "collect_1_ms": walked * 1000.0,
                "us_per_102": seconds * 1e6 / connections,
            }
        )
    gc.enable()
    return {"connections": connections, "periods": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--periods", type=int, default=4)
    args = parser.parse_args()
    sys.path.insert(0, str(args.source.resolve()))
    json.dump(census(args.connections, args.periods), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
