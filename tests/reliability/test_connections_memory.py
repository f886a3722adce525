"""--max-connections and the graceful shutdown (OriginFactory.drain), in memory.

``task.Clock`` and ``StringTransport``: a transport the origin closed is lost by the test (as
the reactor would do), so the drain's Deferred can be watched firing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twisted.internet.defer import Deferred
from twisted.logger import LogLevel

from fakeorigin.core.journal import Outcome
from tests.memory import Client, MemoryOrigin, timeline
from tests.reliability.support import captured_logs, status_lines

GET = b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n"


def pick(profile: str) -> bytes:
    return (
        b"GET / HTTP/1.1\r\nHost: example.test\r\nFakeorigin-Profile: "
        + profile.encode()
        + b"\r\n\r\n"
    )


@pytest.fixture
def origin() -> Iterator[MemoryOrigin]:
    memory = MemoryOrigin()
    yield memory
    assert memory.shutdown() == [], "DelayedCalls left after every connection was lost"
    assert memory.factory.connections == set()


def lose_closed(origin: MemoryOrigin) -> None:
    """What the reactor does: a connection the origin closed or aborted is lost."""
    for client in origin.clients:
        if client.state in ("closed", "aborted") and not client.lost:
            client.lose()


# -- --max-connections --------------------------------------------------------------------------


def test_connections_over_the_limit_are_reset_and_counted(origin: MemoryOrigin) -> None:
    origin.factory.max_connections = 2
    with captured_logs() as logs:
        first, second = origin.connect(), origin.connect()
        third, fourth = origin.connect(), origin.connect()
        assert [c.state for c in (first, second, third, fourth)] == [
            "open",
            "open",
            "aborted",
            "aborted",
        ]
        assert origin.factory.refused_connections == 2
        third.lose()
        fourth.lose()
        assert len(origin.factory.connections) == 2
        first.send(GET)
        assert status_lines(first.take()) == [200]
        first.lose()
        fifth = origin.connect()
        assert fifth.state == "open"
        fifth.send(GET)
        assert status_lines(fifth.take()) == [200]
    assert [(e["log_format"], e.get("open")) for e in logs.events] == [
        (
            "fakeorigin: refusing new connections: {open} open (--max-connections {limit}"
            "{draining})",
            2,
        )
    ]
    assert len(origin.records()) == 2  # a refused connection is no exchange


def test_the_end_of_a_refusal_episode_is_logged_with_its_count(origin: MemoryOrigin) -> None:
    origin.factory.max_connections = 1
    with captured_logs(LogLevel.info) as logs:
        first = origin.connect()
        for _ in range(3):
            origin.connect().lose()
        first.lose()
    ours = [e for e in logs.events if str(e.get("log_format", "")).startswith("fakeorigin:")]
    assert [(e.get("count"), e.get("total")) for e in ours] == [(None, None), (3, 3)]


# -- the graceful shutdown -------------------------------------------------------------------


def drained(origin: MemoryOrigin, grace: float) -> list[bool]:
    fired: list[bool] = []
    deferred: Deferred[None] = origin.factory.drain(grace)
    deferred.addCallback(lambda _: fired.append(True))
    return fired


def test_drain_closes_idle_and_hanging_connections_at_once(origin: MemoryOrigin) -> None:
    idle = origin.connect()
    idle.send(GET)
    assert status_lines(idle.take()) == [200]
    hanging = origin.connect()
    hanging.send(pick("hang"))
    fired = drained(origin, 5)
    assert (idle.state, hanging.state) == ("closed", "closed")
    lose_closed(origin)
    assert fired == [True]
    record = origin.records()[1]
    assert record.outcome is Outcome.CLOSED
    assert timeline(record)[-2:] == [(0, "hang"), (0, "close", None, "shutdown: a hang ends here")]


def test_drain_lets_a_running_exchange_finish_then_closes(origin: MemoryOrigin) -> None:
    origin.use({"sleep": 2}, {"respond": {"status": 200, "body": "done"}})
    client = origin.connect()
    client.send(GET)
    fired = drained(origin, 5)
    origin.advance(1)
    assert (client.take(), client.state, fired) == (b"", "open", [])
    origin.advance(1)
    assert status_lines(client.take()) == [200]
    assert client.state == "closed"
    lose_closed(origin)
    assert fired == [True]
    record = origin.record()
    assert record.outcome is Outcome.CLOSED
    assert timeline(record)[-1] == (2, "close", None, "shutting down: the connection is not kept")


def test_drain_cuts_what_runs_past_the_grace(origin: MemoryOrigin) -> None:
    client = origin.connect()
    client.send(pick("processing-trickle"))
    fired = drained(origin, 2.5)
    origin.advance(2.5)
    assert status_lines(client.take()) == [102, 102, 102]
    assert client.state == "closed"
    lose_closed(origin)
    assert fired == [True]
    record = origin.record()
    assert record.outcome is Outcome.CLOSED
    assert timeline(record)[-1] == (2.5, "close", None, "shutdown: --shutdown-grace 2.5 s is over")


def test_a_head_completing_while_draining_gets_503(origin: MemoryOrigin) -> None:
    client = origin.connect()
    client.send(GET[:10])  # a head under way: not idle, so not closed at once
    fired = drained(origin, 5)
    assert client.state == "open"
    client.send(GET[10:])
    written = client.take()
    assert status_lines(written) == [503]
    assert written.endswith(b"503 Service Unavailable: fakeorigin is shutting down\n")
    lose_closed(origin)
    assert fired == [True]
    record = origin.record()
    assert (record.outcome, record.error, record.profile) == (
        Outcome.REFUSED,
        "fakeorigin is shutting down",
        None,
    )


def test_drain_aborts_what_does_not_close_a_second_after_the_grace(origin: MemoryOrigin) -> None:
    client = origin.connect()
    client.send(GET[:10])
    fired = drained(origin, 1)
    origin.advance(1)
    assert client.state == "closed"  # asked to close; this peer never completes it
    origin.advance(1)
    assert client.state == "aborted"
    lose_closed(origin)
    assert fired == [True]


def test_a_connection_accepted_while_draining_is_refused(origin: MemoryOrigin) -> None:
    keep: Client = origin.connect()
    keep.send(GET[:5])
    drained(origin, 5)
    late = origin.connect()
    assert late.state == "aborted"
    assert origin.factory.refused_connections == 1
    keep.lose()
    late.lose()


def test_drain_with_no_connection_fires_at_once(origin: MemoryOrigin) -> None:
    assert drained(origin, 5) == [True]
    assert origin.clock.getDelayedCalls() == []
