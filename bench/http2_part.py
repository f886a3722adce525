"""Part 7 of ``bench/run.py``: HTTP/2 throughput with h2load (Debian's nghttp2-client), issue 15.

fakeorigin over TLS (ALPN h2) and twisted.web's own HTTP/2 (TLS only) side by side, plus
fakeorigin's prior-knowledge h2c, each at 1 and 50 connections with 10 concurrent streams per
connection, for a fixed number of requests; servers pinned as in part 1, h2load on the load
CPU. Runs alternate between the servers; the median of the runs is reported with the worst.

Then 102 timing over HTTP/2, measured as part 3 measures it over HTTP/1.1 (bench/steady.py): one
fakeorigin process with the trickle profile (102 every second, six times, then 200), its journal
filled first, round after round at each of part 3's connection counts, each round's h2c and
HTTP/1.1 clients taking turns on the same process (bench/trickle_client.py, ``--h2``).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import statistics
import subprocess
from typing import Any

import benchlib
from parts import (
    Config,
    Part,
    SkipPartError,
    Table,
    Target,
    fakeorigin_argv,
    fx,
    peer_argv,
    ratio,
    start_all,
    thousands,
)
from steady import round_columns, trickle_round, trickle_row, watched

TARGET = 1.5
STREAMS = 10


def h2load(config: Config, url: str, connections: int, requests: int) -> float:
    """Requests a second h2load measured (its ``finished in`` line)."""
    argv = ["h2load", "-n", str(requests), "-c", str(connections), "-m", str(STREAMS), url + "/"]
    if config.load_cpus:
        argv = ["taskset", "-c", ",".join(map(str, sorted(config.load_cpus))), *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    found = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", done.stdout)
    failed = re.search(r"(\d+) failed", done.stdout)
    if done.returncode != 0 or found is None or (failed and int(failed[1])):
        raise RuntimeError(f"h2load failed: {done.stdout[-800:]} {done.stderr[-400:]}")
    return float(found[1])


def http2(config: Config) -> Part:
    part = Part("http2", "7. HTTP/2: plain 200 with h2load, 10 streams per connection")
    if shutil.which("h2load") is None:
        raise SkipPartError("h2load is not installed (Debian: apt-get install nghttp2-client)")
    if importlib.util.find_spec("priority") is None:
        raise SkipPartError("twisted.web's HTTP/2 needs twisted[http2] (pip install priority)")
    servers = {
        "fakeorigin h2": fakeorigin_argv(config, "plain", extra=["--tls"]),
        "twisted.web h2": peer_argv(config, "hello_twisted_h2.py"),
        "fakeorigin h2c": fakeorigin_argv(config, "plain"),
    }
    children = start_all(config, servers)
    requests = 2_000 if config.smoke else 30_000
    runs = 1 if config.smoke else 3
    try:
        urls = {name: benchlib.origin_url(child.info) for name, child in children.items()}
        # A server serving a while: the cleartext one's journal filled first (over TLS the
        # first h2load run, 30,000 requests, fills the 10,000-record journal itself).
        benchlib.fill_journal(urls["fakeorigin h2c"], config.journal_fill)
        results: dict[int, dict[str, list[float]]] = {}
        for connections in (1, 50):
            rates: dict[str, list[float]] = {name: [] for name in urls}
            for run in range(runs):
                names = list(urls)
                for name in names[run % len(names) :] + names[: run % len(names)]:
                    rates[name].append(h2load(config, urls[name], connections, requests))
            results[connections] = rates
    finally:
        for child in children.values():
            child.stop()
    table = Table(
        [
            "connections",
            *(f"{name} req/s (worst)" for name in servers),
            "fakeorigin h2 / twisted.web h2",
        ]
    )
    data: dict[str, Any] = {}
    for connections, rates in results.items():
        medians = {name: statistics.median(values) for name, values in rates.items()}
        data[str(connections)] = {"median": medians, "runs": rates}
        table.rows.append(
            [str(connections)]
            + [f"{thousands(medians[n])} ({thousands(min(rates[n]))})" for n in servers]
            + [fx(ratio(medians["fakeorigin h2"], medians["twisted.web h2"]))]
        )
        measured = ratio(medians["fakeorigin h2"], medians["twisted.web h2"])
        part.targets.append(
            Target(
                f"HTTP/2 over TLS >= {TARGET}x twisted.web's HTTP/2 at {connections} connections",
                fx(measured),
                measured >= TARGET,
            )
        )
    part.tables.append(table)
    part.notes.append(
        f"h2load -n {requests} -m {STREAMS}; {runs} runs per server and level, alternating; "
        "both TLS servers use a certificate from a throwaway CA (h2load does not verify). "
        f"fakeorigin h2c's journal is filled with {config.journal_fill:,} requests first; "
        "fakeorigin h2's fills during its first run."
    )
    data["trickle"] = _trickle(config, part)
    part.data = data
    return part


def _trickle(config: Config, part: Part) -> dict[str, Any]:
    """102 lateness over h2c and HTTP/1.1, rounds taking turns on one fakeorigin process."""
    table = Table(round_columns("protocol"))
    server = watched(config, "fakeorigin", fakeorigin_argv(config, "trickle"))
    figures: dict[str, Any] = {}
    try:
        benchlib.fill_journal(server.url, config.journal_fill)
        for connections in config.trickle:
            rounds: dict[str, list[dict[str, Any]]] = {"h2c": [], "http/1.1": []}
            for index in range(config.trickle_rounds):
                order = ["h2c", "http/1.1"] if index % 2 == 0 else ["http/1.1", "h2c"]
                for protocol in order:
                    h2 = ["--h2"] if protocol == "h2c" else []
                    rounds[protocol].append(trickle_round(config, server, connections, *h2))
            for protocol, results in rounds.items():
                for index, result in enumerate(results):
                    table.rows.append(
                        trickle_row(connections, protocol, index + 1, result, result["gc"])
                    )
            figures[str(connections)] = rounds
    finally:
        server.child.stop()
    part.tables.append(table)
    part.notes.append(
        "102 timing over HTTP/2: bench/profiles/trickle.yaml on one fakeorigin process (journal "
        f"filled with {config.journal_fill:,} plain requests first), {config.trickle_rounds} "
        "rounds per connection count, h2c (prior knowledge: preface, SETTINGS and the request's "
        "HEADERS at once; each 102 a HEADERS frame) and HTTP/1.1 taking turns; columns as in "
        "part 3. Reported, no target."
    )
    return figures
