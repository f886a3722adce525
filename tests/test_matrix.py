"""matrix/run.py without the proxies: every proxy it knows has its configuration in matrix/,
each rendered with nothing left unfilled, and the page it writes has a row per scenario and a
column per proxy, its summary counted from the results."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
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
        assert not re.search(r"\{(port|origin|dir|timeout|timeout_ms|user|modules|setting)\}", text)
        assert "9000" in text  # the origin, wherever the upstream is named


SETTINGS = [
    (name, setting)
    for name, proxy in MATRIX.PROXIES.items()
    for setting in proxy.settings
    if name in RENDERED_ONLY
]


@pytest.mark.parametrize(("name", "setting"), SETTINGS, ids=[s.name for _, s in SETTINGS])
def test_a_setting_lands_in_its_proxys_configuration(
    name: str, setting: Any, tmp_path: Path
) -> None:
    with mock.patch.object(MATRIX, "which", lambda tool: f"/usr/sbin/{tool}"):
        MATRIX.PROXIES[name].start(tmp_path, 8000, 9000, setting.line)
    lines = [line.strip() for p in tmp_path.iterdir() for line in p.read_text().splitlines()]
    assert setting.line in lines


def test_every_proxy_with_a_setting_is_probed_with_and_without_it() -> None:
    names = [column.name for column in MATRIX.columns_for(list(MATRIX.PROXIES))]
    assert names.count("apache2") == 1
    assert "apache2 Suppress" in names
    assert len(names) == len(MATRIX.PROXIES) + sum(len(p.settings) for p in MATRIX.PROXIES.values())
    records = (ROOT / "matrix" / "trafficserver.records").read_text()
    assert "{setting}" in records  # Traffic Server's setting goes where the others do


def test_the_page_says_what_a_setting_changed() -> None:
    ids = list(SCENARIOS)

    def result(kinds: dict[str, Kind]) -> dict[str, Result]:
        return {
            sid: Result(scenario, Verdict(kinds.get(sid, Kind.CONFORMANT), f"saw {sid}"), 0.1)
            for sid, scenario in SCENARIOS.items()
        }

    setting = MATRIX.PROXIES["apache2"].settings[0]
    page = MATRIX.markdown(
        {
            "apache2": result({}),
            "apache2 Suppress": result({ids[0]: Kind.VIOLATION}),
            "haproxy": result({}),
            "haproxy buffered": result({}),
        },
        dict.fromkeys(("apache2", "apache2 Suppress", "haproxy", "haproxy buffered"), "v1"),
        {},
        {
            "apache2 Suppress": ("apache2", setting),
            "haproxy buffered": ("haproxy", MATRIX.PROXIES["haproxy"].settings[0]),
        },
    )
    assert "## Where a documented setting changes the outcome" in page
    assert (
        f"- `{ids[0]}`: conformant with the defaults (saw {ids[0]}); **violation** with the "
        f"setting (saw {ids[0]})"
    ) in page
    assert "- No verdict differs from haproxy's defaults." in page
    assert f"with `{setting.line}`." in page
    assert "| scenario | apache2 | apache2 Suppress | haproxy | haproxy buffered |" in page


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
