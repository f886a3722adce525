"""The control API's OpenAPI 3.1 document: valid, the same routes as the app, true to the answers.

The document is checked against the OpenAPI 3.1 schema that schemathesis ships (through
``schemathesis.openapi.from_dict(...).validate()``), its component schemas against the JSON
Schema 2020-12 meta-schema, and every ``$ref`` must resolve. Then every documented response of
every operation is produced by a real in-memory request and its body validated against the
documented schema with jsonschema_rs (``Draft202012Validator`` over a ``Registry`` that holds
the whole document).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
import yaml
from twisted.logger import LogEvent

from fakeorigin.control import api as control_api
from fakeorigin.control.api import ControlAPI
from fakeorigin.control.openapi import OPERATIONS, openapi_document
from fakeorigin.core.journal import Event, Outcome
from fakeorigin.core.loader import bundled_profiles_dir
from tests.control_memory import MemoryControl, Reply, add_record, capture_control_log

DOCUMENT = openapi_document()
#: The document's base URI in the registry: component references resolve against it.
BASE_URI = "urn:fakeorigin:control-openapi"
REGISTRY = jsonschema_rs.Registry([(BASE_URI, DOCUMENT)], draft=jsonschema_rs.Draft202012)
SCHEMA_REF = "#/components/schemas/"
TOKEN = "s3cret-token"
#: The smallest body limit that lets every scenario's good request through.
MAX_BODY_BYTES = 4096
#: A concrete value for each path parameter, for requests built from a path template.
PATH_VALUES = {"name": "default", "rule_id": "1", "record_id": "1"}
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@pytest.fixture(autouse=True)
def logged(monkeypatch: pytest.MonkeyPatch) -> list[LogEvent]:
    return capture_control_log(monkeypatch)


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation object) for every documented operation."""
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method.upper(), path, operation


def operation_by_id(operation_id: str) -> tuple[str, str, dict[str, Any]]:
    [found] = [o for o in operations() if o[2]["operationId"] == operation_id]
    return found


def klein_routes() -> set[tuple[str, str]]:
    """(METHOD, OpenAPI path) for every route of the Klein app, HEAD and OPTIONS aside."""
    routes: set[tuple[str, str]] = set()
    for rule in ControlAPI.app.url_map.iter_rules():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        routes.update(
            (method, path) for method in rule.methods or () if method not in {"HEAD", "OPTIONS"}
        )
    return routes


def component(ref: str) -> dict[str, Any]:
    """The component schema a ``$ref`` names; KeyError when it names none."""
    assert ref.startswith(SCHEMA_REF), ref
    schema: dict[str, Any] = DOCUMENT["components"]["schemas"][ref.removeprefix(SCHEMA_REF)]
    return schema


def validator(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    """A 2020-12 validator for a schema taken from the document (its refs resolved in it)."""
    if "$ref" in schema:
        component(schema["$ref"])
        schema = {"$ref": BASE_URI + schema["$ref"]}
    return jsonschema_rs.Draft202012Validator(schema, registry=REGISTRY)


def refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` value in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


# -- the document itself ------------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    assert DOCUMENT["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(copy.deepcopy(DOCUMENT)).validate()


def _drop_info(document: dict[str, Any]) -> None:
    del document["info"]


def _response_without_description(document: dict[str, Any]) -> None:
    del document["paths"]["/health"]["get"]["responses"]["200"]["description"]


def _parameter_without_location(document: dict[str, Any]) -> None:
    del document["paths"]["/profiles/{name}"]["get"]["parameters"][0]["in"]


def _unknown_field(document: dict[str, Any]) -> None:
    document["paths"]["/reset"]["post"]["colour"] = "blue"


@pytest.mark.parametrize(
    "breakage",
    [_drop_info, _response_without_description, _parameter_without_location, _unknown_field],
)
def test_the_validation_catches_a_broken_document(
    breakage: Callable[[dict[str, Any]], None],
) -> None:
    broken = copy.deepcopy(DOCUMENT)
    breakage(broken)
    with pytest.raises(jsonschema_rs.ValidationError):
        schemathesis.openapi.from_dict(broken).validate()


@pytest.mark.parametrize("name", sorted(DOCUMENT["components"]["schemas"]))
def test_component_schema_is_valid_json_schema_2020_12(name: str) -> None:
    jsonschema_rs.meta.validate(DOCUMENT["components"]["schemas"][name])


def test_every_ref_resolves() -> None:
    dangling = sorted({ref for ref in refs(DOCUMENT) if not _resolves(ref)})
    assert dangling == []


def _resolves(ref: str) -> bool:
    try:
        component(ref)
    except KeyError:
        return False
    return True


def test_references_other_than_profile_resolve() -> None:
    """Until the Profile reference is fixed: no other reference dangles."""
    dangling = {ref for ref in refs(DOCUMENT) if not _resolves(ref)}
    assert dangling <= {SCHEMA_REF + "Profile"}


def test_operation_ids_are_unique() -> None:
    ids = [operation["operationId"] for _, _, operation in operations()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("method", "path"), sorted((method, path) for method, path, _ in operations())
)
def test_path_parameters_are_declared_once_each(method: str, path: str) -> None:
    operation = DOCUMENT["paths"][path][method.lower()]
    declared = [p["name"] for p in operation["parameters"] if p["in"] == "path"]
    assert sorted(declared) == sorted(re.findall(r"{(\w+)}", path))
    assert all(p["required"] for p in operation["parameters"] if p["in"] == "path")


def test_security_names_a_defined_scheme() -> None:
    schemes = set(DOCUMENT["components"]["securitySchemes"])
    assert DOCUMENT["security"] == [{"bearer": []}]
    for _, _, operation in operations():
        for requirement in operation.get("security", DOCUMENT["security"]):
            assert set(requirement) <= schemes


# -- routes -------------------------------------------------------------------------------


def test_every_route_is_documented_and_every_operation_is_a_route() -> None:
    documented = {(method, path) for method, path, _ in operations()}
    routes = klein_routes()
    assert routes - documented == set(), "routes missing from the document"
    assert documented - routes == set(), "documented operations that are not routes"


def test_the_operations_table_and_the_document_agree() -> None:
    table = {(o.method, o.path, o.operation_id) for o in OPERATIONS}
    documented = {(m, p, operation["operationId"]) for m, p, operation in operations()}
    assert table == documented


def test_path_parameter_types_match_the_route_converters() -> None:
    converters = {}
    for rule in ControlAPI.app.url_map.iter_rules():
        for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule.rule):
            converters[name] = "integer" if converter == "int" else "string"
    for _, _, operation in operations():
        for parameter in operation["parameters"]:
            if parameter["in"] == "path":
                assert parameter["schema"] == {"type": converters[parameter["name"]]}


# -- every documented response, produced and validated --------------------------------------


def put_mine(control: MemoryControl) -> None:
    assert control.call("PUT", "/profiles/mine", json_body={"steps": [{"hang": {}}]}).status == 201


def add_rule(control: MemoryControl) -> None:
    rule = {
        "match": {"method": "GET", "path_prefix": "/x", "headers": {"X-A": "1"}},
        "profile": "hang",
        "times": 2,
    }
    assert control.call("POST", "/rules", json_body=rule).status == 201


def add_records(control: MemoryControl) -> None:
    """Records with every optional field both empty and set."""
    journal = control.state.journal
    add_record(journal)
    full = add_record(journal, "POST", "/upload", "hang", Outcome.CLIENT_GONE)
    full.note(0.001, Event.INTERIM_SENT, status=100)
    full.note(0.5, Event.NOTE, detail="a note")
    full.selected_by = "rule"
    full.error = "client went away"
    bad = journal.open(8, 1, "127.0.0.1:50001", 1_700_000_001.0)
    bad.raw_request = b"GARBAGE\r\n\r\n"
    bad.outcome = Outcome.BAD_REQUEST
    bad.error = "malformed request line"


@dataclass(frozen=True)
class Scenario:
    """A request that must get a documented response.

    Attributes:
        operation_id, status: the documented response it produces.
        path: the concrete path (with query) sent.
        body, content_type: the request body, if any, and its type.
        setup: what the state needs first.
        advance_seconds: clock time to let pass after sending (long polls).
        marks: known bugs of the response's document.
        request_marks: known bugs of the request body's document.
    """

    operation_id: str
    status: int
    path: str
    body: bytes | None = None
    content_type: str | None = "application/json"
    setup: Callable[[MemoryControl], None] | None = None
    advance_seconds: float = 0.0
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())
    request_marks: tuple[pytest.MarkDecorator, ...] = field(default=())

    @property
    def id(self) -> str:
        return f"{self.operation_id}-{self.status}"


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


TOO_LARGE = b"{" + b" " * MAX_BODY_BYTES + b"}"
EARLY_HINTS_YAML = (bundled_profiles_dir() / "early-hints.yaml").read_bytes()

SCENARIOS = [
    Scenario("health", 200, "/health"),
    Scenario("listProfiles", 200, "/profiles", setup=put_mine),
    Scenario("getProfile", 200, "/profiles/early-hints"),
    Scenario("getProfile", 404, "/profiles/nope"),
    Scenario(
        "putProfile",
        201,
        "/profiles/mine",
        _dumps(
            {"steps": [{"informational": {"status": 103, "headers": {"a": "1"}}}, {"hang": {}}]}
        ),
    ),
    Scenario("putProfile", 200, "/profiles/early-hints", EARLY_HINTS_YAML, "application/yaml"),
    Scenario("putProfile", 400, "/profiles/mine", _dumps({"steps": []})),
    Scenario("putProfile", 413, "/profiles/mine", TOO_LARGE),
    Scenario("putProfile", 415, "/profiles/mine", b"steps: []", "text/plain"),
    Scenario("deleteProfile", 204, "/profiles/hang"),
    Scenario("deleteProfile", 404, "/profiles/nope"),
    Scenario("deleteProfile", 409, "/profiles/default"),
    Scenario("getActive", 200, "/active"),
    Scenario("putActive", 200, "/active", _dumps({"profile": "hang"})),
    Scenario("putActive", 400, "/active", _dumps({"profile": "nope"})),
    Scenario("putActive", 413, "/active", TOO_LARGE),
    Scenario("putActive", 415, "/active", b"profile=hang", "application/x-www-form-urlencoded"),
    Scenario("listRules", 200, "/rules", setup=add_rule),
    Scenario(
        "addRule",
        201,
        "/rules",
        _dumps({"match": {"path_regex": "^/a", "headers": {"X-B": "2"}}, "profile": "hang"}),
    ),
    Scenario("addRule", 400, "/rules", _dumps({"match": {"path_regex": "("}, "profile": "x"})),
    Scenario("addRule", 413, "/rules", TOO_LARGE),
    Scenario("addRule", 415, "/rules", b"profile: hang", "text/plain"),
    Scenario("clearRules", 204, "/rules", setup=add_rule),
    Scenario("deleteRule", 204, "/rules/1", setup=add_rule),
    Scenario("deleteRule", 404, "/rules/7"),
    Scenario("journal", 200, "/journal", setup=add_records),
    Scenario("journal", 400, "/journal?limit=0&colour=blue"),
    Scenario("clearJournal", 204, "/journal", setup=add_records),
    Scenario("journalEntry", 200, "/journal/2", setup=add_records),
    Scenario("journalEntry", 404, "/journal/9"),
    Scenario("journalWait", 200, "/journal/wait?count=2&ended=true", setup=add_records),
    Scenario("journalWait", 400, "/journal/wait?count=0"),
    Scenario("journalWait", 408, "/journal/wait?timeout=1.5", advance_seconds=1.5),
    Scenario("journalHar", 200, "/journal.har", setup=add_records),
    Scenario("journalHar", 400, "/journal.har?limit=0"),
    Scenario("ui", 200, "/ui"),
    Scenario("uiScript", 200, "/ui/ui.js"),
    Scenario("uiStyle", 200, "/ui/ui.css"),
    Scenario("uiIcon", 200, "/ui/icon.svg"),
    Scenario("reset", 204, "/reset", setup=add_records),
    Scenario("catalogue", 200, "/catalogue"),
    Scenario("openapi", 200, "/openapi.json"),
]


def path_pattern(template: str) -> re.Pattern[str]:
    """A regex for concrete paths (query aside) of an OpenAPI path template."""
    return re.compile(re.sub(r"\\{\w+\\}", "[^/?]+", re.escape(template)) + r"(\?.*)?")


def assert_documented(operation: dict[str, Any], reply: Reply) -> None:
    """The reply's status is documented for the operation and its body fits the schema."""
    documented = operation["responses"]
    assert str(reply.status) in documented, f"{reply.status} is not documented"
    response = documented[str(reply.status)]
    if "content" not in response:
        assert reply.body == b""
        return
    [media_type] = response["content"]
    if media_type != "application/json":  # the journal page's files
        assert reply.header("content-type") == media_type + "; charset=utf-8"
        assert response["content"][media_type]["schema"] == {"type": "string"}
        assert reply.body
        return
    assert reply.header("content-type") == "application/json"
    assert set(response["content"]) == {"application/json"}
    schema = response["content"]["application/json"]["schema"]
    errors = [error.message for error in validator(schema).iter_errors(reply.json())]
    assert errors == []


@pytest.mark.parametrize("scenario", [pytest.param(s, id=s.id, marks=s.marks) for s in SCENARIOS])
def test_documented_response(scenario: Scenario) -> None:
    method, template, operation = operation_by_id(scenario.operation_id)
    assert path_pattern(template).fullmatch(scenario.path), "the scenario's path is another route's"
    control = MemoryControl(max_body_bytes=MAX_BODY_BYTES)
    if scenario.setup is not None:
        scenario.setup(control)
    sent = control.start(
        method, scenario.path, body=scenario.body, content_type=scenario.content_type
    )
    if scenario.advance_seconds:
        control.clock.advance(scenario.advance_seconds)
        control.flush()
    reply = sent.reply()
    assert reply.status == scenario.status
    assert_documented(operation, reply)


@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param(s, id=s.id, marks=s.request_marks)
        for s in SCENARIOS
        if s.body is not None and s.status < 300
    ],
)
def test_the_documented_request_schema_accepts_what_the_app_accepts(scenario: Scenario) -> None:
    _, _, operation = operation_by_id(scenario.operation_id)
    content = operation["requestBody"]["content"]
    assert scenario.content_type in content
    schema = content[scenario.content_type]["schema"]
    body = yaml.safe_load(scenario.body or b"")
    errors = [error.message for error in validator(schema).iter_errors(body)]
    assert errors == []


@pytest.mark.parametrize(
    "path", sorted(bundled_profiles_dir().glob("*.yaml")), ids=lambda p: p.stem
)
def test_the_documented_profile_schema_accepts_every_bundled_profile(path: Path) -> None:
    _, _, operation = operation_by_id("putProfile")
    schema = operation["requestBody"]["content"]["application/yaml"]["schema"]
    errors = [e.message for e in validator(schema).iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


def test_the_put_body_does_not_require_name() -> None:
    _, _, operation = operation_by_id("putProfile")
    schema = component(operation["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert "name" not in schema["required"]


def concrete(template: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: PATH_VALUES[m.group(1)], template)


NON_PUBLIC = sorted(
    (operation["operationId"], method, path)
    for method, path, operation in operations()
    if operation.get("security") != []
)


@pytest.mark.parametrize(("operation_id", "method", "path"), NON_PUBLIC)
def test_documented_401_without_the_token(operation_id: str, method: str, path: str) -> None:
    control = MemoryControl(token=TOKEN)
    reply = control.call(method, concrete(path), body=b"{}")
    assert reply.status == 401
    assert_documented(operation_by_id(operation_id)[2], reply)


def test_public_operations_answer_without_the_token() -> None:
    public = [(m, p) for m, p, operation in operations() if operation.get("security") == []]
    # /health, and the journal page's files: they hold no data (the page asks for the token).
    page = [("GET", p) for p in ("/ui", "/ui/ui.js", "/ui/ui.css", "/ui/icon.svg")]
    assert sorted(public) == sorted([("GET", "/health"), *page])
    control = MemoryControl(token=TOKEN)
    for _, path in public:
        assert control.call("GET", path).status == 200


def _boom(*args: object, **kwargs: object) -> Any:
    raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("operation_id", "method", "path"),
    sorted((operation["operationId"], m, p) for m, p, operation in operations()),
)
def test_documented_500_on_an_unexpected_exception(
    monkeypatch: pytest.MonkeyPatch,
    logged: list[LogEvent],
    operation_id: str,
    method: str,
    path: str,
) -> None:
    control = MemoryControl()
    # Every route but /health and the page's files checks the token first; /health reads the
    # clock first, the page's routes their file.
    monkeypatch.setattr(ControlAPI, "authorize", _boom)
    monkeypatch.setattr(control.clock, "seconds", _boom)
    monkeypatch.setattr(control_api, "_ui_bytes", _boom)
    reply = control.call(method, concrete(path), body=b"{}")
    assert reply.status == 500
    assert_documented(operation_by_id(operation_id)[2], reply)
    assert [event["log_failure"].type for event in logged] == [RuntimeError]
    logged.clear()


def test_every_documented_response_is_produced() -> None:
    produced = {(s.operation_id, s.status) for s in SCENARIOS}
    produced |= {(operation_id, 401) for operation_id, _, _ in NON_PUBLIC}
    produced |= {(operation["operationId"], 500) for _, _, operation in operations()}
    documented = {
        (operation["operationId"], int(status))
        for _, _, operation in operations()
        for status in operation["responses"]
    }
    assert produced == documented
