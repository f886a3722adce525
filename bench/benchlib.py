"""What the bench scripts share: file limits, child processes, percentiles, RSS.

Every server and client the runner starts is a child process that prints exactly one JSON line
on stdout once it is ready (the same contract as ``fakeorigin serve --announce``), is stopped by
its PID, and is reaped. Nothing here imports Twisted or asyncio: the clients stay lean.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent

#: How long a child may take to print its ready line.
READY_SECONDS = 60.0
#: After SIGTERM, this long before SIGKILL.
STOP_SECONDS = 10.0


def raise_file_limit() -> int:
    """Raise this process's RLIMIT_NOFILE soft limit to the hard limit; the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def ready(info: dict[str, Any]) -> None:
    """Print the one ready line a child owes its parent."""
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (``fraction`` in 0..1)."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summarise(values: Sequence[float]) -> dict[str, float]:
    """count, p50, p99 and max of ``values`` (any order)."""
    ordered = sorted(values)
    return {
        "count": float(len(ordered)),
        "p50": percentile(ordered, 0.50),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1] if ordered else float("nan"),
    }


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (VmRSS in /proc/PID/status), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time ``pid``'s main thread has used (/proc/PID/schedstat, nanoseconds)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def settled_rss(pid: int, seconds: float = 5.0, tolerance: float = 0.002) -> int:
    """RSS once it stops changing (two reads 0.25 s apart within ``tolerance``), or after
    ``seconds``."""
    deadline = time.monotonic() + seconds
    last = rss_bytes(pid)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = rss_bytes(pid)
        if abs(now - last) <= tolerance * last:
            return now
        last = now
    return last


#: Children started and not yet stopped: the runner stops any left over when it exits.
LIVE: list[Child] = []


class ChildError(RuntimeError):
    """A child process did not become ready; the message carries its log's tail."""


@dataclass(eq=False)
class Child:
    """A started child process and its ready line.

    Attributes:
        name: what the runner calls it (``fakeorigin``, ``twisted.web``...).
        process: the running process.
        info: its ready line, decoded.
        log_path: where its stderr goes.
    """

    name: str
    process: subprocess.Popen[bytes]
    info: dict[str, Any] = field(default_factory=dict)
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, size: int = 3000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-size:].decode("utf-8", "replace")

    def read_line(self, seconds: float) -> dict[str, Any]:
        """The next JSON line on the child's stdout; ChildError if none comes in time."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + seconds
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChildError(f"{self.name}: no line within {seconds} s\n{self.log_tail()}")
            readable, _, _ = select.select([self.process.stdout], [], [], remaining)
            if readable:
                data = os.read(self.process.stdout.fileno(), 1)
                if not data:
                    code = self.process.poll()
                    raise ChildError(
                        f"{self.name}: exited (code {code}) before its line\n{self.log_tail()}"
                    )
                line += data
        decoded: dict[str, Any] = json.loads(line)
        return decoded

    def tell(self, text: str) -> None:
        """Write a line to the child's stdin."""
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode() + b"\n")
        self.process.stdin.flush()

    def stop(self) -> int | None:
        """SIGTERM by PID, SIGKILL after :data:`STOP_SECONDS`, reap; the exit code."""
        process = self.process
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                process.wait(STOP_SECONDS)
        if self in LIVE:
            LIVE.remove(self)
        for stream in (process.stdout, process.stdin):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return process.returncode


def _pin(cpus: set[int] | None) -> Any:
    if not cpus:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def spawn(
    name: str,
    argv: Sequence[str],
    log_dir: Path,
    *,
    cpus: set[int] | None = None,
    stdin: bool = False,
    wait_ready: bool = True,
    env: dict[str, str] | None = None,
    cwd: Path = REPO_DIR,
) -> Child:
    """Start ``argv`` with stderr in ``log_dir/NAME.log``; with ``wait_ready``, read its ready
    line (a child that fails to start is stopped before ChildError is raised)."""
    log_path = log_dir / f"{name.replace('/', '_').replace(' ', '_')}.{time.monotonic_ns()}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            preexec_fn=_pin(cpus),  # noqa: PLW1509 (single-threaded runner; affinity only)
            env=env,
            cwd=cwd,
        )
    child = Child(name, process, log_path=log_path)
    LIVE.append(child)
    if wait_ready:
        try:
            child.info = child.read_line(READY_SECONDS)
        except BaseException:
            child.stop()
            raise
    return child


def stop_all() -> None:
    """Stop every child still running (last first)."""
    for child in reversed(list(LIVE)):
        child.stop()


def origin_url(info: dict[str, Any]) -> str:
    """The origin URL from a ready line: ours (``url``) or fakeorigin's announce line."""
    if "url" in info:
        return str(info["url"])
    return str(info["origin"][0])


def host_port(url: str) -> tuple[str, int]:
    """``http://127.0.0.1:8080`` -> ``("127.0.0.1", 8080)``."""
    rest = url.split("://", 1)[1].rstrip("/")
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port)


def emit(stream: IO[str], info: dict[str, Any]) -> None:
    """One JSON result line on ``stream``."""
    stream.write(json.dumps(info) + "\n")
    stream.flush()


#: Requests per write when filling a journal (pipelined on one connection).
_FILL_BATCH = 100


def fill_journal(url: str, count: int) -> float:
    """Send ``count`` plain requests (profile ``plain``, in-band) pipelined on one connection,
    so the journal is full before the rounds; the seconds it took."""
    host, port = host_port(url)
    request = (
        f"GET /fill HTTP/1.1\r\nHost: {host}:{port}\r\nFakeorigin-Profile: plain\r\n"
        "User-Agent: bench-fill\r\nAccept: */*\r\n\r\n"
    ).encode()
    begin = time.monotonic()
    with socket.create_connection((host, port), timeout=30) as sock:
        for sent in range(0, count, _FILL_BATCH):
            batch = min(_FILL_BATCH, count - sent)
            sock.sendall(request * batch)
            received = b""
            while received.count(b"HTTP/1.1 200") < batch:
                more = sock.recv(1 << 16)
                if not more:
                    raise RuntimeError(f"fill: the server closed after {sent} requests")
                received += more
    return time.monotonic() - begin
