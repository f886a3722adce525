"""An HTTP/2 client on the ``h2`` library for the tests (tests/test_http2.py,
tests/test_workers.py): one connection, TLS with ALPN h2 or prior knowledge in cleartext,
every frame it receives kept per stream."""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events

from tests.control_process import CLIENT_SECONDS, Served


@dataclass
class Seen:
    """What one stream received, in order: ``("headers", status, fields)``,
    ``("data", bytes)``, ``("end",)``, ``("reset", code)``."""

    items: list[tuple[Any, ...]] = field(default_factory=list)

    def statuses(self) -> list[int]:
        return [item[1] for item in self.items if item[0] == "headers"]

    def body(self) -> bytes:
        return b"".join(item[1] for item in self.items if item[0] == "data")


class Client:
    """An HTTP/2 client on the ``h2`` library over one connection (TLS with ALPN h2, or
    prior knowledge in cleartext)."""

    def __init__(self, served: Served, *, tls: bool = False) -> None:
        raw = socket.create_connection(("127.0.0.1", served.origin_port), timeout=CLIENT_SECONDS)
        if tls:
            context = ssl.create_default_context(cafile=served.announce["ca"])
            context.set_alpn_protocols(["h2"])
            self.sock: socket.socket = context.wrap_socket(raw, server_hostname="localhost")
            assert self.sock.selected_alpn_protocol() == "h2"
        else:
            self.sock = raw
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self.streams: dict[int, Seen] = {}
        self.goaway: int | None = None
        self.closed = False
        self.acknowledge = True
        self._send()

    def _send(self) -> None:
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(
        self,
        path: str,
        profile: str | None = None,
        method: str = "GET",
        body: bytes | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        fields = [(":method", method), (":path", path), (":scheme", "http"), (":authority", "x")]
        if profile is not None:
            fields.append(("fakeorigin-profile", profile))
        fields += headers or []
        self.h2.send_headers(stream_id, fields, end_stream=body is None)
        self.streams[stream_id] = Seen()
        if body:  # b"": the head without END_STREAM, and no body yet
            self._send()
            self.send_body(stream_id, body)
        self._send()
        return stream_id

    def send_body(self, stream_id: int, body: bytes) -> None:
        """Send ``body`` as the windows allow, reading what comes meanwhile."""
        while body:
            window = self.h2.local_flow_control_window(stream_id)
            if window <= 0:
                self.read(0.2)
                continue
            chunk, body = body[: min(window, 16384)], body[min(window, 16384) :]
            self.h2.send_data(stream_id, chunk, end_stream=not body)
            self._send()

    def read(self, seconds: float) -> None:
        """Take frames for up to ``seconds`` (less once the connection closes)."""
        deadline = time.monotonic() + seconds
        while not self.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return
            if not data:
                self.closed = True
                return
            for event in self.h2.receive_data(data):
                self._event(event)
            self._send()

    def _event(self, event: Any) -> None:
        if isinstance(event, h2.events.ResponseReceived | h2.events.InformationalResponseReceived):
            headers = dict(event.headers)
            status = int(headers.pop(b":status"))
            self.streams[event.stream_id].items.append(("headers", status, headers))
        elif isinstance(event, h2.events.TrailersReceived):
            self.streams[event.stream_id].items.append(("trailers", dict(event.headers)))
        elif isinstance(event, h2.events.DataReceived):
            self.streams[event.stream_id].items.append(("data", event.data))
            if self.acknowledge:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            self.streams[event.stream_id].items.append(("end",))
        elif isinstance(event, h2.events.StreamReset):
            self.streams[event.stream_id].items.append(("reset", event.error_code))
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event.error_code

    def until_done(self, *stream_ids: int, seconds: float = 10) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.closed:
            if all(self._done(s) for s in stream_ids):
                return
            self.read(0.1)
        assert all(self._done(s) for s in stream_ids), self.streams

    def _done(self, stream_id: int) -> bool:
        return any(item[0] in ("end", "reset") for item in self.streams[stream_id].items)

    def close(self) -> None:
        self.sock.close()
