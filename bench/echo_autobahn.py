"""A bare autobahn WebSocket echo server on Twisted: the peer of fakeorigin's echo.

Prints one JSON line, ``{"url": "http://127.0.0.1:PORT"}``, once listening; stops on SIGTERM.
"""

from __future__ import annotations

import argparse

import twisted_listen
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol


class Echo(WebSocketServerProtocol):
    def onMessage(self, payload: bytes, isBinary: bool) -> None:  # noqa: N802, N803 (autobahn API)
        self.sendMessage(payload, isBinary)  # type: ignore[no-untyped-call]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backlog", type=int, default=1024)
    args = parser.parse_args()
    factory = WebSocketServerFactory()  # type: ignore[no-untyped-call]
    factory.protocol = Echo
    twisted_listen.serve(factory, args.backlog)


if __name__ == "__main__":
    main()
