"""Listen on 127.0.0.1 port 0, print the ready line, run the reactor: the Twisted peers' edge."""

from __future__ import annotations

from typing import Any

import benchlib
from twisted.internet import reactor
from twisted.internet.address import IPv4Address


def serve(factory: Any, backlog: int) -> None:
    """Serve ``factory`` until SIGTERM.

    ``factory`` is ``Any``: ``listenTCP`` is annotated for a ``ServerFactory``, which neither
    twisted.web's ``Site`` nor autobahn's factory is declared as.
    """
    benchlib.raise_file_limit()
    port = reactor.listenTCP(0, factory, backlog=backlog, interface="127.0.0.1")
    address = port.getHost()
    assert isinstance(address, IPv4Address)
    benchlib.ready({"url": f"http://127.0.0.1:{address.port}"})
    reactor.run()
