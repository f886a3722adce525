"""A/B of two checkouts on the plain 200 path: which one serves more requests a second.

    python bench/ab_plain.py --old /tmp/exp/old --new . [--runs 30] [--connections 50]

Both servers run at once (``fakeorigin serve --control none``, the ``plain`` profile of
bench/profiles, each checkout's own fakeorigin and bundled profiles), pinned to CPU 0; wrk
(one thread) on CPU 1 gives each one-second runs in turn, alternating which goes first. The
medians and their ratio are printed with the spread: on a shared machine one run means little,
thirty alternating ones do. Make a checkout of a commit with ``git worktree add --detach DIR
COMMIT``. Needs wrk and taskset.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def start(source: Path) -> tuple[subprocess.Popen[bytes], str]:
    argv = [sys.executable, "-m", "fakeorigin", "serve", "--listen", "tcp:0:interface=127.0.0.1"]
    argv += ["--control", "none", "--announce", "--profiles", "bundled"]
    argv += ["--profiles", str(BENCH / "profiles"), "--profile", "plain", "--backlog", "1024"]
    env = dict(os.environ, PYTHONPATH=str(source))
    # Each server runs from its own checkout: ``python -m`` puts the working directory first
    # on sys.path, ahead of PYTHONPATH (from the repository, both would run the repository).
    process = subprocess.Popen(
        ["taskset", "-c", "0", *argv],
        env=env,
        cwd=source,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())["origin"][0]


def wrk(url: str, connections: int, seconds: int) -> float:
    argv = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url + "/"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert found, out
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="the checkout to compare with")
    parser.add_argument("--new", type=Path, required=True, help="the candidate checkout")
    parser.add_argument("--runs", type=int, default=30, help="one-second runs per server")
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    servers = {"old": start(args.old.resolve()), "new": start(args.new.resolve())}
    rates: dict[str, list[float]] = {name: [] for name in servers}
    try:
        for _, url in servers.values():
            wrk(url, args.connections, 2)  # warm up; the journal starts to fill
        for run in range(args.runs):
            order = list(servers) if run % 2 == 0 else list(servers)[::-1]
            for name in order:
                rates[name].append(wrk(servers[name][1], args.connections, 1))
    finally:
        for process, _ in servers.values():
            process.send_signal(signal.SIGTERM)
            process.wait(10)
    for name, values in rates.items():
        print(
            f"{name}: median {statistics.median(values):,.0f} req/s "
            f"(min {min(values):,.0f}, max {max(values):,.0f})"
        )
    ratio = statistics.median(rates["new"]) / statistics.median(rates["old"])
    print(f"new/old: {ratio:.3f}")


if __name__ == "__main__":
    main()
