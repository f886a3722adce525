"""The benchmark scripts keep working: each part of ``bench/run.py`` in its ``--smoke`` mode.

A smoke run takes seconds and its figures mean nothing, so nothing here is timed: a part must
run to the end and produce its report. A part whose tool is missing (wrk for throughput) is
skipped with the runner's reason; ``make bench`` runs the real thing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.realsocket

RUNNER = Path(__file__).resolve().parent.parent / "bench" / "run.py"
PARTS = ["throughput", "startup", "trickle", "memory", "websocket", "workers", "http2"]


@pytest.mark.parametrize("part", PARTS)
def test_smoke(part: str, tmp_path: Path) -> None:
    report = tmp_path / "RESULTS.md"
    figures = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            str(RUNNER),
            "--smoke",
            "--parts",
            part,
            "--output",
            str(report),
            "--json",
            str(figures),
            "--log-dir",
            str(tmp_path / "logs"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    result = json.loads(figures.read_text())[part]
    if result["status"] == "skipped":
        pytest.skip(result["reason"])
    assert result["status"] == "ok", result["reason"]
    text = report.read_text()
    assert text.startswith("# fakeorigin benchmarks")
    assert "## Targets" in text
    assert result["targets"], "every part reports its targets"
