"""``fakeorigin serve``: load the profiles, listen, run the reactor until SIGINT/SIGTERM.

With ``--announce``, once every endpoint is bound, exactly one JSON line goes to stdout:
``{"fakeorigin": VERSION, "origin": [URL, ...], "control": null}`` with the real bound ports,
so ``--listen tcp:0`` is usable from scripts and test fixtures. Logs go to stderr.
"""

from __future__ import annotations

import json
from typing import IO, Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger, globalLogBeginner
from twisted.python.failure import Failure

from fakeorigin import __version__
from fakeorigin.journal import Journal
from fakeorigin.loader import ProfileError, load_profile_dir
from fakeorigin.logs import log_observer
from fakeorigin.origin_protocol import OriginFactory, OriginSettings
from fakeorigin.server import listen
from fakeorigin.state import OriginState, UnknownProfileError

log = Logger()


def build_state(settings: dict[str, Any]) -> OriginState:
    """Profiles, active profile, journal and in-band header from the ``serve`` settings."""
    return OriginState(
        profiles=load_profile_dir(settings["profiles"]),
        active=settings["profile"],
        journal=Journal(settings["journal_size"]),
        inband_header=None if settings["no_inband"] else settings["inband_header"],
    )


def serve(settings: dict[str, Any], out: IO[str], err: IO[str]) -> int:
    """Run the origin with ``settings`` (see :data:`fakeorigin.cli.SERVE_OPTIONS`)."""
    try:
        state = build_state(settings)
    except ProfileError as problem:
        err.write(f"{problem}\n")
        return 1
    except UnknownProfileError as unknown:
        err.write(f"fakeorigin: --profile: {unknown}\n")
        return 2

    from twisted.internet import reactor  # noqa: PLC0415 (installs the default reactor)

    factory = OriginFactory(
        state, reactor, OriginSettings(max_duration_seconds=settings["max_duration"])
    )
    globalLogBeginner.beginLoggingTo(
        [log_observer(settings["log_format"], err)], redirectStandardIO=False
    )
    exit_code = 0

    async def start() -> None:
        listening = await listen(reactor, settings["listen"], factory, settings["backlog"])
        reactor.addSystemEventTrigger("before", "shutdown", listening.stop)
        log.info(
            "fakeorigin {version} serving {count} profiles (active: {active}) on {urls}",
            version=__version__,
            count=len(state.profiles),
            active=state.active,
            urls=" ".join(listening.urls),
        )
        if settings["announce"]:
            line = {"fakeorigin": __version__, "origin": listening.urls, "control": None}
            out.write(json.dumps(line) + "\n")
            out.flush()

    def cannot_listen(failure: Failure) -> None:
        nonlocal exit_code
        exit_code = 1
        err.write(f"fakeorigin: cannot listen: {failure.getErrorMessage()}\n")
        reactor.stop()

    def begin() -> None:
        Deferred.fromCoroutine(start()).addErrback(cannot_listen)

    reactor.callWhenRunning(begin)
    reactor.run()
    log.info("fakeorigin stopped")
    return exit_code
