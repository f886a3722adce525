"""The origin's listening sockets for ``--workers N``.

A TCP endpoint (``tcp:``, ``tcp6:``) gets N sockets bound to the same address with
``SO_REUSEPORT``, one per worker: the kernel spreads new connections over them by a hash of
each connection's addresses, so both workers get their share of a burst (one socket shared by
every worker gave a burst of 50 connections to whichever worker woke first: 4 and 46 in one
run, and the one with 4 idled). The parent keeps every socket open, so a worker that dies
and is started again takes over the same socket: connections that came meanwhile wait in its
backlog, none is refused. Any other endpoint (a UNIX socket) is one socket the workers share.
The endpoint string is read by Twisted's own parser (``serverFromString``), handed a stand-in
reactor that notes what ``listenTCP`` would be called with.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import Factory


@dataclass(frozen=True, slots=True)
class TCPListen:
    """What ``listenTCP`` would be called with for an endpoint string."""

    port: int
    backlog: int
    interface: str


class _Noting:
    """A stand-in reactor: notes a ``listenTCP`` call (any other kind of listen fails)."""

    def __init__(self) -> None:
        self.noted: TCPListen | None = None

    def listenTCP(  # noqa: N802 (Twisted API)
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> None:
        self.noted = TCPListen(port, backlog, interface)


def tcp_listen(description: str) -> TCPListen | None:
    """The port, backlog and interface of a TCP endpoint string; None for any other kind."""
    noting = _Noting()
    try:
        endpoint = serverFromString(noting, description)  # type: ignore[no-untyped-call]
        listening = endpoint.listen(Factory())
    except Exception:  # not a kind this stand-in can take: not TCP
        return None
    listening.addErrback(lambda _: None)
    return noting.noted


def reuseport_sockets(listen: TCPListen, count: int) -> list[socket.socket]:
    """``count`` listening sockets on the same address (``SO_REUSEPORT``); port 0 picks one
    port for all of them."""
    family = socket.AF_INET6 if ":" in listen.interface else socket.AF_INET
    made: list[socket.socket] = []
    port = listen.port
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            made.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((listen.interface, port))
            port = sock.getsockname()[1]
            sock.listen(listen.backlog)
            sock.setblocking(False)
    except BaseException:
        for sock in made:
            sock.close()
        raise
    return made
