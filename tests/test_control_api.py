"""The control API in memory: every endpoint and every error, over treq's StubTreq.

Each test builds a :class:`~tests.control_memory.MemoryControl` (the bundled profiles,
``default`` active, a task.Clock); nothing listens and no reactor runs, so these are plain
synchronous tests. A long poll stays pending until the test touches the journal or advances
the clock.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.logger import LogEvent, LogLevel, capturedLogs, formatEvent
from twisted.web.client import ResponseNeverReceived
from werkzeug.exceptions import MethodNotAllowed, NotFound

from fakeorigin import __version__
from fakeorigin.control import api as control_api
from fakeorigin.control.api import ControlAPI
from fakeorigin.control.openapi import openapi_document
from fakeorigin.core.catalogue import catalogue_document
from fakeorigin.core.journal import ExchangeRecord, Journal, Outcome
from fakeorigin.core.loader import bundled_profiles_dir, load_profile_dir
from fakeorigin.core.profile import Profile
from fakeorigin.core.state import OriginState
from fakeorigin.core.wire import RequestHead
from fakeorigin.http1.factory import OriginFactory
from tests.control_memory import MemoryControl, add_record, capture_control_log

TOKEN = "s3cret-token"
#: A valid profile body, as a client would PUT it.
MINE = {
    "name": "mine",
    "description": "a test profile",
    "steps": [
        {"informational": {"status": 103, "headers": {"link": "</a.css>; rel=preload"}}},
        {"respond": {"status": 200, "headers": {"content-type": "text/plain"}, "body": "hi\n"}},
    ],
}
#: The same profile as the API gives it back: headers as [name, value] pairs.
MINE_OUT = {
    "name": "mine",
    "description": "a test profile",
    "steps": [
        {"informational": {"status": 103, "headers": [["link", "</a.css>; rel=preload"]]}},
        {"respond": {"status": 200, "headers": [["content-type", "text/plain"]], "body": "hi\n"}},
    ],
}
MINE_YAML = """\
description: a test profile
steps:
  - informational: {status: 103, headers: {link: "</a.css>; rel=preload"}}
  - respond: {status: 200, headers: {content-type: text/plain}, body: "hi\\n"}
"""
#: Every route that needs the token when one is set: all but /health.
PROTECTED = [
    ("GET", "/profiles"),
    ("GET", "/profiles/default"),
    ("PUT", "/profiles/default"),
    ("DELETE", "/profiles/hang"),
    ("GET", "/active"),
    ("PUT", "/active"),
    ("GET", "/rules"),
    ("POST", "/rules"),
    ("DELETE", "/rules"),
    ("DELETE", "/rules/1"),
    ("GET", "/journal"),
    ("DELETE", "/journal"),
    ("GET", "/journal/1"),
    ("GET", "/journal/wait?timeout=1"),
    ("POST", "/reset"),
    ("GET", "/catalogue"),
    ("GET", "/openapi.json"),
]
UNAUTHORIZED = {
    "error": "unauthorized",
    "message": "send Authorization: Bearer <token>",
    "details": [],
}


@pytest.fixture(autouse=True)
def logged(monkeypatch: pytest.MonkeyPatch) -> list[LogEvent]:
    return capture_control_log(monkeypatch)


@pytest.fixture
def control() -> MemoryControl:
    return MemoryControl()


def error(code: str, message: str, *details: tuple[str, str]) -> dict[str, Any]:
    """An error body: code, message and (location, message) details."""
    return {
        "error": code,
        "message": message,
        "details": [{"location": where, "message": what} for where, what in details],
    }


def head(
    method: bytes = b"GET", target: bytes = b"/", *headers: tuple[bytes, bytes]
) -> RequestHead:
    return RequestHead(method, target, b"1.1", tuple(headers))


@dataclass(frozen=True)
class Snapshot:
    """Everything a control request could change."""

    profiles: list[tuple[str, Profile]]
    sources: dict[str, str]
    active: str
    rules: list[str]
    journal: list[dict[str, Any]]
    evicted: int

    @classmethod
    def of(cls, state: OriginState) -> Snapshot:
        return cls(
            list(state.profiles.items()),
            dict(state.sources),
            state.active,
            [repr(rule) for rule in state.rules],
            [record.to_dict() for record in state.journal],
            state.journal.evicted,
        )

    def assert_same(self, state: OriginState) -> None:
        now = Snapshot.of(state)
        assert now == self
        # The very same profile objects, not equal copies.
        assert all(a is b for (_, a), (_, b) in zip(now.profiles, self.profiles, strict=True))


# -- health -------------------------------------------------------------------------------


def test_health_reports_version_origin_and_uptime(control: MemoryControl) -> None:
    control.api.origin_urls = ["http://127.0.0.1:8080", "http://[::1]:8080"]
    control.clock.advance(2.5)
    reply = control.call("GET", "/health")
    assert reply.status == 200
    assert reply.header("content-type") == "application/json"
    assert reply.json() == {
        "status": "ok",
        "version": __version__,
        "origin": ["http://127.0.0.1:8080", "http://[::1]:8080"],
        "uptime_seconds": 2.5,
        "connections": None,  # no origin behind this API
        "ca": None,  # no --tls
        "workers": None,  # one process
    }


def test_health_reports_the_origins_connections(control: MemoryControl) -> None:
    factory = OriginFactory(control.state, control.clock)
    control.api.origin = factory
    factory.closed_connections, factory.refused_connections = 7, 2
    factory.max_connections = 300
    assert control.call("GET", "/health").json()["connections"] == {
        "open": 0,
        "closed": 7,
        "idle_closed": 0,
        "refused": 2,
        "max": 300,
    }


def test_health_is_public_even_with_a_token() -> None:
    control = MemoryControl(token=TOKEN)
    reply = control.call("GET", "/health")
    assert (reply.status, reply.json()["status"]) == (200, "ok")


# -- token --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN, "Bearer", f"Bearer {TOKEN}x"],
    ids=["missing", "wrong", "basic-scheme", "no-scheme", "no-credentials", "longer"],
)
def test_missing_or_wrong_token_is_401(authorization: str | None) -> None:
    control = MemoryControl(token=TOKEN)
    reply = control.call("GET", "/profiles", authorization=authorization)
    assert reply.status == 401
    assert reply.header("www-authenticate") == 'Bearer realm="fakeorigin"'
    assert reply.json() == UNAUTHORIZED


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_right_token_is_accepted_with_any_scheme_case(scheme: str) -> None:
    control = MemoryControl(token=TOKEN)
    reply = control.call("GET", "/active", authorization=f"{scheme} {TOKEN}")
    assert (reply.status, reply.json()) == (200, {"profile": "default"})
    assert reply.header("www-authenticate") is None


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_route_but_health_needs_the_token_and_changes_nothing(method: str, path: str) -> None:
    control = MemoryControl(token=TOKEN)
    rule = control.call(
        "POST", "/rules", json_body={"profile": "hang"}, authorization=f"Bearer {TOKEN}"
    )
    assert rule.status == 201
    add_record(control.state.journal)
    before = Snapshot.of(control.state)
    reply = control.call(method, path, json_body={"profile": "hang"})
    assert (reply.status, reply.json()) == (401, UNAUTHORIZED)
    before.assert_same(control.state)
    assert control.clock.getDelayedCalls() == []
    assert control.state.journal.watchers == []


# -- profiles -----------------------------------------------------------------------------


def test_list_profiles_names_descriptions_and_sources(control: MemoryControl) -> None:
    assert control.call("PUT", "/profiles/mine", json_body=MINE).status == 201
    hang = b"steps: [{hang: {}}]"
    assert control.call("PUT", "/profiles/hang", body=hang, content_type="text/yaml").status == 200
    reply = control.call("GET", "/profiles")
    assert reply.status == 200
    files = load_profile_dir(bundled_profiles_dir())
    expected = [
        {"name": name, "description": files[name].description, "source": "file"}
        for name in sorted(files)
        if name != "hang"
    ]
    expected.append({"name": "hang", "description": "", "source": "api"})
    expected.append({"name": "mine", "description": "a test profile", "source": "api"})
    assert reply.json() == {"profiles": sorted(expected, key=lambda p: p["name"])}


def test_get_profile_has_the_shape_of_its_yaml(control: MemoryControl) -> None:
    reply = control.call("GET", "/profiles/default")
    assert reply.status == 200
    assert reply.json() == yaml.safe_load((bundled_profiles_dir() / "default.yaml").read_text())


PRELOAD_CSS = "</style.css>; rel=preload; as=style"
PRELOAD_JS = "</app.js>; rel=preload; as=script"


def test_get_profile_gives_headers_as_pairs(control: MemoryControl) -> None:
    reply = control.call("GET", "/profiles/early-hints")
    assert reply.json() == {
        "name": "early-hints",
        "description": "Two 103 Early Hints with preload Links, then 200.",
        "steps": [
            {"informational": {"status": 103, "headers": [["link", PRELOAD_CSS]]}},
            {"sleep": 0.1},
            {"informational": {"status": 103, "headers": [["link", PRELOAD_JS]]}},
            {"read_body": {}},
            {
                "respond": {
                    "status": 200,
                    "headers": [["content-type", "text/plain"]],
                    "body": "hello\n",
                }
            },
        ],
    }


@pytest.mark.parametrize("name", sorted(load_profile_dir(bundled_profiles_dir())))
def test_every_profile_round_trips_through_get_and_put(control: MemoryControl, name: str) -> None:
    original = control.state.profiles[name]
    document = control.call("GET", f"/profiles/{name}").json()
    reply = control.call("PUT", f"/profiles/{name}", json_body=document)
    assert (reply.status, reply.json()) == (200, document)
    assert control.state.profiles[name] == original
    assert control.state.sources[name] == "api"


def test_put_json_creates_201_then_replaces_200(control: MemoryControl) -> None:
    created = control.call("PUT", "/profiles/mine", json_body=MINE)
    assert (created.status, created.json()) == (201, MINE_OUT)
    assert control.state.profiles["mine"] == Profile.model_validate(MINE)
    assert control.state.sources["mine"] == "api"
    replaced = control.call("PUT", "/profiles/mine", json_body={**MINE, "description": "v2"})
    assert (replaced.status, replaced.json()) == (200, {**MINE_OUT, "description": "v2"})
    assert control.state.profiles["mine"].description == "v2"
    assert control.call("GET", "/profiles/mine").json() == {**MINE_OUT, "description": "v2"}


@pytest.mark.parametrize(
    "content_type",
    ["application/yaml", "application/x-yaml", "text/yaml", "Application/YAML; charset=utf-8"],
)
def test_put_yaml_creates_201_then_replaces_200(control: MemoryControl, content_type: str) -> None:
    body = MINE_YAML.encode("utf-8")
    created = control.call("PUT", "/profiles/mine", body=body, content_type=content_type)
    assert (created.status, created.json()) == (201, MINE_OUT)
    replaced = control.call("PUT", "/profiles/mine", body=body, content_type=content_type)
    assert (replaced.status, replaced.json()) == (200, MINE_OUT)


def test_put_without_content_type_is_read_as_json(control: MemoryControl) -> None:
    reply = control.call("PUT", "/profiles/mine", body=b'{"steps": [{"hang": {}}]}')
    assert (reply.status, reply.json()) == (201, {"name": "mine", "steps": [{"hang": {}}]})


def test_invalid_profile_is_400_with_every_error_located(control: MemoryControl) -> None:
    body = {
        "steps": [
            {"informational": {"status": 200}},
            {"respond": {"status": 99, "headers": {"bad name": "x"}}},
        ],
        "colour": "blue",
    }
    reply = control.call("PUT", "/profiles/mine", json_body=body)
    assert reply.status == 400
    assert reply.json() == error(
        "invalid-profile",
        "profile 'mine' is invalid",
        ("steps[0].informational.status", "must be 100..199 except 101 (got 200)"),
        ("steps[1].respond.status", "must be 200..599 (got 99); send a 1xx with informational"),
        (
            "steps[1].respond.headers",
            "invalid field name 'bad name' (RFC 9110 section 5.1: a field name is a token)",
        ),
        ("colour", "Extra inputs are not permitted"),
    )


def test_name_mismatch_is_400_at_name(control: MemoryControl) -> None:
    reply = control.call("PUT", "/profiles/mine", json_body={**MINE, "name": "other"})
    assert reply.status == 400
    assert reply.json() == error(
        "invalid-profile",
        "profile 'mine' is invalid",
        ("name", "'other' does not match the file or path name 'mine'"),
    )


def test_invalid_name_in_the_path_is_400_at_name(control: MemoryControl) -> None:
    reply = control.call("PUT", "/profiles/Mine", json_body={"steps": [{"hang": {}}]})
    assert reply.status == 400
    assert reply.json() == error(
        "invalid-profile",
        "profile 'Mine' is invalid",
        ("name", "must be lower case letters, digits, '.', '_' or '-' (got 'Mine')"),
    )


@pytest.mark.parametrize(("body", "kind"), [(b"[]", "list"), (b"null", "NoneType")])
def test_a_profile_that_is_not_a_mapping_is_400(
    control: MemoryControl, body: bytes, kind: str
) -> None:
    reply = control.call("PUT", "/profiles/mine", body=body, content_type="application/json")
    assert reply.status == 400
    assert reply.json() == error(
        "invalid-profile", "profile 'mine' is invalid", ("", f"a profile is a mapping (got {kind})")
    )


def test_malformed_json_is_400_located(control: MemoryControl) -> None:
    reply = control.call(
        "PUT", "/profiles/mine", body=b'{"steps": [}', content_type="application/json"
    )
    assert reply.status == 400
    assert reply.json() == error(
        "malformed-json",
        "not JSON: Expecting value",
        ("line 1, column 12", "Expecting value"),
    )


def test_empty_body_is_malformed_json(control: MemoryControl) -> None:
    reply = control.call("PUT", "/active")
    assert reply.status == 400
    assert reply.json() == error(
        "malformed-json", "not JSON: Expecting value", ("line 1, column 1", "Expecting value")
    )


def test_malformed_yaml_is_400(control: MemoryControl) -> None:
    body = b"steps: [{hang: {}}"
    reply = control.call("PUT", "/profiles/mine", body=body, content_type="application/yaml")
    assert reply.status == 400
    with pytest.raises(yaml.YAMLError) as parsed:
        yaml.safe_load(body)
    assert reply.json() == error("malformed-yaml", f"not YAML: {parsed.value}")


def test_unsafe_yaml_tags_are_refused(control: MemoryControl) -> None:
    body = b"!!python/object/apply:os.system [echo owned]"
    reply = control.call("PUT", "/profiles/mine", body=body, content_type="application/yaml")
    assert reply.status == 400
    assert reply.json()["error"] == "malformed-yaml"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_other_content_types_are_415(control: MemoryControl, content_type: str) -> None:
    reply = control.call("PUT", "/profiles/mine", body=b"{}", content_type=content_type)
    assert reply.status == 415
    assert reply.json() == error(
        "unsupported-media-type", f"send application/json or application/yaml (got {content_type})"
    )


def test_body_over_the_limit_is_413_and_at_the_limit_is_read() -> None:
    control = MemoryControl(max_body_bytes=64)
    at_limit = b'{"description": "' + b"x" * 20 + b'", "steps": [{"hang": {}}]}'
    assert len(at_limit) == 64
    over = at_limit.replace(b'"x', b'"xx')
    assert len(over) == 65
    reply = control.call("PUT", "/profiles/mine", body=over)
    assert reply.status == 413
    assert reply.json() == error("body-too-large", "request bodies are limited to 64 bytes")
    assert "mine" not in control.state.profiles
    assert control.call("PUT", "/profiles/mine", body=at_limit).status == 201


def test_get_unknown_profile_is_404(control: MemoryControl) -> None:
    reply = control.call("GET", "/profiles/nope")
    assert reply.status == 404
    known = ", ".join(sorted(control.state.profiles))
    assert reply.json() == error("not-found", f"unknown profile 'nope'; known profiles: {known}")


def test_delete_profile_is_204_then_404(control: MemoryControl) -> None:
    assert control.call("PUT", "/profiles/mine", json_body=MINE).status == 201
    reply = control.call("DELETE", "/profiles/mine")
    assert (reply.status, reply.body) == (204, b"")
    assert "mine" not in control.state.profiles
    assert "mine" not in control.state.sources
    assert control.call("GET", "/profiles/mine").status == 404
    again = control.call("DELETE", "/profiles/mine")
    assert again.status == 404
    assert again.json()["error"] == "not-found"


def test_a_file_profile_can_be_deleted_too(control: MemoryControl) -> None:
    assert control.call("DELETE", "/profiles/hang").status == 204
    assert "hang" not in control.state.profiles


def test_delete_the_active_profile_is_409(control: MemoryControl) -> None:
    reply = control.call("DELETE", "/profiles/default")
    assert reply.status == 409
    assert reply.json() == error("profile-in-use", "profile 'default' is the active profile")
    assert "default" in control.state.profiles


def test_delete_a_profile_used_by_rules_is_409(control: MemoryControl) -> None:
    for _ in range(2):
        assert control.call("POST", "/rules", json_body={"profile": "hang"}).status == 201
    reply = control.call("DELETE", "/profiles/hang")
    assert reply.status == 409
    assert reply.json() == error("profile-in-use", "profile 'hang' is used by rule 1, 2")
    assert control.call("DELETE", "/rules").status == 204
    assert control.call("DELETE", "/profiles/hang").status == 204


# -- active profile -----------------------------------------------------------------------


def test_get_and_put_active(control: MemoryControl) -> None:
    assert control.call("GET", "/active").json() == {"profile": "default"}
    reply = control.call("PUT", "/active", json_body={"profile": "hang"})
    assert (reply.status, reply.json()) == (200, {"profile": "hang"})
    assert control.call("GET", "/active").json() == {"profile": "hang"}
    chosen = control.state.select(head())
    assert (chosen.profile.name, chosen.selected_by) == ("hang", "active")


def test_put_active_takes_yaml_too(control: MemoryControl) -> None:
    reply = control.call("PUT", "/active", body=b"profile: hang", content_type="text/yaml")
    assert (reply.status, control.state.active) == (200, "hang")


def test_put_active_unknown_profile_is_400_at_profile(control: MemoryControl) -> None:
    reply = control.call("PUT", "/active", json_body={"profile": "nope"})
    assert reply.status == 400
    assert reply.json() == error(
        "unknown-profile", "no profile named 'nope'", ("profile", "unknown profile 'nope'")
    )
    assert control.state.active == "default"


@pytest.mark.parametrize(
    ("body", "details"),
    [
        ({}, [("profile", "Field required")]),
        ({"profile": 5}, [("profile", "Input should be a valid string")]),
        (
            {"profile": "hang", "extra": 1},
            [("extra", "Extra inputs are not permitted")],
        ),
    ],
    ids=["missing", "not-a-string", "extra-field"],
)
def test_put_active_invalid_body_is_400_located(
    control: MemoryControl, body: dict[str, Any], details: list[tuple[str, str]]
) -> None:
    reply = control.call("PUT", "/active", json_body=body)
    assert reply.status == 400
    assert reply.json() == error("invalid-input", "the request does not validate", *details)


# -- rules --------------------------------------------------------------------------------


def rule_out(
    rule_id: int,
    profile: str,
    *,
    times: int | None = None,
    remaining: int | None = None,
    **match: Any,
) -> dict[str, Any]:
    """A rule as the API shows it."""
    full_match: dict[str, Any] = {
        "method": None,
        "path_prefix": None,
        "path_regex": None,
        "headers": {},
    }
    return {
        "id": rule_id,
        "match": {**full_match, **match},
        "profile": profile,
        "times": times,
        "remaining": remaining,
    }


def test_post_rule_is_201_with_its_id(control: MemoryControl) -> None:
    body = {"match": {"method": "POST", "path_prefix": "/upload"}, "profile": "hang"}
    reply = control.call("POST", "/rules", json_body=body)
    assert reply.status == 201
    assert reply.json() == rule_out(1, "hang", method="POST", path_prefix="/upload")
    assert [rule.id for rule in control.state.rules] == [1]


def test_rules_are_listed_in_order_and_deleted_one_or_all(control: MemoryControl) -> None:
    for prefix in ("/a", "/b", "/c"):
        body = {"match": {"path_prefix": prefix}, "profile": "hang"}
        assert control.call("POST", "/rules", json_body=body).status == 201
    listed = control.call("GET", "/rules")
    assert (listed.status, listed.json()) == (
        200,
        {
            "rules": [
                rule_out(1, "hang", path_prefix="/a"),
                rule_out(2, "hang", path_prefix="/b"),
                rule_out(3, "hang", path_prefix="/c"),
            ]
        },
    )
    deleted = control.call("DELETE", "/rules/2")
    assert (deleted.status, deleted.body) == (204, b"")
    assert [r["id"] for r in control.call("GET", "/rules").json()["rules"]] == [1, 3]
    cleared = control.call("DELETE", "/rules")
    assert (cleared.status, cleared.body) == (204, b"")
    assert control.call("GET", "/rules").json() == {"rules": []}
    # Ids are never reused.
    assert control.call("POST", "/rules", json_body={"profile": "hang"}).json()["id"] == 4


def test_delete_unknown_rule_is_404(control: MemoryControl) -> None:
    reply = control.call("DELETE", "/rules/9")
    assert reply.status == 404
    assert reply.json() == error("not-found", "no rule with id 9")


def test_rule_with_every_match_field_selects_matching_requests(control: MemoryControl) -> None:
    match: dict[str, Any] = {
        "method": "PUT",
        "path_regex": r"^/items/\d+$",
        "headers": {"X-Case": "7"},
    }
    reply = control.call("POST", "/rules", json_body={"match": match, "profile": "hang"})
    assert reply.json() == rule_out(1, "hang", **match)
    case = (b"x-case", b"7")
    assert control.state.select(head(b"PUT", b"/items/12", case)).selected_by == "rule"
    assert control.state.select(head(b"GET", b"/items/12", case)).selected_by == "active"
    assert control.state.select(head(b"PUT", b"/items/x", case)).selected_by == "active"
    assert control.state.select(head(b"PUT", b"/items/12")).selected_by == "active"


def test_rule_with_times_stays_listed_with_zero_left(control: MemoryControl) -> None:
    body = {"match": {"path_prefix": "/twice"}, "profile": "hang", "times": 2}
    created = control.call("POST", "/rules", json_body=body)
    assert created.json() == rule_out(1, "hang", times=2, remaining=2, path_prefix="/twice")
    picked = [control.state.select(head(b"GET", b"/twice")).selected_by for _ in range(3)]
    assert picked == ["rule", "rule", "active"]
    listed = control.call("GET", "/rules").json()
    assert listed == {"rules": [rule_out(1, "hang", times=2, remaining=0, path_prefix="/twice")]}


def test_bad_regex_is_400_at_match_path_regex(control: MemoryControl) -> None:
    reply = control.call(
        "POST", "/rules", json_body={"match": {"path_regex": "(unclosed"}, "profile": "hang"}
    )
    with pytest.raises(re.error) as compiled:
        re.compile("(unclosed")
    assert reply.status == 400
    assert reply.json() == error(
        "invalid-input",
        "the request does not validate",
        ("match.path_regex", f"not a valid regular expression: {compiled.value}"),
    )


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (
            {"profile": "hang", "times": 0},
            [("times", "Input should be greater than or equal to 1")],
        ),
        (
            {"match": {"method": ""}, "profile": "hang"},
            [("match.method", "String should have at least 1 character")],
        ),
        (
            {"match": {"verb": "GET"}, "profile": "hang"},
            [("match.verb", "Extra inputs are not permitted")],
        ),
        ({}, [("profile", "Field required")]),
    ],
    ids=["times-0", "empty-method", "unknown-match-field", "no-profile"],
)
def test_invalid_rule_is_400_located(
    control: MemoryControl, body: dict[str, Any], details: list[tuple[str, str]]
) -> None:
    reply = control.call("POST", "/rules", json_body=body)
    assert reply.status == 400
    assert reply.json() == error("invalid-input", "the request does not validate", *details)


def test_rule_for_unknown_profile_is_400_at_profile(control: MemoryControl) -> None:
    reply = control.call("POST", "/rules", json_body={"profile": "nope"})
    assert reply.status == 400
    assert reply.json() == error(
        "unknown-profile", "no profile named 'nope'", ("profile", "unknown profile 'nope'")
    )
    # A refused rule uses no id.
    assert control.call("POST", "/rules", json_body={"profile": "hang"}).json()["id"] == 1


# -- journal ------------------------------------------------------------------------------


@pytest.fixture
def four_records(control: MemoryControl) -> list[ExchangeRecord]:
    journal = control.state.journal
    return [
        add_record(journal, "GET", "/a", "default", Outcome.KEEP_ALIVE),
        add_record(journal, "POST", "/a/b", "hang", Outcome.CLOSED),
        add_record(journal, "GET", "/b", "default", Outcome.RUNNING),
        add_record(journal, "PUT", "/a", "hang", Outcome.CLIENT_GONE),
    ]


def test_journal_lists_every_entry_oldest_first(
    control: MemoryControl, four_records: list[ExchangeRecord]
) -> None:
    reply = control.call("GET", "/journal")
    assert reply.status == 200
    assert reply.json() == {"entries": [r.to_dict() for r in four_records], "evicted": 0}


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("", [1, 2, 3, 4]),
        ("limit=2", [1, 2]),
        ("after_id=2", [3, 4]),
        ("after_id=1&limit=2", [2, 3]),
        ("profile=hang", [2, 4]),
        ("path_prefix=/a", [1, 2, 4]),
        ("path_prefix=/a/", [2]),
        ("method=GET", [1, 3]),
        ("ended=true", [1, 2, 4]),
        ("ended=false", [3]),
        ("method=GET&ended=true", [1]),
        ("profile=nope", []),
    ],
)
def test_journal_filters(
    control: MemoryControl, four_records: list[ExchangeRecord], query: str, ids: list[int]
) -> None:
    reply = control.call("GET", f"/journal?{query}")
    assert reply.status == 200
    assert [entry["id"] for entry in reply.json()["entries"]] == ids


def test_journal_counts_evicted_entries() -> None:
    control = MemoryControl(journal_size=2)
    for _ in range(3):
        add_record(control.state.journal)
    page = control.call("GET", "/journal").json()
    assert ([e["id"] for e in page["entries"]], page["evicted"]) == ([2, 3], 1)


@pytest.mark.parametrize(
    ("query", "details"),
    [
        ("limit=0", [("query.limit", "Input should be greater than or equal to 1")]),
        ("limit=10001", [("query.limit", "Input should be less than or equal to 10000")]),
        (
            "after_id=x",
            [
                (
                    "query.after_id",
                    "Input should be a valid integer, unable to parse string as an integer",
                )
            ],
        ),
        (
            "ended=maybe",
            [("query.ended", "Input should be a valid boolean, unable to interpret input")],
        ),
        ("colour=blue", [("query.colour", "Extra inputs are not permitted")]),
    ],
)
def test_journal_bad_query_is_400_located(
    control: MemoryControl, query: str, details: list[tuple[str, str]]
) -> None:
    reply = control.call("GET", f"/journal?{query}")
    assert reply.status == 400
    assert reply.json() == error("invalid-input", "the request does not validate", *details)


def test_journal_entry_by_id_and_404(
    control: MemoryControl, four_records: list[ExchangeRecord]
) -> None:
    reply = control.call("GET", "/journal/2")
    assert (reply.status, reply.json()) == (200, four_records[1].to_dict())
    missing = control.call("GET", "/journal/9")
    assert missing.status == 404
    assert missing.json() == error("not-found", "no journal entry 9 (unknown or evicted)")


def test_delete_journal_is_204_and_ids_keep_increasing(
    control: MemoryControl, four_records: list[ExchangeRecord]
) -> None:
    reply = control.call("DELETE", "/journal")
    assert (reply.status, reply.body) == (204, b"")
    assert control.call("GET", "/journal").json() == {"entries": [], "evicted": 0}
    assert add_record(control.state.journal).id == 5


# -- journal/wait -------------------------------------------------------------------------


def assert_no_waiter_left(control: MemoryControl) -> None:
    assert control.state.journal.watchers == []
    assert control.clock.getDelayedCalls() == []


def test_wait_returns_at_once_when_enough_entries_exist(
    control: MemoryControl, four_records: list[ExchangeRecord]
) -> None:
    reply = control.call("GET", "/journal/wait?count=2&profile=hang")
    assert reply.status == 200
    assert reply.json() == {
        "entries": [four_records[1].to_dict(), four_records[3].to_dict()],
        "evicted": 0,
    }
    assert_no_waiter_left(control)


def test_wait_resolves_when_a_matching_exchange_ends(control: MemoryControl) -> None:
    journal = control.state.journal
    waiting = control.start("GET", "/journal/wait?count=1&timeout=5&path_prefix=/late")
    assert waiting.pending
    assert len(journal.watchers) == 1
    late = add_record(journal, target="/late", outcome=Outcome.RUNNING)
    journal.touch()
    add_record(journal, target="/other")
    journal.touch()
    control.flush()
    assert waiting.pending, "resolved by a running exchange or one that does not match"
    control.clock.advance(1)
    late.outcome = Outcome.KEEP_ALIVE
    journal.touch()
    control.flush()
    reply = waiting.reply()
    assert (reply.status, reply.json()) == (200, {"entries": [late.to_dict()], "evicted": 0})
    assert_no_waiter_left(control)


def test_wait_for_running_exchanges_resolves_when_one_opens(control: MemoryControl) -> None:
    waiting = control.start("GET", "/journal/wait?ended=false&count=2")
    first = add_record(control.state.journal, outcome=Outcome.RUNNING)
    control.state.journal.touch()
    control.flush()
    assert waiting.pending
    second = add_record(control.state.journal, outcome=Outcome.RUNNING)
    control.state.journal.touch()
    control.flush()
    expected = {"entries": [first.to_dict(), second.to_dict()], "evicted": 0}
    assert waiting.reply().json() == expected
    assert_no_waiter_left(control)


def test_a_wait_reads_only_the_record_each_change_names(
    control: MemoryControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held open while a load runs, a wait must not read the whole journal at every exchange:
    after its first look, only the record a change names (and the answer reads it once)."""
    journal = control.state.journal
    for _ in range(50):
        add_record(journal, target="/other")
    waiting = control.start("GET", "/journal/wait?count=2&timeout=5&path_prefix=/late")
    reads: list[str] = []

    def counted(name: str) -> Any:
        method = getattr(journal, name)

        def read(*args: Any) -> Any:
            reads.append(name)
            return method(*args)

        return read

    for name in ("ids", "select"):
        monkeypatch.setattr(journal, name, counted(name))
    for _ in range(2):
        late = add_record(journal, target="/late", outcome=Outcome.RUNNING)
        journal.touch(late)
        journal.touch(add_record(journal, target="/other"))
        late.outcome = Outcome.CLOSED
        journal.touch(late)
    control.flush()
    assert [entry["target"] for entry in waiting.reply().json()["entries"]] == ["/late"] * 2
    assert reads == ["select"]  # the answer's page
    assert_no_waiter_left(control)


def test_an_evicted_match_no_longer_counts() -> None:
    control = MemoryControl(journal_size=3)
    journal = control.state.journal
    waiting = control.start("GET", "/journal/wait?count=2&timeout=5&path_prefix=/late")
    journal.touch(add_record(journal, target="/late"))
    for _ in range(3):  # the match is evicted
        journal.touch(add_record(journal, target="/other"))
    journal.touch(add_record(journal, target="/late"))
    control.flush()
    assert waiting.pending
    journal.touch(add_record(journal, target="/late"))
    control.flush()
    assert len(waiting.reply().json()["entries"]) == 2
    assert_no_waiter_left(control)


def test_wait_times_out_with_408_and_cleans_up(control: MemoryControl) -> None:
    add_record(control.state.journal)
    waiting = control.start("GET", "/journal/wait?count=2&timeout=5")
    [timer] = control.clock.getDelayedCalls()
    assert timer.getTime() == 5.0
    control.clock.advance(4.999)
    control.flush()
    assert waiting.pending
    control.clock.advance(0.001)
    control.flush()
    reply = waiting.reply()
    assert reply.status == 408
    assert reply.json() == error("timeout", "fewer than 2 matching entries after 5.0 s")
    assert_no_waiter_left(control)


def test_wait_cleans_up_when_the_client_leaves(
    control: MemoryControl, logged: list[LogEvent]
) -> None:
    waiting = control.start("GET", "/journal/wait?timeout=30")
    assert len(control.state.journal.watchers) == 1
    assert len(control.clock.getDelayedCalls()) == 1
    with capturedLogs() as global_events:
        waiting.cancel()
        control.flush()
        assert_no_waiter_left(control)
        # An exchange ending after the client left wakes nobody and breaks nothing.
        add_record(control.state.journal)
        control.state.journal.touch()
        control.flush()
    with pytest.raises(ResponseNeverReceived):
        waiting.reply()
    assert list(global_events) == []
    assert logged == []


def test_wait_with_a_bad_query_is_400_and_waits_for_nothing(control: MemoryControl) -> None:
    reply = control.call("GET", "/journal/wait?count=0&timeout=301")
    assert reply.status == 400
    assert reply.json() == error(
        "invalid-input",
        "the request does not validate",
        ("query.count", "Input should be greater than or equal to 1"),
        ("query.timeout", "Input should be less than or equal to 300"),
    )
    assert_no_waiter_left(control)


def test_two_waits_are_independent(control: MemoryControl) -> None:
    short = control.start("GET", "/journal/wait?timeout=1")
    long = control.start("GET", "/journal/wait?timeout=10&method=POST")
    control.clock.advance(1)
    control.flush()
    assert short.reply().status == 408
    assert long.pending
    record = add_record(control.state.journal, method="POST")
    control.state.journal.touch()
    control.flush()
    assert long.reply().json()["entries"] == [record.to_dict()]
    assert_no_waiter_left(control)


# -- reset --------------------------------------------------------------------------------


def test_reset_restores_the_startup_state(control: MemoryControl) -> None:
    startup = load_profile_dir(bundled_profiles_dir())
    control.call("PUT", "/profiles/mine", json_body=MINE)
    control.call("PUT", "/profiles/default", json_body={"steps": [{"hang": {}}]})
    control.call("DELETE", "/profiles/expect-reject")
    control.call("PUT", "/active", json_body={"profile": "mine"})
    control.call("POST", "/rules", json_body={"profile": "hang", "times": 1})
    add_record(control.state.journal)
    reply = control.call("POST", "/reset")
    assert (reply.status, reply.body) == (204, b"")
    assert control.state.profiles == startup
    assert control.state.sources == dict.fromkeys(startup, "file")
    assert control.state.active == "default"
    assert control.state.rules == []
    assert list(control.state.journal) == []
    assert control.call("GET", "/profiles/default").json() == yaml.safe_load(
        (bundled_profiles_dir() / "default.yaml").read_text()
    )


# -- routing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("GET", "/journal/abc"), ("DELETE", "/rules/x"), ("GET", "/profiles/")],
)
def test_unknown_route_is_404_in_the_error_shape(
    control: MemoryControl, method: str, path: str
) -> None:
    reply = control.call(method, path)
    assert reply.status == 404
    assert reply.header("content-type") == "application/json"
    assert reply.json() == error("not-found", NotFound.description or "")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/health", {"GET", "HEAD"}),
        ("PATCH", "/profiles/x", {"GET", "HEAD", "PUT", "DELETE"}),
        ("PUT", "/journal", {"GET", "HEAD", "DELETE"}),
        ("GET", "/reset", {"POST"}),
        ("POST", "/rules/1", {"DELETE"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    control: MemoryControl, method: str, path: str, allowed: set[str]
) -> None:
    reply = control.call(method, path)
    assert reply.status == 405
    assert set((reply.header("allow") or "").split(", ")) == allowed
    assert reply.json() == error("method-not-allowed", MethodNotAllowed.description or "")


@pytest.mark.parametrize(
    ("path", "status"), [("/health", 200), ("/active", 200), ("/profiles/nope", 404)]
)
def test_head_is_answered_by_the_get_handler_without_a_body(
    control: MemoryControl, path: str, status: int
) -> None:
    """One route per path, dispatched on the method: HEAD takes GET's answer, body dropped."""
    got = control.call("GET", path)
    head = control.call("HEAD", path)
    assert (head.status, head.header("content-type")) == (status, got.header("content-type"))
    assert (got.body != b"", head.body) == (True, b"")


def test_catalogue_is_served(control: MemoryControl) -> None:
    reply = control.call("GET", "/catalogue")
    assert (reply.status, reply.json()) == (200, catalogue_document())


def test_openapi_document_is_served(control: MemoryControl) -> None:
    reply = control.call("GET", "/openapi.json")
    assert (reply.status, reply.json()) == (200, openapi_document())


# -- a request that is refused changes nothing ----------------------------------------------


REFUSED = [
    ("PUT", "/profiles/default", {"json_body": {"steps": []}}, 400),
    ("PUT", "/profiles/default", {"json_body": {"name": "other", "steps": [{"hang": {}}]}}, 400),
    ("PUT", "/profiles/default", {"body": b"{", "content_type": "application/json"}, 400),
    ("PUT", "/profiles/default", {"body": b"[", "content_type": "application/yaml"}, 400),
    ("PUT", "/profiles/default", {"body": b"steps: []", "content_type": "text/plain"}, 415),
    ("PUT", "/profiles/default", {"body": b"{" + b" " * 600 + b"}"}, 413),
    ("DELETE", "/profiles/nope", {}, 404),
    ("DELETE", "/profiles/default", {}, 409),
    ("DELETE", "/profiles/hang", {}, 409),
    ("PUT", "/active", {"json_body": {"profile": "nope"}}, 400),
    ("PUT", "/active", {"json_body": {"profile": "hang", "x": 1}}, 400),
    ("POST", "/rules", {"json_body": {"profile": "nope"}}, 400),
    ("POST", "/rules", {"json_body": {"match": {"path_regex": "["}, "profile": "hang"}}, 400),
    ("POST", "/rules", {"json_body": {"profile": "hang", "times": -1}}, 400),
    ("DELETE", "/rules/99", {}, 404),
    ("GET", "/journal/99", {}, 404),
    ("GET", "/journal?limit=0", {}, 400),
    ("POST", "/journal", {}, 405),
    ("PUT", "/reset", {}, 405),
    ("GET", "/nowhere", {}, 404),
]


@pytest.mark.parametrize(("method", "path", "request_args", "status"), REFUSED)
def test_a_refused_request_changes_nothing(
    method: str, path: str, request_args: dict[str, Any], status: int
) -> None:
    control = MemoryControl(max_body_bytes=512)
    assert control.call("PUT", "/profiles/mine", json_body=MINE).status == 201
    assert control.call("POST", "/rules", json_body={"profile": "hang", "times": 3}).status == 201
    add_record(control.state.journal)
    before = Snapshot.of(control.state)
    reply = control.call(method, path, **request_args)
    assert reply.status == status
    assert set(reply.json()) == {"error", "message", "details"}
    before.assert_same(control.state)
    assert control.call("POST", "/rules", json_body={"profile": "hang"}).json()["id"] == 2


# -- unexpected exceptions ----------------------------------------------------------------


def _boom(*args: object, **kwargs: object) -> Any:
    raise RuntimeError("boom")


#: What to break so that a route raises: (method, path, object, attribute).
BREAKAGES = [
    ("POST", "/reset", OriginState, "reset"),
    ("GET", "/profiles", control_api, "ProfileList"),
    ("GET", "/journal/wait", control_api, "JournalWaiter"),
]


@pytest.mark.parametrize("breakage", BREAKAGES, ids=["state-method", "model", "async-handler"])
def test_an_unexpected_exception_is_logged_and_answered_500(
    control: MemoryControl,
    logged: list[LogEvent],
    monkeypatch: pytest.MonkeyPatch,
    breakage: tuple[str, str, object, str],
) -> None:
    method, path, target, attribute = breakage
    monkeypatch.setattr(target, attribute, _boom)
    reply = control.call(method, path)
    assert reply.status == 500
    assert reply.json() == error("internal-error", "see the server log")
    [event] = logged
    assert event["log_level"] is LogLevel.critical
    assert event["log_namespace"] == "fakeorigin.control.api"
    assert event["log_failure"].type is RuntimeError
    assert str(event["log_failure"].value) == "boom"
    assert "RuntimeError: boom" in event["log_failure"].getTraceback()
    logged.clear()


# -- known bugs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"\xff\xfe{", "application/json", "malformed-json"),
        (b"\xc3\x28", "application/json", "malformed-json"),
        (b"description: \xc3\x28", "application/yaml", "malformed-yaml"),
    ],
    ids=["json-utf-16-truncated", "json-bad-utf-8", "yaml-bad-utf-8"],
)
def test_a_body_that_is_not_utf8_is_400(
    control: MemoryControl, body: bytes, content_type: str, code: str
) -> None:
    reply = control.call("PUT", "/profiles/mine", body=body, content_type=content_type)
    assert reply.status == 400
    assert reply.json()["error"] == code
    assert reply.json()["details"] == []


@pytest.mark.parametrize("content_type", ["application/json", "application/yaml"])
def test_a_body_nested_too_deeply_is_400(control: MemoryControl, content_type: str) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    reply = control.call("PUT", "/profiles/mine", body=body, content_type=content_type)
    assert reply.status == 400
    assert reply.json() == error("malformed-input", "nested too deeply")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"profile": ' + b"1" * 5000 + b"}", "application/json"),
        (b"profile: " + b"1" * 5000, "application/yaml"),
    ],
    ids=["json", "yaml"],
)
def test_an_integer_too_long_to_convert_is_400(
    control: MemoryControl, logged: list[LogEvent], body: bytes, content_type: str
) -> None:
    reply = control.call("PUT", "/active", body=body, content_type=content_type)
    logged.clear()
    assert reply.status == 400
    assert reply.json()["error"] in {"malformed-json", "malformed-yaml", "malformed-input"}


def test_doubled_slash_is_404_in_the_error_shape(control: MemoryControl) -> None:
    reply = control.call("GET", "/profiles//default")
    assert reply.status == 404
    assert reply.json()["error"] == "not-found"


def test_non_utf8_path_is_answered_in_the_error_shape(control: MemoryControl) -> None:
    reply = control.call("GET", "/profiles/%ff")
    assert reply.header("content-type") == "application/json"
    assert reply.status == 400
    assert set(reply.json()) == {"error", "message", "details"}


def test_the_500_log_line_names_method_and_path_as_text(
    control: MemoryControl, logged: list[LogEvent], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OriginState, "reset", _boom)
    control.call("POST", "/reset")
    [event] = logged
    logged.clear()
    assert formatEvent(event) == "control API: POST /reset failed"


def test_put_profile_refuses_one_max_duration_would_always_cut() -> None:
    """The start-up rule holds for uploads too: nothing is stored, the error is located."""
    state = OriginState(load_profile_dir(bundled_profiles_dir()), "default", Journal(10))
    stub = StubTreq(ControlAPI(state, Clock(), max_duration_seconds=1.0).app.resource())
    replies: list[tuple[int, dict[str, Any]]] = []

    def put(body: dict[str, Any]) -> None:
        request = stub.put(  # type: ignore[attr-defined]
            "http://x/profiles/slow", data=json.dumps(body).encode()
        )
        request.addCallback(lambda r: r.json().addCallback(lambda j: replies.append((r.code, j))))
        stub.flush()

    put({"steps": [{"sleep": 5}, {"respond": {"status": 200}}]})
    status, error = replies[-1]
    assert status == 400
    assert error["error"] == "invalid-profile"
    assert error["details"][0]["location"] == "steps"
    assert "not less than --max-duration 1 s" in error["details"][0]["message"]
    assert "slow" not in state.profiles
    put({"steps": [{"sleep": 0.5}, {"respond": {"status": 200}}]})
    assert replies[-1][0] == 201
