"""Schemathesis against a live ``fakeorigin serve``: generated inputs for every operation of
``/openapi.json``, and no answer may be a 500 or break the document.

Bounded on purpose (a few derandomized examples per operation, no example database), so it
is part of the ordinary suite. The server is this module's own child process, reset after the
run (the run may call ``POST /reset`` and the DELETE operations); ``GET /journal/wait`` is held
to a short timeout so that no generated example waits for minutes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fakeorigin.control.openapi import OPERATIONS
from tests.control_process import CLIENT_SECONDS, Served, serving

pytestmark = pytest.mark.realsocket

#: Examples per operation and generation mode: enough to reach every branch of validation,
#: few enough that the whole module takes seconds.
MAX_EXAMPLES = 50
#: The longest a generated ``GET /journal/wait`` may hold the connection.
WAIT_SECONDS = 0.05

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with serving() as served:
        yield served
        served.assert_running()
        served.client().reset()


@pytest.fixture(scope="module")
def control_schema(server: Served) -> BaseSchema:
    """The document as the live server serves it."""
    return schemathesis.openapi.from_url(
        f"{server.control_url}/openapi.json", timeout=CLIENT_SECONDS
    )


def _hold_waits_short(case: Case[Any]) -> None:
    """A ``GET /journal/wait`` holds at most :data:`WAIT_SECONDS` (its default is 10 s): clamp
    a ``timeout`` the server would accept, add one when there is none, and leave the invalid
    ones (the server must refuse them) as generated."""
    if case.query is None:
        case.query = {}
    try:
        seconds = float(case.query.get("timeout", WAIT_SECONDS))
    except (TypeError, ValueError):
        return
    if 0 < seconds <= 300:
        case.query["timeout"] = min(seconds, WAIT_SECONDS)


ROUTES = [(operation.method, operation.path) for operation in OPERATIONS]


def _runs() -> list[Any]:
    """Every operation with valid input; and with invalid input where it takes any (a path
    parameter, a query or a body)."""
    runs = []
    for operation in OPERATIONS:
        takes_input = operation.body or operation.query or "{" in operation.path
        for mode in GenerationMode:
            if mode is GenerationMode.NEGATIVE and not takes_input:
                continue
            key = (operation.method, operation.path, mode)
            runs.append(pytest.param(*key, id=" ".join(key)))
    return runs


def test_the_live_document_has_every_route(server: Served) -> None:
    document = server.client().request("GET", "/openapi.json")
    live = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert live == set(ROUTES)


# schemathesis.pytest.from_fixture (lazy schemas) does not run on pytest 9: it sets
# Node._nodeid, which pytest 9 no longer has. So each operation is a test of its own here,
# running schemathesis's strategy for it under Hypothesis directly.
@pytest.mark.parametrize(("method", "path", "mode"), _runs())
def test_generated_requests_get_no_500_and_match_the_document(
    control_schema: BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    operation = control_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Case[Any]) -> None:
        if path == "/journal/wait":
            _hold_waits_short(case)
        case.call_and_validate(checks=CHECKS, timeout=CLIENT_SECONDS)

    call()
