"""A client that stops reading: the profile pauses on Twisted's write buffer (the origin is its
transport's streaming producer), carries on when the client reads again, and ends the exchange
after --stall-timeout, journaled ``stalled``. In memory with a transport that pushes back as a
TCP one does, then a real server whose memory is measured under non-reading clients."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.interfaces import IPushProducer

from fakeorigin.core.journal import Event, Outcome
from tests.control_process import serving
from tests.memory import MemoryOrigin, MemoryTransport

#: Twisted's write-buffer size (``FileDescriptor.bufferSize``): past it, the producer pauses.
BUFFER = 64 * 1024
BIG = 1 << 20
GET = b"GET /big HTTP/1.1\r\nHost: example.test\r\n\r\n"


class PushBackTransport(MemoryTransport):
    """Pauses its streaming producer when what the client has not read passes :data:`BUFFER`
    and resumes it once the client has read everything, as Twisted's TCP transport does."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False

    def write(self, data: bytes) -> None:
        super().write(data)  # type: ignore[no-untyped-call]
        if len(self.written()) > BUFFER and not self.paused and self.streaming:
            self.paused = True
            self.producer.pauseProducing()

    def read_all(self) -> bytes:
        data = self.take()
        if self.paused:
            self.paused = False
            self.producer.resumeProducing()
        return data


def connect(origin: MemoryOrigin) -> tuple[Any, PushBackTransport]:
    transport = PushBackTransport()
    protocol = origin.factory.buildProtocol(None)
    protocol.makeConnection(transport)  # type: ignore[no-untyped-call]
    return protocol, transport


@pytest.fixture
def origin() -> MemoryOrigin:
    memory = MemoryOrigin()
    memory.settings(stall_timeout_seconds=5.0)
    return memory


def test_the_origin_is_its_transports_streaming_producer(origin: MemoryOrigin) -> None:
    protocol, transport = connect(origin)
    assert IPushProducer.providedBy(protocol)
    assert (transport.producer, transport.streaming) == (protocol, True)


def test_a_large_body_waits_for_the_client_and_arrives_whole(origin: MemoryOrigin) -> None:
    origin.use({"respond": {"status": 200, "body_size": BIG}})
    protocol, transport = connect(origin)
    protocol.dataReceived(GET)
    first = transport.written()
    assert transport.paused
    assert len(first) <= 2 * BUFFER + 200  # the buffer, one piece past it, the head
    received = transport.read_all()
    reads = 1
    while transport.paused or transport.written():
        received += transport.read_all()
        reads += 1
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"Content-Length: 1048576" in head
    assert body == (b"0123456789abcdef" * (BIG // 16))
    assert reads >= BIG // (2 * BUFFER)
    assert origin.record().outcome is Outcome.KEEP_ALIVE


def test_a_client_that_reads_nothing_is_reset_at_the_stall_timeout(origin: MemoryOrigin) -> None:
    origin.use({"respond": {"status": 200, "body_size": BIG}})
    protocol, transport = connect(origin)
    protocol.dataReceived(GET)
    written = len(transport.written())
    origin.advance(4.9)
    assert (len(transport.written()), transport.state) == (written, "open")  # paused
    origin.advance(0.1)
    assert transport.state == "aborted"
    record = origin.record()
    assert record.outcome is Outcome.STALLED
    assert record.timeline[-1][:2] == (5.0, Event.STALLED)
    assert record.timeline[-1][3] == (
        "the client read nothing for 5 s while the response waited (--stall-timeout)"
    )
    assert not origin.clock.getDelayedCalls()


def test_reading_in_time_cancels_the_stall(origin: MemoryOrigin) -> None:
    origin.use({"respond": {"status": 200, "body_size": BIG}})
    protocol, transport = connect(origin)
    protocol.dataReceived(GET)
    for _ in range(3):
        origin.advance(4)
        transport.read_all()
    assert transport.state == "open"
    assert origin.record().outcome is not Outcome.STALLED


def test_a_trickle_to_a_client_that_reads_nothing_pauses_then_stalls(origin: MemoryOrigin) -> None:
    # A 102 every 10 ms, each with a 2 KiB header: the buffer is full after about 32 of them;
    # no more are written (the profile waits), then --stall-timeout ends it.
    hint = {"informational": {"status": 102, "headers": {"x-pad": "p" * 2048}}}
    origin.use(
        {"repeat": {"every": 0.01, "times": 10_000, "steps": [hint]}},
        {"respond": {"status": 200, "body": "done\n"}},
    )
    protocol, transport = connect(origin)
    protocol.dataReceived(GET)
    for _ in range(100):
        origin.advance(0.01)
    sent = transport.written().count(b"HTTP/1.1 102")
    assert 30 <= sent <= 40
    origin.advance(4)
    assert transport.written().count(b"HTTP/1.1 102") == sent  # none while paused
    origin.advance(1)
    assert transport.state == "aborted"
    assert origin.record().outcome is Outcome.STALLED


# -- a real server: memory under clients that read nothing ------------------------------------

BODY = 8 << 20
CLIENTS = 24


def _rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert found is not None
    return int(found.group(1))


@pytest.fixture
def quiet_clients() -> Iterator[list[socket.socket]]:
    clients: list[socket.socket] = []
    yield clients
    for client in clients:
        client.close()


@pytest.mark.realsocket
def test_non_reading_clients_cost_a_buffer_each_not_the_body(
    tmp_path: Path, quiet_clients: list[socket.socket]
) -> None:
    profile = tmp_path / "big.yaml"
    profile.write_text(
        f"name: big\nsteps:\n  - respond: {{status: 200, body_size: {BODY}}}\n", encoding="utf-8"
    )
    args = ["--profiles", str(tmp_path), "--profile", "big", "--stall-timeout", "3"]
    with serving(*args) as served:
        pid = served.process.pid
        first = socket.create_connection(("127.0.0.1", served.origin_port))
        quiet_clients.append(first)
        first.sendall(GET)  # builds the body once (it is cached with the profile)
        time.sleep(0.5)
        before = _rss_kib(pid)
        for _ in range(CLIENTS):
            client = socket.create_connection(("127.0.0.1", served.origin_port))
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.sendall(GET)
            quiet_clients.append(client)
        time.sleep(1.0)
        held = _rss_kib(pid)
        per_client = (held - before) / CLIENTS
        # Without backpressure each one held its own copy of the 8 MiB body in Twisted's
        # buffer: 8,192 KiB per client. Now: Twisted's buffer and one piece, and allocator slack.
        assert per_client < 1024, f"{per_client:.0f} KiB per non-reading client"
        time.sleep(3.0)  # --stall-timeout 3: every one is reset
        entries = served.client().journal(limit=100)
        outcomes = sorted(entry["outcome"] for entry in entries)
        assert outcomes == ["stalled"] * (CLIENTS + 1)
        served.assert_running()


@pytest.mark.realsocket
def test_a_close_while_paused_still_sends_its_fin(tmp_path: Path) -> None:
    # --max-duration ends the exchange while the profile is paused on a full buffer. Twisted
    # resumes a paused producer when its buffer drains instead of carrying out a close, so the
    # origin stops being the producer as it closes: else the FIN never went, and this client,
    # reading at last, waited for ever.
    profile = tmp_path / "big.yaml"
    profile.write_text(
        f"name: big\nsteps:\n  - respond: {{status: 200, body_size: {16 * BIG}}}\n",
        encoding="utf-8",
    )
    args = ["--profiles", str(tmp_path), "--profile", "big", "--max-duration", "1"]
    with serving(*args) as served:
        client = socket.create_connection(("127.0.0.1", served.origin_port), timeout=5)
        with client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            client.sendall(GET)
            time.sleep(1.5)  # paused, then cut by --max-duration
            received = b""
            while chunk := client.recv(65536):  # a timeout here: the FIN never came
                received += chunk
        assert 0 < len(received) < 16 * BIG
        [record] = served.client().journal()
        assert record["outcome"] == "max-duration"
