"""Python function calls per plain request through the origin protocol, counted by cProfile,
and the time per request without the profiler.

    python bench/calls_per_request.py [--requests 20000] [--distinct N] [--source DIR]

One keep-alive connection in memory (tests/memory.py's MemoryOrigin: StringTransport and
task.Clock, no sockets), the ``plain`` profile's steps, GETs fed one after another: the same
head every time, or with ``--distinct N`` N heads of different targets in turn (more than the
256 plain heads ``wire.simple_request`` remembers, so none is remembered). The count is
deterministic for a given build, unlike the time: it is what bench/FINDINGS.md compares when
the hot path changes shape. The time is the median (and the fastest) of 15 runs of 10,000
requests each, the journal full, the collector off while they run; pin it to one CPU
(``taskset -c 0``) and run builds in turn: the machine's noise is larger than a few percent.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import statistics
import sys
import time
from pathlib import Path

PLAIN = {"respond": {"status": 200, "headers": {"content-type": "text/plain"}, "body": "hello\n"}}
REQUEST = b"GET /%d HTTP/1.1\r\nHost: bench\r\n\r\n"
TIMED_RUNS = 15
TIMED_REQUESTS = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--distinct", type=int, default=1, help="heads of different targets")
    parser.add_argument(
        "--source",
        type=Path,
        default=Path(__file__).resolve().parent.parent,
        help="the checkout measured (its fakeorigin and tests/memory.py), e.g. a git worktree",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(args.source.resolve()))
    from tests.memory import MemoryOrigin  # noqa: PLC0415 (from the checkout measured)

    origin = MemoryOrigin()
    origin.use(PLAIN, name="plain")
    client = origin.connect()
    protocol, transport = client.protocol, client.transport
    heads = [REQUEST % n for n in range(args.distinct)]

    def serve(count: int) -> None:
        for n in range(count):
            protocol.dataReceived(heads[n % len(heads)])
            transport.clear()

    serve(12_000)  # warm: caches filled, the journal (10,000 records) full
    profiler = cProfile.Profile()
    profiler.runcall(serve, args.requests)
    calls = pstats.Stats(profiler).total_calls
    print(f"{calls / args.requests:.1f} Python calls per request ({args.requests} requests)")
    gc.disable()
    runs = []
    for _ in range(TIMED_RUNS):
        begin = time.perf_counter()
        serve(TIMED_REQUESTS)
        runs.append((time.perf_counter() - begin) / TIMED_REQUESTS * 1e6)
    gc.enable()
    print(
        f"{statistics.median(runs):.2f} us per request, fastest run {min(runs):.2f}, slowest "
        f"{max(runs):.2f} ({TIMED_RUNS} runs of {TIMED_REQUESTS}, {len(heads)} distinct heads)"
    )


if __name__ == "__main__":
    main()
