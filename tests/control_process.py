"""A real ``fakeorigin serve`` with its control API, in a child process, for plain sync tests.

The server runs in its own process, so blocking clients (curl, urllib, raw sockets) are fine
in the tests that use it. :func:`serving` starts the console script with ``--announce``, reads
the one JSON line within a timeout, and always terminates and reaps the process by its PID.
Its stderr (logs, tracebacks) goes to a temporary file, never to a pipe no one reads: a busy
run would fill the pipe and stall the server. Loopback only.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from fakeorigin.client import ControlClient
from fakeorigin.processes import stop_process

#: The console script installed next to this interpreter.
FAKEORIGIN = Path(sys.executable).parent / "fakeorigin"
LOOPBACK_PORT_0 = "tcp:0:interface=127.0.0.1"
#: Start-up imports Twisted, Klein and pydantic: generous, but bounded.
ANNOUNCE_SECONDS = 20.0
#: SIGTERM must stop the server within this; after it, SIGKILL.
STOP_SECONDS = 5.0
#: No single client call in these tests may block longer than this.
CLIENT_SECONDS = 10.0


def child_env(**settings: str) -> dict[str, str]:
    """This environment without any ``FAKEORIGIN_*`` (the test says what it wants), plus
    ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FAKEORIGIN_")}
    env.update(settings)
    return env


@dataclass
class Served:
    """A running ``fakeorigin serve``, the JSON line it announced, and its log so far."""

    process: subprocess.Popen[bytes]
    announce: dict[str, Any]
    stderr: IO[bytes]

    @property
    def origin_url(self) -> str:
        urls: list[str] = self.announce["origin"]
        return urls[0]

    @property
    def origin_port(self) -> int:
        port = urlsplit(self.origin_url).port
        assert port, self.announce
        return port

    @property
    def control_url(self) -> str:
        url = self.announce["control"]
        assert isinstance(url, str), f"no control API announced: {self.announce}"
        return url

    def client(self, token: str | None = None) -> ControlClient:
        """A control client for this server, every call bounded by :data:`CLIENT_SECONDS`."""
        return ControlClient(self.control_url, token=token, timeout=CLIENT_SECONDS)

    def log(self) -> str:
        """Everything the server wrote to stderr so far."""
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def assert_running(self) -> None:
        code = self.process.poll()
        assert code is None, f"fakeorigin exited with {code}:\n{self.log()[-4000:]}"


def read_line(process: subprocess.Popen[bytes], seconds: float) -> bytes:
    """The first line ``process`` writes to stdout, waiting at most ``seconds``; b"" when
    it closes stdout (exits) first."""
    assert process.stdout is not None
    deadline = time.monotonic() + seconds
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no announce line within {seconds} s (got {line!r})"
        readable, _, _ = select.select([process.stdout], [], [], remaining)
        if readable:
            data = os.read(process.stdout.fileno(), 1)
            if not data:
                return line
            line += data
    return line


#: SIGTERM by PID, SIGKILL if it lingers, reap: the pytest plugin's own way of stopping a server.
stop = stop_process


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Run ``fakeorigin serve --announce ARGS``; yield it once announced; stop it by PID.

    Without ``--listen`` or ``--control`` in ``args`` both bind 127.0.0.1 port 0.
    """
    command = [str(FAKEORIGIN), "serve", "--announce", *args]
    if "--listen" not in args:
        command += ["--listen", LOOPBACK_PORT_0]
    if "--control" not in args:
        command += ["--control", LOOPBACK_PORT_0]
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=child_env() if env is None else env,
        )
        try:
            line = read_line(process, ANNOUNCE_SECONDS)
            served = Served(process, {}, stderr)
            assert line, f"fakeorigin exited ({process.wait(STOP_SECONDS)}):\n{served.log()}"
            served.announce = json.loads(line)
            yield served
        finally:
            stop(process)


@dataclass(frozen=True, slots=True)
class CurlResult:
    """curl's exit code, the HTTP status it saw (``%{http_code}``), the body, its stderr."""

    exit_code: int
    status: int
    body: bytes
    stderr: str

    def json(self) -> Any:
        return json.loads(self.body)


_MARK = b"\n--curl-status--"


def curl(*args: str, timeout: float = CLIENT_SECONDS) -> CurlResult:
    """Run ``curl -sS ARGS...`` (with ``--max-time``) and return what it got."""
    binary = shutil.which("curl")
    assert binary is not None, "these tests need curl on PATH (make test-tools installs it)"
    completed = subprocess.run(
        [
            binary,
            "-sS",
            "--max-time",
            str(timeout),
            "-w",
            (_MARK + b"%{http_code}").decode(),
            *args,
        ],
        capture_output=True,
        timeout=timeout + 5,
        check=False,
    )
    body, mark, status = completed.stdout.rpartition(_MARK)
    assert mark, f"no curl write-out in {completed.stdout!r} ({completed.stderr!r})"
    return CurlResult(completed.returncode, int(status), body, completed.stderr.decode())


def origin_get(
    served: Served, path: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """GET ``path`` from the origin on a fresh connection: (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", served.origin_port, timeout=CLIENT_SECONDS)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()
