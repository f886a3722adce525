"""The proxy matrix: every probe scenario through eight proxies from Debian's packages.

    python matrix/run.py [--only nginx,haproxy] [--output docs/proxy-matrix.md]

(``make matrix`` installs the proxies and runs this.) One fakeorigin serves as the origin;
each proxy runs in the foreground from a temporary directory with its configuration from this
folder (one file per proxy, its comments naming the directives that matter), its upstream
read timeout set to TIMEOUT seconds, is probed, and is stopped by its PID. The results go to
docs/proxy-matrix.md (scenarios as rows, proxies as columns; first what to take away, counted
from the results) and the JSON beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from fakeorigin.control.client import ControlClient  # noqa: E402
from fakeorigin.probe.command import started_origin  # noqa: E402
from fakeorigin.probe.runner import Result, Runner  # noqa: E402
from fakeorigin.probe.scenarios import SCENARIOS, Kind  # noqa: E402
from fakeorigin.processes import stop_process  # noqa: E402
from tests.proxies import binary, free_port  # noqa: E402

#: Every proxy's upstream read timeout, in seconds (the timeout scenarios need it known).
TIMEOUT = 3


def which(name: str) -> str:
    try:
        return binary(name)
    except AssertionError:
        raise FileNotFoundError(f"{name} is not installed (make matrix installs it)") from None


def render(name: str, directory: Path, values: dict[str, str]) -> Path:
    text = (HERE / name).read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    target = directory / name
    target.write_text(text)
    return target


@dataclass(frozen=True)
class Setting:
    """A documented option that changes what a proxy does with 1xx, Expect or Upgrade: the
    matrix probes the proxy once more with ``line`` in its configuration (where the template
    has ``{setting}``). ``name`` heads its column; ``what`` says what it is documented to do."""

    name: str
    line: str
    what: str


@dataclass(frozen=True)
class Proxy:
    """How to start one proxy: its name, the command for (directory, port, origin port,
    setting line), the command that prints its version, and the settings probed besides the
    defaults."""

    name: str
    start: Callable[[Path, int, int, str], list[str]]
    version: list[str]
    settings: tuple[Setting, ...] = ()


@dataclass(frozen=True)
class Column:
    """One run of the probe: a proxy, with its defaults (``setting`` None) or one setting."""

    proxy: Proxy
    setting: Setting | None = None

    @property
    def name(self) -> str:
        return self.proxy.name if self.setting is None else self.setting.name


def _nginx(d: Path, port: int, origin: int, setting: str = "") -> list[str]:
    conf = render(
        "nginx.conf",
        d,
        {
            "dir": str(d),
            "port": str(port),
            "origin": str(origin),
            "timeout": str(TIMEOUT),
            "setting": setting,
        },
    )
    return [which("nginx"), "-e", "stderr", "-p", f"{d}/", "-c", str(conf), "-g", "daemon off;"]


def _haproxy(d: Path, port: int, origin: int, setting: str = "") -> list[str]:
    conf = render(
        "haproxy.cfg",
        d,
        {"port": str(port), "origin": str(origin), "timeout": str(TIMEOUT), "setting": setting},
    )
    return [which("haproxy"), "-db", "-f", str(conf)]


def _caddy(d: Path, port: int, origin: int, setting: str = "") -> list[str]:
    conf = render(
        "Caddyfile",
        d,
        {"port": str(port), "origin": str(origin), "timeout": str(TIMEOUT), "setting": setting},
    )
    return [which("caddy"), "run", "--config", str(conf), "--adapter", "caddyfile"]


def _h2o(d: Path, port: int, origin: int, setting: str = "") -> list[str]:
    user = "user: nobody" if os.getuid() == 0 else ""
    conf = render(
        "h2o.conf",
        d,
        {
            "dir": str(d),
            "port": str(port),
            "origin": str(origin),
            "timeout_ms": str(TIMEOUT * 1000),
            "user": user,
            "setting": setting,
        },
    )
    return [which("h2o"), "-c", str(conf)]


def _apache2(d: Path, port: int, origin: int, setting: str = "") -> list[str]:
    user = "User www-data\nGroup www-data" if os.getuid() == 0 else ""
    conf = render(
        "apache2.conf",
        d,
        {
            "dir": str(d),
            "port": str(port),
            "origin": str(origin),
            "timeout": str(TIMEOUT),
            "user": user,
            "modules": "/usr/lib/apache2/modules",
            "setting": setting,
        },
    )
    return [which("apache2"), "-X", "-d", str(d), "-f", str(conf)]


def _varnish(d: Path, port: int, origin: int, setting: str = "") -> list[str]:
    vcl = render("varnish.vcl", d, {"origin": str(origin), "setting": setting})
    return [
        which("varnishd"),
        "-F",
        "-j",
        "none",
        "-n",
        str(d / "varnish"),
        "-f",
        str(vcl),
        "-a",
        f"127.0.0.1:{port}",
        "-s",
        "malloc,32m",
        "-p",
        f"first_byte_timeout={TIMEOUT}",
        "-p",
        f"between_bytes_timeout={TIMEOUT}",
    ]


def _squid(d: Path, port: int, origin: int, setting: str = "") -> list[str]:
    conf = render(
        "squid.conf",
        d,
        {
            "dir": str(d),
            "port": str(port),
            "origin": str(origin),
            "timeout": str(TIMEOUT),
            "setting": setting,
        },
    )
    return [which("squid"), "-N", "-f", str(conf)]


def _trafficserver(d: Path, port: int, origin: int, setting: str = "") -> list[str]:
    """A runroot of its own (``traffic_layout init``) with a copy of Debian's configuration,
    the records from matrix/trafficserver.records appended and one remap rule."""
    root = d / "ats"
    init = [which("traffic_layout"), "init", "--path", str(root), "--copy-style=soft"]
    subprocess.run(init, capture_output=True, timeout=120, check=True)
    for name in ("etc", "run", "log", "cache"):
        (root / name).mkdir(exist_ok=True)
    shutil.copytree("/etc/trafficserver", root / "etc", dirs_exist_ok=True)
    layout = root / "runroot.yaml"
    moved = {
        "sysconfdir": "etc",
        "datadir": "cache",
        "runtimedir": "run",
        "logdir": "log",
        "cachedir": "cache",
        "localstatedir": ".",
    }
    lines = []
    for line in layout.read_text().splitlines():
        key = line.split(":", 1)[0]
        lines.append(f"{key}: {root / moved[key]}" if key in moved else line)
    layout.write_text("\n".join(lines) + "\n")
    user = "nobody" if os.getuid() == 0 else os.environ.get("USER", "nobody")
    records = render(
        "trafficserver.records",
        d,
        {"port": str(port), "timeout": str(TIMEOUT), "user": user, "setting": setting},
    )
    with (root / "etc" / "records.config").open("a") as config:
        config.write("\n" + records.read_text())
    (root / "etc" / "remap.config").write_text(f"map / http://127.0.0.1:{origin}/\n")
    (root / "etc" / "storage.config").write_text(f"{root / 'cache'} 64M\n")
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o777)
    return [which("traffic_server"), f"--run-root={root}"]


PROXIES = {
    p.name: p
    for p in (
        Proxy("nginx", _nginx, ["nginx", "-v"]),
        Proxy(
            "haproxy",
            _haproxy,
            ["haproxy", "-v"],
            (
                Setting(
                    "haproxy buffered",
                    "option http-buffer-request",
                    "`option http-buffer-request`: HAProxy waits for the request body before "
                    "it picks a server, so it has to answer an Expect's 100 itself",
                ),
            ),
        ),
        Proxy("caddy", _caddy, ["caddy", "version"]),
        Proxy("h2o", _h2o, ["h2o", "--version"]),
        Proxy(
            "apache2",
            _apache2,
            ["apache2", "-v"],
            (
                Setting(
                    "apache2 Suppress",
                    "SetEnv proxy-interim-response Suppress",
                    "`SetEnv proxy-interim-response Suppress`: mod_proxy_http drops the "
                    "origin's 1xx instead of forwarding them (the default is `RFC`)",
                ),
            ),
        ),
        Proxy("varnish", _varnish, ["varnishd", "-V"]),
        Proxy(
            "squid",
            _squid,
            ["squid", "-v"],
            (
                Setting(
                    "squid websocket",
                    "http_upgrade_request_protocols websocket allow all",
                    "`http_upgrade_request_protocols websocket allow all`: Squid passes a "
                    "WebSocket Upgrade on and tunnels after the 101 (by default it removes "
                    "every protocol from the Upgrade offer; the protocol name is matched "
                    "case-sensitively, so `WebSocket` would not match what clients send)",
                ),
            ),
        ),
        Proxy(
            "trafficserver",
            _trafficserver,
            ["traffic_server", "--version"],
            (
                Setting(
                    "trafficserver 100",
                    "CONFIG proxy.config.http.send_100_continue_response INT 1",
                    "`proxy.config.http.send_100_continue_response 1`: Traffic Server answers "
                    "an Expect's 100 to the client itself",
                ),
            ),
        ),
    )
}


def columns_for(names: list[str]) -> list[Column]:
    """Each named proxy with its defaults, then once with each of its settings."""
    columns = []
    for name in names:
        proxy = PROXIES[name]
        columns.append(Column(proxy))
        columns += [Column(proxy, setting) for setting in proxy.settings]
    return columns


def version(proxy: Proxy) -> str:
    argv = [which(proxy.version[0]), *proxy.version[1:]]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    return (done.stdout + done.stderr).strip().splitlines()[0]


@contextlib.contextmanager
def running(proxy: Proxy, origin: int, setting: str = "") -> Iterator[str]:
    """The proxy in the foreground from a temporary directory (with the setting line in its
    configuration); its URL; stopped by its PID."""
    with tempfile.TemporaryDirectory(prefix=f"matrix-{proxy.name}-") as name:
        directory = Path(name)
        directory.chmod(0o777)  # proxies that drop root's privileges write here too
        port = free_port()
        log = directory / "proxy.log"
        env = dict(
            os.environ,
            HOME=str(directory),
            XDG_DATA_HOME=str(directory),
            XDG_CONFIG_HOME=str(directory),
        )
        with log.open("wb") as out:
            process = subprocess.Popen(
                proxy.start(directory, port, origin, setting),
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=directory,
                env=env,
            )
        try:
            deadline = time.monotonic() + 20
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"{proxy.name} exited: {log.read_text(errors='replace')}")
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{proxy.name} did not listen") from None
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_process(process, 15)


@contextlib.contextmanager
def origin() -> Iterator[tuple[int, ControlClient]]:
    """A fakeorigin on a free loopback port (the proxies' upstream); its port and client."""
    port = free_port()
    with started_origin(f"tcp:{port}:interface=127.0.0.1", None) as control:
        yield port, ControlClient(control)


#: Each takeaway: what it says, the scenario it reads, and the verdict a proxy is named for
#: (with a text its observation must contain, too).
TAKEAWAYS: list[tuple[str, str, Kind | tuple[Kind, str]]] = [
    ("Forward a 1xx (103, 102, an unregistered 199)", "1xx-103-forwarded", Kind.CONFORMANT),
    ("Drop every 1xx (a violation of RFC 9110 section 15.2)", "1xx-103-forwarded", Kind.VIOLATION),
    ("Pass eleven 1xx in a row", "1xx-eleven-in-a-row", Kind.CONFORMANT),
    (
        "Stop partway through eleven 1xx",
        "1xx-eleven-in-a-row",
        (Kind.VIOLATION, "the client saw 103"),
    ),
    ("Send a 1xx to an HTTP/1.0 client", "1xx-to-http10-client", Kind.VIOLATION),
    ("Send a 100 to an HTTP/1.0 client's Expect", "expect-http10-client", Kind.VIOLATION),
    (
        "Pass Expect upstream (the origin's 100 reaches the client)",
        "expect-upload",
        Kind.CONFORMANT,
    ),
    (
        "Answer Expect's 100 themselves",
        "expect-upload",
        (Kind.DEVIATION, "Expect was not passed upstream"),
    ),
    (
        "Are held off by 102s every second past their read timeout",
        "timeout-102-holds-off",
        Kind.CONFORMANT,
    ),
    ("Pass two different Content-Lengths on", "framing-two-content-lengths", Kind.VIOLATION),
    ("Make a broken chunked body look complete", "framing-bad-chunk-size", Kind.VIOLATION),
    ("Pass on a 101 nobody asked for", "websocket-unsolicited-101", Kind.VIOLATION),
]


def takeaways(columns: dict[str, dict[str, Result]]) -> list[str]:
    """One line per takeaway: the proxies it is true of, read from the results."""
    lines = []
    for text, scenario_id, mark in TAKEAWAYS:
        named = []
        for name, results in columns.items():
            verdict = results[scenario_id].verdict
            kind, text_in = mark if isinstance(mark, tuple) else (mark, "")
            if verdict.kind is kind and text_in in verdict.observation:
                named.append(name)
        lines.append(f"{text} (`{scenario_id}`): {', '.join(named) or 'none'}.")
    return lines


def cell(result: Result) -> str:
    return result.verdict.kind.value


def setting_changes(
    columns: dict[str, dict[str, Result]], settings: dict[str, tuple[str, Setting]]
) -> list[str]:
    """Per setting probed: what it is, and each scenario whose verdict it changed from the
    proxy's defaults (both observations), or that it changed none."""
    lines = []
    for name, (proxy, setting) in settings.items():
        if name not in columns or proxy not in columns:
            continue
        lines += [f"### {name}", "", f"{setting.what}. Configuration line: `{setting.line}`.", ""]
        changed = []
        for scenario_id, result in columns[name].items():
            before = columns[proxy][scenario_id].verdict
            after = result.verdict
            if before.kind is not after.kind:
                changed.append(
                    f"- `{scenario_id}`: {before.kind.value} with the defaults "
                    f"({before.observation}); **{after.kind.value}** with the setting "
                    f"({after.observation})"
                )
        lines += changed or [f"- No verdict differs from {proxy}'s defaults."]
        lines.append("")
    return lines


def markdown(
    columns: dict[str, dict[str, Result]],
    versions: dict[str, str],
    problems: dict[str, str],
    settings: dict[str, tuple[str, Setting]] | None = None,
) -> str:
    names = list(columns)
    settings = settings or {}
    lines = ["# What real proxies do with 1xx, Expect, Upgrade and broken framing", ""]
    lines.append(
        "<!-- Generated by `make matrix` (python matrix/run.py) from the probe's results: "
        "do not edit. -->"
    )
    lines += ["", "## What to take away", ""]
    lines += [f"- {line}" for line in takeaways(columns)]
    lines += ["", "Per proxy:", ""]
    for name in names:
        results = columns[name].values()
        counts = {k: sum(r.verdict.kind is k for r in results) for k in Kind}
        broken = [r.scenario.id for r in results if r.verdict.kind is Kind.VIOLATION]
        lines.append(
            f"- **{name}** ({versions[name]}): {counts[Kind.CONFORMANT]} conformant, "
            f"{counts[Kind.VIOLATION]} violations, {counts[Kind.DEVIATION]} deviations, "
            f"{counts[Kind.NOT_APPLICABLE]} n/a."
            + (f" Violations: {', '.join(f'`{b}`' for b in broken)}." if broken else "")
        )
    for name, why in problems.items():
        lines.append(f"- **{name}**: not probed: {why}")
    if settings:
        lines += ["", "## Where a documented setting changes the outcome", ""]
        lines.append(
            "Each of these proxies was probed a second time with one documented option "
            "changed (a column of its own below); what that changed:"
        )
        lines += ["", *setting_changes(columns, settings)]
    lines += ["", "## Every scenario", ""]
    lines.append("| scenario | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    for scenario_id in SCENARIOS:
        row = [cell(columns[n][scenario_id]) for n in names]
        lines.append(f"| `{scenario_id}` | " + " | ".join(row) + " |")
    lines += ["", "## What each proxy did", ""]
    for name in names:
        lines += [
            f"### {name}",
            "",
            f"{versions[name]}; configuration: `matrix/` (upstream read timeout {TIMEOUT} s)"
            + (f", with `{settings[name][1].line}`." if name in settings else "."),
            "",
        ]
        for scenario_id, result in columns[name].items():
            verdict = result.verdict
            text = verdict.observation.replace("|", "\\|")
            rule = f" ({verdict.rule})" if verdict.rule else ""
            lines.append(f"- `{scenario_id}`: **{verdict.kind.value}**{rule}: {text}")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(PROXIES), help="comma-separated proxies")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "proxy-matrix.md")
    args = parser.parse_args()
    columns: dict[str, dict[str, Result]] = {}
    versions: dict[str, str] = {}
    problems: dict[str, str] = {}
    settings: dict[str, tuple[str, Setting]] = {}
    with origin() as (port, control):
        for column in columns_for(args.only.split(",")):
            name = column.name
            if column.setting is not None:
                settings[name] = (column.proxy.name, column.setting)
            line = column.setting.line if column.setting else ""
            try:
                versions[name] = version(column.proxy)
                with running(column.proxy, port, line) as url:
                    runner = Runner(url, control, proxy_timeout=TIMEOUT)
                    try:
                        results = {}
                        for scenario in SCENARIOS.values():
                            results[scenario.id] = runner.run(scenario)
                            print(
                                f"{name} {scenario.id}: {results[scenario.id].verdict.kind}",
                                flush=True,
                            )
                    finally:
                        runner.close()
                columns[name] = results
            except (OSError, RuntimeError) as err:
                problems[name] = str(err).splitlines()[0][:300]
                print(f"{name}: {problems[name]}", flush=True)
    args.output.write_text(markdown(columns, versions, problems, settings))
    document = {
        name: {
            "version": versions[name],
            "setting": settings[name][1].line if name in settings else None,
            "results": {
                sid: {
                    "verdict": r.verdict.kind.value,
                    "observation": r.verdict.observation,
                    "rule": r.verdict.rule,
                }
                for sid, r in results.items()
            },
        }
        for name, results in columns.items()
    }
    args.output.with_suffix(".json").write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
