"""The floor under fakeorigin's 102 timing: a bare Twisted ``Protocol`` trickling 102s.

On each request head it writes ``102 Processing`` at once and then every ``--every`` seconds,
``--times`` in all, each period scheduled against the head's arrival (as fakeorigin's
``repeat`` is), then a 200 at ``--times * --every`` seconds. No parsing beyond finding the
blank line, one ``callLater`` per period: what the reactor, the timers and the writes cost on
this machine. Prints one JSON line, ``{"url": "http://127.0.0.1:PORT"}``, once listening;
stops on SIGTERM.
"""

from __future__ import annotations

import argparse

import twisted_listen
from twisted.internet import reactor
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import Factory, Protocol

INTERIM = b"HTTP/1.1 102 Processing\r\n\r\n"
FINAL = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\ndone\n"


class Trickle(Protocol):
    times = 10
    every = 1.0

    def __init__(self) -> None:
        self.buffer = b""
        self.call: IDelayedCall | None = None

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 (Twisted API)
        self.buffer += data
        if self.call is None and b"\r\n\r\n" in self.buffer:
            self.buffer = self.buffer.split(b"\r\n\r\n", 1)[1]
            self.period(reactor.seconds(), 0)

    def period(self, start: float, index: int) -> None:
        self.call = None
        if index == self.times:
            self.transport.write(FINAL)  # type: ignore[union-attr]
            return
        self.transport.write(INTERIM)  # type: ignore[union-attr]
        due = start + (index + 1) * self.every
        self.call = reactor.callLater(
            max(0.0, due - reactor.seconds()), self.period, start, index + 1
        )

    def connectionLost(self, reason: object = None) -> None:  # noqa: N802 (Twisted API)
        if self.call is not None and self.call.active():
            self.call.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=1024)
    parser.add_argument("--times", type=int, default=10)
    parser.add_argument("--every", type=float, default=1.0)
    args = parser.parse_args()
    Trickle.times, Trickle.every = args.times, args.every
    factory = Factory.forProtocol(Trickle)
    factory.noisy = False
    twisted_listen.serve(factory, args.backlog)


if __name__ == "__main__":
    main()
