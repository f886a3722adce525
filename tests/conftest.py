"""Shared fixtures: an origin running in the test's reactor on 127.0.0.1 port 0.

Tests run inside pytest-twisted's reactor greenlet, so a blocking client would deadlock the
in-process server: real-socket tests are ``async`` and run their blocking clients (curl, h11,
raw sockets) in a thread with ``deferToThread``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import pytest_twisted
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort

from fakeorigin.core.journal import ExchangeRecord, Journal
from fakeorigin.core.loader import bundled_profiles_dir, load_profile_dir
from fakeorigin.core.state import OriginState
from fakeorigin.http1.factory import OriginFactory
from fakeorigin.http1.settings import OriginSettings


@dataclass
class RunningOrigin:
    """An origin listening in this test's reactor."""

    state: OriginState
    factory: OriginFactory
    port: IListeningPort
    host: str
    port_number: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port_number}"

    def records(self) -> list[ExchangeRecord]:
        return list(self.state.journal)

    async def settle(self, timeout: float = 5.0) -> None:
        """Wait until every connection to the origin is gone (teardown and end-of-test checks)."""
        from twisted.internet import reactor  # noqa: PLC0415

        waited = 0.0
        while self.factory.connections and waited < timeout:
            pause: Deferred[None] = Deferred()
            reactor.callLater(0.01, pause.callback, None)
            await pause
            waited += 0.01


@pytest.fixture
def origin() -> Iterator[RunningOrigin]:
    """fakeorigin with the bundled profiles on 127.0.0.1, a fresh journal, port 0."""
    from twisted.internet import reactor  # noqa: PLC0415

    state = OriginState(load_profile_dir(bundled_profiles_dir()), "default", Journal(1000))
    factory = OriginFactory(state, reactor, OriginSettings(max_duration_seconds=30))
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    address = port.getHost()
    assert isinstance(address, IPv4Address)
    running = RunningOrigin(state, factory, port, "127.0.0.1", address.port)
    yield running
    pytest_twisted.blockon(port.stopListening())
    pytest_twisted.blockon(Deferred.fromCoroutine(running.settle()))
    leftover = list(running.factory.connections)
    for protocol in leftover:
        protocol.transport.abortConnection()  # type: ignore[union-attr]
    assert not leftover, f"connections left open after the test: {len(leftover)}"
