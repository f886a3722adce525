"""The probe's client: exact request bytes to the proxy, every byte of the answer with the time
it came, and a lenient reading of those bytes as HTTP/1.1 responses. Blocking sockets, no
Twisted: the probe is a command that runs one scenario at a time.

The reading is lenient on purpose: a proxy under test may send what a strict parser refuses,
and the probe must say what it sent rather than fail. Interim (1xx) responses are a status
line and header lines up to the blank line (RFC 9110 section 15.2); a final response's body
is framed by chunked coding, Content-Length or the connection's end (RFC 9112 section 6.3);
101 ends the HTTP part of the connection.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from enum import Enum

Header = tuple[str, str]

_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: ([^\r\n]*))?")


class Ending(Enum):
    """How the proxy's connection to the client ended, as the client saw it."""

    CLOSED = "closed"  # a FIN
    RESET = "reset"  # an RST
    OPEN = "open"  # still open when the client stopped reading


@dataclass(frozen=True, slots=True)
class Response:
    """One response the client received: an interim one or the final one.

    Attributes:
        status, reason, version: from the status line (version as ``1.1``).
        headers: the header fields in order and case.
        at: seconds from the start of the request to the response's first byte.
        body: the final response's body as framed (empty for an interim response).
        complete: the body arrived whole as its framing announced.
    """

    status: int
    reason: str
    version: str
    headers: tuple[Header, ...]
    at: float
    body: bytes = b""
    complete: bool = True

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for n, v in self.headers if n.lower() == wanted), None)

    @property
    def interim(self) -> bool:
        return 100 <= self.status < 200 and self.status != 101


@dataclass(slots=True)
class Exchange:
    """What the client sent and received.

    Attributes:
        received: every byte the proxy sent, in order.
        chunks: (seconds from the start, bytes) for each read.
        responses: the responses read from ``received`` (interim ones, then the final one).
        ending: how the connection ended.
        body_sent_at: seconds from the start when the request body went out (None: no body
            or never sent).
        garbage: bytes after the responses that are no response (or an unparsable start).
        after: what the client read after it sent ``then`` on the same connection (a second
            request's answer, WebSocket frames after a 101).
    """

    received: bytes = b""
    chunks: list[tuple[float, bytes]] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    ending: Ending = Ending.OPEN
    body_sent_at: float | None = None
    garbage: bytes = b""
    after: bytes = b""

    @property
    def interims(self) -> list[Response]:
        return [r for r in self.responses if r.interim]

    @property
    def final(self) -> Response | None:
        finals = [r for r in self.responses if not r.interim]
        return finals[0] if finals else None


def _at(chunks: list[tuple[float, bytes]], offset: int) -> float:
    """When the byte at ``offset`` of the concatenated chunks arrived."""
    seen = 0
    for at, data in chunks:
        seen += len(data)
        if offset < seen:
            return at
    return chunks[-1][0] if chunks else 0.0


def _headers(block: bytes) -> tuple[Header, ...]:
    fields = []
    for line in block.split(b"\r\n"):
        name, colon, value = line.partition(b":")
        if colon:
            fields.append((name.decode("latin-1"), value.strip().decode("latin-1")))
    return tuple(fields)


def _chunked(data: bytes) -> tuple[bytes, bool, int]:
    """The body of chunked ``data``, whether it ended with the last chunk, and bytes used."""
    body, position = b"", 0
    while True:
        end = data.find(b"\r\n", position)
        if end < 0:
            return body, False, len(data)
        size_text = data[position:end].split(b";")[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return body, False, len(data)
        if size == 0:
            trailer_end = data.find(b"\r\n\r\n", end)
            if data[end : end + 4] == b"\r\n\r\n":
                return body, True, end + 4
            if trailer_end < 0:
                return body, False, len(data)
            return body, True, trailer_end + 4
        start = end + 2
        body += data[start : start + size]
        if len(data) < start + size + 2:
            return body, False, len(data)
        position = start + size + 2


def parse(
    chunks: list[tuple[float, bytes]], *, head_request: bool = False, closed: bool = False
) -> Exchange:
    """Read ``chunks`` (what the client received, with times) as responses; ``closed``: the
    proxy has closed the connection (a body framed by the close is then complete)."""
    data = b"".join(c for _, c in chunks)
    exchange = Exchange(received=data, chunks=chunks)
    position = 0
    while position < len(data):
        end = data.find(b"\r\n\r\n", position)
        match = _STATUS_LINE.match(data, position)
        if match is None or end < 0:
            exchange.garbage = data[position:]
            return exchange
        status = int(match.group(3))
        version = f"{match.group(1).decode()}.{match.group(2).decode()}"
        line_end = data.find(b"\r\n", position)
        headers = _headers(data[line_end + 2 : end])
        reason = (match.group(4) or b"").decode("latin-1")
        at = _at(chunks, position)
        position = end + 4
        if (100 <= status < 200 and status != 101) or status == 101:
            exchange.responses.append(Response(status, reason, version, headers, at))
            if status == 101:  # what follows is not HTTP
                exchange.garbage = data[position:]
                return exchange
            continue
        names = {n.lower(): v for n, v in headers}
        if head_request or status in (204, 304):
            body, complete, used = b"", True, 0
        elif "chunked" in names.get("transfer-encoding", "").lower():
            body, complete, used = _chunked(data[position:])
        elif names.get("content-length", "").strip().isdigit():
            length = int(names["content-length"])
            body = data[position : position + length]
            complete, used = len(body) == length, len(body)
        else:  # until the connection's end
            body, used, complete = data[position:], len(data) - position, closed
        exchange.responses.append(Response(status, reason, version, headers, at, body, complete))
        exchange.garbage = data[position + used :]
        return exchange
    return exchange


def send(
    host: str,
    port: int,
    head: bytes,
    body: bytes = b"",
    *,
    body_after_100: float | None = None,
    read_seconds: float = 5.0,
    head_request: bool = False,
    then: bytes = b"",
    then_seconds: float = 2.0,
) -> Exchange:
    """Send ``head`` (and ``body``) to ``host:port`` and read until the final response is
    complete, the proxy ends the connection, or ``read_seconds`` pass (a connection the
    proxy keeps open after a complete response is left ``open``).

    With ``body_after_100``, the body waits for a ``100 Continue`` for at most that many
    seconds (what curl and most clients do with ``Expect: 100-continue``), and is not sent at
    all when a final response comes first. ``then``: bytes sent on the same connection once
    the final response is complete (a second request, a WebSocket frame; after the body, if
    the request announced one it had not sent), and what comes back read for
    ``then_seconds`` at most (until the answer is there, the close, or the time).
    """
    start = time.monotonic()
    chunks: list[tuple[float, bytes]] = []
    ending = Ending.OPEN
    body_sent_at: float | None = None
    with socket.create_connection((host, port), timeout=read_seconds) as sock:
        sock.sendall(head)
        if body and body_after_100 is None:
            sock.sendall(body)
            body_sent_at = time.monotonic() - start
        while True:
            now = time.monotonic() - start
            parsed = parse(chunks, head_request=head_request)
            final = parsed.final
            waiting_body = bool(body) and body_sent_at is None and final is None
            if waiting_body and (
                any(r.status == 100 for r in parsed.interims) or now >= (body_after_100 or 0.0)
            ):
                sock.sendall(body)
                body_sent_at, waiting_body = now, False
            if final is not None and final.complete:
                break
            if now >= read_seconds:
                break
            limit = read_seconds - now
            if waiting_body:
                limit = min(limit, (body_after_100 or 0.0) - now)
            sock.settimeout(max(0.01, limit))
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                ending = Ending.RESET
                break
            if not data:
                ending = Ending.CLOSED
                break
            chunks.append((time.monotonic() - start, data))
        if then and ending is Ending.OPEN:
            # A body the request announced but never sent goes first: without it the
            # connection is out of step (the next bytes would be read as that body).
            unsent = body if body and body_sent_at is None else b""
            after = _then(sock, unsent + then, then_seconds)
        else:
            after = b""
    exchange = parse(chunks, head_request=head_request, closed=ending is Ending.CLOSED)
    exchange.ending = ending
    exchange.body_sent_at = body_sent_at
    exchange.after = after
    return exchange


def _then(sock: socket.socket, data: bytes, seconds: float) -> bytes:
    """Send ``data``, then read for ``seconds`` at most: until a complete response (or a
    first frame, for a WebSocket) is there, or the connection ends."""
    try:
        sock.sendall(data)
    except OSError:
        return b""
    received = b""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            piece = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not piece:
            break
        received += piece
        answer = parse([(0.0, received)]).final
        if (answer is not None and answer.complete) or (received and received[0] & 0x80):
            break
    return received
