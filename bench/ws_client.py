"""The WebSocket echo client: C connections, each sending a text message and awaiting its echo.

Each connection does the opening handshake (RFC 6455 section 4.1), then, once all are open,
keeps exactly one ``--size``-byte text message in flight for ``--seconds``: send (masked, as
a client must), read the echo, send the next. Prints one JSON line: messages per second
(echoes received / seconds) and the round-trip summary in milliseconds.

One process, ``select.epoll`` and pre-built frames: the client costs little per message, so
the server is what is measured.
"""

from __future__ import annotations

import argparse
import base64
import os
import select
import socket
import time
from typing import Any

import benchlib

IN = select.EPOLLIN | select.EPOLLRDHUP


def frame(payload: bytes) -> bytes:
    """A masked, final text frame (payloads under 126 bytes)."""
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def handshake(host: str, port: int, path: str, header: list[str]) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=30)
    key = base64.b64encode(os.urandom(16)).decode()
    extra = "".join(f"{h}\r\n" for h in header)
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"{extra}\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError(f"closed during the handshake: {answer!r}")
        answer += data
    if not answer.startswith(b"HTTP/1.1 101"):
        status_line = answer.split(b"\r\n", 1)[0]
        raise ConnectionError(f"no 101: {status_line!r}")
    if answer.split(b"\r\n\r\n", 1)[1]:
        raise ConnectionError("data after the 101 before any message")
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def echo_loop(
    sockets: list[socket.socket], message: bytes, size: int, seconds: float
) -> dict[str, Any]:
    """Keep one message in flight per socket for ``seconds``; round trips in ms."""
    echo_length = 2 + size
    by_fd = {sock.fileno(): sock for sock in sockets}
    buffers = dict.fromkeys(by_fd, b"")
    sent_at: dict[int, float] = {}
    poller = select.epoll()
    rtts: list[float] = []
    errors = 0
    start = time.perf_counter()
    end = start + seconds
    for fd, sock in by_fd.items():
        poller.register(fd, IN)
        sent_at[fd] = time.perf_counter()
        sock.send(message)
    while by_fd and (now := time.perf_counter()) < end:
        for fd, _ in poller.poll(end - now):
            sock = by_fd[fd]
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                errors += 1
                poller.unregister(fd)
                del by_fd[fd]
                continue
            buffered = buffers[fd] + data
            while len(buffered) >= echo_length:
                if buffered[0] != 0x81 or buffered[1] != size:
                    raise ConnectionError(f"unexpected frame {buffered[:2]!r}")
                buffered = buffered[echo_length:]
                received = time.perf_counter()
                rtts.append((received - sent_at[fd]) * 1000.0)
                sent_at[fd] = received
                sock.send(message)
            buffers[fd] = buffered
    elapsed = time.perf_counter() - start
    poller.close()
    return {
        "clients": len(sockets),
        "messages_per_second": len(rtts) / elapsed,
        "rtt_ms": benchlib.summarise(rtts),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    benchlib.raise_file_limit()
    host, port = benchlib.host_port(args.url)
    sockets = [handshake(host, port, args.path, args.header) for _ in range(args.clients)]
    try:
        result = echo_loop(sockets, frame(b"m" * args.size), args.size, args.seconds)
    finally:
        for sock in sockets:
            sock.close()
    benchlib.ready(result)


if __name__ == "__main__":
    main()
