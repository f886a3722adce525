"""An origin armed for hostile clients, in the test's reactor on real sockets (127.0.0.1:0).

The corpus's limits, a 1 s header timeout, 40 connections at most, and its control API on a
second port (for ``/health``). The fixture asserts, once the test is done, that no connection
is open, that no protocol it built has a timer pending, and that nothing was logged at error
level (and no traceback at all).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.web.server import Site

from fakeorigin.control.api import ControlAPI
from fakeorigin.core.journal import Journal
from fakeorigin.core.loader import bundled_profiles_dir, load_profile_dir
from fakeorigin.core.state import OriginState
from fakeorigin.http1.factory import OriginFactory
from fakeorigin.http1.protocol import OriginProtocol
from fakeorigin.http1.settings import OriginSettings
from fakeorigin.server.listen import listen
from tests.reliability.support import LIMITS, LogCapture, captured_logs

LOOPBACK = "tcp:0:interface=127.0.0.1"
HEADER_TIMEOUT = 1.0
MAX_CONNECTIONS = 40


class _Tracked(OriginFactory):
    """Keeps every protocol it builds, to check their timers once they are gone."""

    built: list[OriginProtocol]

    def buildProtocol(self, addr: Any) -> OriginProtocol:  # noqa: N802 (Twisted API)
        protocol = super().buildProtocol(addr)
        self.built.append(protocol)
        return protocol


@dataclass
class Armed:
    """An origin with the corpus's limits, its control API, and the log meanwhile."""

    state: OriginState
    factory: _Tracked
    port: int
    control_port: int
    logs: LogCapture

    async def settle(self, timeout: float = 5.0) -> None:
        from twisted.internet import reactor  # noqa: PLC0415

        deadline = time.monotonic() + timeout
        while self.factory.connections and time.monotonic() < deadline:
            pause: Deferred[None] = Deferred()
            reactor.callLater(0.01, pause.callback, None)
            await pause

    def pending_timers(self) -> list[Any]:
        """Every DelayedCall still pending in a protocol built so far (a refused connection's
        protocol has no timers)."""
        timers = [getattr(p, "_timers", None) for p in self.factory.built]
        return [call for each in timers if each is not None for call in each.pending]


@pytest_twisted.async_yield_fixture
async def armed() -> AsyncIterator[Armed]:
    from twisted.internet import reactor  # noqa: PLC0415

    state = OriginState(load_profile_dir(bundled_profiles_dir()), "default", Journal(1000))
    settings = OriginSettings(max_duration_seconds=30, header_timeout_seconds=HEADER_TIMEOUT)
    factory = _Tracked(state, reactor, settings, limits=LIMITS, max_connections=MAX_CONNECTIONS)
    factory.built = []
    site = Site(ControlAPI(state, reactor).app.resource())  # type: ignore[no-untyped-call]
    site.log = lambda request: None  # type: ignore[method-assign]
    origin = await listen(reactor, [LOOPBACK], factory, 128)
    control = await listen(reactor, [LOOPBACK], site, 128)
    numbers = [urlsplit(listening.urls[0]).port or 0 for listening in (origin, control)]
    with captured_logs() as logs:
        running = Armed(state, factory, numbers[0], numbers[1], logs)
        yield running
        await origin.stop()
        await control.stop()
        await running.settle()
    leftover = list(factory.connections)
    for protocol in leftover:
        protocol.transport.abortConnection()  # type: ignore[union-attr]
    assert not leftover, f"connections left open: {len(leftover)}"
    assert running.pending_timers() == []
    assert (logs.failures, logs.errors) == ([], [])
