"""HTTP/2 in memory: the origin's connection handed to HTTP/2 by its first bytes, driven by the
``h2`` library as a client over a ``StringTransport`` (no sockets, no sleeps): fakeorigin's own
failures inside a stream reset that stream only, and are logged and journaled."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest

import fakeorigin.http2.session as session_module
from fakeorigin.core.engine import run_exchange
from fakeorigin.core.journal import INTERNAL_ERROR
from tests.memory import Client, MemoryOrigin
from tests.reliability.support import captured_logs


class H2Peer:
    """An h2 client talking to a memory connection."""

    def __init__(self, origin: MemoryOrigin) -> None:
        self.origin = origin
        self.client: Client = origin.connect()
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self.events: list[Any] = []
        self.flush()

    def flush(self) -> None:
        self.client.send(self.h2.data_to_send())
        self.events += self.h2.receive_data(self.client.take())

    def get(self, path: str) -> int:
        stream_id: int = self.h2.get_next_available_stream_id()
        headers = [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", "x")]
        self.h2.send_headers(stream_id, headers, end_stream=True)
        self.flush()
        return stream_id

    def statuses(self, stream_id: int) -> list[bytes]:
        return [
            dict(e.headers)[b":status"]
            for e in self.events
            if isinstance(e, h2.events.ResponseReceived) and e.stream_id == stream_id
        ]

    def reset(self, stream_id: int) -> Any:
        found = [
            e.error_code
            for e in self.events
            if isinstance(e, h2.events.StreamReset) and e.stream_id == stream_id
        ]
        return found[0] if found else None


def test_a_stream_is_served_in_memory() -> None:
    peer = H2Peer(MemoryOrigin())
    stream = peer.get("/")
    assert peer.statuses(stream) == [b"200"]
    [record] = peer.origin.records()
    assert (record.http_version, record.index, record.outcome.value) == ("2", 1, "keep-alive")


def test_a_failure_inside_a_stream_resets_it_and_the_connection_serves_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(profile: Any, view: Any, *args: Any) -> Generator[Any, None, None]:
        if view.request.target == b"/boom":
            raise RuntimeError("a bug in the engine")
        yield from run_exchange(profile, view, *args)

    monkeypatch.setattr(session_module, "run_exchange", broken)
    peer = H2Peer(MemoryOrigin())
    with captured_logs() as logs:
        boom = peer.get("/boom")
    assert peer.reset(boom) == h2.errors.ErrorCodes.INTERNAL_ERROR
    assert len(logs.failures) == 1
    assert "a bug in the engine" in logs.failures[0]
    fine = peer.get("/fine")
    assert peer.statuses(fine) == [b"200"]
    first, second = peer.origin.records()
    assert (first.outcome.value, first.error) == ("reset", INTERNAL_ERROR)
    assert second.outcome.value == "keep-alive"
