"""The reliability suite: hostile input, vanishing clients, limits, load and shutdown.

The ``load`` marker is registered here (``--strict-markers`` is on) and load tests are skipped
unless asked for with ``-m load`` (``make load``): they run for tens of seconds. Each of them
has a short version without the marker that runs in the normal suite.
"""

from __future__ import annotations

import pytest

LOAD_MARKER = (
    "load: heavy load runs (thousands of connections, tens of seconds); select with -m load"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", LOAD_MARKER)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "load" in (config.getoption("markexpr", "") or ""):
        return
    skip = pytest.mark.skip(reason="a heavy load run: select it with -m load (make load)")
    for item in items:
        if item.get_closest_marker("load") is not None:
            item.add_marker(skip)
