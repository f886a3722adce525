"""The ceiling: a bare Twisted ``Protocol`` answering every request head with canned bytes.

No parsing beyond finding the blank line, no objects per request: what the reactor, the
syscalls and one ``transport.write`` cost per request on this machine. No HTTP server on
Twisted can beat it, so it bounds any ratio to twisted.web. ``/hang`` is not special here.
Prints one JSON line, ``{"url": "http://127.0.0.1:PORT"}``, once listening; stops on SIGTERM.
"""

from __future__ import annotations

import argparse

import twisted_listen
from twisted.internet.protocol import Factory, Protocol

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"


class Canned(Protocol):
    buffer = b""

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 (Twisted API)
        buffered = self.buffer + data
        heads = buffered.count(b"\r\n\r\n")
        if heads:
            self.transport.write(RESPONSE * heads)  # type: ignore[union-attr]
            buffered = buffered[buffered.rfind(b"\r\n\r\n") + 4 :]
        self.buffer = buffered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=1024)
    args = parser.parse_args()
    factory = Factory.forProtocol(Canned)
    factory.noisy = False
    twisted_listen.serve(factory, args.backlog)


if __name__ == "__main__":
    main()
