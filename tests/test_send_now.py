"""Writing at once on an idle TCP connection (fakeorigin/transport/send_now.py), over real
sockets: the bytes arrive whole and in order whether they went out at once, partly, or through
Twisted's buffer; any other transport is written as usual."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.internet.testing import StringTransport

from fakeorigin.transport import send_now

pytestmark = pytest.mark.realsocket

#: More than a loopback socket's send buffer takes at once.
BIG = bytes(range(256)) * 40_000


class _Collect(Protocol):
    def __init__(self, expected: int, done: Deferred[bytes]) -> None:
        self.received = bytearray()
        self.expected, self.done = expected, done

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 (Twisted API)
        self.received += data
        if len(self.received) >= self.expected and not self.done.called:
            self.done.callback(bytes(self.received))


async def _pair(expected: int) -> tuple[Any, Deferred[bytes], Any]:
    from twisted.internet import reactor  # noqa: PLC0415

    accepted: Deferred[Any] = Deferred()

    class Server(Protocol):
        def connectionMade(self) -> None:  # noqa: N802 (Twisted API)
            accepted.callback(self.transport)

    server: Any = Factory.forProtocol(Server)
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    done: Deferred[bytes] = Deferred()
    client: Any = ClientFactory.forProtocol(lambda: _Collect(expected, done))
    connector = reactor.connectTCP("127.0.0.1", port.getHost().port, client)  # type: ignore[attr-defined]
    transport = await accepted
    await port.stopListening()  # type: ignore[misc]
    return transport, done, connector


@pytest_twisted.ensureDeferred
async def test_bytes_go_out_at_once_then_through_the_buffer_in_order() -> None:
    transport, done, connector = await _pair(4 + len(BIG) + 4)
    try:
        assert send_now.idle(transport)
        send_now.write(transport, b"head")
        assert (transport._tempDataLen, transport.dataBuffer) == (0, b"")  # sent at once
        send_now.write(transport, BIG)
        assert transport._tempDataLen > 0  # the socket took part; Twisted holds the rest
        assert not send_now.idle(transport)
        send_now.write(transport, b"tail")  # behind the rest, through the buffer
        assert await done == b"head" + BIG + b"tail"
    finally:
        connector.disconnect()


class _Producer:
    def pauseProducing(self) -> None:  # noqa: N802 (Twisted API)
        pass

    def resumeProducing(self) -> None:  # noqa: N802 (Twisted API)
        pass

    def stopProducing(self) -> None:  # noqa: N802 (Twisted API)
        pass


@pytest_twisted.ensureDeferred
async def test_a_streaming_producer_keeps_the_fast_path_a_pull_producer_does_not() -> None:
    # The origin is every connection's streaming producer (backpressure): with nothing
    # buffered, bytes still go out at once. A pull producer (a reset waiting for the flush)
    # means Twisted must see every byte.
    transport, done, connector = await _pair(4)
    try:
        transport.registerProducer(_Producer(), True)
        assert send_now.idle(transport)
        send_now.write(transport, b"head")
        assert (transport._tempDataLen, transport.dataBuffer) == (0, b"")  # sent at once
        assert await done == b"head"
        transport.unregisterProducer()
        transport.registerProducer(_Producer(), False)
        assert not send_now.idle(transport)
        transport.unregisterProducer()
    finally:
        connector.disconnect()


@pytest_twisted.ensureDeferred
async def test_a_closing_connection_is_written_as_usual() -> None:
    transport, _, connector = await _pair(1)
    try:
        transport.loseConnection()
        assert not send_now.idle(transport)
    finally:
        connector.disconnect()


def test_other_transports_are_written_as_usual() -> None:
    transport = StringTransport()  # type: ignore[no-untyped-call]
    assert not send_now.idle(transport)
    send_now.write(transport, b"x")
    assert transport.value() == b"x"  # type: ignore[no-untyped-call]
