"""``fakeorigin serve``: load the profiles, listen, run the reactor until SIGINT/SIGTERM.

With ``--announce``, once every endpoint is bound, exactly one JSON line goes to stdout:
``{"fakeorigin": VERSION, "origin": [URL, ...], "control": null}`` with the real bound ports,
so ``--listen tcp:0`` is usable from scripts and test fixtures. Logs go to stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ReactorNotRunning
from twisted.logger import Logger, globalLogBeginner
from twisted.python.failure import Failure

from fakeorigin import __version__
from fakeorigin.core.admission import Limits
from fakeorigin.core.durations import duration_problem
from fakeorigin.core.journal import Journal
from fakeorigin.core.loader import (
    Problem,
    ProfileError,
    bundled_profiles_dir,
    profile_entries,
    profile_sources,
)
from fakeorigin.core.profile import Profile
from fakeorigin.core.state import OriginState, UnknownProfileError
from fakeorigin.http1.factory import OriginFactory
from fakeorigin.http1.settings import OriginSettings
from fakeorigin.server.collector import CollectorSchedule
from fakeorigin.server.descriptors import connection_limit, open_descriptors
from fakeorigin.server.listen import Listening, listen
from fakeorigin.server.logs import log_observer

if TYPE_CHECKING:
    from fakeorigin.control.api import Workers

log = Logger()


def build_state(settings: dict[str, Any]) -> tuple[OriginState, list[Problem]]:
    """Profiles, active profile, journal and in-band header from the ``serve`` settings, and
    the bundled profiles that ``--max-duration`` would cut (to warn about).

    A profile from the user's directories that cannot finish before ``--max-duration`` is an
    error (:func:`fakeorigin.core.durations.duration_problem`), like an invalid one; a bundled
    one is only warned about, so that a short ``--max-duration`` (to cut ``hang`` short) still
    serves the bundled set, unless it is the active profile. The bundled profiles are read at their
    first use (:class:`fakeorigin.core.loader.Profiles`), and warned about then.
    """
    directories: list[Path] = settings["profiles"]
    bundled = bundled_profiles_dir()
    profiles = profile_entries(directories, lazy=bundled)
    max_duration = settings["max_duration"]
    active = settings["profile"]
    errors: list[Problem] = []
    warnings: list[Problem] = []
    pending = set(profiles.pending())
    for name, source in sorted(profile_sources(directories).items()):
        if name in pending and name != active:
            continue
        problem = duration_problem(profiles[name], max_duration, str(source))
        if problem is None:
            continue
        (warnings if source.parent == bundled and name != active else errors).append(problem)
    if errors:
        raise ProfileError(errors)

    def read_later(profile: Profile, path: Path) -> None:
        problem = duration_problem(profile, max_duration, str(path))
        if problem is not None:
            log.warn("{problem}: served anyway (a bundled profile)", problem=str(problem))

    profiles.on_read = read_later
    state = OriginState(
        profiles=profiles,
        active=active,
        journal=Journal(settings["journal_size"]),
        inband_header=None if settings["no_inband"] else settings["inband_header"],
    )
    return state, warnings


def prepare(settings: dict[str, Any], err: IO[str]) -> OriginState | int:
    """The state ``settings`` describe, with logging to ``err`` begun and the bundled
    profiles ``--max-duration`` would cut warned about; or, after saying why, the exit code
    (1: a profile is invalid; 2: ``--profile`` names none)."""
    try:
        state, warnings = build_state(settings)
    except ProfileError as problem:
        err.write(f"{problem}\n")
        return 1
    except UnknownProfileError as unknown:
        err.write(f"fakeorigin: --profile: {unknown}\n")
        return 2
    globalLogBeginner.beginLoggingTo(
        [log_observer(settings["log_format"], err)], redirectStandardIO=False
    )
    for warning in warnings:
        log.warn("{problem}: served anyway (a bundled profile)", problem=str(warning))
    return state


def serve(settings: dict[str, Any], out: IO[str], err: IO[str]) -> int:
    """Run the origin (and the control API) with ``settings`` (:data:`cli.SERVE_OPTIONS`) in
    this one process (``--workers N``: :func:`fakeorigin.workers.parent.serve_workers`)."""
    state = prepare(settings, err)
    if isinstance(state, int):
        return state

    from twisted.internet import reactor  # noqa: PLC0415 (installs the default reactor)

    limit = connection_limit(settings["max_connections"], open_descriptors())
    factory = origin_factory(state, reactor, settings, limit.max_connections)
    if limit.problem is not None:
        log.warn("fakeorigin: {problem}", problem=limit.problem)
    exit_code = 0

    served, generated = tls_factory(reactor, factory, settings)
    ca = None if generated is None else str(generated.ca_path)

    async def start() -> None:
        nonlocal exit_code
        origin = await listen(
            reactor, settings["listen"], served, settings["backlog"], tls=generated is not None
        )
        collector = CollectorSchedule(reactor, factory)
        reactor.addSystemEventTrigger("before", "shutdown", collector.stop)
        reactor.addSystemEventTrigger(
            "before",
            "shutdown",
            lambda: Deferred.fromCoroutine(shut_down(factory, origin, settings["shutdown_grace"])),
        )
        control_url = None
        if settings["control"].strip().lower() != "none":
            control_url = await start_control(reactor, state, factory, origin.urls, settings, ca=ca)
            if control_url is None:
                exit_code = 2
                reactor.stop()
                return
        collector.start()
        log.info(
            "fakeorigin {version} serving {count} profiles (active: {active}) on {urls}; "
            "control API: {control}; {limit} (--max-connections)",
            version=__version__,
            count=len(state.profiles),
            active=state.active,
            urls=" ".join(origin.urls),
            control=control_url or "off",
            limit=limit.describe(),
        )
        if settings["announce"]:
            announce(out, origin.urls, control_url, ca)

    def cannot_listen(failure: Failure) -> None:
        nonlocal exit_code
        exit_code = 1
        err.write(f"fakeorigin: cannot listen: {failure.getErrorMessage()}\n")
        reactor.stop()

    def begin() -> None:
        handle_signals(reactor, factory.end_grace)
        Deferred.fromCoroutine(start()).addErrback(cannot_listen)

    reactor.callWhenRunning(begin)
    reactor.run()
    if settings["journal_dump"] is not None and not write_dump(
        state, settings["journal_dump"], err
    ):
        return 1
    log.info("fakeorigin stopped")
    return exit_code


def announce(out: IO[str], origin: list[str], control: str | None, ca: str | None) -> None:
    """``--announce``: the one JSON line with the bound URLs (and the CA with ``--tls``)."""
    line: dict[str, Any] = {"fakeorigin": __version__, "origin": origin, "control": control}
    if ca is not None:
        line["ca"] = ca
    out.write(json.dumps(line) + "\n")
    out.flush()


def worker_count(workers: int | str) -> int:
    """``--workers``: a count, or ``auto``: the CPUs this process may run on."""
    if workers != "auto":
        return int(workers)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def tls_factory(reactor: Any, factory: OriginFactory, settings: dict[str, Any]) -> tuple[Any, Any]:
    """With ``--tls``: the origin's factory served over TLS with a certificate from a CA made
    now (:mod:`fakeorigin.server.tls`, its file removed at exit unless ``--tls-ca`` named it), and
    what was made; else the factory itself and None."""
    if not settings["tls"]:
        return factory, None
    from fakeorigin.server.tls import generate, wrap  # noqa: PLC0415 (trustme, pyOpenSSL: only here)

    generated = generate(settings["tls_name"], settings["tls_ca"])
    reactor.addSystemEventTrigger("after", "shutdown", generated.remove)
    log.info(
        "TLS: a CA made for this run ({ca}); the certificate is valid for {names}",
        ca=str(generated.ca_path),
        names=", ".join(generated.names),
    )
    return wrap(factory, generated.options), generated


def write_dump(state: OriginState, path: Path, err: IO[str]) -> bool:
    """``--journal-dump`` at exit; False (after saying why) when the file cannot be written."""
    try:
        count = dump_journal(state.journal, path)
    except OSError as problem:
        err.write(f"fakeorigin: --journal-dump: {problem}\n")
        return False
    log.info("journal: {count} entries written to {path}", count=count, path=str(path))
    return True


def origin_factory(
    state: OriginState, reactor: Any, settings: dict[str, Any], max_connections: int
) -> OriginFactory:
    """The origin's factory with the limits and timeouts of ``settings``."""
    return OriginFactory(
        state,
        reactor,
        OriginSettings(
            max_duration_seconds=settings["max_duration"],
            header_timeout_seconds=settings["header_timeout"],
            idle_timeout_seconds=settings["idle_timeout"],
            stall_timeout_seconds=settings["stall_timeout"],
        ),
        limits=Limits(settings["max_header_bytes"], settings["max_body_bytes"]),
        max_connections=max_connections,
    )


def handle_signals(reactor: Any, end_grace: Callable[[str], None]) -> None:
    """SIGTERM or SIGINT stops the reactor (a graceful shutdown: :func:`shut_down`); a second
    one while it drains ends the grace at once, as ``docker stop`` users and a second Ctrl-C
    expect. Installed once the reactor runs, in place of Twisted's handlers (which would only
    try to stop the reactor again)."""
    signals: list[int] = []

    def received(signum: int) -> None:
        signals.append(signum)
        if len(signals) > 1:
            end_grace(f"a second {signal.Signals(signum).name}")
            return
        log.info(
            "fakeorigin: received {signal}: shutting down (a second one ends the grace)",
            signal=signal.Signals(signum).name,
        )
        with contextlib.suppress(ReactorNotRunning):  # already stopping (cannot listen)
            reactor.stop()

    def handler(signum: int, _frame: Any) -> None:
        reactor.callFromThread(received, signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)


async def shut_down(factory: OriginFactory, origin: Listening, grace_seconds: float) -> None:
    """Stop accepting, then drain: running exchanges get ``grace_seconds`` to finish."""
    await origin.stop()
    if factory.connections:
        log.info(
            "fakeorigin: shutting down: {count} connections open; running exchanges "
            "get {grace:g} s (--shutdown-grace)",
            count=len(factory.connections),
            grace=grace_seconds,
        )
    await factory.drain(grace_seconds)


def dump_journal(journal: Journal, path: Path) -> int:
    """Write every journal entry, oldest first, one JSON object per line; return the count."""
    with path.open("w", encoding="utf-8") as out:
        for record in journal:
            out.write(json.dumps(record.to_dict()) + "\n")
    return len(journal)


async def start_control(
    reactor: Any,
    state: OriginState,
    origin: OriginFactory | None,
    origin_urls: list[str],
    settings: dict[str, Any],
    *,
    ca: str | None = None,
    workers: Workers | None = None,
) -> str | None:
    """Listen with the control API; None (after saying why) when it would be unsafe.

    The control API can rewrite what the origin does: bound beyond loopback it needs a token,
    or an explicit ``--control-insecure``.
    """
    from twisted.web.server import Site  # noqa: PLC0415

    from fakeorigin.control.api import ControlAPI  # noqa: PLC0415

    token = settings["control_token"]
    api = ControlAPI(state, reactor, token=token, max_duration_seconds=settings["max_duration"])
    api.origin_urls = origin_urls
    api.origin = origin
    api.ca = ca
    api.workers = workers
    # No access-log line per control request either: logs carry start-up, shutdown, failures.
    site = Site(api.app.resource())  # type: ignore[no-untyped-call]
    site.log = lambda request: None  # type: ignore[method-assign]
    site.noisy = False
    control = await listen(reactor, [settings["control"]], site, settings["backlog"])
    reactor.addSystemEventTrigger("before", "shutdown", control.stop)
    exposed = control.beyond_loopback()
    if exposed and token is None and not settings["control_insecure"]:
        log.error(
            "refusing to serve the control API on {urls} without a token: it can change what "
            "the origin does. Set --control-token (FAKEORIGIN_CONTROL_TOKEN), bind it to "
            "loopback, or pass --control-insecure (FAKEORIGIN_CONTROL_INSECURE=1).",
            urls=" ".join(exposed),
        )
        await control.stop()
        return None
    return control.urls[0]
