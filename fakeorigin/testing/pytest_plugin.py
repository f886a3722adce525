"""The pytest plugin (entry point ``pytest11: fakeorigin``): fakeorigin as a fixture.

Fixtures (docs/pytest.md is the guide):

- ``fakeorigin_server`` (session): one ``fakeorigin serve`` child process per session (per
  xdist worker), on 127.0.0.1 port 0 for both the origin and the control API, started on first
  use, stopped by its PID at the end (SIGTERM, then SIGKILL after a timeout) and reaped. Its
  stderr goes to a file whose tail is shown in the report of a failing test. With
  ``--fakeorigin-external CONTROL_URL`` it is a server that is already running instead.
- ``fakeorigin`` (function): a :class:`~fakeorigin.testing.FakeOrigin` on that server, reset
  through ``POST /reset`` before the test. Any client works: the server is another process.
- ``fakeorigin_inprocess`` (function): origin and control API in the test's own reactor, for
  tests under pytest-twisted; torn down with no DelayedCall, connection or port left.

The marker ``@pytest.mark.fakeorigin_profile(NAME_OR_PROFILE)`` activates a profile for one
test. Cheap to import: no Twisted and no reactor here (pytest-twisted's ``--reactor`` chooses
it later); the in-process fixture imports Twisted when it runs.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shlex
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakeorigin.control.client import ControlClient, ControlError
from fakeorigin.processes import STOP_SECONDS, stop_process
from fakeorigin.testing import (
    FakeOrigin,
    InProcessOrigin,
    InterimStatuses,
    describe_journal,
    start_inprocess,
    stop_inprocess,
)

LOOPBACK_PORT_0 = "tcp:0:interface=127.0.0.1"
#: Start-up imports Twisted, Klein and pydantic (about 0.3 s here): generous, but bounded.
START_SECONDS = 30.0
#: No control-API call of the fixtures blocks longer than this.
CLIENT_SECONDS = 30.0
#: Exchanges of the in-process origin are closed after this long (a ``hang`` would otherwise
#: outlive the test; teardown aborts them anyway).
INPROCESS_MAX_DURATION_SECONDS = 600.0
#: Log lines shown in a failure report: before the test (start-up context) and during it.
LOG_LINES_BEFORE = 20
LOG_LINES_DURING = 200

_MARKER = "fakeorigin_profile"


class FakeOriginError(Exception):
    """The session's fakeorigin could not be started or reached; the message says why and
    carries its log."""


# -- options --------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fakeorigin", "fakeorigin (programmable HTTP/1.1 origin)")
    group.addoption(
        "--fakeorigin-profiles",
        action="append",
        default=[],
        metavar="DIR",
        help="directory of profile files added to the bundled ones (repeatable; a profile "
        "of the same name replaces the bundled one). ini: fakeorigin_profiles",
    )
    parser.addini(
        "fakeorigin_profiles",
        type="paths",
        default=[],
        help="directories of profile files added to the bundled ones (relative to the ini file)",
    )
    group.addoption(
        "--fakeorigin-external",
        metavar="CONTROL_URL",
        help="use the fakeorigin whose CONTROL API is at this URL (e.g. http://127.0.0.1:8081) "
        "instead of starting one; its origin URL comes from GET /health. Several URLs, "
        "comma-separated: replicas of one origin, each reset, changed and read by the fixture. "
        "ini: fakeorigin_external",
    )
    parser.addini("fakeorigin_external", help="control API URL of a running fakeorigin")
    group.addoption(
        "--fakeorigin-external-origin",
        metavar="URL",
        help="with --fakeorigin-external: the origin URL to use when the one /health reports "
        "is not reachable from here (a container's mapped port). ini: fakeorigin_external_origin",
    )
    parser.addini("fakeorigin_external_origin", help="origin URL of the external fakeorigin")
    group.addoption(
        "--fakeorigin-token",
        metavar="TOKEN",
        help="control API bearer token (default: $FAKEORIGIN_CONTROL_TOKEN). ini: fakeorigin_token",
    )
    parser.addini("fakeorigin_token", help="control API bearer token")
    group.addoption(
        "--fakeorigin-args",
        metavar="ARGS",
        help="more 'fakeorigin serve' arguments for the started server, one shell-quoted "
        "string, e.g. '--max-duration 30'. ini: fakeorigin_args",
    )
    parser.addini("fakeorigin_args", type="args", default=[], help="more serve arguments")
    group.addoption(
        "--fakeorigin-tls",
        action="store_true",
        default=None,
        help="serve the origin over TLS (fakeorigin serve --tls); the handle's ca is the CA "
        "file to trust. ini: fakeorigin_tls",
    )
    parser.addini("fakeorigin_tls", type="bool", default=False, help="serve the origin over TLS")
    group.addoption(
        "--fakeorigin-probe-proxy",
        metavar="URL",
        help="also run fakeorigin probe's scenarios as tests, through the proxy at URL (which "
        "forwards to the session's fakeorigin; see docs/probe.md)",
    )
    group.addoption(
        "--fakeorigin-probe-timeout",
        metavar="SECONDS",
        help="with --fakeorigin-probe-proxy: the proxy's upstream read timeout (the timeout "
        "scenarios are skipped without it)",
    )
    group.addoption(
        "--fakeorigin-probe-fail-on",
        choices=["violation", "deviation"],
        default="violation",
        help="with --fakeorigin-probe-proxy: fail a scenario on a violation (default), or on a "
        "deviation too",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(profile): activate this fakeorigin profile (a name, a dict or YAML text) "
        "for the test, after the reset",
    )
    if config.getoption("--fakeorigin-probe-proxy"):
        # The probe's scenarios join the run as a module of tests: collected after what the
        # command line named (pytest collects config.args once configuring is done).
        suite = Path(__file__).resolve().with_name("probe_suite.py")
        config.args.append(str(suite))


@dataclass(frozen=True, slots=True)
class Settings:
    """The plugin's options, command line over ini."""

    profile_dirs: list[Path]
    external: str | None
    external_origin: str | None
    token: str | None
    serve_args: list[str]
    tls: bool = False


def settings(config: pytest.Config) -> Settings:
    """Read the options: a command-line value wins over the ini value."""

    def text(name: str) -> str | None:
        value = config.getoption(f"--{name.replace('_', '-')}") or config.getini(name)
        return str(value) if value else None

    dirs = [Path(p) for p in config.getini("fakeorigin_profiles")]
    dirs += [Path(p).resolve() for p in config.getoption("--fakeorigin-profiles")]
    args = config.getoption("--fakeorigin-args")
    return Settings(
        profile_dirs=dirs,
        external=text("fakeorigin_external"),
        external_origin=text("fakeorigin_external_origin"),
        token=text("fakeorigin_token") or os.environ.get("FAKEORIGIN_CONTROL_TOKEN"),
        serve_args=shlex.split(args) if args else list(config.getini("fakeorigin_args")),
        tls=bool(config.getoption("--fakeorigin-tls") or config.getini("fakeorigin_tls")),
    )


# -- the session's server -------------------------------------------------------------------


class FakeOriginServer:
    """The session's fakeorigin: a child process this plugin started, or an external one.

    Attributes:
        origin_urls: the origin's URLs (``--announce``, or ``/health`` for an external one).
        control_url: the control API's base URL.
        client: a control client (bearer token included when one is configured).
        replicas: a control client per replica (``--fakeorigin-external URL1,URL2``); else
            ``[client]``.
        process: the child process; None for an external server.
        log_path: the file the child's stderr goes to; None for an external server.
        ca: with TLS, the CA certificate file the origin's certificate chains to.
    """

    def __init__(
        self,
        origin_urls: list[str],
        control_url: str,
        client: ControlClient,
        process: subprocess.Popen[bytes] | None = None,
        log_path: Path | None = None,
        *,
        ca: str | None = None,
        replicas: list[ControlClient] | None = None,
    ) -> None:
        self.origin_urls = origin_urls
        self.control_url = control_url
        self.client = client
        self.process = process
        self.log_path = log_path
        self.ca = ca
        self.replicas = replicas or [client]

    @property
    def url(self) -> str:
        """The origin's first URL."""
        return self.origin_urls[0]

    @property
    def pid(self) -> int | None:
        """The child's PID; None for an external server."""
        return None if self.process is None else self.process.pid

    def log(self) -> str:
        """Everything the child has written to stderr so far."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes().decode("utf-8", "replace")

    def log_size(self) -> int:
        """Bytes logged so far (a test's report shows what came after its start)."""
        if self.log_path is None or not self.log_path.exists():
            return 0
        return self.log_path.stat().st_size

    def explain(self, problem: str) -> str:
        """``problem``, plus whether the child still runs, and its log."""
        if self.process is None:
            return f"{problem} (external fakeorigin at {self.control_url})"
        return _explain(self.process, self.log_path, problem)

    def stop(self) -> int | None:
        """Stop the child (:func:`stop_process`); None for an external server, which is left
        running."""
        return None if self.process is None else stop_process(self.process)


def _explain(process: subprocess.Popen[bytes], log_path: Path | None, problem: str) -> str:
    code = process.poll()
    state = "running" if code is None else f"exited with {code}"
    log = log_path.read_bytes().decode("utf-8", "replace") if log_path else ""
    return f"{problem}\nfakeorigin (pid {process.pid}) {state}; its log:\n{log[-8000:]}"


def serve_command(options: Settings) -> list[str]:
    """``python -m fakeorigin serve`` on loopback port 0, announcing its URLs."""
    profiles = ["--profiles", "bundled"]
    for directory in options.profile_dirs:
        profiles += ["--profiles", str(directory)]
    return [
        sys.executable,
        "-m",
        "fakeorigin",
        "serve",
        "--announce",
        "--listen",
        LOOPBACK_PORT_0,
        "--control",
        LOOPBACK_PORT_0,
        *profiles,
        *(["--tls"] if options.tls else []),
        *options.serve_args,
    ]


def start_server(options: Settings, log_path: Path) -> FakeOriginServer:
    """Start the child and wait for its announce line; on any failure it is stopped again.

    The child gets this environment without ``FAKEORIGIN_*`` (the options here say what it
    does), stdin from /dev/null, stdout on a pipe read once (the announce line), and stderr in
    ``log_path``: a file, never a pipe no one reads, which a chatty server would fill.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("FAKEORIGIN_")}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            serve_command(options),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
        )
    try:
        line = _first_line(process, START_SECONDS)
        if not line:
            process.wait(STOP_SECONDS)  # stdout closed: it is exiting
            raise FakeOriginError(
                _explain(process, log_path, "fakeorigin exited before it was listening")
            )
        try:
            announce = json.loads(line)
            origin_urls, control = list(announce["origin"]), announce["control"]
            ca = announce.get("ca")
        except (ValueError, KeyError, TypeError, AttributeError):
            origin_urls, control, ca = [], None, None
        if not isinstance(control, str) or not origin_urls:
            raise FakeOriginError(_explain(process, log_path, f"unexpected announce: {line!r}"))
    except BaseException:
        stop_process(process)
        raise
    client = ControlClient(control, token=options.token, timeout=CLIENT_SECONDS)
    return FakeOriginServer(origin_urls, control, client, process, log_path, ca=ca)


def _first_line(process: subprocess.Popen[bytes], seconds: float) -> bytes:
    """The first line the child writes to stdout; b"" if it closes stdout (exits) first."""
    assert process.stdout is not None
    deadline = time.monotonic() + seconds
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FakeOriginError(f"no announce line from fakeorigin within {seconds} s")
        readable, _, _ = select.select([process.stdout], [], [], remaining)
        if readable:
            data = os.read(process.stdout.fileno(), 4096)
            if not data:
                return line
            line += data
    return line


def external_server(options: Settings) -> FakeOriginServer:
    """The server at ``--fakeorigin-external``; its origin URL from ``GET /health`` (of the
    first, when several replicas are given)."""
    assert options.external is not None
    controls = [url.strip().rstrip("/") for url in options.external.split(",") if url.strip()]
    clients = [ControlClient(url, token=options.token, timeout=CLIENT_SECONDS) for url in controls]
    healths = []
    for control, client in zip(controls, clients, strict=True):
        try:
            healths.append(client.health())
        except ControlError as err:
            raise FakeOriginError(
                f"--fakeorigin-external {control}: cannot reach the control API ({err}); "
                "give the CONTROL API's URL (fakeorigin serve --control), not the origin's"
            ) from err
    control, client, health = controls[0], clients[0], healths[0]
    origin_urls = [options.external_origin] if options.external_origin else health.get("origin")
    if not origin_urls:
        raise FakeOriginError(f"--fakeorigin-external {control}: /health lists no origin URL")
    return FakeOriginServer(
        list(origin_urls), control, client, ca=health.get("ca"), replicas=clients
    )


# -- fixtures -------------------------------------------------------------------------------

_SERVER = pytest.StashKey[FakeOriginServer]()
_HANDLE = pytest.StashKey["FakeOrigin | InProcessOrigin"]()
_LOG_OFFSET = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def fakeorigin_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FakeOriginServer]:
    """The session's fakeorigin (one per xdist worker): started on first use, stopped and
    reaped at the end; or the ``--fakeorigin-external`` one, left running."""
    options = settings(request.config)
    if options.external:
        server = external_server(options)
    else:
        log_path = tmp_path_factory.mktemp("fakeorigin") / "server.log"
        server = start_server(options, log_path)
    # Should pytest die without tearing fixtures down (an internal error), the interpreter's
    # exit still stops the child.
    atexit.register(server.stop)
    request.config.stash[_SERVER] = server
    try:
        yield server
    finally:
        del request.config.stash[_SERVER]
        atexit.unregister(server.stop)
        server.stop()


@pytest.fixture
def fakeorigin(fakeorigin_server: FakeOriginServer, request: pytest.FixtureRequest) -> FakeOrigin:
    """The session's fakeorigin, reset (``POST /reset``) for this test; the
    ``fakeorigin_profile`` marker's profile active."""
    server = fakeorigin_server
    origin = FakeOrigin(
        server.origin_urls, server.control_url, server.client, server.ca, server.replicas
    )
    request.node.stash[_LOG_OFFSET] = server.log_size()
    try:
        origin.reset()
    except ControlError as err:
        raise FakeOriginError(server.explain(f"POST /reset failed: {err}")) from err
    request.node.stash[_HANDLE] = origin
    _use_marker(request, origin)
    return origin


@pytest.fixture
def fakeorigin_inprocess(request: pytest.FixtureRequest) -> Iterator[InProcessOrigin]:
    """Origin and control API in this test's reactor (pytest-twisted), on 127.0.0.1 port 0;
    torn down with no DelayedCall, connection or port left."""
    manager = request.config.pluginmanager
    if not (manager.has_plugin("twisted") or manager.has_plugin("pytest_twisted")):
        pytest.fail(
            "fakeorigin_inprocess runs in pytest-twisted's reactor: install pytest-twisted "
            "(or use the fakeorigin fixture, which any test can use)",
            pytrace=False,
        )
    import pytest_twisted  # noqa: PLC0415 (Twisted only once a test asks for it)
    from twisted.internet.defer import Deferred  # noqa: PLC0415

    origin = start_inprocess(settings(request.config).profile_dirs, INPROCESS_MAX_DURATION_SECONDS)
    try:
        request.node.stash[_HANDLE] = origin
        _use_marker(request, origin)
        yield origin
    finally:
        left = pytest_twisted.blockon(Deferred.fromCoroutine(stop_inprocess(origin)))
    if left:
        raise AssertionError(
            "fakeorigin_inprocess: left behind after teardown (a fakeorigin bug; cancelled "
            "now): " + "; ".join(left)
        )


def _use_marker(request: pytest.FixtureRequest, origin: FakeOrigin | InProcessOrigin) -> None:
    marker = request.node.get_closest_marker(_MARKER)
    if marker is None:
        return
    if len(marker.args) != 1 or marker.kwargs:
        pytest.fail(
            f"@pytest.mark.{_MARKER} takes one profile (a name, a dict or YAML text); "
            f"got args={marker.args!r} kwargs={marker.kwargs!r}",
            pytrace=False,
        )
    origin.use(marker.args[0])


# -- reports --------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing test's report gets the journal of its fakeorigin and the server's log."""
    report = yield
    if report.failed:
        report.sections.extend(_sections(item))
    return report


def _sections(item: pytest.Item) -> list[tuple[str, str]]:
    sections = []
    origin = item.stash.get(_HANDLE, None)
    if origin is not None:
        try:
            text = describe_journal(origin.journal())
        except ControlError as err:
            text = f"(cannot read the journal: {err})"
        sections.append(("fakeorigin journal", text))
    server = item.config.stash.get(_SERVER, None)
    if server is not None and "fakeorigin_server" in getattr(item, "fixturenames", ()):
        sections.append(("fakeorigin server log", _log_section(server, item)))
    return sections


def _log_section(server: FakeOriginServer, item: pytest.Item) -> str:
    if server.log_path is None:
        return f"(external fakeorigin at {server.control_url}: its log is not here)"
    data = server.log_path.read_bytes()
    offset = item.stash.get(_LOG_OFFSET, 0)
    before = data[:offset].decode("utf-8", "replace").splitlines()
    during = data[offset:].decode("utf-8", "replace").splitlines()
    state = "running" if server.process and server.process.poll() is None else "exited"
    lines = [f"pid {server.pid} ({state}), log file {server.log_path}"]
    if len(before) > LOG_LINES_BEFORE:
        lines.append(f"({len(before) - LOG_LINES_BEFORE} earlier lines in the file)")
    lines += before[-LOG_LINES_BEFORE:]
    lines.append("----- this test -----")
    if len(during) > LOG_LINES_DURING:
        lines.append(f"({len(during) - LOG_LINES_DURING} lines not shown)")
    lines += during[-LOG_LINES_DURING:] or ["(nothing logged during this test)"]
    return "\n".join(lines)


def pytest_assertrepr_compare(
    config: pytest.Config, op: str, left: object, right: object
) -> list[str] | None:
    """``assert entry.interim_statuses == [...]`` failing prints the exchange's timeline."""
    for side in (left, right):
        if isinstance(side, InterimStatuses):
            # pytest shows 8 lines unless -vv: the timeline comes right after the summary.
            return [
                f"{list(left) if isinstance(left, list) else left!r} {op} "
                f"{list(right) if isinstance(right, list) else right!r}",
                f"interim statuses of {side.entry.summary()}; timeline:",
                *str(side.entry.timeline).splitlines(),
            ]
    return None
