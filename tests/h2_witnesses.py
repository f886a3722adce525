"""HTTP/2 clients no one here wrote, as witnesses of what a response's frames are worth:
curl (on nghttp2), ``nghttp`` (Debian's nghttp2-client), Node.js's ``http2`` client
(tests/node_h2_client.js) and h2's client (its state machine over a blocking socket).

Each sends a probe request (an HTTP/2 catalogue entry's, or a bundled profile's) with the
profile-selecting field to a running fakeorigin, over prior-knowledge h2c or, given the CA to
trust, TLS with ALPN h2 (curl, nghttp, Node.js), and reports an :class:`H2Seen`: the final
status it delivered (None: none), the content's length, the first error it reported, and the
1xx it reported. ``verdict()`` is ``rejects`` when it reported an error, else ``accepts``.
Blocking; loopback only.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from fakeorigin.core.state import DEFAULT_INBAND_HEADER
from fakeorigin.core.violations import Probe, Verdict

NODE_H2_SCRIPT = Path(__file__).resolve().parent / "node_h2_client.js"
#: The clients, by the names the catalogue's verdicts use.
CLIENTS = ("curl", "nghttp", "node-http2", "h2")


@dataclass(frozen=True, slots=True)
class H2Seen:
    """What one client made of the response: its final status (None: it delivered none),
    how many content bytes it delivered, the first error it reported (None: none), and the
    interim statuses it reported, in order (curl, nghttp and Node.js report them)."""

    status: int | None
    length: int
    error: str | None
    informational: tuple[int, ...] = ()

    def verdict(self) -> Verdict:
        return "rejects" if self.error is not None else "accepts"


def missing(client: str) -> str | None:
    """Why ``client`` cannot run here, or None."""
    binary = {"curl": "curl", "nghttp": "nghttp", "node-http2": "node"}.get(client)
    if binary is not None and shutil.which(binary) is None:
        return f"{binary} is not installed"
    return None


def observe(client: str, port: int, profile: str, probe: Probe, ca: str | None = None) -> H2Seen:
    """``client``'s view of ``profile`` answering ``probe`` on 127.0.0.1:``port``: h2c, or
    with ``ca`` (the file of the CA to trust) TLS with ALPN h2 to ``localhost`` (curl, nghttp
    and Node.js only)."""
    if ca is None:
        return _OBSERVERS[client](port, profile, probe)
    return _TLS_OBSERVERS[client](port, profile, probe, ca)


def _url(port: int, ca: str | None) -> str:
    return f"https://localhost:{port}/" if ca else f"http://127.0.0.1:{port}/"


def _headers(profile: str, probe: Probe) -> list[tuple[str, str]]:
    return [(DEFAULT_INBAND_HEADER, profile), *probe.headers]


def _run(argv: list[str], patience: float) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, timeout=patience + 10, check=False)


def _curl(port: int, profile: str, probe: Probe, ca: str | None = None) -> H2Seen:
    argv = ["curl", "-v", "-sS", "-o", "-", "-w", "\n%{http_code}"]
    argv += ["--http2", "--cacert", ca] if ca else ["--http2-prior-knowledge"]
    argv += ["--max-time", f"{probe.patience_seconds:g}", "-X", probe.method]
    for name, value in _headers(profile, probe):
        argv += ["-H", f"{name}: {value}"]
    if probe.body:
        argv += ["--data-binary", "@-"]
    argv.append(_url(port, ca))
    result = subprocess.run(
        argv,
        input=probe.body,
        capture_output=True,
        timeout=probe.patience_seconds + 10,
        check=False,
    )
    content, _, code = result.stdout.rpartition(b"\n")
    status = int(code) if code.strip() and int(code) else None
    error = None
    said = result.stderr.decode("utf-8", "replace").strip().splitlines()
    if result.returncode:
        complaints = [line for line in said if line.startswith("curl: (")]
        error = complaints[-1] if complaints else f"exit {result.returncode}"
    heads = [int(line.split()[2]) for line in said if line.startswith("< HTTP/2 ")]
    return H2Seen(status, len(content), error, tuple(s for s in heads if s < 200))


def _nghttp(port: int, profile: str, probe: Probe, ca: str | None = None) -> H2Seen:
    argv = ["nghttp", "-v", f"--timeout={probe.patience_seconds:g}"]
    for name, value in _headers(profile, probe):
        argv += ["-H", f"{name}: {value}"]
    with tempfile.NamedTemporaryFile() as body:
        if probe.body:
            body.write(probe.body)
            body.flush()
            argv += ["-d", body.name]
        argv.append(_url(port, ca))
        result = _run(argv, probe.patience_seconds)
    text = result.stdout.decode("utf-8", "replace") + result.stderr.decode("utf-8", "replace")
    final = None
    interims = []
    for line in text.splitlines():
        if "recv (stream_id=" in line and ":status:" in line:
            code = int(line.rsplit(":status:", 1)[1].strip())
            if code >= 200:
                final = code
            else:
                interims.append(code)
    return H2Seen(final, 0, _nghttp_error(text, result.returncode), tuple(interims))


def _nghttp_error(text: str, code: int) -> str | None:
    """nghttp's first complaint: a frame it found invalid, an error it logged, a reset it
    sent (the code is on the line after), or the request left unprocessed; it exits 0 for
    most of them."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if "[INVALID; error=" in line:
            return line.split("[INVALID; ", 1)[1].split("]", 1)[0]
        if "[ERROR]" in line:
            return line.split("[ERROR]", 1)[1].strip()
        sent = "send RST_STREAM frame" in line or "send GOAWAY frame" in line
        if sent and index + 1 < len(lines):
            said = lines[index + 1].strip()
            if "NO_ERROR" not in said:
                return f"{line.split('] ', 1)[-1].split(' frame')[0]} {said}"
    for line in lines:
        if "Some requests were not processed" in line:
            return line.strip()
    return f"exit {code}" if code else None


def _node(port: int, profile: str, probe: Probe, ca: str | None = None) -> H2Seen:
    case = {
        "url": _url(port, ca).rstrip("/"),
        "ca": ca,
        "method": probe.method,
        "headers": _headers(profile, probe),
        "body": base64.b64encode(probe.body).decode("ascii"),
        "patience_ms": int(probe.patience_seconds * 1000),
    }
    result = subprocess.run(
        ["node", str(NODE_H2_SCRIPT)],
        input=json.dumps(case).encode("utf-8"),
        capture_output=True,
        timeout=probe.patience_seconds + 10,
        check=False,
    )
    answer = json.loads(result.stdout.decode("utf-8").strip().splitlines()[-1])
    return H2Seen(
        answer["status"],
        answer["body_length"],
        answer["error"],
        tuple(int(s) for s in answer["informational"]),
    )


class _H2Reader:
    """h2's client role on one stream (1): what it delivered, and its first complaint."""

    def __init__(self) -> None:
        self.connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.status: int | None = None
        self.length = 0
        self.error: str | None = None
        self.ended = False

    def take(self, data: bytes) -> None:
        try:
            events = self.connection.receive_data(data)
        except h2.exceptions.ProtocolError as err:
            self.error = f"{type(err).__name__}: {err}"
            return
        for event in events:
            self._event(event)

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            self.status = int(dict(event.headers)[b":status"])
        elif isinstance(event, h2.events.DataReceived):
            self.length += len(event.data)
            self.connection.acknowledge_received_data(event.flow_controlled_length, 1)
        elif isinstance(event, h2.events.StreamEnded) and event.stream_id == 1:
            self.ended = True
        elif isinstance(event, h2.events.StreamReset) and event.stream_id == 1:
            if event.error_code != 0 or self.status is None:
                self.error = f"StreamReset {event.error_code!r}"
        elif (
            isinstance(event, h2.events.ConnectionTerminated)
            and not self.ended
            and (self.status is None or event.error_code != 0)
        ):
            self.error = f"ConnectionTerminated {event.error_code!r}"


def _h2(port: int, profile: str, probe: Probe) -> H2Seen:
    reader = _H2Reader()
    connection = reader.connection
    connection.initiate_connection()
    fields = [(":method", probe.method), (":path", "/"), (":scheme", "http")]
    fields += [(":authority", f"127.0.0.1:{port}"), *_headers(profile, probe)]
    connection.send_headers(1, fields, end_stream=not probe.body)
    body = probe.body
    deadline = time.monotonic() + probe.patience_seconds
    with socket.create_connection(("127.0.0.1", port), timeout=probe.patience_seconds) as sock:
        while not reader.ended and reader.error is None:
            while body and connection.local_flow_control_window(1) > 0:
                size = min(connection.local_flow_control_window(1), 16_384, len(body))
                connection.send_data(1, body[:size], end_stream=size == len(body))
                body = body[size:]
            sock.sendall(connection.data_to_send())
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                data = sock.recv(65_536)
            except TimeoutError:
                reader.error = "timeout"
                break
            if not data:
                reader.error = "the connection closed"
                break
            reader.take(data)
    return H2Seen(reader.status, reader.length, reader.error)


_OBSERVERS = {"curl": _curl, "nghttp": _nghttp, "node-http2": _node, "h2": _h2}
_TLS_OBSERVERS = {"curl": _curl, "nghttp": _nghttp, "node-http2": _node}
