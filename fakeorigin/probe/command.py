"""``fakeorigin probe``: run the scenarios through a proxy and print a verdict for each.

    fakeorigin probe --proxy http://127.0.0.1:8000 --control http://127.0.0.1:8081
    fakeorigin probe --proxy http://127.0.0.1:8000 --origin-listen tcp:9000:interface=127.0.0.1

The proxy forwards to a fakeorigin: one already running (``--control``, its control API), or
one the probe starts on ``--origin-listen`` (a Twisted endpoint string; point the proxy's
upstream there) and stops at the end. Output: a line per scenario (verdict, id, observation)
with the rule of each violation, or ``--json``; ``--junit-xml PATH`` and ``--markdown PATH``
write the results for a CI system and for a page. Exit code 0 when no scenario is a violation
(``--fail-on deviation``: nor a deviation), 1 otherwise, 2 for bad usage.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

from fakeorigin.control.client import ControlClient, ControlError
from fakeorigin.probe.runner import Result, Runner
from fakeorigin.probe.scenarios import SCENARIOS, Kind, Scenario
from fakeorigin.processes import stop_process

#: How long a started origin may take to announce itself.
START_SECONDS = 30.0


@contextmanager
def started_origin(listen: str, token: str | None) -> Iterator[str]:
    """``fakeorigin serve --listen LISTEN`` with its control API on a free loopback port; its
    control URL; stopped (SIGTERM, by its PID) at the end. Its log goes to a temporary file
    (a pipe nobody reads would fill and stall it), shown if it fails to start."""
    argv = [sys.executable, "-m", "fakeorigin", "serve", "--listen", listen]
    argv += ["--control", "tcp:0:interface=127.0.0.1", "--announce"]
    env = dict(os.environ)
    if token is not None:
        env["FAKEORIGIN_CONTROL_TOKEN"] = token
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=env)
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line:
                process.wait(START_SECONDS)
                log.seek(0)
                tail = log.read().decode("utf-8", "replace")[-500:]
                raise ControlError(0, "unreachable", f"fakeorigin serve failed: {tail}")
            yield json.loads(line)["control"]
        finally:
            stop_process(process, 10)


def select(only: Sequence[str], skip: Sequence[str]) -> list[Scenario]:
    """The scenarios to run: ``only`` and ``skip`` name ids or groups; an unknown one is an
    error."""
    known = set(SCENARIOS) | {s.group for s in SCENARIOS.values()}
    unknown = [name for name in [*only, *skip] if name not in known]
    if unknown:
        raise ValueError(
            f"unknown scenario or group {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    chosen = [s for s in SCENARIOS.values() if not only or s.id in only or s.group in only]
    return [s for s in chosen if s.id not in skip and s.group not in skip]


def _line(result: Result) -> str:
    verdict = result.verdict
    text = f"{verdict.kind.value:<10} {result.scenario.id}: {verdict.observation}"
    if verdict.rule:
        text += f"\n{'':<11}{verdict.rule}: {verdict.requirement}"
    return text


def _document(proxy: str, results: Sequence[Result]) -> dict[str, Any]:
    return {
        "proxy": proxy,
        "results": [
            {
                "id": r.scenario.id,
                "group": r.scenario.group,
                "title": r.scenario.title,
                "verdict": r.verdict.kind.value,
                "observation": r.verdict.observation,
                "rule": r.verdict.rule,
                "requirement": r.verdict.requirement,
                "seconds": round(r.seconds, 3),
            }
            for r in results
        ],
    }


def junit_xml(proxy: str, results: Sequence[Result], failing: set[Kind]) -> str:
    """The results as JUnit XML, which CI systems show as tests: one testcase per scenario, a
    failure for a failing verdict, skipped for ``n/a``, the observation always in system-out."""
    suite = ElementTree.Element(
        "testsuite",
        name=f"fakeorigin probe {proxy}",
        tests=str(len(results)),
        failures=str(sum(r.verdict.kind in failing for r in results)),
        skipped=str(sum(r.verdict.kind is Kind.NOT_APPLICABLE for r in results)),
    )
    for result in results:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=f"probe.{result.scenario.group}",
            name=result.scenario.id,
            time=f"{result.seconds:.3f}",
        )
        verdict = result.verdict
        text = verdict.observation
        if verdict.rule:
            text += f"\n{verdict.rule}: {verdict.requirement}"
        if verdict.kind in failing:
            failure = ElementTree.SubElement(
                case, "failure", message=f"{verdict.kind.value}: {verdict.observation}"
            )
            failure.text = text
        elif verdict.kind is Kind.NOT_APPLICABLE:
            ElementTree.SubElement(case, "skipped", message=verdict.observation)
        ElementTree.SubElement(case, "system-out").text = f"{verdict.kind.value}: {text}"
    return ElementTree.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def markdown(proxy: str, results: Sequence[Result]) -> str:
    """The results as a Markdown table: scenario, verdict, observation (and the rule)."""
    rows = [
        f"# fakeorigin probe: {proxy}",
        "",
        "| scenario | verdict | observation |",
        "|---|---|---|",
    ]
    for result in results:
        verdict = result.verdict
        text = verdict.observation
        if verdict.rule:
            text += f" ({verdict.rule}: {verdict.requirement})"
        text = text.replace("|", "\\|")
        rows.append(f"| `{result.scenario.id}` | {verdict.kind.value} | {text} |")
    return "\n".join(rows) + "\n"


def run_probe(
    proxy: str,
    control: ControlClient,
    scenarios: Sequence[Scenario],
    out: IO[str],
    *,
    as_json: bool = False,
    fail_on: Kind = Kind.VIOLATION,
    junit_path: Path | None = None,
    markdown_path: Path | None = None,
    proxy_timeout: float | None = None,
) -> int:
    """Run ``scenarios`` and print them (and write the JUnit XML and Markdown files when
    asked); the exit code."""
    runner = Runner(proxy, control, proxy_timeout=proxy_timeout)
    results = []
    try:
        for scenario in scenarios:
            result = runner.run(scenario)
            results.append(result)
            if not as_json:
                out.write(_line(result) + "\n")
                out.flush()
    finally:
        runner.close()
    if as_json:
        out.write(json.dumps(_document(proxy, results), indent=2) + "\n")
    failing = {Kind.VIOLATION} | ({Kind.DEVIATION} if fail_on is Kind.DEVIATION else set())
    if junit_path is not None:
        junit_path.write_text(junit_xml(proxy, results, failing))
    if markdown_path is not None:
        markdown_path.write_text(markdown(proxy, results))
    return 1 if any(r.verdict.kind in failing for r in results) else 0
