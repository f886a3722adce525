"""A client that vanishes at every point of every bundled profile (in memory), and at the
points the issue names on a real socket (a reset).

For each bundled profile (the active one), a reference run finds every moment something is due
(a 100 pending, each 102 of a trickle, each piece of a dribble, a WebSocket script's sleep and
receive timeout, --max-duration). Then, for each of those moments and each midpoint between
two, a fresh connection makes the same request, the clock runs to that moment and the
connection is lost without a clean close. Each time: no DelayedCall is left, nothing is logged
at warning or above (no traceback), the bytes written so far are the reference's, and the
journal entry ends where the client left: ``client-gone`` at that moment for an exchange that
was still running (or hanging), the WebSocket session closed "not clean" at that moment for one
handed to autobahn, and unchanged for one that had already ended.
"""

from __future__ import annotations

import itertools
import socket
import struct
import time

import pytest
import pytest_twisted
from twisted.internet.error import ConnectionLost
from twisted.internet.threads import deferToThread
from twisted.python.failure import Failure

from fakeorigin.core.journal import Event, Outcome
from fakeorigin.core.violations import CATALOGUE
from tests.clients import RawReader, connect
from tests.memory import START, Client, MemoryOrigin, bundled_profiles, timeline
from tests.reliability.armed import Armed, armed
from tests.reliability.support import captured_logs

__all__ = ["armed"]  # the fixture

#: Long enough for every bundled profile's schedule (the WebSocket script waits 5 s for a
#: message, then 2 s for the Close reply); a hang ends at --max-duration.
MAX_DURATION = 9.0
HANDSHAKE = (
    b"GET /chat HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: chat.v1\r\n\r\n"
    b"\x81\x85\x00\x00\x00\x00hello"  # a text message sent with the handshake (mask 0)
)
#: An upload whose body has not arrived: a 100 is pending, or the body is awaited.
UPLOAD = (
    b"POST /up HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n"
    b"Expect: 100-continue\r\n\r\nhe"
)
GET = b"GET /x HTTP/1.1\r\nHost: example.test\r\n\r\n"


def request_for(name: str) -> bytes:
    """The request that runs the whole of profile ``name``."""
    if name.startswith("websocket-"):
        return HANDSHAKE
    if name.startswith("violation-"):
        return CATALOGUE[name.removeprefix("violation-")].probe.encode()
    if name in ("default", "expect-continue", "expect-continue-delayed", "expect-ignore"):
        return UPLOAD
    if name in ("expect-reject", "expect-final-early"):
        return UPLOAD
    return GET


def start(name: str) -> tuple[MemoryOrigin, Client]:
    origin = MemoryOrigin()
    origin.settings(max_duration_seconds=MAX_DURATION)
    origin.state.active = name
    client = origin.connect(half_close=True)
    client.send(request_for(name))
    return origin, client


def now(origin: MemoryOrigin) -> float:
    return round(origin.clock.seconds() - START, 6)


def step(origin: MemoryOrigin, until: float | None = None) -> bool:
    """Advance to the next call due (not past ``until``); False when none is."""
    calls = origin.clock.getDelayedCalls()
    if not calls:
        return False
    due = min(call.getTime() for call in calls) - origin.clock.seconds()
    if until is not None and now(origin) + due > until + 1e-9:
        return False
    origin.advance(max(due, 0.0))
    return True


def run_to(origin: MemoryOrigin, point: float) -> None:
    """Advance the clock to ``point`` the way the reference run did: call by call."""
    while step(origin, point):
        pass
    origin.advance(max(point - now(origin), 0.0))


def schedule(name: str) -> tuple[list[float], list[tuple[float, bytes]]]:
    """The reference run: every moment a call was due, and what was written by each moment."""
    origin, client = start(name)
    moments, written = [0.0], [(0.0, client.take())]
    while now(origin) <= MAX_DURATION + 5 and step(origin):
        moments.append(now(origin))
        written.append((now(origin), client.take()))
    origin.shutdown()
    return moments, written


def cut_points(moments: list[float]) -> list[float]:
    """Each moment, and the midpoint between it and the next."""
    unique = sorted(set(moments))
    middles = [round((a + b) / 2, 6) for a, b in itertools.pairwise(unique)]
    return sorted({*unique, *middles})


def written_by(written: list[tuple[float, bytes]], moment: float) -> bytes:
    return b"".join(data for at, data in written if at <= moment)


PROFILES = sorted(bundled_profiles())


@pytest.mark.parametrize("name", PROFILES)
def test_client_vanishing_at_every_point(name: str) -> None:
    moments, written = schedule(name)
    points = cut_points(moments)
    for point in points:
        with captured_logs() as logs:
            origin, client = start(name)
            run_to(origin, point)
            sent = client.take()
            records = origin.records()
            before = [(r.outcome, list(r.timeline)) for r in records]
            running = [r.outcome is Outcome.RUNNING for r in records]
            sessions = [r.websocket is not None and r.websocket.clean is None for r in records]
            client.lose(Failure(ConnectionLost()))  # type: ignore[no-untyped-call]
            leftover = origin.clock.getDelayedCalls()
        where = f"{name} left at {point} s"
        assert leftover == [], where
        assert origin.factory.connections == set(), where
        assert (logs.failures, logs.errors) == ([], []), where
        assert sent == written_by(written, point), where
        for record, (outcome, entries), was_running, in_session in zip(
            records, before, running, sessions, strict=True
        ):
            last = timeline(record)[-1]
            if in_session:
                # autobahn's session ends with the connection, whatever ended the exchange.
                assert record.outcome is (Outcome.UPGRADED if was_running else outcome), where
                assert last[:2] == (point, Event.WEBSOCKET_CLOSED.value), where
                assert str(last[-1]).startswith("not clean"), where
            elif not was_running:
                assert (record.outcome, record.timeline) == (outcome, entries), where
            else:
                assert record.outcome is Outcome.CLIENT_GONE, where
                assert last == (
                    point,
                    "client-gone",
                    None,
                    "Connection to the other side was lost in a non-clean fashion.",
                ), where
        origin.advance(60)
        assert client.take() == b"", where


def test_the_points_cover_what_the_issue_names() -> None:
    """While the 100 is pending, mid-trickle, mid-dribble, mid-WebSocket: each is a point."""
    assert 0.25 in cut_points(schedule("expect-continue-delayed")[0])  # 100 due at 0.5
    assert {0.5, 1.0, 2.5, 4.0} <= set(cut_points(schedule("processing-trickle")[0]))
    assert {0.05, 0.1, 0.35} <= set(cut_points(schedule("slow-body")[0]))
    assert {0.05, 0.1, 1.1, 2.1} <= set(cut_points(schedule("websocket-script-demo")[0]))


# -- the same on a real socket: the client resets (RST) mid-way -----------------------------

REAL_CASES = [
    pytest.param("expect-continue-delayed", UPLOAD, 0.25, "client-gone", id="100 pending"),
    pytest.param("processing-trickle", GET, 1.5, "client-gone", id="mid-trickle"),
    pytest.param("slow-body", GET, 0.35, "client-gone", id="mid-dribble"),
    pytest.param("hang", GET, 0.3, "client-gone", id="hang"),
    pytest.param("websocket-echo", HANDSHAKE, 0.3, "websocket-closed", id="mid-WebSocket"),
]


def leave_with_reset(port: int, request: bytes, after: float) -> bytes:
    """Send ``request``, read for ``after`` seconds, then reset the connection (RST)."""
    with connect(port) as sock:
        sock.sendall(request)
        received = RawReader(sock, time.monotonic()).read(after).data
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return received


@pytest.mark.realsocket
@pytest.mark.parametrize(("name", "request_bytes", "after", "event"), REAL_CASES)
@pytest_twisted.ensureDeferred
async def test_client_resetting_on_a_real_socket(
    armed: Armed, name: str, request_bytes: bytes, after: float, event: str
) -> None:
    armed.state.active = name
    await deferToThread(leave_with_reset, armed.port, request_bytes, after)
    await armed.settle()
    (record,) = armed.state.journal
    last = record.timeline[-1]
    assert last.event == event
    assert after - 0.1 <= last.seconds <= after + 0.3
    if event == "client-gone":
        assert record.outcome is Outcome.CLIENT_GONE
        assert last.detail == "Connection to the other side was lost in a non-clean fashion."
    else:
        assert record.outcome is Outcome.UPGRADED
        assert str(last.detail).startswith("not clean")
    # the fixture then checks: no connection open, no timer pending, nothing logged as error
