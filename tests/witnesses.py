"""Strict HTTP parsers no one here wrote, as witnesses of what a response is worth.

- :func:`h11_reads`: h11's client role over a blocking socket. The request bytes are the
  probe's own (HTTP/1.0, HEAD, Expect...: h11 itself only writes HTTP/1.1), and h11 is told
  the equivalent request so that it reads the response in the right state (a HEAD response
  has no content; an Upgrade request may be answered with 101).
- :class:`NodeWitness`: one ``node tests/node_client.js`` process for the whole session,
  answering JSON cases with what Node.js's http client (llhttp) made of each response; see
  that script for the case and answer formats.

Both report an :class:`Observation`: the responses seen, and the first error the parser
reported. Everything here blocks; tests call it in a thread (``deferToThread``). Loopback only.
"""

from __future__ import annotations

import base64
import json
import queue
import shutil
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import h11

from fakeorigin.core.violations import Probe
from tests.clients import HOST, connect

NODE_SCRIPT = Path(__file__).resolve().parent / "node_client.js"


@dataclass(frozen=True, slots=True)
class Seen:
    """One response as a client parsed it: interim statuses, final status, complete or not."""

    information: tuple[int, ...]
    status: int | None
    complete: bool


@dataclass(slots=True)
class Observation:
    """What a client made of the responses to a probe.

    Attributes:
        responses: one per request sent, in order.
        error: the first error the client reported (h11: ``RemoteProtocolError: ...``; node:
            an llhttp code such as ``HPE_INVALID_CONSTANT``, or ``ECONNRESET``), or None.
        timed_out: the client gave up waiting (the probe's patience ran out).
        switched: the client accepted a 101 and switched protocols.
    """

    responses: list[Seen] = field(default_factory=list)
    error: str | None = None
    timed_out: bool = False
    switched: bool = False

    @property
    def rejected(self) -> bool:
        return self.error is not None


# -- h11 --------------------------------------------------------------------------------------


def h11_reads(port: int, probe: Probe, extra: Sequence[tuple[str, str]]) -> Observation:
    """Send ``probe`` (with ``extra`` header fields) and let h11's client read the responses."""
    observation = Observation()
    deadline = time.monotonic() + probe.patience_seconds
    with connect(port) as sock:
        conn = h11.Connection(h11.CLIENT)
        for index in range(probe.requests):
            if index:
                if conn.states != {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE}:
                    break  # the connection cannot carry another request
                conn.start_next_cycle()
            fields = probe.all_headers(f"{HOST}:{port}", extra)
            conn.send(h11.Request(method=probe.method, target="/", headers=fields))
            if probe.body:
                conn.send(h11.Data(data=probe.body))
            conn.send(h11.EndOfMessage())
            sock.sendall(probe.encode(f"{HOST}:{port}", extra))
            if not _h11_response(conn, sock, deadline, observation):
                break
        if observation.timed_out:
            abort_on_close(sock)
    return observation


def abort_on_close(sock: socket.socket) -> None:
    """Make closing ``sock`` send RST: a client that gave up leaves at once (no FIN, no drain)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _h11_response(
    conn: h11.Connection, sock: socket.socket, deadline: float, observation: Observation
) -> bool:
    """Read one response into ``observation``; True when it completed and more may follow."""
    information: list[int] = []
    status: int | None = None

    def seen(complete: bool) -> None:
        observation.responses.append(Seen(tuple(information), status, complete))

    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as err:
            observation.error = f"RemoteProtocolError: {err}"
            seen(False)
            return False
        if event is h11.NEED_DATA:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                observation.timed_out = True
                seen(False)
                return False
            sock.settimeout(remaining)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                data = b""  # h11 decides what a reset means for the message: same as EOF
            conn.receive_data(data)
        elif event is h11.PAUSED:
            observation.switched = True
            seen(False)
            return False
        elif isinstance(event, h11.InformationalResponse):
            information.append(event.status_code)
            if event.status_code == 101:
                status = 101
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.EndOfMessage):
            seen(True)
            return True
        elif isinstance(event, h11.ConnectionClosed):
            seen(False)
            return False


# -- node -------------------------------------------------------------------------------------


def node_binary() -> str | None:
    """The ``node`` on PATH, if any."""
    return shutil.which("node")


class NodeWitness:
    """One node process running ``tests/node_client.js``: cases in, answers out (JSON lines)."""

    def __init__(self, binary: str) -> None:
        self._process = subprocess.Popen(
            [binary, str(NODE_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self._answers: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._next_id = 0
        assert self._process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self._process.stdout,))
        self._reader.daemon = True
        self._reader.start()

    def _read(self, stdout: IO[str]) -> None:
        for line in stdout:
            self._answers.put(json.loads(line))

    def run(self, cases: Sequence[dict[str, Any]], timeout: float = 20.0) -> list[dict[str, Any]]:
        """Run ``cases`` concurrently in node; their answers, in the same order."""
        with self._lock:
            assert self._process.stdin is not None
            ids = []
            for case in cases:
                self._next_id += 1
                ids.append(str(self._next_id))
                self._process.stdin.write(json.dumps({**case, "id": ids[-1]}) + "\n")
            self._process.stdin.flush()
            answers: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + timeout
            while len(answers) < len(ids):
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"node answered {len(answers)} of {len(ids)} cases"
                answer = self._answers.get(timeout=remaining)
                answers[answer["id"]] = answer
            return [answers[i] for i in ids]

    def close(self) -> None:
        """End the process: EOF on its stdin, then a kill if it lingers."""
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        assert self._process.stdout is not None
        self._process.stdout.close()


def node_raw_case(
    port: int, probe: Probe, extra: Sequence[tuple[str, str]], *, lenient: bool
) -> dict[str, Any]:
    """A raw-mode case: node's client reads the responses to the probe's own request bytes."""
    request = probe.encode(f"{HOST}:{port}", extra)
    return {
        "host": HOST,
        "port": port,
        "lenient": lenient,
        "timeout_ms": int(probe.patience_seconds * 1000),
        "raw": [base64.b64encode(request).decode("ascii")] * probe.requests,
        "method": probe.method,
    }


def node_observation(answer: dict[str, Any]) -> Observation:
    """An answer of node_client.js as an :class:`Observation`."""
    return Observation(
        responses=[
            Seen(tuple(r["information"]), r["status"], r["complete"]) for r in answer["responses"]
        ],
        error=answer["error"],
        timed_out=answer["timed_out"],
        switched=answer["upgrade"],
    )
