"""Hold N connections open, each with a request the server never answers.

Opens ``--connections N`` sockets (at most ``--parallel`` connects in flight), sends one
request on each (``GET /hang``), then prints ``{"holding": N, "errors": {...}}`` and holds them
until a line (or EOF) arrives on stdin or ``--max-seconds`` pass. It then reports what the
server did meanwhile (``server_closed``: connections the server closed, ``server_sent``:
connections it wrote to) in a second JSON line, closes everything and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import select
import socket
import sys
import time

import benchlib

IN = select.EPOLLIN | select.EPOLLRDHUP


class _Holder:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.host, self.port = benchlib.host_port(args.url)
        self.request = f"GET {args.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n"
        self.poller = select.epoll()
        self.pending: dict[int, socket.socket] = {}
        self.held: dict[int, socket.socket] = {}
        self.errors: dict[str, int] = {}
        self.deadline = time.monotonic() + args.max_seconds

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def connect_all(self) -> None:
        opened = 0
        total, parallel = self.args.connections, self.args.parallel
        while (opened < total or self.pending) and time.monotonic() < self.deadline:
            while opened < total and len(self.pending) < parallel:
                opened += 1
                self._connect()
            for fd, _ in self.poller.poll(0.5):
                self._connected(fd)
        for fd, sock in self.pending.items():
            self.error("connect-timeout")
            self.poller.unregister(fd)
            sock.close()
        self.pending.clear()

    def _connect(self) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setblocking(False)
        code = sock.connect_ex((self.host, self.port))
        if code not in (0, errno.EINPROGRESS):
            self.error(errno.errorcode.get(code, str(code)))
            sock.close()
            return
        self.pending[sock.fileno()] = sock
        self.poller.register(sock.fileno(), select.EPOLLOUT)

    def _connected(self, fd: int) -> None:
        sock = self.pending.pop(fd)
        problem = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if problem:
            self.error(errno.errorcode.get(problem, str(problem)))
            self.poller.unregister(fd)
            sock.close()
            return
        sock.send(self.request.encode())
        self.held[fd] = sock
        self.poller.modify(fd, IN)

    def hold(self) -> dict[str, int]:
        """Until stdin has a line or EOF: count what the server does to the held connections."""
        stdin = sys.stdin.fileno()
        # stdin a file or /dev/null (run by hand): epoll refuses it; hold until --max-seconds.
        with contextlib.suppress(PermissionError):
            self.poller.register(stdin, select.EPOLLIN | select.EPOLLHUP)
        closed = sent = 0
        waiting = True
        while waiting and time.monotonic() < self.deadline:
            for fd, _ in self.poller.poll(0.5):
                if fd == stdin:
                    waiting = False
                    continue
                sock = self.held.pop(fd)
                self.poller.unregister(fd)
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                sent, closed = (sent + 1, closed) if data else (sent, closed + 1)
                sock.close()
        still = len(self.held)
        for sock in self.held.values():
            sock.close()
        self.poller.close()
        return {"server_closed": closed, "server_sent": sent, "still_held": still}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=500)
    parser.add_argument("--path", default="/hang")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args()
    benchlib.raise_file_limit()
    holder = _Holder(args)
    holder.connect_all()
    benchlib.ready({"holding": len(holder.held), "errors": holder.errors})
    benchlib.ready(holder.hold())


if __name__ == "__main__":
    main()
