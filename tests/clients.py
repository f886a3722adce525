"""Blocking HTTP clients that no one here wrote, for the real-socket tests.

- :func:`curl`: the curl binary in a subprocess; ``-i`` output keeps every interim response
  byte for byte, and ``-w '%{json}'`` gives its status, timings and exit code.
- :class:`H11Client`: h11's client role over a blocking socket; it parses 1xx responses into
  events (Twisted's client drops them).
- :func:`raw_exchange` and :class:`RawReader`: exact bytes out, every arrival in with its time,
  and how the connection ended (FIN, RST, or still open).

Everything here blocks: the origin under test runs in the test's reactor, so tests call these
in a thread (``await deferToThread(...)``). Every socket has a timeout; loopback only.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import h11

HOST = "127.0.0.1"
#: No client call may block longer than this.
TIMEOUT_SECONDS = 10.0

_WRITE_OUT_MARKER = b"\n<<curl-write-out>>"


# -- raw sockets ----------------------------------------------------------------------------


class Ended(Enum):
    """How the server left a connection, as the client saw it."""

    EOF = "eof"  # recv returned b"": a FIN
    RESET = "reset"  # recv raised ConnectionResetError: an RST
    OPEN = "open"  # still open when the client stopped reading


@dataclass(frozen=True, slots=True)
class Arrival:
    """Bytes from one ``recv`` and when they came, in seconds since the request was sent."""

    seconds: float
    data: bytes


@dataclass(slots=True)
class RawResult:
    """Everything a raw client received, piece by piece, and how the connection ended."""

    arrivals: list[Arrival] = field(default_factory=list)
    ended: Ended = Ended.OPEN
    ended_at: float | None = None

    @property
    def data(self) -> bytes:
        """All bytes received, in order."""
        return b"".join(arrival.data for arrival in self.arrivals)

    def time_of(self, needle: bytes, occurrence: int = 0) -> float:
        """When the ``occurrence``-th (from 0) copy of ``needle`` had fully arrived."""
        data = self.data
        start = -1
        for _ in range(occurrence + 1):
            start = data.find(needle, start + 1)
            if start < 0:
                raise AssertionError(f"{needle!r} #{occurrence} not received in {data!r}")
        return self.time_at_offset(start + len(needle))

    def time_at_offset(self, end: int) -> float:
        """When the first ``end`` bytes had arrived."""
        received = 0
        for arrival in self.arrivals:
            received += len(arrival.data)
            if received >= end:
                return arrival.seconds
        raise AssertionError(f"only {received} bytes received, wanted {end}")


def connect(port: int, timeout: float = TIMEOUT_SECONDS) -> socket.socket:
    """A blocking TCP connection to the origin on loopback, with a timeout on every call."""
    sock = socket.create_connection((HOST, port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


class RawReader:
    """Reads a socket until FIN, RST or a deadline, timing every arrival from ``start``."""

    def __init__(self, sock: socket.socket, start: float) -> None:
        self.sock = sock
        self.start = start
        self.result = RawResult()

    def now(self) -> float:
        """Seconds since ``start``."""
        return time.monotonic() - self.start

    def read(self, seconds: float, *, until: bytes | None = None) -> RawResult:
        """Read for up to ``seconds`` more, or until the connection ends, or ``until`` is in.

        Reading stops early at FIN or RST; with ``until``, once the received data contains it.
        """
        deadline = time.monotonic() + seconds
        while self.result.ended is Ended.OPEN:
            if until is not None and until in self.result.data:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionResetError:
                self.result.ended, self.result.ended_at = Ended.RESET, self.now()
                break
            if not data:
                self.result.ended, self.result.ended_at = Ended.EOF, self.now()
                break
            self.result.arrivals.append(Arrival(self.now(), data))
        self.sock.settimeout(TIMEOUT_SECONDS)
        return self.result


def raw_exchange(
    port: int, request: bytes, *, read_seconds: float = 5.0, shut_write: bool = False
) -> RawResult:
    """Send ``request`` in one ``sendall``; read until FIN/RST or ``read_seconds``; close.

    With ``shut_write``, half-close (FIN) right after the request, as ``nc -N`` does.
    """
    with connect(port) as sock:
        sock.sendall(request)
        start = time.monotonic()
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        return RawReader(sock, start).read(read_seconds)


def refused_at_once(port: int, request: bytes) -> Ended:
    """How a connection the server resets as soon as it accepts it ends for a client that
    sends ``request``: the reset can even come back before ``connect`` returns."""
    try:
        sock = connect(port)
    except ConnectionResetError:
        return Ended.RESET
    with sock:
        reader = RawReader(sock, time.monotonic())
        with contextlib.suppress(OSError):  # reset before or while sending: refused too
            sock.sendall(request)
        return reader.read(2.0).ended


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll ``condition`` (it reads the server's state, from this thread or over its API)
    until it holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the server did not get there in time"
        time.sleep(0.01)


# -- h11 --------------------------------------------------------------------------------------


@dataclass(slots=True)
class H11Response:
    """One response as h11 parsed it, with the arrival time of each part.

    Times are seconds since the request head was sent.
    """

    informational: list[tuple[float, h11.InformationalResponse]] = field(default_factory=list)
    response: h11.Response | None = None
    response_at: float | None = None
    body: bytes = b""
    complete_at: float | None = None

    @property
    def status(self) -> int:
        assert self.response is not None, "no final response"
        return self.response.status_code

    def header(self, name: bytes) -> list[bytes]:
        """Every value of the response header ``name`` (h11 gives names lower-cased)."""
        assert self.response is not None, "no final response"
        return [value for key, value in self.response.headers if key == name.lower()]


class H11Client:
    """h11's client role over one blocking socket: keep-alive, Expect: 100-continue, 1xx."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = connect(port)
        self.conn = h11.Connection(h11.CLIENT)

    def __enter__(self) -> H11Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def _send(self, event: h11.Event) -> None:
        data = self.conn.send(event)
        if data:
            self.sock.sendall(data)

    def _next_event(self) -> h11.Event:
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(self.sock.recv(65536))
                continue
            assert isinstance(event, h11.Event), f"unexpected h11 state {event!r}"
            return event

    def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        *,
        wait_for_continue: bool = False,
    ) -> H11Response:
        """One request/response; with ``wait_for_continue`` the body goes only after a 1xx/100.

        ``Host`` is added, and ``Content-Length`` when there is a body. If the final response
        comes before the 100, the body is not sent (and the connection cannot be reused).
        """
        all_headers = [("Host", f"{HOST}:{self.port}"), *headers]
        if body is not None:
            all_headers.append(("Content-Length", str(len(body))))
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        self._send(h11.Request(method=method, target=target, headers=all_headers))
        start = time.monotonic()
        result = H11Response()
        body_sent = body is None
        if body is None:
            self._send(h11.EndOfMessage())
        elif not wait_for_continue:
            self._send(h11.Data(data=body))
            self._send(h11.EndOfMessage())
            body_sent = True
        while True:
            event = self._next_event()
            now = time.monotonic() - start
            if isinstance(event, h11.InformationalResponse):
                result.informational.append((now, event))
                if event.status_code == 100 and not body_sent:
                    assert body is not None
                    self._send(h11.Data(data=body))
                    self._send(h11.EndOfMessage())
                    body_sent = True
            elif isinstance(event, h11.Response):
                result.response, result.response_at = event, now
            elif isinstance(event, h11.Data):
                result.body += event.data
            elif isinstance(event, h11.EndOfMessage):
                result.complete_at = now
                return result
            else:
                raise AssertionError(f"unexpected h11 event {event!r}")


# -- curl -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CurlResult:
    """What curl printed: ``output`` (stdout, with ``-i`` the heads too) and its write-out.

    Attributes:
        exit_code: curl's exit code (0 ok, 18 partial file, 28 timeout, 52 empty reply,
            56 receive failure, ...).
        output: stdout without the write-out.
        stderr: curl's error message, if any.
        info: ``-w '%{json}'``: ``http_code``, ``time_total``, ``size_upload``, ``errormsg``...
    """

    exit_code: int
    output: bytes
    stderr: str
    info: dict[str, Any]

    @property
    def http_code(self) -> int:
        return int(self.info["http_code"])

    @property
    def seconds(self) -> float:
        return float(self.info["time_total"])


def curl(*args: str, timeout: float = 15.0) -> CurlResult:
    """Run ``curl -sS ARGS...`` and return its output, exit code and ``%{json}`` write-out."""
    binary = shutil.which("curl")
    assert binary is not None, "these tests need curl on PATH (make test-tools installs it)"
    completed = subprocess.run(
        [binary, "-sS", "-w", (_WRITE_OUT_MARKER + b"%{json}").decode(), *args],
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    output, marker, write_out = completed.stdout.rpartition(_WRITE_OUT_MARKER)
    assert marker, f"no curl write-out in {completed.stdout!r} (stderr {completed.stderr!r})"
    info: dict[str, Any] = json.loads(write_out)
    return CurlResult(completed.returncode, output, completed.stderr.decode(), info)
