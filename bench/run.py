"""fakeorigin's benchmarks: measured next to peers in one run, reported as ratios.

    python bench/run.py                 # everything (about 6 minutes); writes bench/RESULTS.md
    python bench/run.py --smoke         # every part for about a second, writes nothing
    python bench/run.py --parts trickle --trickle 1000

Parts (issues 8 and 13): 1 throughput of a plain 200 profile against bare twisted.web and
aiohttp (wrk); 2 start-up to ready (the first 200 and, with the control API, /health) against
bare twisted.web's first 200, and the pytest fixture's per-test overhead; 3 102 timing at 1,000
and 10,000 connections in the steady state (bench/steady.py: rounds on one server, journal
full, every collection timed); 4 RSS idle and per held connection; 5 WebSocket echo against
bare autobahn in the steady state, with the server's CPU per message; 6 plain throughput of
``--workers 2`` against one process (issue 18, bench/scaling.py); 7 HTTP/2 throughput with
h2load against twisted.web's HTTP/2 (issue 15, bench/http2_part.py). The machines this runs
on are shared and noisy: compare the ratios within one run, never absolute figures across runs.

Every process started here is stopped by its PID; every load is bounded in count and time.
Exit code: 0 when every part ran or was skipped for a missing tool, 1 when a part failed.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import benchlib
import http2_part
import parts
import scaling
import steady
from parts import Config, Part, SkipPartError, Table

#: The parts, in the report's order.
PARTS: dict[str, Callable[[Config], Part]] = {
    "throughput": parts.throughput,
    "startup": parts.startup,
    "trickle": steady.trickle,
    "memory": parts.memory,
    "websocket": steady.websocket,
    "workers": scaling.workers,
    "http2": http2_part.http2,
}

#: Kept between runs: the children's bytecode.
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fakeorigin-bench"


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="every part for about a second")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS)
    )
    parser.add_argument("--seconds", type=int, help="wrk seconds per level (default 5)")
    parser.add_argument("--connections", type=_counts, help="wrk levels (default 1,10,50,200)")
    parser.add_argument("--startup-runs", type=int, help="start-ups per server (default 9)")
    parser.add_argument("--fixture-tests", type=int, help="tests per fixture run (default 50)")
    parser.add_argument("--trickle", type=_counts, help="102 connections (default 1000,10000)")
    parser.add_argument("--rounds", type=int, help="steady-state rounds per server (default 3)")
    parser.add_argument("--hold", type=_counts, help="held connections (default 1000,10000)")
    parser.add_argument("--ws-clients", type=_counts, help="WebSocket clients (default 1,100)")
    parser.add_argument("--ws-seconds", type=float, help="seconds per WebSocket run (default 5)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and clients")
    parser.add_argument(
        "--source",
        type=Path,
        default=benchlib.REPO_DIR,
        help="the checkout whose fakeorigin is measured (default: this one), e.g. a candidate "
        "change measured against the same peers",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        help="another checkout whose start-up is measured in the same rotation (part 2), "
        "e.g. the commit before a change",
    )
    parser.add_argument(
        "--output",
        type=Path,
        help="Markdown file to write (default bench/RESULTS.md; none in --smoke)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure as JSON here")
    parser.add_argument("--log-dir", type=Path, help="child logs (default: a temporary directory)")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace, log_dir: Path) -> Config:
    smoke = args.smoke

    def pick(value: Any, full: Any, quick: Any) -> Any:
        return value if value is not None else (quick if smoke else full)

    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2
    return Config(
        smoke=smoke,
        seconds=pick(args.seconds, 5, 1),
        warmup=0 if smoke else 1,
        connections=pick(args.connections, [1, 10, 50, 200], [10]),
        startup_runs=pick(args.startup_runs, 9, 1),
        fixture_tests=pick(args.fixture_tests, 50, 3),
        trickle=pick(args.trickle, [1000, 10000], [50]),
        trickle_periods=2 if smoke else 6,
        trickle_rounds=args.rounds or (2 if smoke else 3),
        journal_fill=200 if smoke else steady.JOURNAL_SIZE,
        baseline_periods=1 if smoke else 5,
        hold=pick(args.hold, [1000, 10000], [50]),
        ws_clients=pick(args.ws_clients, [1, 100], [1, 10]),
        ws_seconds=pick(args.ws_seconds, 5.0, 0.5),
        ws_rounds=args.rounds or (2 if smoke else 3),
        settle_seconds=0.5 if smoke else 10.0,
        source=args.source.resolve(),
        compare=None if args.compare is None else args.compare.resolve(),
        server_cpus={cpus[0]} if pin else None,
        load_cpus=set(cpus[1:]) if pin else None,
        log_dir=log_dir,
        python=sys.executable,
    )


# -- machine notes --------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _command(*argv: str) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "not available"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr) else ""
    )


def machine_notes(config: Config) -> list[tuple[str, str]]:
    source = str(config.source)
    commit = _command("git", "-C", source, "rev-parse", "--short", "HEAD")
    dirty = _command("git", "-C", source, "status", "--porcelain", "--", "fakeorigin")
    return [
        ("date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        (
            "fakeorigin",
            f"{_version('fakeorigin')} from {source} at {commit}"
            + (" (fakeorigin/ modified)" if dirty else ""),
        ),
        ("CPUs", f"{os.cpu_count()} (nproc), {_cpu_model()}"),
        ("kernel", platform.release()),
        ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("Python", platform.python_version()),
        (
            "Twisted / autobahn / h11 / pydantic",
            " / ".join(_version(p) for p in ("twisted", "autobahn", "h11", "pydantic")),
        ),
        ("aiohttp", _version("aiohttp")),
        ("wrk", _command("wrk", "-v") if shutil.which("wrk") else "not installed"),
        ("file limit (soft)", str(benchlib.raise_file_limit())),
        ("bytecode", "children cache it under PYTHONPYCACHEPREFIX (PYTHONDONTWRITEBYTECODE unset)"),
        ("somaxconn", _read("/proc/sys/net/core/somaxconn")),
        (
            "pinning",
            f"servers on CPU {sorted(config.server_cpus)}, load on CPU {sorted(config.load_cpus)}"
            if config.server_cpus and config.load_cpus
            else "none",
        ),
    ]


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return "unknown"


# -- the report -----------------------------------------------------------------------------


def markdown_table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    lines += ["| " + " | ".join(row) + " |" for row in table.rows]
    return lines


def report(results: list[Part], notes: list[tuple[str, str]], seconds: float, smoke: bool) -> str:
    lines = ["# fakeorigin benchmarks", ""]
    if smoke:
        lines += ["**Smoke run**: every part for about a second; the figures mean nothing.", ""]
    lines += [
        "Produced by `make bench` (`python bench/run.py`). The machine is shared and noisy: "
        "compare the ratios within this run, never absolute figures across runs.",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in notes]
    lines += [f"- run time: {seconds:.0f} s", "", "## Targets", ""]
    targets = Table(["target", "measured", "met"])
    for part in results:
        for target in part.targets:
            met = "not measured" if target.met is None else ("yes" if target.met else "**no**")
            targets.rows.append([target.text, target.measured, met])
        if part.status != "ok":
            targets.rows.append(
                [part.title, f"{part.status}: {part.reason.splitlines()[0]}", "not measured"]
            )
    lines += [*markdown_table(targets), ""]
    for part in results:
        lines += [f"## {part.title}", ""]
        if part.status != "ok":
            lines += [f"{part.status.capitalize()}: {part.reason}", ""]
            continue
        for table in part.tables:
            lines += [*markdown_table(table), ""]
        lines += [*part.notes, ""] if part.notes else []
    return "\n".join(lines).rstrip() + "\n"


def bytecode_cache(directory: Path) -> None:
    """Let every child cache its bytecode, in ``directory`` (PYTHONPYCACHEPREFIX).

    An environment with PYTHONDONTWRITEBYTECODE=1 (this machine's has it) would otherwise make
    every start compile fakeorigin's own modules from source, while the peers come from
    site-packages with their bytecode: a start-up figure about the environment, not the code.
    The prefix keeps the repository clean and lasts between runs (bytecode is checked against
    its source); the first start of each server fills it.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(directory)


def run_part(name: str, config: Config) -> Part:
    title = f"{list(PARTS).index(name) + 1}. {name}"
    started = time.monotonic()
    try:
        part = PARTS[name](config)
    except SkipPartError as skip:
        part = Part(name, title, "skipped", str(skip))
    except Exception as error:  # a failed part is reported and the others still run
        part = Part(name, title, "failed", f"{error!r}\n\n```\n{traceback.format_exc()}```")
    finally:
        benchlib.stop_all()
    part.data["seconds"] = time.monotonic() - started
    sys.stderr.write(f"bench: {name}: {part.status} in {part.data['seconds']:.1f} s\n")
    return part


def _stop(signum: int, frame: FrameType | None) -> None:
    benchlib.stop_all()
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    args = options(argv)
    wanted = [name for name in args.parts.split(",") if name]
    unknown = [name for name in wanted if name not in PARTS]
    if unknown:
        sys.stderr.write(
            f"bench: unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}\n"
        )
        return 2
    benchlib.raise_file_limit()
    signal.signal(signal.SIGTERM, _stop)
    with tempfile.TemporaryDirectory(prefix="fakeorigin-bench-") as temporary:
        log_dir = args.log_dir or Path(temporary)
        log_dir.mkdir(parents=True, exist_ok=True)
        bytecode_cache(CACHE_DIR / "pycache")
        config = config_from(args, log_dir)
        notes = machine_notes(config)
        started = time.monotonic()
        try:
            results = [run_part(name, config) for name in wanted]
        finally:
            benchlib.stop_all()
        elapsed = time.monotonic() - started
    notes.append(("load average at end", " ".join(f"{x:.2f}" for x in os.getloadavg())))
    text = report(results, notes, elapsed, config.smoke)
    sys.stdout.write(text)
    output = args.output or (None if args.smoke else benchlib.BENCH_DIR / "RESULTS.md")
    if output is not None:
        output.write_text(text)
    if args.json is not None:
        document = {
            part.key: {
                "status": part.status,
                "reason": part.reason,
                "data": part.data,
                "targets": [t.__dict__ for t in part.targets],
            }
            for part in results
        }
        args.json.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return 1 if any(part.status == "failed" for part in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
