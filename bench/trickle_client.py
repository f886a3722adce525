"""The 102 timing client: N connections, each waiting for a trickle of interim responses.

Connection ``i`` of ``--connections N`` starts at ``i * spread / N`` seconds, sends one request
and counts the ``102`` heads that come back. Interim response ``k`` (from 0) is due ``k *
--every`` seconds after the request was sent (fakeorigin schedules it after the head is
parsed, so a server slow to accept or parse is late for every period). Its lateness is taken
twice:

- ``kernel``: when the kernel received it (``SO_TIMESTAMPNS``): what the wire saw, free of
  this client's own scheduling delay;
- ``user``: when this process read it; ``user - kernel`` is this client's own lateness;
- ``cadence`` (k >= 1): against the first 102's arrival instead of the request, which leaves
  out how late the server accepted and parsed: the timers' own precision.

``--h2``: the same over prior-knowledge h2c (RFC 9113 section 3.3): the connection preface,
an empty SETTINGS frame and the request's HEADERS go out at once; each interim response is a
HEADERS frame on stream 1, its field block decoded (hpack, one decoder per connection) for
``:status``.

``--timers-only`` opens no sockets: the same schedule as plain timers in the same kind of
loop, the client's own timer lateness without any network work.

One process, ``select.epoll`` and non-blocking sockets: no event-loop library in the way.
Prints one JSON line with summaries in milliseconds and exits.
"""

from __future__ import annotations

import argparse
import errno
import heapq
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import benchlib
from hpack import Decoder, Encoder

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
ANCILLARY = socket.CMSG_SPACE(16)
IN = select.EPOLLIN | select.EPOLLRDHUP
OUT = select.EPOLLOUT


@dataclass(slots=True)
class _Connection:
    sock: socket.socket
    sent: float = 0.0
    first: float = 0.0  # kernel arrival of the first interim response
    interims: int = 0
    buffer: bytes = b""
    decoder: Any = None  # HTTP/2: the connection's HPACK decoder


@dataclass
class _Results:
    kernel: list[float] = field(default_factory=list)
    user: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    later: list[float] = field(default_factory=list)
    cadence: list[float] = field(default_factory=list)
    client: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    ok: int = 0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def _kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack("qq", data[:16])
            return float(seconds + nanoseconds / 1e9)
    return None


class _Trickle:
    """One run: open the connections on schedule, read their interim responses."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.host, self.port = benchlib.host_port(args.url)
        self.request = (
            f"GET /trickle HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            + "".join(f"{h}\r\n" for h in args.header)
            + "\r\n"
        ).encode()
        if args.h2:
            self.request = _h2_request(self.host, self.port, args.header)
        self.poller = select.epoll()
        self.connections: dict[int, _Connection] = {}
        self.results = _Results()
        begin = time.time() + 0.05
        self.starts = [begin + args.spread * i / args.connections for i in range(args.connections)]
        self.deadline = begin + args.spread + args.periods * args.every + args.slack
        self.opened = 0

    def run(self) -> dict[str, object]:
        total = self.args.connections
        while self.opened < total or self.connections:
            if time.time() > self.deadline:
                self._give_up()
                break
            self._open_due()
            timeout = self.starts[self.opened] - time.time() if self.opened < total else 0.2
            for fd, events in self.poller.poll(max(0.0, min(timeout, 0.2))):
                connection = self.connections.get(fd)
                if connection is None:
                    continue
                if connection.sent == 0.0:
                    self._send(fd, connection)
                elif events & (IN | select.EPOLLERR | select.EPOLLHUP):
                    self._receive(fd, connection)
        self.poller.close()
        results = self.results
        return {
            "connections": total,
            "ok": results.ok,
            "errors": results.errors,
            "kernel_ms": benchlib.summarise(results.kernel),
            "user_ms": benchlib.summarise(results.user),
            "first_kernel_ms": benchlib.summarise(results.first),
            "later_kernel_ms": benchlib.summarise(results.later),
            "cadence_ms": benchlib.summarise(results.cadence),
            "client_ms": benchlib.summarise(results.client),
        }

    def _give_up(self) -> None:
        for fd in list(self.connections):
            self.results.error("timeout")
            self._finish(fd)
        if self.opened < self.args.connections:
            self.results.errors["not-started"] = self.args.connections - self.opened

    def _open_due(self) -> None:
        now = time.time()
        while self.opened < self.args.connections and self.starts[self.opened] <= now:
            self.opened += 1
            sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            code = sock.connect_ex((self.host, self.port))
            if code not in (0, errno.EINPROGRESS):
                self.results.error(errno.errorcode.get(code, str(code)))
                sock.close()
                continue
            self.connections[sock.fileno()] = _Connection(sock)
            self.poller.register(sock.fileno(), OUT)

    def _send(self, fd: int, connection: _Connection) -> None:
        problem = connection.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if problem:
            self.results.error(errno.errorcode.get(problem, str(problem)))
            self._finish(fd)
            return
        connection.sent = time.time()
        connection.sock.send(self.request)
        self.poller.modify(fd, IN)

    def _finish(self, fd: int) -> None:
        connection = self.connections.pop(fd)
        self.poller.unregister(fd)
        connection.sock.close()

    def _receive(self, fd: int, connection: _Connection) -> None:
        try:
            data, ancillary, _, _ = connection.sock.recvmsg(65536, ANCILLARY)
        except (ConnectionResetError, BrokenPipeError):
            self.results.error("reset")
            self._finish(fd)
            return
        except BlockingIOError:
            return
        now = time.time()
        if not data:
            self.results.error("closed-early")
            self._finish(fd)
            return
        arrived = _kernel_time(ancillary)
        connection.buffer += data
        statuses = _h2_statuses(connection) if self.args.h2 else _http1_statuses(connection)
        for status in statuses:
            if not 100 <= status < 200:
                self._final(fd, connection, status)
                return
            self._interim(connection, now, arrived)
            if connection.interims >= self.args.periods and not self.args.final:
                self.results.ok += 1
                self._finish(fd)
                return

    def _interim(self, connection: _Connection, now: float, arrived: float | None) -> None:
        results = self.results
        due = connection.sent + connection.interims * self.args.every
        user = (now - due) * 1000.0
        results.user.append(user)
        if arrived is not None:
            kernel = (arrived - due) * 1000.0
            results.kernel.append(kernel)
            results.client.append(user - kernel)
            if connection.interims == 0:
                connection.first = arrived
                results.first.append(kernel)
            else:
                results.later.append(kernel)
            if connection.first and connection.interims:
                # (a first 102 read without its timestamp leaves no reference to measure from)
                cadence_due = connection.first + connection.interims * self.args.every
                results.cadence.append((arrived - cadence_due) * 1000.0)
        connection.interims += 1

    def _final(self, fd: int, connection: _Connection, status: int) -> None:
        if connection.interims >= self.args.periods:
            self.results.ok += 1
        else:
            self.results.error(f"final-{status}-after-{connection.interims}-interims")
        self._finish(fd)


def _http1_statuses(connection: _Connection) -> list[int]:
    """The statuses of the complete response heads in the buffer (taken out of it)."""
    statuses = []
    while (end := connection.buffer.find(b"\r\n\r\n")) >= 0:
        head, connection.buffer = connection.buffer[:end], connection.buffer[end + 4 :]
        statuses.append(int(head[9:12]))
    return statuses


def _h2_request(host: str, port: int, headers: list[str]) -> bytes:
    """Preface, empty SETTINGS, and HEADERS (END_STREAM, END_HEADERS) on stream 1."""
    fields = [(":method", "GET"), (":path", "/trickle"), (":scheme", "http")]
    fields += [(":authority", f"{host}:{port}")]
    fields += [(h.split(":", 1)[0].strip().lower(), h.split(":", 1)[1].strip()) for h in headers]
    block = Encoder().encode(fields)
    settings = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    head = len(block).to_bytes(3, "big") + b"\x01\x05\x00\x00\x00\x01"
    return b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings + head + block


def _h2_statuses(connection: _Connection) -> list[int]:
    """The ``:status`` of each complete HEADERS frame on stream 1 in the buffer (frames taken
    out of it; every field block decoded, in order, to keep HPACK's table)."""
    if connection.decoder is None:
        connection.decoder = Decoder()
    statuses = []
    buffer = connection.buffer
    while len(buffer) >= 9:
        length = int.from_bytes(buffer[:3], "big")
        if len(buffer) < 9 + length:
            break
        kind, stream, payload = (
            buffer[3],
            int.from_bytes(buffer[5:9], "big"),
            buffer[9 : 9 + length],
        )
        buffer = buffer[9 + length :]
        if kind == 0x1 and stream == 1:
            fields = dict(connection.decoder.decode(payload))
            statuses.append(int(fields[":status"]))
    connection.buffer = buffer
    return statuses


def run_timers(args: argparse.Namespace) -> dict[str, object]:
    """The same schedule with no sockets: this loop's own timer lateness."""
    poller = select.epoll()
    begin = time.time() + 0.05
    due: list[tuple[float, int, int]] = [
        (begin + args.spread * i / args.connections, i, 0) for i in range(args.connections)
    ]
    heapq.heapify(due)
    lateness: list[float] = []
    while due:
        now = time.time()
        while due and due[0][0] <= now:
            when, index, period = heapq.heappop(due)
            lateness.append((now - when) * 1000.0)
            if period + 1 < args.periods:
                heapq.heappush(due, (when + args.every, index, period + 1))
        if due:
            poller.poll(max(0.0, due[0][0] - time.time()))
    poller.close()
    return {"timers": args.connections, "lateness_ms": benchlib.summarise(lateness)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=1.0, help="seconds to start them all")
    parser.add_argument("--every", type=float, default=1.0, help="the profile's period")
    parser.add_argument("--periods", type=int, default=10, help="interim responses to await")
    parser.add_argument("--final", action="store_true", help="then await the final response")
    parser.add_argument("--slack", type=float, default=20.0, help="seconds past the schedule")
    parser.add_argument("--header", action="append", default=[], help="extra request header")
    parser.add_argument("--h2", action="store_true", help="prior-knowledge h2c")
    parser.add_argument("--timers-only", action="store_true")
    args = parser.parse_args()
    benchlib.raise_file_limit()
    benchlib.ready(run_timers(args) if args.timers_only else _Trickle(args).run())


if __name__ == "__main__":
    main()
