"""--idle-timeout: a connection that waits with no request under way is closed cleanly, and
nothing that runs is ever cut by it. In memory (task.Clock), then one real server."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests.control_process import serving
from tests.memory import MemoryOrigin
from tests.reliability.support import status_lines

IDLE = 10.0
GET = b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n"
HANDSHAKE = (
    b"GET /chat HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Fakeorigin-Profile: websocket-echo\r\n\r\n"
)


def pick(profile: str) -> bytes:
    return GET.replace(b"\r\n\r\n", f"\r\nFakeorigin-Profile: {profile}\r\n\r\n".encode())


@pytest.fixture
def origin() -> MemoryOrigin:
    memory = MemoryOrigin()
    memory.settings(idle_timeout_seconds=IDLE, max_duration_seconds=600.0)
    return memory


def test_a_silent_connection_is_closed_at_the_idle_timeout(origin: MemoryOrigin) -> None:
    client = origin.connect()
    origin.advance(IDLE - 0.01)
    assert client.state == "open"
    origin.advance(0.01)
    assert (client.state, client.take()) == ("closed", b"")  # a FIN, nothing written
    assert origin.factory.idle_closed_connections == 1
    assert origin.records() == []  # no request began: nothing to journal


def test_a_kept_connection_waits_from_its_last_response(origin: MemoryOrigin) -> None:
    client = origin.connect()
    origin.advance(5)
    client.send(GET)
    assert status_lines(client.take()) == [200]
    origin.advance(IDLE - 0.01)  # 15 s after the connection opened, 10 after the response
    assert client.state == "open"
    origin.advance(0.01)
    assert client.state == "closed"
    assert len(origin.clock.getDelayedCalls()) <= 1


@pytest.mark.parametrize(
    ("request_bytes", "why"),
    [
        (pick("hang"), "a hang waits for the client or --max-duration"),
        (pick("processing-trickle"), "a trickle of 102s runs for seconds"),
        (HANDSHAKE, "a WebSocket session"),
    ],
)
def test_nothing_that_runs_is_cut(origin: MemoryOrigin, request_bytes: bytes, why: str) -> None:
    client = origin.connect()
    client.send(request_bytes)
    origin.advance(IDLE * 3)
    assert client.state == "open", why
    assert origin.factory.idle_closed_connections == 0


def test_an_upload_the_profile_waits_for_is_not_cut(origin: MemoryOrigin) -> None:
    client = origin.connect()
    head = b"POST /up HTTP/1.1\r\nHost: example.test\r\nContent-Length: 4\r\n"
    client.send(head + b"Fakeorigin-Profile: default\r\n\r\nab")
    origin.advance(IDLE * 3)
    assert client.state == "open"
    client.send(b"cd")
    assert status_lines(client.take()) == [200]


def test_a_head_that_began_is_the_header_timeouts(origin: MemoryOrigin) -> None:
    origin.settings(idle_timeout_seconds=IDLE, header_timeout_seconds=IDLE * 2)
    client = origin.connect()
    client.send(b"GET / HTTP/1.1\r\n")
    origin.advance(IDLE * 1.5)
    assert client.state == "open"
    origin.advance(IDLE)
    assert status_lines(client.take()) == [408]
    assert origin.factory.idle_closed_connections == 0


@pytest.mark.realsocket
def test_a_real_server_closes_a_silent_connection_with_a_fin() -> None:
    with serving("--idle-timeout", "0.5") as served:
        begin = time.monotonic()
        with socket.create_connection(("127.0.0.1", served.origin_port), timeout=10) as sock:
            data = sock.recv(1024)  # b"" is a FIN; a reset would raise
            waited = time.monotonic() - begin
        assert data == b""
        assert 0.4 < waited < 5.0
        assert served.client().health()["connections"]["idle_closed"] == 1


# -- a profile's connection policy on a real socket --------------------------------------------


def _kept_then_late(port: int, pause: float) -> tuple[bytes, bytes, str]:
    """GET on a new connection, read the response, wait ``pause`` s, send a second GET on it,
    then read to the end: what each read got, and how the stream ended."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(GET)
        first = client.recv(65536)
        time.sleep(pause)
        client.sendall(GET)
        rest = b""
        try:
            while chunk := client.recv(65536):
                rest += chunk
            ended = "FIN"
        except ConnectionResetError:
            ended = "RST"
    return first, rest, ended


@pytest.mark.parametrize(
    ("policy", "pause", "ended"),
    [
        # The idle timer's FIN crosses the second request: journaled, no answer, FIN.
        ({"idle_timeout": 0.2}, 0.5, "FIN"),
        # Held until the request arrives, then an RST (nginx's kernel, as an origin).
        ({"idle_timeout": 0.2, "close_on_next_request": True, "late_request": "reset"}, 0.5, "RST"),
    ],
)
def test_a_request_that_meets_the_close_on_a_real_socket(
    tmp_path: Path, policy: dict[str, object], pause: float, ended: str
) -> None:
    steps = '[{respond: {status: 200, body: "kept\\n"}}]'
    fields = ", ".join(f"{key}: {json.dumps(value)}" for key, value in policy.items())
    (tmp_path / "kept.yaml").write_text(
        f"name: kept\nsteps: {steps}\nconnection: {{{fields}}}\n", encoding="utf-8"
    )
    with serving("--profiles", str(tmp_path), "--profile", "kept") as served:
        first, rest, how = _kept_then_late(served.origin_port, pause)
        assert status_lines(first) == [200]
        assert (rest, how) == (b"", ended)  # the second request was never answered
        records = served.client().journal()
        assert [(r["index"], r["outcome"]) for r in records] == [
            (1, "keep-alive"),
            (2, "closed" if ended == "FIN" else "reset"),
        ]
        assert records[1]["timeline"][-2]["event"] == "late-request"
        assert records[0]["connection_id"] == records[1]["connection_id"]
