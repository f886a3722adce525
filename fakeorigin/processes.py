"""Stopping a child process the way every part of fakeorigin does: by its PID, SIGTERM first,
SIGKILL if it has not exited in time, always reaped (the pytest plugin's server, the probe's
origin, the proxy matrix's proxies)."""

from __future__ import annotations

import subprocess
from typing import Any

#: SIGTERM must stop a child within this; after it, SIGKILL.
STOP_SECONDS = 5.0


def stop_process(process: subprocess.Popen[Any], seconds: float = STOP_SECONDS) -> int:
    """SIGTERM ``process`` by its PID, SIGKILL it after ``seconds``, reap it, close its stdout
    pipe; its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(seconds)
    if process.stdout is not None:
        process.stdout.close()
    return process.returncode
