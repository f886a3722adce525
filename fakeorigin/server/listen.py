"""Wiring: listen on Twisted endpoint strings, report the bound URLs, stop cleanly.

Endpoints come from ``serverFromString``, so ``tcp:0``, ``tcp6:8080:interface=\\:\\:1``,
``unix:/tmp/fo.sock`` and ``ssl:8443:privateKey=...`` all work. Twisted's listen backlog default
of 50 overflows under a burst of connects, so a larger one is added where the endpoint type
takes one and the string does not set it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IReactorCore

DEFAULT_BACKLOG = 1024
_TAKES_BACKLOG = frozenset({"tcp", "tcp6", "ssl", "unix"})


def with_backlog(description: str, backlog: int) -> str:
    """Add ``:backlog=N`` to an endpoint string whose type takes it and that has none."""
    kind = description.split(":", 1)[0].lower()
    if kind in _TAKES_BACKLOG and "backlog=" not in description:
        return f"{description}:backlog={backlog}"
    return description


def endpoint_scheme(description: str) -> str:
    """``https`` for TLS endpoints, else ``http``."""
    return "https" if description.split(":", 1)[0].lower() == "ssl" else "http"


#: A wildcard bind is reachable on loopback: that is the address a URL can give.
_REACHABLE = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def port_url(scheme: str, port: IListeningPort) -> str:
    """The URL a client on this machine uses to reach ``port``, with the real bound port.

    ``http://127.0.0.1:8080``, ``http://[::1]:8080``, or ``unix:/path`` for a UNIX socket. A
    wildcard bind (``0.0.0.0``, ``::``) is given as its loopback address.
    """
    address = port.getHost()
    if isinstance(address, IPv4Address | IPv6Address):
        return address_url(scheme, address.host, address.port)
    if isinstance(address, UNIXAddress) and address.name is not None:
        name = address.name.decode() if isinstance(address.name, bytes) else address.name
        return f"unix:{name}"
    return str(address)


def address_url(scheme: str, host: str, port: int) -> str:
    """The URL of a bound address: ``http://127.0.0.1:8080``, ``http://[::1]:8080``; a
    wildcard (``0.0.0.0``, ``::``, or the empty host) as its loopback address."""
    host = _REACHABLE.get(host or "0.0.0.0", host)
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


@dataclass(frozen=True, slots=True)
class Listening:
    """The ports bound for one server and the URL of each."""

    ports: list[IListeningPort]
    urls: list[str]

    def beyond_loopback(self) -> list[str]:
        """The bound addresses (``0.0.0.0:8081``) of the ports other hosts can reach."""
        return [
            f"{address.host}:{address.port}"
            for address in (port.getHost() for port in self.ports)
            if isinstance(address, IPv4Address | IPv6Address)
            and not ipaddress.ip_address(address.host).is_loopback
        ]

    def stop(self) -> Deferred[list[None]]:
        """Stop listening on every port."""
        stopping = [port.stopListening() for port in self.ports]
        return gatherResults([d for d in stopping if d is not None])


async def listen(
    reactor: IReactorCore,
    descriptions: list[str],
    factory: IProtocolFactory,
    backlog: int,
    *,
    tls: bool = False,
) -> Listening:
    """Listen on every endpoint string; on any failure, close the ones already bound.

    With ``tls``, ``factory`` already speaks TLS (:func:`fakeorigin.server.tls.wrap`): the URLs are
    ``https``.
    """
    ports: list[IListeningPort] = []
    urls: list[str] = []
    try:
        for description in descriptions:
            endpoint = serverFromString(  # type: ignore[no-untyped-call]
                reactor, with_backlog(description, backlog)
            )
            port = await endpoint.listen(factory)
            ports.append(port)
            urls.append(port_url("https" if tls else endpoint_scheme(description), port))
    except BaseException:
        await Listening(ports, urls).stop()
        raise
    return Listening(ports, urls)
