"""Where start-up with the control API goes, step by step, in fresh processes.

    python bench/startup_segments.py [--runs 12] [--source DIR]

Each run is a new ``python`` (pinned to CPU 0, bytecode cached under a temporary
``PYTHONPYCACHEPREFIX``, pydantic's plugins off and twisted.web's HTTP/2 kept out, as
``python -m fakeorigin`` does) that imports, in order, what ``serve --control none`` needs,
then twisted.web.server, werkzeug, Klein, the control API's models and its module, then
validates one profile file (the first ``Profile`` validation builds its schema), timing each
step; and, over the same imports, the time Python's ``dataclasses`` spent defining classes,
and the time pydantic models took to define (the first one's includes the pydantic modules it
loads on demand), by package. Medians and the fastest run are printed. A diagnosis for
bench/FINDINGS.md, not a ``make bench`` figure (part 2 measures the whole start-up against
twisted.web).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent

CHILD = r"""
import builtins, collections, dataclasses, json, sys, time
sys.modules["twisted.web._http2"] = None
made = collections.Counter()
define = dataclasses._process_class
def timed(cls, *args, **kwargs):
    begin = time.perf_counter()
    try:
        return define(cls, *args, **kwargs)
    finally:
        made[cls.__module__.split(".")[0]] += time.perf_counter() - begin
dataclasses._process_class = timed
models = collections.Counter()
build_class = builtins.__build_class__
def timed_build(func, name, *bases, **kwargs):
    begin = time.perf_counter()
    cls = build_class(func, name, *bases, **kwargs)
    if type(cls).__name__ == "ModelMetaclass":
        models[cls.__module__.split(".")[0]] += time.perf_counter() - begin
        models["count " + cls.__module__.split(".")[0]] += 1
    return cls
builtins.__build_class__ = timed_build
marks = [time.perf_counter()]
import fakeorigin.cli, fakeorigin.server.serve, fakeorigin.http1.protocol, fakeorigin.core.loader
marks.append(time.perf_counter())
import twisted.web.server
marks.append(time.perf_counter())
import werkzeug.routing
marks.append(time.perf_counter())
import klein
marks.append(time.perf_counter())
import fakeorigin.control.models
marks.append(time.perf_counter())
import fakeorigin.control.api
marks.append(time.perf_counter())
from pathlib import Path
fakeorigin.core.loader.load_profile_file(Path(sys.argv[1]))
marks.append(time.perf_counter())
steps = [(b - a) * 1000 for a, b in zip(marks, marks[1:])]
models = {k: v if k.startswith("count") else v * 1000 for k, v in models.items()}
print(json.dumps({"steps": steps, "dataclasses": {k: v * 1000 for k, v in made.items()},
                  "models": models}))
"""
STEPS = [
    "what --control none imports",
    "twisted.web.server",
    "werkzeug",
    "Klein",
    "control API models",
    "control API module (its routes)",
    "first profile validated",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--source", type=Path, default=BENCH.parent, help="checkout measured")
    args = parser.parse_args()
    source = args.source.resolve()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env |= {"PYTHONPATH": str(source), "PYDANTIC_DISABLE_PLUGINS": "__all__"}
    profile = str(BENCH / "profiles" / "plain.yaml")
    with tempfile.TemporaryDirectory() as cache:
        env["PYTHONPYCACHEPREFIX"] = cache
        runs = []
        for run in range(args.runs + 1):  # the first one fills the bytecode cache
            argv = ["taskset", "-c", "0", sys.executable, "-c", CHILD, profile]
            out = subprocess.run(
                argv, check=False, env=env, cwd=source, capture_output=True, text=True
            )
            if out.returncode != 0:
                raise SystemExit(out.stderr)
            if run:
                runs.append(json.loads(out.stdout))
    for index, step in enumerate(STEPS):
        values = [r["steps"][index] for r in runs]
        print(f"{step:34s} median {statistics.median(values):6.1f} ms, fastest {min(values):6.1f}")
    print("defining dataclasses, by package (median ms):")
    packages = sorted({p for r in runs for p in r["dataclasses"]})
    medians = {p: statistics.median(r["dataclasses"].get(p, 0.0) for r in runs) for p in packages}
    for package, value in sorted(medians.items(), key=lambda item: -item[1])[:8]:
        print(f"  {package:32s} {value:6.1f}")
    print(f"  {'all':32s} {statistics.median(sum(r['dataclasses'].values()) for r in runs):6.1f}")
    print("defining pydantic models (class bodies and pydantic's work), by package (median ms):")
    for package in sorted({p for r in runs for p in r["models"] if not p.startswith("count")}):
        value = statistics.median(r["models"].get(package, 0.0) for r in runs)
        count = runs[0]["models"].get(f"count {package}", 0)
        print(f"  {package:32s} {value:6.1f} ({count:.0f} models)")


if __name__ == "__main__":
    main()
