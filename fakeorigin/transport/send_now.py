"""Write to a TCP connection at once when Twisted holds nothing back for it.

Twisted's ``transport.write`` only buffers: the bytes leave on the reactor's next pass
(``doWrite``), after an ``epoll_ctl`` to watch the socket for writability, a wake-up, a
dispatch, the ``send``, and one more ``epoll_ctl`` to stop watching. For a server that writes a
102 to 10,000 connections a second, or answers 25,000 requests a second, that round trip is a
large part of the reactor's work (bench/FINDINGS.md). So when the transport is a plain TCP
connection that is open, holds no bytes, has no producer but a streaming one (the origin's
own, which Twisted tells of a full buffer only through ``transport.write``) and is not closing,
the bytes are sent at once on its own socket, as ``doWrite`` would send them. Whatever the
socket does not take (a full send buffer), and the whole write on any error, go to
``transport.write`` as before: the order of bytes and Twisted's handling of a failed or lost
connection do not change.

Any other transport (TLS, UNIX sockets, the tests' in-memory ones) is written as usual. The
check reads attributes of Twisted's ``FileDescriptor`` that are not all public; if a Twisted
release lacks one, nothing is sent directly.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp

#: What is read of a transport to know that Twisted holds nothing back for it (some are set
#: by ``__init__``, so a connection's transport is looked at, once).
_STATE = (
    "connected",
    "disconnecting",
    "producer",
    "streamingProducer",
    "dataBuffer",
    "offset",
    "_tempDataLen",
    "_writeDisconnecting",
    "_writeDisconnected",
    "socket",
)
_available: list[bool] = []


def _has_state(transport: Any) -> bool:
    if not _available:
        _available.append(all(hasattr(transport, name) for name in _STATE))
    return _available[0]


def idle(transport: Any) -> bool:
    """True when ``transport`` is an open TCP connection with nothing buffered, no producer
    but a streaming one (the origin's own, for backpressure: with nothing buffered it is not
    paused) and no close under way: bytes sent on its socket now come in the right order."""
    return (
        type(transport) is tcp.Server
        and _has_state(transport)
        and bool(transport.connected)
        and not transport.disconnecting
        and (transport.producer is None or transport.streamingProducer)
        and transport._tempDataLen == 0
        and len(transport.dataBuffer) == transport.offset
        and not transport._writeDisconnecting
        and not transport._writeDisconnected
    )


def write(transport: Any, data: bytes) -> None:
    """Send ``data`` on ``transport``: at once if it is :func:`idle`, else (and whatever the
    socket did not take) through ``transport.write``."""
    if data and idle(transport):
        try:
            sent = transport.socket.send(data)
        except OSError:
            sent = 0  # a full buffer, or a failure Twisted reports when it writes
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)
