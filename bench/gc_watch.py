"""Run a server with every garbage collection timed (``gc.callbacks``), for the steady-state
parts of ``bench/run.py``.

    python bench/gc_watch.py --out FILE -m fakeorigin serve ...
    python bench/gc_watch.py --out FILE bench/trickle_protocol.py ...

The server runs in this process (``runpy``), unchanged: the callback only reads the clock at
the start and the end of each collection. At exit, and on SIGUSR1 (so the runner can read it
between rounds without stopping the server), ``FILE`` gets one JSON object: every collection
so far as ``[wall-clock start, generation, milliseconds, objects collected]``.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import runpy
import signal
import sys
import time
from pathlib import Path
from typing import Any

_PAUSES: list[tuple[float, int, float, int]] = []
_started: list[float] = [0.0, 0.0]  # perf_counter and time.time at the running collection's start


def _callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
        _started[1] = time.time()
        return
    milliseconds = (time.perf_counter() - _started[0]) * 1000.0
    _PAUSES.append((_started[1], int(info["generation"]), milliseconds, int(info["collected"])))


def _dump(path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"pid": os.getpid(), "collections": _PAUSES}))
    temporary.replace(path)


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 3 or args[0] != "--out":
        sys.stderr.write(__doc__ or "")
        raise SystemExit(2)
    out = Path(args[1])
    target = args[2:]
    gc.callbacks.append(_callback)
    atexit.register(_dump, out)
    signal.signal(signal.SIGUSR1, lambda signum, frame: _dump(out))
    if target[0] == "-m":
        sys.argv = [target[1], *target[2:]]
        runpy.run_module(target[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(target)
        sys.path.insert(0, str(Path(target[0]).resolve().parent))
        runpy.run_path(target[0], run_name="__main__")


if __name__ == "__main__":
    main()
