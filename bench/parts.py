"""The five measurements of ``bench/run.py``. Each part starts its own servers and clients
(child processes, stopped by PID), measures fakeorigin next to a peer in the same run, and
returns a :class:`Part`: tables, the issue's targets with the measured figure, and notes.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib
from benchlib import BENCH_DIR, Child, host_port, origin_url, spawn

LOOPBACK_PORT_0 = "tcp:0:interface=127.0.0.1"
NAN = float("nan")
#: Asked of every server; the kernel caps it at net.core.somaxconn.
BACKLOG = 16384


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Target:
    """One of the issue's targets: what it asks, what was measured, whether it is met (None:
    not measured)."""

    text: str
    measured: str
    met: bool | None


@dataclass
class Part:
    key: str
    title: str
    status: str = "ok"  # ok, skipped, failed
    reason: str = ""
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[Any, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """What to run and how long (``--smoke`` shrinks everything to about a second)."""

    smoke: bool
    seconds: int
    warmup: int
    connections: list[int]
    startup_runs: int
    fixture_tests: int
    trickle: list[int]
    trickle_periods: int
    trickle_rounds: int
    journal_fill: int
    baseline_periods: int
    hold: list[int]
    ws_clients: list[int]
    ws_seconds: float
    ws_rounds: int
    settle_seconds: float
    source: Path
    compare: Path | None
    server_cpus: set[int] | None
    load_cpus: set[int] | None
    log_dir: Path
    python: str


class SkipPartError(Exception):
    """A tool the part needs is missing: the part is skipped with this reason."""


# -- servers --------------------------------------------------------------------------------


def child_env(config: Config, source: Path | None = None) -> dict[str, str]:
    """This environment without ``FAKEORIGIN_*`` (the options given say what fakeorigin does),
    with ``source`` (default ``config.source``) first on the path: the fakeorigin measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKEORIGIN_")}
    first = str(source or config.source)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [first, env.get("PYTHONPATH")]))
    return env


def fakeorigin_argv(
    config: Config, profile: str, *, control: bool = False, extra: Sequence[str] = ()
) -> list[str]:
    return [
        config.python,
        "-m",
        "fakeorigin",
        "serve",
        "--listen",
        LOOPBACK_PORT_0,
        "--control",
        LOOPBACK_PORT_0 if control else "none",
        "--announce",
        "--profiles",
        "bundled",
        "--profiles",
        str(BENCH_DIR / "profiles"),
        "--profile",
        profile,
        "--backlog",
        str(BACKLOG),
        *extra,
    ]


def script_argv(config: Config, script: str, *args: str) -> list[str]:
    return [config.python, str(BENCH_DIR / script), *args]


def peer_argv(config: Config, script: str) -> list[str]:
    return script_argv(config, script, "--backlog", str(BACKLOG))


def has_aiohttp() -> bool:
    return importlib.util.find_spec("aiohttp") is not None


def start(config: Config, name: str, argv: list[str], source: Path | None = None) -> Child:
    return spawn(
        name,
        argv,
        config.log_dir,
        cpus=config.server_cpus,
        env=child_env(config, source),
        cwd=source or config.source,
    )


def start_all(config: Config, servers: dict[str, list[str]]) -> dict[str, Child]:
    """Start several servers, then wait for each (their imports overlap)."""
    children = {
        name: spawn(
            name,
            argv,
            config.log_dir,
            cpus=config.server_cpus,
            env=child_env(config),
            cwd=config.source,
            wait_ready=False,
        )
        for name, argv in servers.items()
    }
    for child in children.values():
        try:
            child.info = child.read_line(benchlib.READY_SECONDS)
        except BaseException:
            benchlib.stop_all()
            raise
    return children


def run_client(config: Config, script: str, *args: str, timeout: float) -> dict[str, Any]:
    """Run a one-shot client script pinned to the load CPU; its JSON result line."""
    child = spawn(script, script_argv(config, script, *args), config.log_dir, cpus=config.load_cpus)
    try:
        child.process.wait(timeout)
    finally:
        child.stop()
    return child.info


def http_status(url: str, path: str = "/") -> int:
    """Status of one GET on a fresh connection (raw socket: the status line is enough)."""
    host, port = host_port(url)
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            more = sock.recv(4096)
            if not more:
                break
            data += more
    return int(data[9:12]) if data.startswith(b"HTTP/1.") else 0


def interleaved(
    names: list[str],
    seconds: float,
    measure: Callable[[str, float], dict[str, Any]],
    keys: tuple[str, ...],
) -> dict[str, dict[str, Any]]:
    """Measure each server for ``seconds`` in one-second slices, round robin (the order
    rotating), so that a burst of the machine's other load hits every server alike; each key
    is the median over the slices, counters are summed."""
    count = max(1, round(seconds))
    slices: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for index in range(count):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            slices[name].append(measure(name, seconds / count))
    combined: dict[str, dict[str, Any]] = {}
    for name, runs in slices.items():
        figures: dict[str, Any] = {
            key: statistics.median(run.get(key, NAN) for run in runs) for key in keys
        }
        figures["errors"] = sum(run.get("errors", 0) for run in runs)
        figures["non_2xx"] = sum(run.get("non_2xx", 0) for run in runs)
        figures["slices"] = [run.get(keys[0], NAN) for run in runs]
        combined[name] = figures
    return combined


def measure_levels(
    config: Config,
    servers: dict[str, list[str]],
    levels: Sequence[int],
    seconds: float,
    measure_at: Callable[[dict[str, str], int], Callable[[str, float], dict[str, Any]]],
    *,
    keys: tuple[str, ...],
    prepare: Callable[[dict[str, str]], None] | None = None,
) -> dict[int, dict[str, dict[str, Any]]]:
    """Start ``servers``, ``prepare`` them (by URL), then measure them :func:`interleaved` at
    each load level (connections, clients); every server is stopped afterwards."""
    children = start_all(config, servers)
    try:
        urls = {name: origin_url(child.info) for name, child in children.items()}
        if prepare is not None:
            prepare(urls)
        return {
            level: interleaved(list(urls), seconds, measure_at(urls, level), keys)
            for level in levels
        }
    finally:
        for child in children.values():
            child.stop()


# -- formatting -----------------------------------------------------------------------------


def ratio(value: float, peer: float) -> float:
    return value / peer if peer else float("nan")


def fx(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}x"  # noqa: PLR0124 (NaN test)


def ms(value: float) -> str:
    return "n/a" if value != value else f"{value:.2f}"  # noqa: PLR0124 (NaN test)


def kib(value: float) -> str:
    return f"{value / 1024:.2f} KiB"


def mib(value: float) -> str:
    return f"{value / (1 << 20):.1f} MiB"


def thousands(value: float) -> str:
    return f"{value:,.0f}"


# -- 1. throughput --------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        return float("nan")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, p50/p99 latency (ms), errors from ``wrk --latency`` output."""
    result: dict[str, Any] = {"requests_per_second": float("nan"), "errors": 0, "non_2xx": 0}
    for line in output.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            result["requests_per_second"] = float(words[1])
        elif len(words) == 2 and words[0] in ("50%", "99%"):
            result["p" + words[0].rstrip("%")] = _latency_ms(words[1])
        elif line.strip().startswith("Socket errors:"):
            result["errors"] = sum(int(n) for n in re.findall(r"\d+", line))
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            result["non_2xx"] = int(words[-1])
        elif "requests in" in line:
            result["requests"] = int(words[0])
    return result


def run_wrk(config: Config, url: str, connections: int, seconds: float) -> dict[str, Any]:
    duration = f"-d{max(1, round(seconds))}s"
    argv = ["wrk", "-t1", f"-c{connections}", duration, "--latency", "--timeout", "5s"]
    pin = config.load_cpus
    done = subprocess.run(
        [*argv, url + "/"],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
        preexec_fn=(lambda: os.sched_setaffinity(0, pin)) if pin else None,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


def _wrk_measure(
    config: Config, urls: dict[str, str], connections: int
) -> Callable[[str, float], dict[str, Any]]:
    def measure(name: str, seconds: float) -> dict[str, Any]:
        return run_wrk(config, urls[name], connections, seconds)

    return measure


def throughput(config: Config) -> Part:
    part = Part("throughput", "1. Throughput: plain 200, journal on (wrk, 1 thread)")
    if shutil.which("wrk") is None:
        raise SkipPartError(
            "wrk is not installed (Debian: apt-get install wrk; or make bench as root)"
        )
    servers = {
        "fakeorigin": fakeorigin_argv(config, "plain"),
        "twisted.web": peer_argv(config, "hello_twisted.py"),
    }
    if not config.smoke:  # the same script as twisted.web, with one flag
        servers["twisted.web, no access log"] = [
            *peer_argv(config, "hello_twisted.py"),
            "--no-access-log",
        ]
    if has_aiohttp():
        servers["aiohttp"] = peer_argv(config, "hello_aiohttp.py")
    else:
        part.notes.append("aiohttp not installed: its column is empty (pip install aiohttp).")
    servers["Twisted Protocol"] = peer_argv(config, "hello_protocol.py")

    def warm_up(urls: dict[str, str]) -> None:
        for name, url in urls.items():
            if http_status(url) != 200:
                raise RuntimeError(f"{name} does not answer 200 on /")
            if name == "fakeorigin":
                benchlib.fill_journal(url, config.journal_fill)  # a server serving a while
            if config.warmup:
                run_wrk(config, url, 10, config.warmup)

    names = list(servers)
    results = measure_levels(
        config,
        servers,
        config.connections,
        config.seconds,
        lambda urls, connections: _wrk_measure(config, urls, connections),
        keys=("requests_per_second", "p50", "p99"),
        prepare=warm_up,
    )
    rates_table = Table(
        ["connections", *(f"{n} req/s" for n in names)]
        + [f"{n} / twisted.web" for n in names if n != "twisted.web"]
        + ["fakeorigin / twisted.web, slowest slices"]
    )
    latency_table = Table(["connections", *(f"{n} p50 / p99 ms" for n in names)])
    for connections, by_name in results.items():
        rates = {n: by_name[n]["requests_per_second"] for n in names}
        rates_table.rows.append(
            [str(connections), *(thousands(rates[n]) for n in names)]
            + [fx(ratio(rates[n], rates["twisted.web"])) for n in names if n != "twisted.web"]
            + [
                fx(
                    ratio(
                        min(by_name["fakeorigin"]["slices"]), min(by_name["twisted.web"]["slices"])
                    )
                )
            ]
        )
        latency_table.rows.append(
            [str(connections)]
            + [
                f"{ms(by_name[n].get('p50', NAN))} / {ms(by_name[n].get('p99', NAN))}"
                for n in names
            ]
        )
        for n in names:
            if by_name[n]["errors"] or by_name[n]["non_2xx"]:
                part.notes.append(
                    f"{n} at {connections} connections: {by_name[n]['errors']} socket errors, "
                    f"{by_name[n]['non_2xx']} non-2xx responses."
                )
    part.tables += [rates_table, latency_table]
    part.data = results
    key = 50 if 50 in results else max(results)
    at = results[key]
    fo_ratio = ratio(
        at["fakeorigin"]["requests_per_second"], at["twisted.web"]["requests_per_second"]
    )
    part.targets.append(
        Target(
            f"plain >= 1.5x bare twisted.web at {key} connections", fx(fo_ratio), fo_ratio >= 1.5
        )
    )
    if "aiohttp" in at:
        stretch = ratio(
            at["fakeorigin"]["requests_per_second"], at["aiohttp"]["requests_per_second"]
        )
        part.targets.append(
            Target(
                f"(stretch) plain >= aiohttp at {key} connections",
                f"{fx(stretch)} of aiohttp",
                stretch >= 1.0,
            )
        )
    part.notes.append(
        "Servers pinned to one CPU, wrk to the other (when there are two). *twisted.web* is "
        "Twisted's default Site, which formats an access-log line per request (no log observer "
        "is started, so nothing is written): the issue's bare twisted.web, and the ratio the "
        "target is judged on. *twisted.web, no access log* is the same Site with `log` a no-op, "
        "as fakeorigin writes none. *Twisted Protocol* (bench/hello_protocol.py) answers each "
        "request head with canned bytes: the reactor's and the syscalls' own cost per request, the "
        "ceiling for any HTTP server on Twisted here. Each level gives every server its seconds "
        "in one-second wrk runs, round robin: req/s, p50 and p99 are medians over those runs; "
        "the last column sets fakeorigin's slowest run against twisted.web's slowest. One "
        "process per server serves every level; fakeorigin's journal is filled to its default "
        "size before the first."
    )
    return part


# -- 2. start-up and fixture overhead ---------------------------------------------------------


def _time_to_ready(
    config: Config, name: str, argv: list[str], source: Path | None = None
) -> tuple[float, float, float]:
    """Milliseconds from Popen to the ready line and to *ready*: the first 200 on the origin
    and, for a server with a control API, ``GET /health`` answered 200 too (what the pytest
    fixture waits for); and the CPU time the child had used by then."""
    begin = time.perf_counter()
    child = start(config, name, argv, source)
    try:
        announced = time.perf_counter() - begin
        status = http_status(origin_url(child.info))
        control = child.info.get("control")
        health = 200 if control is None else http_status(control, "/health")
        ready = time.perf_counter() - begin
        cpu = benchlib.cpu_seconds(child.pid)
    finally:
        child.stop()
    if (status, health) != (200, 200):
        raise RuntimeError(f"{name}: first response {status}, /health {health}, not 200")
    return announced * 1000.0, ready * 1000.0, cpu * 1000.0


_FIXTURE_CONFTEST = """
import json
import os

DURATIONS = {}


def pytest_runtest_logreport(report):
    DURATIONS.setdefault(report.nodeid, {})[report.when] = report.duration * 1000.0


def pytest_sessionfinish(session):
    with open(os.environ["BENCH_FIXTURE_OUT"], "w") as out:
        json.dump(DURATIONS, out)
"""

_FIXTURE_TEST = """
import urllib.request


def first_request(url):
    with urllib.request.urlopen(url + "/", timeout=30) as response:
        assert response.status == 200
        response.read()
"""


def _fixture_tests(count: int) -> str:
    tests = [_FIXTURE_TEST]
    for index in range(count):
        tests.append(
            f"\ndef test_fixture_{index:04d}(fakeorigin):\n    first_request(fakeorigin.url)\n"
        )
        tests.append(f"\ndef test_bare_{index:04d}():\n    pass\n")
    # Last, so that stopping the session's server falls in no measured test's teardown.
    tests.append("\ndef test_zzz_last():\n    pass\n")
    return "".join(tests)


def _plugin_fixture(config: Config) -> str | None:
    """Why the pytest plugin's ``fakeorigin`` fixture cannot be measured; None if it can."""
    path = config.source / "fakeorigin" / "pytest_plugin.py"
    if not path.exists() or "def fakeorigin(" not in path.read_text():
        return "fakeorigin/testing/pytest_plugin.py has no fakeorigin fixture yet"
    registered = any(
        e.value == "fakeorigin.testing.pytest_plugin"
        for e in importlib.metadata.entry_points(group="pytest11")
    )
    return None if registered else "the pytest11 entry point is not installed (pip install -e .)"


def fixture_overhead(config: Config, part: Part) -> None:
    """Per-test overhead of the ``fakeorigin`` fixture (reset + first request), in pytest."""
    table = Table(["how", "median ms", "p90 ms", "runs"])
    control_figures = _control_client_overhead(config)
    for label, values in control_figures.items():
        ordered = sorted(values)
        table.rows.append(
            [
                label,
                ms(statistics.median(ordered)),
                ms(benchlib.percentile(ordered, 0.9)),
                str(len(ordered)),
            ]
        )
    why_not = _plugin_fixture(config)
    if why_not is not None:
        table.rows.append(["pytest fixture `fakeorigin`", "not measured", why_not, "0"])
        median = statistics.median(control_figures["ControlClient: reset + first request"])
        part.targets.append(
            Target(
                "fixture per-test overhead <= 5 ms",
                f"{ms(median)} ms (ControlClient, no fixture yet)",
                median <= 5.0,
            )
        )
        part.tables.append(table)
        return
    fixture, bare = _pytest_overhead(config)
    for label, values in (
        ("pytest fixture `fakeorigin`: setup + first request + teardown", fixture),
        ("pytest, a test with no fixture (floor)", bare),
    ):
        ordered = sorted(values)
        table.rows.append(
            [
                label,
                ms(statistics.median(ordered)),
                ms(benchlib.percentile(ordered, 0.9)),
                str(len(ordered)),
            ]
        )
    median = statistics.median(fixture) - statistics.median(bare)
    part.targets.append(
        Target("fixture per-test overhead <= 5 ms", f"{ms(median)} ms", median <= 5.0)
    )
    part.tables.append(table)
    part.notes.append(
        "Fixture overhead: a generated suite of tests taking `fakeorigin` (each sends one GET "
        "with urllib) and tests with no fixture; setup + call + teardown durations from pytest's "
        "reports, the first fixture test (which starts the session's server) left out; the "
        "figure is the median difference."
    )


def _control_client_overhead(config: Config) -> dict[str, list[float]]:
    from fakeorigin.client import ControlClient  # noqa: PLC0415 (stdlib only; a bench-time import)

    child = start(config, "fakeorigin-control", fakeorigin_argv(config, "plain", control=True))
    reset: list[float] = []
    request: list[float] = []
    total: list[float] = []
    try:
        client = ControlClient(child.info["control"], timeout=30)
        url = origin_url(child.info)
        for index in range(config.fixture_tests + 1):
            begin = time.perf_counter()
            client.reset()
            middle = time.perf_counter()
            with urllib.request.urlopen(url + "/", timeout=30) as response:
                response.read()
            end = time.perf_counter()
            if index:  # the first call pays for imports and connection set-up
                reset.append((middle - begin) * 1000.0)
                request.append((end - middle) * 1000.0)
                total.append((end - begin) * 1000.0)
    finally:
        child.stop()
    return {
        "ControlClient: reset (POST /reset)": reset,
        "urllib: first request (new connection)": request,
        "ControlClient: reset + first request": total,
    }


def _pytest_overhead(config: Config) -> tuple[list[float], list[float]]:
    directory = config.log_dir / f"fixture-suite-{time.monotonic_ns()}"
    directory.mkdir()
    (directory / "pytest.ini").write_text("[pytest]\n")
    (directory / "conftest.py").write_text(_FIXTURE_CONFTEST)
    (directory / "test_overhead.py").write_text(_fixture_tests(config.fixture_tests + 1))
    out = directory / "durations.json"
    env = {**child_env(config), "BENCH_FIXTURE_OUT": str(out)}
    argv = [
        config.python,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-c",
        str(directory / "pytest.ini"),
        "--rootdir",
        str(directory),
        str(directory),
    ]
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, cwd=directory, timeout=300, check=False
    )
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(
            f"the fixture suite failed ({done.returncode}):\n"
            f"{done.stdout[-3000:]}{done.stderr[-2000:]}"
        )
    durations: dict[str, dict[str, float]] = json.loads(out.read_text())
    fixture: list[float] = []
    bare: list[float] = []
    for nodeid, phases in sorted(durations.items()):
        total = sum(phases.values())
        if nodeid.endswith("test_zzz_last"):
            continue
        if "test_fixture_" in nodeid:
            if not nodeid.endswith("test_fixture_0000"):
                fixture.append(total)
        else:
            bare.append(total)
    return fixture, bare


#: Part 2's floor: the libraries fakeorigin serve stands on, without fakeorigin.
STACK = "its libraries alone"


def startup(config: Config) -> Part:
    part = Part("startup", "2. Start-up to ready, and the pytest fixture's per-test overhead")
    commands = {
        "fakeorigin --control none": fakeorigin_argv(config, "plain"),
        "fakeorigin with control API": fakeorigin_argv(config, "plain", control=True),
        "twisted.web": script_argv(config, "hello_twisted.py"),
        STACK: script_argv(config, "hello_stack.py"),
    }
    sources: dict[str, Path] = {}
    if config.compare is not None:  # another checkout, in the same rotation
        other = f"fakeorigin with control API, {config.compare.name}"
        commands[other] = commands["fakeorigin with control API"]
        sources[other] = config.compare
    announced: dict[str, list[float]] = {name: [] for name in commands}
    first: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for name in names if not config.smoke else ():
        _time_to_ready(config, name, commands[name], sources.get(name))  # warms the caches
    for run in range(config.startup_runs):
        for name in names[run % len(names) :] + names[: run % len(names)]:
            ready_ms, first_ms, cpu_ms = _time_to_ready(
                config, name, commands[name], sources.get(name)
            )
            announced[name].append(ready_ms)
            first[name].append(first_ms)
            cpu[name].append(cpu_ms)
    peer = statistics.median(first["twisted.web"])
    peer_cpu = statistics.median(cpu["twisted.web"])
    table = Table(
        [
            "server",
            "ready line ms (median)",
            "ready ms (median)",
            "min / max ms",
            "/ twisted.web",
            "CPU ms by ready (median)",
            "CPU / twisted.web",
            "runs",
        ]
    )
    for name in names:
        median = statistics.median(first[name])
        cpu_median = statistics.median(cpu[name])
        table.rows.append(
            [
                name,
                ms(statistics.median(announced[name])),
                ms(median),
                f"{ms(min(first[name]))} / {ms(max(first[name]))}",
                fx(ratio(median, peer)),
                ms(cpu_median),
                fx(ratio(cpu_median, peer_cpu)),
                str(len(first[name])),
            ]
        )
    part.tables.append(table)
    for name in ("fakeorigin with control API", "fakeorigin --control none"):
        fo = ratio(statistics.median(first[name]), peer)
        part.targets.append(
            Target(
                f"start-up to ready <= 1.6x bare twisted.web's first 200 ({name})",
                fx(fo),
                fo <= 1.6,
            )
        )
    own = statistics.median(first["fakeorigin with control API"]) - statistics.median(first[STACK])
    part.notes.append(
        f"*{STACK}* (bench/hello_stack.py) loads what `fakeorigin serve` stands on as it loads "
        "them (Twisted, Klein on twisted.web, pydantic with one model validated, PyYAML, h11; "
        "the collector off), answers `/health` with Klein and every request with a canned 200, "
        "and runs no fakeorigin code: the floor under the 1.6x target. Start-up of "
        f"fakeorigin's own code with the control API (its ready minus the floor's): {ms(own)} ms."
    )
    part.notes.append(
        "Process start (Popen) to *ready*: the first 200 on a new connection and, with the "
        "control API, `GET /health` answered 200 on it too (what the pytest fixture waits "
        "for); every server started as `python SCRIPT|-m fakeorigin serve` with port 0 and a "
        "ready line on stdout; runs alternate between the servers. The target is judged on "
        "the wall-clock ratio; the CPU time the server process had used by then "
        "(/proc/PID/schedstat) is the same comparison with the machine's other load left out."
    )
    part.data = {"first_200_ms": first, "ready_ms": announced, "cpu_ms": cpu}
    fixture_overhead(config, part)
    return part


# -- 4. memory ------------------------------------------------------------------------------


def memory(config: Config) -> Part:
    part = Part("memory", "4. Memory: RSS idle and holding N connections (hang; VmRSS)")
    servers: dict[str, Callable[[], list[str]]] = {
        "fakeorigin": lambda: fakeorigin_argv(config, "hang"),
        "twisted.web": lambda: peer_argv(config, "hello_twisted.py"),
    }
    if has_aiohttp():
        servers["aiohttp"] = lambda: peer_argv(config, "hello_aiohttp.py")
    header = ["server", "idle RSS"]
    for connections in config.hold:
        header += [f"RSS at {connections:,}", f"per connection at {connections:,}"]
    header.append("errors")
    table = Table(header)
    data: dict[str, Any] = {}
    for name, argv in servers.items():
        row = [name]
        errors: list[str] = []
        data[name] = {}
        for index, connections in enumerate(config.hold):
            held = _hold(config, name, argv(), connections)
            data[name][connections] = held
            if index == 0:
                row.append(mib(held["idle"]))
            row += [mib(held["rss"]), kib(held["per_connection"])]
            if held["errors"]:
                errors.append(f"{connections}: {held['errors']}")
        row.append("; ".join(errors) or "0")
        table.rows.append(row)
    part.tables.append(table)
    part.data = data
    largest = max(config.hold)
    fo = data["fakeorigin"][largest]
    part.targets.append(
        Target(
            "<= 4 KiB RSS per held connection",
            f"{kib(fo['per_connection'])} at {largest:,}",
            fo["per_connection"] <= 4096,
        )
    )
    part.targets.append(
        Target(
            f"{largest:,} held connections without error",
            f"{fo['holding']:,} held, errors: {fo['errors'] or 'none'}",
            fo["holding"] == largest and not fo["errors"],
        )
    )
    part.notes.append(
        "Each figure is a new server (fakeorigin's journal filled to its default size first): "
        "idle RSS once settled, then N clients "
        "each send `GET /hang` (fakeorigin: active profile `hang`, its journal on; the peers "
        "answer /hang never) and RSS is read from /proc/PID/status once it stops growing. "
        "Per connection = (held - idle) / N. *errors* counts connections refused or closed by "
        "the server."
    )
    return part


def _hold(config: Config, name: str, argv: list[str], connections: int) -> dict[str, Any]:
    server = start(config, f"{name}-hold-{connections}", argv)
    client: Child | None = None
    try:
        if name == "fakeorigin":
            benchlib.fill_journal(origin_url(server.info), config.journal_fill)
        idle = benchlib.settled_rss(server.pid, config.settle_seconds)
        client = spawn(
            "hold_client",
            script_argv(
                config,
                "hold_client.py",
                "--url",
                origin_url(server.info),
                "--connections",
                str(connections),
            ),
            config.log_dir,
            cpus=config.load_cpus,
            stdin=True,
        )
        time.sleep(config.settle_seconds / 10)
        rss = benchlib.settled_rss(server.pid, config.settle_seconds)
        client.tell("stop")
        after = client.read_line(60.0)
        client.process.wait(60)
    finally:
        if client is not None:
            client.stop()
        server.stop()
    errors = dict(client.info["errors"])
    for key in ("server_closed", "server_sent"):
        if after.get(key):
            errors[key] = after[key]
    return {
        "idle": idle,
        "rss": rss,
        "holding": client.info["holding"],
        "per_connection": (rss - idle) / max(1, client.info["holding"]),
        "errors": errors,
    }


# -- 5. WebSocket echo ----------------------------------------------------------------------


def fakeorigin_websocket(config: Config) -> str | None:
    """Why fakeorigin's echo cannot be measured yet; None when it can."""
    if not (config.source / "fakeorigin" / "websocket" / "session.py").exists():
        return "fakeorigin/websocket/session.py does not exist yet"
    if not (config.source / "profiles" / "websocket-echo.yaml").exists():
        return "profiles/websocket-echo.yaml does not exist yet"
    return None
