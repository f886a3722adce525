"""Load: many concurrent connections mixing the bundled profiles against a real fakeorigin.

``fakeorigin serve`` runs in a child process; ``tests/reliability/loadgen.py`` runs in another
(both on 127.0.0.1, both stopped by PID, every run bounded in connections and time). A warm-up
of the same mix comes first: it fills the journal and touches every code path, and the
server's RSS after it is the baseline. Then the run. Afterwards:

- every request got exactly what its profile sends (the generator checks each), and the
  server logged no error and no traceback;
- the journal accounts for every request sent: the records it holds plus the count it evicted
  equal the requests sent, each record has ended, with the outcome of its profile;
- once every connection is gone, the server's RSS is within 10% of the baseline.

The short run (200 connections, 3 s) is part of the normal suite; the long one (2,000
connections, 30 s) runs with ``-m load`` (``make load``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.control_process import Served, serving
from tests.reliability.loadgen import SCENARIOS

pytestmark = pytest.mark.realsocket

REPOSITORY = Path(__file__).resolve().parents[2]
#: A record for every request is kept until the journal is full; the warm-up fills it.
JOURNAL_SIZE = 2000


@dataclass(frozen=True)
class Load:
    connections: int
    seconds: float
    warmup_seconds: float
    max_duration: float
    scenarios: tuple[str, ...]


def rss_kib(pid: int) -> int:
    """The process's resident set size, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def settled_rss(pid: int, seconds: float = 6.0) -> int:
    """RSS once it stops moving (three readings 0.25 s apart within 1%), or after ``seconds``;
    not before the server has been idle for 2 s (its reclaimer runs a second into idleness)."""
    time.sleep(2.0)
    readings = [rss_kib(pid)]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.25)
        readings.append(rss_kib(pid))
        last = readings[-3:]
        if len(last) == 3 and max(last) - min(last) <= max(last) // 100:
            break
    return readings[-1]


def generate(served: Served, load: Load, seconds: float, seed: int) -> dict[str, Any]:
    """Run the load generator against ``served`` for ``seconds``; its JSON summary."""
    command = [
        sys.executable,
        "-m",
        "tests.reliability.loadgen",
        "--port",
        str(served.origin_port),
        "--connections",
        str(load.connections),
        "--seconds",
        str(seconds),
        "--max-duration",
        str(load.max_duration),
        "--scenarios",
        ",".join(load.scenarios),
        "--seed",
        str(seed),
    ]
    completed = subprocess.run(
        command,
        cwd=REPOSITORY,
        capture_output=True,
        timeout=seconds + 60,  # subprocess.run kills it (by PID) past this
        check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode()[-4000:]
    summary: dict[str, Any] = json.loads(completed.stdout)
    return summary


def run_load(load: Load) -> dict[str, Any]:
    """Warm up, measure, run, measure; the figures the test asserts."""
    args = ["--journal-size", str(JOURNAL_SIZE), "--max-duration", str(load.max_duration)]
    args += ["--max-connections", str(load.connections + 100), "--backlog", "4096"]
    with serving(*args) as served:
        pid = served.process.pid
        warmup = generate(served, load, load.warmup_seconds, seed=1)
        baseline = settled_rss(pid)
        run = generate(served, load, load.seconds, seed=2)
        after = settled_rss(pid)
        peak = _peak_kib(pid)
        page = served.client().request("GET", "/journal", query={"limit": 10_000})
        served.assert_running()
        log = served.log()
    return {
        "warmup": warmup,
        "run": run,
        "rss_baseline_kib": baseline,
        "rss_after_kib": after,
        "rss_peak_kib": peak,
        "journal": page,
        "log": log,
    }


def _peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def check(figures: dict[str, Any], load: Load) -> None:
    warmup, run = figures["warmup"], figures["run"]
    for summary in (warmup, run):
        assert summary["unexpected_count"] == 0, summary["unexpected"]
        assert summary["ok"] == summary["sent"] > 0
        assert summary["open_peak"] == load.connections
        assert all(counts["sent"] > 0 for counts in summary["by_scenario"].values()), summary
    log = figures["log"]
    for sign in ("Traceback", "Unhandled", "#error]", "#critical]"):
        assert sign not in log, log[-4000:]
    # The journal: what it holds and what it evicted account for every request sent.
    page = figures["journal"]
    entries = page["entries"]
    assert len(entries) == JOURNAL_SIZE
    assert len(entries) + page["evicted"] == warmup["sent"] + run["sent"]
    assert entries[-1]["id"] == warmup["sent"] + run["sent"]
    outcomes = Counter((entry["target"].split("/")[2], entry["outcome"]) for entry in entries)
    expected = {name: SCENARIOS[name][2] for name in load.scenarios}
    assert {(name, outcome) for name, outcome in outcomes} <= set(expected.items()), outcomes
    assert all(entry["error"] is None for entry in entries)
    # Memory: back within 10% of the baseline once every connection is gone.
    assert figures["rss_after_kib"] <= figures["rss_baseline_kib"] * 1.10, figures


def report(figures: dict[str, Any]) -> str:
    """The figures of a run, for the test's output (docs/reliability.md quotes them)."""
    run, warmup, page = figures["run"], figures["warmup"], figures["journal"]
    scenarios = ", ".join(f"{name} {c['sent']}" for name, c in run["by_scenario"].items())
    return (
        f"{run['connections']} connections open at once (all connected in "
        f"{run['connect_seconds']} s), run {run['seconds']} s: {run['sent']} requests, "
        f"{run['ok']} as expected, {run['unexpected_count']} not ({scenarios}); "
        f"{run['connections_opened']} connections opened; warm-up {warmup['sent']} requests; "
        f"journal {len(page['entries'])} held + {page['evicted']} evicted = "
        f"{len(page['entries']) + page['evicted']}; RSS baseline {figures['rss_baseline_kib']} "
        f"KiB, peak {figures['rss_peak_kib']} KiB, after {figures['rss_after_kib']} KiB"
    )


SHORT = Load(
    connections=200,
    seconds=3.0,
    warmup_seconds=1.5,
    max_duration=1.0,
    # A 5 s trickle does not fit a 3 s run; the long run has it.
    scenarios=tuple(name for name in SCENARIOS if name != "trickle"),
)
LONG = Load(
    connections=2000, seconds=30.0, warmup_seconds=5.0, max_duration=6.0, scenarios=tuple(SCENARIOS)
)


def test_short_load_loses_nothing() -> None:
    figures = run_load(SHORT)
    check(figures, SHORT)


@pytest.mark.load
def test_long_load_loses_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    figures = run_load(LONG)
    with capsys.disabled():
        print(f"\nload (long): {report(figures)}")
    check(figures, LONG)
