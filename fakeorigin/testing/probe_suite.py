"""The probe's scenarios as pytest tests: ``pytest --fakeorigin-probe-proxy URL`` adds this
module to the run (the pytest plugin does), one test per scenario, against the proxy at URL,
which forwards to the session's fakeorigin (``--fakeorigin-external`` for one already
running on the proxy's upstream, or ``--fakeorigin-args '--listen tcp:PORT:...'`` for the
one the plugin starts).

A ``violation`` fails its test (a ``deviation`` too with ``--fakeorigin-probe-fail-on
deviation``), ``n/a`` skips it, and the observation is the test's message either way, so a
proxy project's own suite shows each scenario (docs/probe.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from fakeorigin.probe.runner import Runner
from fakeorigin.probe.scenarios import SCENARIOS, Kind


@pytest.mark.parametrize("scenario_id", list(SCENARIOS))
def test_proxy(scenario_id: str, fakeorigin_server: Any, request: pytest.FixtureRequest) -> None:
    config = request.config
    timeout = config.getoption("--fakeorigin-probe-timeout")
    runner = Runner(
        config.getoption("--fakeorigin-probe-proxy"),
        fakeorigin_server.client,
        proxy_timeout=float(timeout) if timeout is not None else None,
    )
    try:
        result = runner.run(SCENARIOS[scenario_id])
    finally:
        runner.close()
    verdict = result.verdict
    text = f"{verdict.kind.value}: {verdict.observation}"
    if verdict.rule:
        text += f" ({verdict.rule}: {verdict.requirement})"
    failing = {Kind.VIOLATION}
    if config.getoption("--fakeorigin-probe-fail-on") == "deviation":
        failing.add(Kind.DEVIATION)
    if verdict.kind is Kind.NOT_APPLICABLE:
        pytest.skip(text)
    if verdict.kind in failing:
        pytest.fail(text, pytrace=False)
