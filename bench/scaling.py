"""Part 6 of ``bench/run.py``: plain throughput of ``fakeorigin serve --workers 2`` against one
process, in the same run (issue 18).

Neither server nor wrk is pinned: two workers need both CPUs, and wrk shares them, as it
would on a user's machine. Each server's journal is filled first (two connections' worth: the
workers' journals both fill); then wrk measures both servers in one-second slices, round
robin (:func:`parts.interleaved`).
"""

from __future__ import annotations

import dataclasses
import shutil

import benchlib
from parts import (
    Config,
    Part,
    SkipPartError,
    Table,
    Target,
    _wrk_measure,
    fakeorigin_argv,
    fx,
    http_status,
    measure_levels,
    ratio,
    run_wrk,
    thousands,
)

#: The issue's target: two workers against one process at 50 connections.
TARGET = 1.4


def workers(config: Config) -> Part:
    part = Part("workers", "6. Workers: plain 200 with --workers 2 against one process (wrk)")
    if shutil.which("wrk") is None:
        raise SkipPartError("wrk is not installed (Debian: apt-get install wrk)")
    unpinned = dataclasses.replace(config, server_cpus=None, load_cpus=None)
    servers = {
        "one process": fakeorigin_argv(config, "plain"),
        "--workers 2": fakeorigin_argv(config, "plain", extra=["--workers", "2"]),
    }

    def warm_up(urls: dict[str, str]) -> None:
        for name, url in urls.items():
            if http_status(url) != 200:
                raise RuntimeError(f"{name} does not answer 200 on /")
            for _ in range(2):
                benchlib.fill_journal(url, config.journal_fill)
            if config.warmup:
                run_wrk(unpinned, url, 10, config.warmup)

    levels = [c for c in config.connections if c >= 10] or config.connections
    results = measure_levels(
        unpinned,
        servers,
        levels,
        config.seconds,
        lambda urls, connections: _wrk_measure(unpinned, urls, connections),
        keys=("requests_per_second", "p50", "p99"),
        prepare=warm_up,
    )
    table = Table(
        [
            "connections",
            "one process req/s",
            "--workers 2 req/s",
            "--workers 2 / one process",
            "slowest slices",
        ]
    )
    for connections, by_name in results.items():
        one = by_name["one process"]
        two = by_name["--workers 2"]
        table.rows.append(
            [
                str(connections),
                thousands(one["requests_per_second"]),
                thousands(two["requests_per_second"]),
                fx(ratio(two["requests_per_second"], one["requests_per_second"])),
                fx(ratio(min(two["slices"]), min(one["slices"]))),
            ]
        )
    part.tables.append(table)
    part.data = results
    key = 50 if 50 in results else max(results)
    measured = ratio(
        results[key]["--workers 2"]["requests_per_second"],
        results[key]["one process"]["requests_per_second"],
    )
    part.targets.append(
        Target(
            f"--workers 2 >= {TARGET}x one process at {key} connections (2 CPUs, wrk sharing them)",
            fx(measured),
            measured >= TARGET,
        )
    )
    part.notes.append(
        "Nothing pinned: the two workers and wrk share this machine's CPUs. The last column sets "
        "the slowest one-second slice of --workers 2 against the slowest of one process."
    )
    return part
