"""In-memory helpers: the origin driven with ``task.Clock`` and ``StringTransport``.

No reactor, no sockets, no sleeps: a test feeds request bytes, reads exactly the bytes the
origin wrote, advances the clock and reads the next bytes (twisted's ``testing.py`` way).
Shared by ``tests/test_engine.py`` and ``tests/test_protocol_memory.py``.
"""

from __future__ import annotations

import random
from enum import Enum
from functools import cache
from typing import Any

from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from fakeorigin import __version__
from fakeorigin.core.journal import ExchangeRecord, Journal
from fakeorigin.core.loader import bundled_profiles_dir, load_profile_dir
from fakeorigin.core.profile import Profile
from fakeorigin.core.state import OriginState
from fakeorigin.http1.factory import OriginFactory
from fakeorigin.http1.protocol import OriginProtocol
from fakeorigin.http1.settings import OriginSettings

#: The clock starts at RFC 9110's example date (section 5.6.7), so Date lines read well.
START = 784111777.0
#: The Date line of a response rendered at START (and within its first second).
DATE = b"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
#: The Server line fakeorigin adds.
SERVER = b"Server: fakeorigin/" + __version__.encode("ascii") + b"\r\n"


def profile(*steps: dict[str, Any], name: str = "test") -> Profile:
    """A validated profile from step mappings, as a YAML file would give them."""
    return Profile.model_validate({"name": name, "steps": list(steps)})


@cache
def _bundled() -> dict[str, Profile]:
    return load_profile_dir(bundled_profiles_dir())


def bundled_profiles() -> dict[str, Profile]:
    """The bundled profiles by name (read once per test session; profiles are frozen)."""
    return dict(_bundled())


def timeline(record: ExchangeRecord) -> list[tuple[Any, ...]]:
    """``(seconds, event, status, detail)`` per entry, trailing Nones dropped, seconds rounded.

    Rounded to the microsecond, like the journal's JSON, so that a clock started at
    :data:`START` compares exactly with the literal seconds of a test.
    """
    rows = []
    for entry in record.timeline:
        row: list[Any] = [round(entry.seconds, 6), entry.event, entry.status, entry.detail]
        while row[-1] is None:
            row.pop()
        rows.append(tuple(row))
    return rows


class Feed(Enum):
    """How request bytes reach ``dataReceived``: whole, or one byte per call (h11's test_io)."""

    WHOLE = "whole"
    BYTEWISE = "bytewise"


class MemoryTransport(StringTransport):
    """``StringTransport`` with typed accessors; it cannot half-close (no loseWriteConnection).

    Like a TCP transport's, its unregisterProducer takes none registered (autobahn unregisters
    when it drops a connection; ``StringTransport`` would raise).
    """

    producer: Any
    streaming: bool | None

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def unregisterProducer(self) -> None:  # noqa: N802 (Twisted API)
        self.producer = None
        self.streaming = None

    def written(self) -> bytes:
        """Everything written since the last :meth:`take`."""
        return bytes(self.value())  # type: ignore[no-untyped-call]

    def take(self) -> bytes:
        """Everything written since the last call, then forget it."""
        data = self.written()
        self.clear()  # type: ignore[no-untyped-call]
        return data

    @property
    def state(self) -> str:
        """``open``, ``half-closed``, ``closed`` (loseConnection) or ``aborted`` (RST)."""
        if self.disconnected:
            return "aborted"
        if self.disconnecting:
            return "closed"
        return "half-closed" if getattr(self, "write_closed", False) else "open"


class HalfCloseTransport(MemoryTransport):
    """A transport that records a half-close, as a TCP transport's loseWriteConnection does,
    and tells its protocol the write side is closed (nothing is ever buffered here)."""

    def __init__(self) -> None:
        super().__init__()
        self.write_closed = False
        self.half_closed_protocol: OriginProtocol | None = None

    def loseWriteConnection(self) -> None:  # noqa: N802 (Twisted API)
        self.write_closed = True
        if self.half_closed_protocol is not None:
            self.half_closed_protocol.writeConnectionLost()


class Client:
    """One connection to the origin: feed bytes, read what came back, leave."""

    def __init__(self, protocol: OriginProtocol, transport: MemoryTransport) -> None:
        self.protocol = protocol
        self.transport = transport
        self.lost = False

    def send(self, data: bytes, feed: Feed = Feed.WHOLE) -> None:
        """Deliver ``data`` in one ``dataReceived`` call, or one call per byte."""
        if feed is Feed.WHOLE:
            self.protocol.dataReceived(data)
        else:
            for index in range(len(data)):
                self.protocol.dataReceived(data[index : index + 1])

    def take(self) -> bytes:
        """The bytes written since the last take."""
        return self.transport.take()

    @property
    def state(self) -> str:
        """See :attr:`MemoryTransport.state`."""
        return self.transport.state

    def lose(self, reason: Failure | None = None) -> None:
        """The connection is gone (the client left, or a close/abort completed)."""
        if not self.lost:
            self.lost = True
            self.transport.connected = False
            self.transport.producer = None  # as a TCP transport's connectionLost does
            gone = reason or Failure(ConnectionDone())  # type: ignore[no-untyped-call]
            self.protocol.connectionLost(gone)


class MemoryOrigin:
    """An :class:`OriginFactory` over the bundled profiles, a ``task.Clock`` and fake transports.

    Attributes:
        clock: starts at :data:`START`.
        state: bundled profiles, active ``default``, a fresh journal.
        factory: the origin's factory; its settings may be replaced before connecting.
        clients: every connection made, in order.
    """

    def __init__(self, seed: int = 0) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.state = OriginState(bundled_profiles(), "default", Journal(100))
        self.factory = OriginFactory(self.state, self.clock, OriginSettings(), random.Random(seed))
        self.clients: list[Client] = []

    def use(self, *steps: dict[str, Any], name: str = "test") -> Profile:
        """Add a profile made of ``steps`` and make it the active one."""
        made = profile(*steps, name=name)
        self.state.profiles[name] = made
        self.state.active = name
        return made

    def add(self, *profiles: Profile) -> None:
        """Make ``profiles`` known (for in-band and rule selection) without activating them."""
        for each in profiles:
            self.state.profiles[each.name] = each

    def settings(self, **changes: float) -> None:
        """Replace the factory's settings (max_duration_seconds, linger_seconds)."""
        self.factory.settings = OriginSettings(**changes)

    def connect(self, *, half_close: bool = False) -> Client:
        """A new connection; ``half_close`` gives it a transport with loseWriteConnection."""
        transport = HalfCloseTransport() if half_close else MemoryTransport()
        protocol = self.factory.buildProtocol(None)
        if isinstance(transport, HalfCloseTransport):
            transport.half_closed_protocol = protocol
        protocol.makeConnection(transport)  # type: ignore[no-untyped-call]
        client = Client(protocol, transport)
        self.clients.append(client)
        return client

    def advance(self, seconds: float) -> None:
        """Move the clock on, firing every call that falls due."""
        self.clock.advance(seconds)

    def records(self) -> list[ExchangeRecord]:
        """The journal, oldest first."""
        return list(self.state.journal)

    def record(self) -> ExchangeRecord:
        """The only record in the journal."""
        records = self.records()
        assert len(records) == 1, [r.to_dict() for r in records]
        return records[0]

    def shutdown(self) -> list[IDelayedCall]:
        """Lose every connection still open; return the DelayedCalls left behind (none!)."""
        for client in self.clients:
            client.lose()
        return list(self.clock.getDelayedCalls())


def split_response(data: bytes) -> tuple[bytes, bytes]:
    """A response's head (through the blank line) and what follows it."""
    head, separator, rest = data.partition(b"\r\n\r\n")
    assert separator, data
    return head + separator, rest
