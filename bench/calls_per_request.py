"""Python function calls per plain request through the origin protocol, counted by cProfile.

    python bench/calls_per_request.py [--requests 20000] [--source DIR]

One keep-alive connection in memory (tests/memory.py's MemoryOrigin: StringTransport and
task.Clock, no sockets), the ``plain`` profile's steps, GETs fed one after another. The count
is deterministic for a given build, unlike the time: it is what bench/FINDINGS.md compares
when the hot path changes shape.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

PLAIN = {"respond": {"status": 200, "headers": {"content-type": "text/plain"}, "body": "hello\n"}}
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
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

    def serve(count: int) -> None:
        for _ in range(count):
            protocol.dataReceived(REQUEST)
            transport.clear()

    serve(1000)  # warm: caches filled, the journal started
    profiler = cProfile.Profile()
    profiler.runcall(serve, args.requests)
    calls = pstats.Stats(profiler).total_calls
    print(f"{calls / args.requests:.1f} Python calls per request ({args.requests} requests)")


if __name__ == "__main__":
    main()
