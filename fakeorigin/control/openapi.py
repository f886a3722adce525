"""The control API's OpenAPI 3.1 document, built from the same pydantic models it validates with.

:data:`OPERATIONS` lists every route once; ``tests/test_control_openapi.py`` checks that it and
the Klein app's routes are the same set and that responses match their schemas. Pure: no
Twisted.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from fakeorigin import __version__
from fakeorigin.control.models import (
    Active,
    ErrorBody,
    HarDocument,
    Health,
    JournalEntry,
    JournalPage,
    JournalQuery,
    JournalWait,
    ProfileList,
    RuleIn,
    RuleList,
    RuleOut,
)
from fakeorigin.core.profile import Profile

_REF = "#/components/schemas/{model}"


@dataclass(frozen=True, slots=True)
class Operation:
    """One route: method, OpenAPI path, and its documents."""

    method: str
    path: str
    operation_id: str
    summary: str
    responses: dict[int, type[BaseModel] | None]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    public: bool = False
    errors: tuple[int, ...] = field(default=())
    #: The media type of a response without a model (the journal page's files).
    media_type: str = "application/json"


_NAME = "/profiles/{name}"
OPERATIONS = (
    Operation(
        "GET",
        "/health",
        "health",
        "Liveness, version, origin URLs, uptime",
        {200: Health},
        public=True,
    ),
    Operation(
        "GET",
        "/profiles",
        "listProfiles",
        "Every profile: name, description, source",
        {200: ProfileList},
    ),
    Operation(
        "GET",
        _NAME,
        "getProfile",
        "One profile, in the shape of its YAML",
        {200: Profile},
        errors=(404,),
    ),
    Operation(
        "PUT",
        _NAME,
        "putProfile",
        "Create (201) or replace (200) a profile; JSON or application/yaml",
        {200: Profile, 201: Profile},
        body=Profile,
        errors=(400, 413, 415),
    ),
    Operation(
        "DELETE",
        _NAME,
        "deleteProfile",
        "Delete a profile; 409 while it is active or a rule uses it",
        {204: None},
        errors=(404, 409),
    ),
    Operation(
        "GET",
        "/active",
        "getActive",
        "The profile used when no header or rule picks one",
        {200: Active},
    ),
    Operation(
        "PUT",
        "/active",
        "putActive",
        "Change the active profile for requests from now on",
        {200: Active},
        body=Active,
        errors=(400, 413, 415),
    ),
    Operation("GET", "/rules", "listRules", "Rules, in the order they are tried", {200: RuleList}),
    Operation(
        "POST",
        "/rules",
        "addRule",
        "Add a rule at the end",
        {201: RuleOut},
        body=RuleIn,
        errors=(400, 413, 415),
    ),
    Operation("DELETE", "/rules", "clearRules", "Delete every rule", {204: None}),
    Operation(
        "DELETE", "/rules/{rule_id}", "deleteRule", "Delete one rule", {204: None}, errors=(404,)
    ),
    Operation(
        "GET",
        "/journal",
        "journal",
        "Journal entries matching the filters, oldest first",
        {200: JournalPage},
        query=JournalQuery,
        errors=(400,),
    ),
    Operation(
        "GET",
        "/journal.har",
        "journalHar",
        "Journal entries matching the filters as HAR 1.2, oldest first",
        {200: HarDocument},
        query=JournalQuery,
        errors=(400,),
    ),
    Operation("DELETE", "/journal", "clearJournal", "Forget every entry", {204: None}),
    Operation(
        "GET",
        "/journal/{record_id}",
        "journalEntry",
        "One journal entry",
        {200: JournalEntry},
        errors=(404,),
    ),
    Operation(
        "GET",
        "/journal/wait",
        "journalWait",
        "Long-poll until `count` entries match (ended ones by default), else 408",
        {200: JournalPage},
        query=JournalWait,
        errors=(400, 408),
    ),
    Operation(
        "GET",
        "/ui",
        "ui",
        "The journal page (HTML; its data comes from this API, with the token)",
        {200: None},
        public=True,
        media_type="text/html",
    ),
    Operation(
        "GET",
        "/ui/ui.js",
        "uiScript",
        "The journal page's script",
        {200: None},
        public=True,
        media_type="text/javascript",
    ),
    Operation(
        "GET",
        "/ui/ui.css",
        "uiStyle",
        "The journal page's style sheet",
        {200: None},
        public=True,
        media_type="text/css",
    ),
    Operation(
        "GET",
        "/ui/icon.svg",
        "uiIcon",
        "The journal page's icon",
        {200: None},
        public=True,
        media_type="image/svg+xml",
    ),
    Operation(
        "POST",
        "/reset",
        "reset",
        "Back to the start-up state: API profiles, rules and journal gone, active restored",
        {204: None},
    ),
    Operation(
        "GET",
        "/catalogue",
        "catalogue",
        "The violation catalogue: every entry's rule, parameters, bytes and outcomes",
        {200: None},
    ),
    Operation("GET", "/openapi.json", "openapi", "This document", {200: None}),
)

_PATH_PARAMETER_TYPES = {"name": "string", "rule_id": "integer", "record_id": "integer"}
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad input, every error located",
    401: "Missing or wrong bearer token",
    404: "Not found",
    408: "Timed out",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported content type",
    500: "Unexpected error (logged)",
}


@functools.cache
def _components() -> tuple[dict[str, Any], dict[Any, dict[str, Any]]]:
    """The component schemas, and the reference to each (model, mode)."""
    models: set[type[BaseModel]] = {Profile, ErrorBody, JournalEntry}
    for operation in OPERATIONS:
        models.update(m for m in operation.responses.values() if m is not None)
        if operation.body is not None:
            models.add(operation.body)
    inputs: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (model, "serialization") for model in sorted(models, key=lambda m: m.__name__)
    ]
    inputs += [(model, "validation") for model in (Profile, RuleIn, Active)]
    refs, document = models_json_schema(inputs, ref_template=_REF)
    schemas = dict(document.get("$defs", {}))
    # Profile in validation mode is PUT /profiles/{name}'s body, whose name comes from the path.
    body = schemas[refs[(Profile, "validation")]["$ref"].rpartition("/")[2]]
    body["required"] = [name for name in body["required"] if name != "name"]
    return schemas, dict(refs)


def _ref(model: type[BaseModel], mode: JsonSchemaMode = "serialization") -> dict[str, str]:
    """The reference to ``model``'s schema for responses or, with ``validation``, bodies."""
    return dict(_components()[1][(model, mode)])


def _parameters(operation: Operation) -> list[dict[str, Any]]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": _PATH_PARAMETER_TYPES[name]},
        }
        for name in re.findall(r"{(\w+)}", operation.path)
    ]
    if operation.query is not None:
        schema = operation.query.model_json_schema()
        for name, prop in schema["properties"].items():
            described = {k: v for k, v in prop.items() if k != "title"}
            parameters.append({"name": name, "in": "query", "required": False, "schema": described})
    return parameters


def _operation(operation: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in operation.responses.items():
        entry: dict[str, Any] = {"description": _STATUS_TEXT[status]}
        if model is not None:
            entry["content"] = {"application/json": {"schema": _ref(model)}}
        elif operation.media_type != "application/json":
            entry["content"] = {operation.media_type: {"schema": {"type": "string"}}}
        elif status != 204:
            entry["content"] = {"application/json": {"schema": {"type": "object"}}}
        responses[str(status)] = entry
    error_statuses = (*operation.errors, *(() if operation.public else (401,)), 500)
    for status in error_statuses:
        responses[str(status)] = {
            "description": _STATUS_TEXT[status],
            "content": {"application/json": {"schema": _ref(ErrorBody)}},
        }
    document: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "parameters": _parameters(operation),
        "responses": responses,
    }
    if operation.public:
        document["security"] = []
    if operation.body is not None:
        schema = _ref(operation.body, "validation")
        content = {"application/json": {"schema": schema}}
        if operation.body is Profile:
            content["application/yaml"] = {"schema": schema}
        document["requestBody"] = {"required": True, "content": content}
    return document


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole OpenAPI 3.1 document (built once, then cached)."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fakeorigin control API",
            "version": __version__,
            "description": "Change fakeorigin's profiles, rules and active profile at runtime, "
            "and read its journal. Every error has the ErrorBody shape.",
        },
        "paths": paths,
        "components": {
            "schemas": _components()[0],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
