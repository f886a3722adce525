"""What a connection costs the server: held, and with a client that reads nothing.

    python bench/connection_memory.py                    # this checkout
    python bench/connection_memory.py --source ../old    # another checkout, e.g. fbf1c48

1. *held, in memory*: 5,000 connections to fakeorigin's in-memory harness (tests/memory.py)
   each send a request the ``hang`` profile holds; ``tracemalloc`` measures the bytes they
   added, per connection (the protocol, its exchange and record, the test transport).
2. *not reading, real server*: a ``fakeorigin serve`` whose profile answers 8 MiB; N clients
   (default 24 and 100) with a 4 KiB receive buffer send the request and read nothing; the
   server's RSS (/proc/PID/status) before and 1.5 s after, per client.

Prints one JSON line. bench/FINDINGS.md and docs/reliability.md quote its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

GET = b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
BODY = 8 << 20


def held_in_memory(connections: int) -> float:
    """Bytes per connection held by the ``hang`` profile, in memory."""
    from tests.memory import MemoryOrigin  # noqa: PLC0415 (after --source is on the path)

    origin = MemoryOrigin()
    origin.state.active = "hang"
    warm = [origin.connect() for _ in range(100)]
    for client in warm:
        client.send(GET)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    clients = [origin.connect() for _ in range(connections)]
    for client in clients:
        client.send(GET)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    return sum(stat.size_diff for stat in after.compare_to(before, "filename")) / connections


def _rss_kib(pid: int) -> int:
    found = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    assert found is not None
    return int(found.group(1))


def not_reading(source: Path, clients: int) -> dict[str, Any]:
    """RSS of a real server before and after ``clients`` that read none of an 8 MiB body."""
    profiles = Path(tempfile.mkdtemp())
    (profiles / "big.yaml").write_text(
        f"name: big\nsteps:\n  - respond: {{status: 200, body_size: {BODY}}}\n"
    )
    env = dict(os.environ, PYTHONPATH=str(source))
    argv = [sys.executable, "-m", "fakeorigin", "serve", "--announce", "--control", "none"]
    argv += ["--listen", "tcp:0:interface=127.0.0.1", "--profiles", str(profiles)]
    server = subprocess.Popen(
        [*argv, "--profile", "big"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=source,
    )
    sockets: list[socket.socket] = []
    try:
        assert server.stdout is not None
        port = int(json.loads(server.stdout.readline())["origin"][0].rsplit(":", 1)[1])
        first = socket.create_connection(("127.0.0.1", port))  # the body is made once
        first.sendall(GET)
        sockets.append(first)
        time.sleep(0.5)
        before = _rss_kib(server.pid)
        for _ in range(clients):
            client = socket.create_connection(("127.0.0.1", port))
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.sendall(GET)
            sockets.append(client)
        time.sleep(1.5)
        held = _rss_kib(server.pid)
    finally:
        for each in sockets:
            each.close()
        server.terminate()
        server.wait(10)
    return {
        "clients": clients,
        "rss_mib_before": round(before / 1024, 1),
        "rss_mib_after": round(held / 1024, 1),
        "kib_per_client": round((held - before) / clients),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--held", type=int, default=5000)
    parser.add_argument("--clients", default="24,100")
    args = parser.parse_args()
    source = args.source.resolve()
    sys.path.insert(0, str(source))
    result = {
        "source": str(source),
        "held_bytes_per_connection": round(held_in_memory(args.held)),
        "not_reading": [not_reading(source, int(n)) for n in args.clients.split(",")],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
