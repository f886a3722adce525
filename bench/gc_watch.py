"""Run a server with every garbage collection timed (``gc.callbacks``), for the steady-state
parts of ``bench/run.py``.

    python bench/gc_watch.py --out FILE -m fakeorigin serve ...
    python bench/gc_watch.py --out FILE bench/trickle_protocol.py ...
    python bench/gc_watch.py --out FILE --census 20000 -m fakeorigin serve ...

The server runs in this process (``runpy``), unchanged: the callback only reads the clock at
the start and the end of each collection. At exit, and on SIGUSR1 (so the runner can read it
between rounds without stopping the server), ``FILE`` gets one JSON object: every collection
so far as ``[wall-clock start, generation, milliseconds, objects collected]``.

With ``--census N`` (a diagnosis, not a measurement: it costs the server time), a collection
about to walk N tracked objects or more is counted by type first, and the object gets
``"census": [[generation, objects, {type: count, ...}], ...]``. Drive the server with
``bench/trickle_client.py`` (``--connections 10000 --periods 6 --final``) to see what a
trickle leaves to the collector.
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
from collections import Counter
from pathlib import Path
from typing import Any

_PAUSES: list[tuple[float, int, float, int]] = []
_CENSUS: list[tuple[int, int, dict[str, int]]] = []
_started: list[float] = [0.0, 0.0]  # perf_counter and time.time at the running collection's start
_census_from: list[int] = []  # --census N


def _count(generation: int) -> None:
    walked = [o for g in range(generation + 1) for o in gc.get_objects(g)]
    if len(walked) >= _census_from[0]:
        kinds = Counter(type(o).__qualname__ for o in walked)
        _CENSUS.append((generation, len(walked), dict(kinds.most_common(12))))


def _callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        if _census_from:
            _count(int(info["generation"]))
        _started[0] = time.perf_counter()
        _started[1] = time.time()
        return
    milliseconds = (time.perf_counter() - _started[0]) * 1000.0
    _PAUSES.append((_started[1], int(info["generation"]), milliseconds, int(info["collected"])))


def _dump(path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    document: dict[str, Any] = {"pid": os.getpid(), "collections": _PAUSES}
    if _census_from:
        document["census"] = _CENSUS
    temporary.write_text(json.dumps(document))
    temporary.replace(path)


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 3 or args[0] != "--out":
        sys.stderr.write(__doc__ or "")
        raise SystemExit(2)
    out = Path(args[1])
    target = args[2:]
    if target[0] == "--census":
        _census_from.append(int(target[1]))
        target = target[2:]
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
