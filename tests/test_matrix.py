"""matrix/run.py without the proxies: every proxy it knows has its configuration in matrix/,
each rendered with nothing left unfilled, and the page it writes has a row per scenario and a
column per proxy, its summary counted from the results."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from unittest import mock

import pytest

from fakeorigin.probe.runner import Result
from fakeorigin.probe.scenarios import SCENARIOS, Kind, Verdict

ROOT = Path(__file__).resolve().parent.parent


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("matrix_run", ROOT / "matrix" / "run.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["matrix_run"] = module
    spec.loader.exec_module(module)
    return module


MATRIX = load()


#: Traffic Server's start makes a runroot with its own tool first: run by the matrix only.
RENDERED_ONLY = [name for name in MATRIX.PROXIES if name != "trafficserver"]


@pytest.mark.parametrize("name", RENDERED_ONLY)
def test_every_configuration_renders_whole(name: str, tmp_path: Path) -> None:
    with mock.patch.object(MATRIX, "which", lambda tool: f"/usr/sbin/{tool}"):
        argv = MATRIX.PROXIES[name].start(tmp_path, 8000, 9000)
    assert argv[0].startswith("/usr/sbin/")
    rendered = [p for p in tmp_path.iterdir() if p.is_file()]
    assert rendered, "no configuration written"
    for path in rendered:
        text = path.read_text()
        assert not re.search(r"\{(port|origin|dir|timeout|timeout_ms|user|modules)\}", text)
        assert "9000" in text  # the origin, wherever the upstream is named


def test_the_page_counts_what_happened() -> None:
    def result(kind: Kind) -> dict[str, Result]:
        return {
            sid: Result(scenario, Verdict(kind, f"saw {sid}"), 0.1)
            for sid, scenario in SCENARIOS.items()
        }

    page = MATRIX.markdown(
        {"good": result(Kind.CONFORMANT), "bad": result(Kind.VIOLATION)},
        {"good": "good 1.0", "bad": "bad 2.0"},
        {"ats": "not installed"},
    )
    total = len(SCENARIOS)
    assert f"- **good** (good 1.0): {total} conformant, 0 violations" in page
    assert f"- **bad** (bad 2.0): 0 conformant, {total} violations" in page
    assert "- **ats**: not probed: not installed" in page
    # the takeaways name the proxies the results show it of
    assert "- Forward a 1xx (103, 102, an unregistered 199) (`1xx-103-forwarded`): good." in page
    assert "(`1xx-103-forwarded`): bad." in page
    assert "- Stop partway through eleven 1xx (`1xx-eleven-in-a-row`): none." in page
    assert "| scenario | good | bad |" in page
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert len(rows) == total
    assert rows[0] == f"| `{next(iter(SCENARIOS))}` | conformant | violation |"


def test_no_placeholder_sits_in_a_comment() -> None:
    """A value filled into a comment could end it (a multi-line User/Group did once)."""
    for template in (ROOT / "matrix").iterdir():
        if template.suffix == ".py" or not template.is_file():
            continue
        for line in template.read_text().splitlines():
            if line.lstrip().startswith("#"):
                assert not re.search(r"\{[a-z_]+\}", line), (template.name, line)
