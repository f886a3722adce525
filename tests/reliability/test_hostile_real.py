"""The hostile corpus, a slowloris head and --max-connections over real sockets on 127.0.0.1.

The origin and its control API run in this test's reactor (port 0 each); the clients are raw
blocking sockets in a thread. After each hostile request: the answer is the corpus's status
with ``Connection: close`` and the server's FIN (or RST), the control API's ``/health`` says
ok, a normal request gets its 200, and once the clients are gone no connection is open and no
protocol has a timer pending. Nothing is logged at error level.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from fakeorigin.core.journal import Outcome
from tests.clients import Ended, RawReader, connect, raw_exchange, refused_at_once, wait_for
from tests.reliability.armed import HEADER_TIMEOUT, MAX_CONNECTIONS, Armed, armed
from tests.reliability.support import CORPUS, Hostile, refusal_head, status_lines

__all__ = ["armed"]  # the fixture

pytestmark = pytest.mark.realsocket


def health(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        assert response.status == 200
        document: dict[str, Any] = json.loads(response.read())
        return document


GET = b"GET /after HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize("case", list(CORPUS.values()), ids=list(CORPUS))
@pytest_twisted.ensureDeferred
async def test_hostile_request_on_a_real_socket(armed: Armed, case: Hostile) -> None:
    result = await deferToThread(raw_exchange, armed.port, case.data, read_seconds=5)
    assert status_lines(result.data) == [case.status], result.data
    assert b"\r\nConnection: close\r\n" in refusal_head(result.data)
    assert result.ended is not Ended.OPEN  # the server ended the connection
    assert (await deferToThread(health, armed.control_port))["status"] == "ok"
    after = await deferToThread(raw_exchange, armed.port, GET, read_seconds=5)
    assert status_lines(after.data) == [200]
    await armed.settle()
    assert armed.factory.connections == set()
    assert armed.pending_timers() == []
    refused, served = armed.state.journal
    assert refused.outcome is Outcome.BAD_REQUEST
    assert case.why in (refused.error or "")
    assert refused.raw_request is None or case.data.startswith(refused.raw_request)
    assert served.outcome is Outcome.CLOSED


def slowloris(port: int, head: bytes, every: float, for_seconds: float) -> tuple[float, bytes]:
    """Send ``head`` a byte every ``every`` s (never its end); when the answer came and what."""
    with connect(port) as sock:
        start = time.monotonic()
        reader = RawReader(sock, start)
        for index in range(len(head)):
            if time.monotonic() - start > for_seconds:
                break
            try:
                sock.sendall(head[index : index + 1])
            except OSError:
                break  # the server has closed: that is the point
            reader.read(every)
            if reader.result.ended is not Ended.OPEN:
                break
        reader.read(2.0)
        assert reader.result.arrivals, "no answer"
        return reader.result.arrivals[0].seconds, reader.result.data


@pytest_twisted.ensureDeferred
async def test_slowloris_head_gets_408_after_the_header_timeout(armed: Armed) -> None:
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 100
    answered_at, data = await deferToThread(slowloris, armed.port, head, 0.1, 3.0)
    # The clock runs from the first byte, whatever trickles in after it.
    assert HEADER_TIMEOUT - 0.1 <= answered_at <= HEADER_TIMEOUT + 0.5
    assert status_lines(data) == [408]
    assert b"\r\nConnection: close\r\n" in data
    await armed.settle()
    (record,) = armed.state.journal
    assert record.outcome is Outcome.BAD_REQUEST
    assert record.raw_request is not None
    assert head.startswith(record.raw_request)
    assert 5 <= len(record.raw_request) <= len(head)


def fill_then_one_more(
    port: int, count: int, open_now: Callable[[], int]
) -> tuple[list[Ended], bytes]:
    """Open ``count`` idle connections, then one more: how the extra one ended; then free one
    slot and make a request. ``open_now`` counts the connections the server has open."""
    sockets = [connect(port) for _ in range(count)]
    try:
        wait_for(lambda: open_now() == count)
        ended = refused_at_once(port, GET)
        sockets.pop().close()
        wait_for(lambda: open_now() < count)
        result = raw_exchange(port, GET, read_seconds=5)
        return [ended, result.ended], result.data
    finally:
        for sock in sockets:
            sock.close()


@pytest_twisted.ensureDeferred
async def test_connections_over_max_connections_are_refused_and_counted(armed: Armed) -> None:
    def open_now() -> int:  # read from the client's thread
        return len(armed.factory.connections)

    (refused, served), data = await deferToThread(
        fill_then_one_more, armed.port, MAX_CONNECTIONS, open_now
    )
    assert refused in (Ended.RESET, Ended.EOF)
    assert status_lines(data) == [200]
    assert served is Ended.EOF
    assert armed.factory.refused_connections == 1
    await armed.settle()
    warnings = [e for e in armed.logs.events if "refusing new connections" in e["log_format"]]
    assert [(e["open"], e["limit"]) for e in warnings] == [(MAX_CONNECTIONS, MAX_CONNECTIONS)]
    assert [r.target for r in armed.state.journal] == ["/after"]
