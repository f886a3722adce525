"""A bare Twisted timer loop: the floor under fakeorigin's 102 timing.

``--timers N`` timers start spread evenly over ``--spread`` seconds; each fires ``--periods``
times, ``--every`` seconds apart, every period scheduled against its absolute due time (as
fakeorigin's ``repeat`` does). Each firing does a little work (``--work-bytes`` into a buffer,
standing in for a write) and records how late it ran. Prints one JSON line with the lateness
summary in milliseconds and exits.
"""

from __future__ import annotations

import argparse
import gc

import benchlib
from twisted.internet import reactor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timers", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=1.0)
    parser.add_argument("--every", type=float, default=1.0)
    parser.add_argument("--periods", type=int, default=5)
    parser.add_argument("--work-bytes", type=int, default=30)
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() before starting")
    args = parser.parse_args()
    lateness: list[float] = []
    sink = bytearray()
    payload = b"x" * args.work_bytes
    clock = reactor.seconds
    left = [args.timers]

    def fire(due: float, period: int) -> None:
        lateness.append((clock() - due) * 1000.0)
        sink[:] = payload
        if period + 1 < args.periods:
            following = due + args.every
            reactor.callLater(max(0.0, following - clock()), fire, following, period + 1)
        else:
            left[0] -= 1
            if left[0] == 0:
                reactor.stop()

    def start() -> None:
        if args.gc_freeze:
            gc.collect()
            gc.freeze()
        begin = clock() + 0.05
        for index in range(args.timers):
            due = begin + args.spread * index / args.timers
            reactor.callLater(max(0.0, due - clock()), fire, due, 0)

    reactor.callWhenRunning(start)
    reactor.run()
    benchlib.ready({"timers": args.timers, "lateness_ms": benchlib.summarise(lateness)})


if __name__ == "__main__":
    main()
