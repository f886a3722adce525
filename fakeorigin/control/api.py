"""The control API (Klein): change profiles, rules and the active profile, read the journal.

It listens on its own endpoint in the same reactor as the origin (``--control``) and serves
JSON only; Klein never sees an origin request. Every error has one shape (:class:`ErrorBody`):
``{"error": "<kebab-case>", "message": "...", "details": [{"location", "message"}]}``. A
rejected request changes nothing: each change validates completely before it touches the state.

Routes and their documents are listed once, in :data:`fakeorigin.control.openapi.OPERATIONS`;
``GET /openapi.json`` serves that document and a test checks it covers every route here.
"""

from __future__ import annotations

import functools
import hmac
import json
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Protocol

import yaml
from klein import Klein
from pydantic import BaseModel, ValidationError
from twisted.internet.defer import CancelledError, Deferred, ensureDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from fakeorigin import __version__
from fakeorigin.control.models import (
    Active,
    Connections,
    ErrorBody,
    ErrorDetail,
    Health,
    JournalQuery,
    JournalWait,
    ProfileList,
    ProfileSummary,
    RuleIn,
    RuleList,
    RuleOut,
    WorkerHealth,
)
from fakeorigin.control.waiter import JournalWaiter
from fakeorigin.core.durations import duration_problem
from fakeorigin.core.loader import ProfileError, format_location, profile_from_data
from fakeorigin.core.state import (
    OriginState,
    ProfileInUseError,
    UnknownProfileError,
    UnknownRuleError,
)

log = Logger()

#: Largest request body accepted, in bytes (413 beyond).
DEFAULT_MAX_BODY_BYTES = 1 << 20
_JSON_TYPES = frozenset({"application/json"})
_YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml"})


class ApiError(Exception):
    """An answer in the error shape: status, kebab-case code, message, located details."""

    def __init__(
        self, status: int, error: str, message: str, details: list[ErrorDetail] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = ErrorBody(error=error, message=message, details=details or [])


def _validation_error(err: ValidationError, prefix: str = "") -> ApiError:
    details = [
        ErrorDetail(location=prefix + format_location(d["loc"]), message=d["msg"])
        for d in err.errors(include_url=False)
    ]
    return ApiError(400, "invalid-input", "the request does not validate", details)


def _json(request: IRequest, status: int, document: Any) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    if isinstance(document, BaseModel):
        return document.model_dump_json().encode("utf-8")
    return json.dumps(document).encode("utf-8")


#: The journal page's files (fakeorigin/control/ui/), by name: their media type.
UI_FILES = {
    "index.html": b"text/html; charset=utf-8",
    "ui.js": b"text/javascript; charset=utf-8",
    "ui.css": b"text/css; charset=utf-8",
    "icon.svg": b"image/svg+xml; charset=utf-8",
}

#: The page runs its own script and style and talks to this API, nothing else: no inline
#: script or style, no other origin, no plugins, no framing, no form posted anywhere.
UI_POLICY = (
    b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    b"img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@functools.cache
def _ui_bytes(name: str) -> bytes:
    return (resources.files("fakeorigin.control") / "ui" / name).read_bytes()


def _ui_file(request: IRequest, name: str) -> bytes:
    """One of the page's files (public: it holds no data; the data comes from the API, with
    the token), with the Content-Security-Policy and no caching."""
    request.setResponseCode(200)
    request.setHeader(b"content-type", UI_FILES[name])
    request.setHeader(b"content-security-policy", UI_POLICY)
    request.setHeader(b"x-content-type-options", b"nosniff")
    request.setHeader(b"referrer-policy", b"no-referrer")
    request.setHeader(b"cache-control", b"no-store")
    return _ui_bytes(name)


def _connections(stats: dict[str, Any]) -> Connections:
    return Connections(
        open=stats["open"],
        closed=stats["closed"],
        idle_closed=stats["idle_closed"],
        refused=stats["refused"],
        max=stats["max"],
    )


def _no_content(request: IRequest) -> bytes:
    request.setResponseCode(204)
    return b""


#: A route method as written: (self, request, **url_arguments) -> bytes, maybe async.
Handler = Callable[..., Awaitable[bytes] | bytes]
#: The same, as Klein sees it once wrapped by :func:`endpoint`.
Route = Callable[..., Deferred[bytes]]


def endpoint(*, public: bool = False, changes: bool = False) -> Callable[[Handler], Route]:
    """Wrap a route: check the token (unless ``public``) and turn errors into the error shape.

    A route that ``changes`` the state answers, with workers (``--workers N``), only once
    every worker applied the change, so the very next request follows it.
    An unexpected exception is logged with its traceback and answered 500 in the same shape.
    """

    def decorate(handler: Handler) -> Route:
        @functools.wraps(handler)
        def wrapper(
            self: ControlAPI, request: IRequest, *args: object, **kwargs: object
        ) -> Deferred[bytes]:
            async def run() -> bytes:
                try:
                    if not public:
                        self.authorize(request)
                    result = handler(self, request, *args, **kwargs)
                    answer = await result if isinstance(result, Awaitable) else result
                    if changes and self.workers is not None:  # it changed: no ApiError
                        await self.workers.sync()
                    return answer
                except ApiError as err:
                    return _json(request, err.status, err.body)
                except CancelledError:
                    raise  # the client left: Klein cancelled the request
                except Exception:
                    log.failure(
                        "control API: {method} {uri} failed",
                        method=request.method.decode("latin-1"),
                        uri=request.uri.decode("latin-1"),
                    )
                    body = ErrorBody(error="internal-error", message="see the server log")
                    return _json(request, 500, body)

            return ensureDeferred(run())

        return wrapper

    return decorate


class _Utf8Path(Resource):
    """Answers a path that is not UTF-8 in the error shape (Klein would answer text/html)."""

    isLeaf = True  # noqa: N815 (twisted.web's name)

    def __init__(self, inner: IResource) -> None:
        super().__init__()
        self._inner = inner

    def render(self, request: IRequest) -> bytes:
        try:
            b"/".join(request.postpath).decode("utf-8")  # what Klein routes on
        except UnicodeDecodeError:
            body = ErrorBody(error="malformed-path", message="the path is not UTF-8")
            return _json(request, 400, body)
        return self._inner.render(request)  # type: ignore[no-any-return]


class ConnectionCounts(Protocol):
    """What ``/health`` reads of the origin (an ``OriginFactory``)."""

    @property
    def open_connections(self) -> int: ...

    closed_connections: int
    idle_closed_connections: int
    refused_connections: int
    max_connections: int


class Workers(Protocol):
    """What the control API asks of the workers of ``--workers N``
    (:class:`fakeorigin.workers.fleet.Fleet`): the parent's state is pushed to them, and
    the journal is theirs."""

    async def sync(self) -> None: ...

    async def journal_page(self, query: JournalQuery, limit: int) -> tuple[list[Any], int]: ...

    async def journal_entry(self, record_id: int) -> Any: ...

    async def clear_journal(self) -> None: ...

    def wait(self, query: JournalWait) -> Deferred[bool]: ...

    async def stats(self) -> list[dict[str, Any]]: ...


class _App(Klein):
    """Klein with one route per path: :meth:`on` files a handler under its path and method,
    :meth:`add_routes` gives each path one Klein route whose handler is the method's.

    werkzeug compiles a rule's matcher and two URL builders as the rule is added, 0.24 ms a
    rule: one rule per path and method cost start-up 5.6 ms for the 23 routes. Requests are
    routed as before: a method the path has no handler for is 405 with the path's methods in
    ``Allow`` (werkzeug's ``MethodNotAllowed``), and HEAD is answered by the GET handler.
    """

    def __init__(self) -> None:
        super().__init__()
        self._paths: dict[str, dict[bytes, Route]] = {}

    def on(self, method: str, path: str) -> Callable[[Route], Route]:
        """File the decorated handler for ``method`` requests to ``path``."""

        def register(route: Route) -> Route:
            self._paths.setdefault(path, {})[method.encode("ascii")] = route
            return route

        return register

    def add_routes(self) -> None:
        """One Klein route per path filed with :meth:`on`, dispatching on the method."""
        for path, handlers in self._paths.items():
            methods = [method.decode("ascii") for method in handlers]
            table = dict(handlers)
            if b"GET" in table:
                table[b"HEAD"] = table[b"GET"]  # werkzeug lets HEAD match a GET rule

            def by_method(
                api: Any, request: IRequest, _table: dict[bytes, Route] = table, **kwargs: Any
            ) -> Deferred[bytes]:
                return _table[request.method](api, request, **kwargs)

            self.route(path, methods=methods, endpoint=path)(by_method)
        self._paths.clear()

    def resource(self) -> _Utf8Path:  # type: ignore[override]
        return _Utf8Path(super().resource())


class ControlAPI:
    """The control API over one :class:`OriginState`.

    Attributes:
        origin_urls: the origin's bound URLs, for ``/health`` (filled in once listening).
        origin: the origin's connection counts, for ``/health`` (its ``OriginFactory``).
        ca: with ``--tls``, the CA certificate file the origin's certificate chains to.
        workers: with ``--workers N``, the workers (changes are pushed to them, the journal
            is read from them); None in a single process.
    """

    app = _App()
    # werkzeug would redirect /profiles//x to /profiles/x (308), and http_error would drop the
    # Location: a doubled slash is simply not a route.
    app.url_map.merge_slashes = False

    def __init__(
        self,
        state: OriginState,
        clock: IReactorTime,
        *,
        token: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_duration_seconds: float | None = None,
    ) -> None:
        self.state = state
        self.clock = clock
        self.origin_urls: list[str] = []
        self.origin: ConnectionCounts | None = None
        self.ca: str | None = None
        self.workers: Workers | None = None
        self._token = None if token is None else token.encode("utf-8")
        self._max_body_bytes = max_body_bytes
        self._max_duration_seconds = max_duration_seconds
        self._started = clock.seconds()

    # -- plumbing -------------------------------------------------------------------------

    def authorize(self, request: IRequest) -> None:
        """Require ``Authorization: Bearer TOKEN`` (constant-time compare) when a token is set."""
        if self._token is None:
            return
        given = request.getHeader(b"authorization") or b""
        scheme, _, credentials = given.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(credentials, self._token):
            request.setHeader(b"www-authenticate", b'Bearer realm="fakeorigin"')
            raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")

    def read_body(self, request: IRequest) -> Any:
        """The request body parsed as JSON or YAML, by Content-Type (JSON when absent)."""
        declared = request.getHeader(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body_bytes:
            raise self._too_large()
        data = request.content.read(self._max_body_bytes + 1) if request.content else b""
        if len(data) > self._max_body_bytes:
            raise self._too_large()
        content_type = (request.getHeader(b"content-type") or b"application/json").decode("latin-1")
        media = content_type.split(";", 1)[0].strip().lower()
        try:
            if media in _JSON_TYPES:
                return json.loads(data)
            if media in _YAML_TYPES:
                return yaml.safe_load(data)
        except json.JSONDecodeError as err:
            where = f"line {err.lineno}, column {err.colno}"
            raise ApiError(
                400,
                "malformed-json",
                f"not JSON: {err.msg}",
                [ErrorDetail(location=where, message=err.msg)],
            ) from None
        except yaml.YAMLError as err:
            raise ApiError(400, "malformed-yaml", f"not YAML: {err}") from None
        except UnicodeDecodeError as err:
            kind = "json" if media in _JSON_TYPES else "yaml"
            raise ApiError(400, f"malformed-{kind}", f"not UTF-8 text: {err}") from None
        except RecursionError:
            raise ApiError(400, "malformed-input", "nested too deeply") from None
        except ValueError as err:  # an integer longer than sys.get_int_max_str_digits()
            kind = "json" if media in _JSON_TYPES else "yaml"
            raise ApiError(400, f"malformed-{kind}", f"not {kind.upper()}: {err}") from None
        raise ApiError(
            415,
            "unsupported-media-type",
            f"send application/json or application/yaml (got {media})",
        )

    def _too_large(self) -> ApiError:
        return ApiError(
            413, "body-too-large", f"request bodies are limited to {self._max_body_bytes} bytes"
        )

    def _model(self, model: type[Any], data: Any, prefix: str = "") -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as err:
            raise _validation_error(err, prefix) from None

    def _query(self, request: IRequest, model: type[Any]) -> Any:
        params = {
            key.decode("latin-1"): values[-1].decode("latin-1")
            for key, values in (request.args or {}).items()
        }
        return self._model(model, params, prefix="query.")

    def _profile_known(self, name: str, location: str) -> None:
        if name not in self.state.profiles:
            raise ApiError(
                400,
                "unknown-profile",
                f"no profile named {name!r}",
                [ErrorDetail(location=location, message=f"unknown profile {name!r}")],
            )

    @app.handle_errors(HTTPException)
    def http_error(self, request: IRequest, failure: Failure) -> bytes:
        """Unknown route (404) or method (405), from Klein's router, in the error shape."""
        err = failure.value
        assert isinstance(err, HTTPException)
        status = err.code or 500
        if isinstance(err, MethodNotAllowed) and err.valid_methods:
            request.setHeader(b"allow", ", ".join(err.valid_methods).encode("ascii"))
        code = "not-found" if status == 404 else "method-not-allowed" if status == 405 else "http"
        return _json(request, status, ErrorBody(error=code, message=err.description or ""))

    # -- health ---------------------------------------------------------------------------

    @app.on("GET", "/health")
    @endpoint(public=True)
    async def health(self, request: IRequest) -> bytes:
        uptime = round(self.clock.seconds() - self._started, 3)
        origin = self.origin
        connections = None
        workers = None
        if self.workers is not None:
            workers = [
                WorkerHealth(
                    slot=w["slot"],
                    pid=w["pid"],
                    restarts=w["restarts"],
                    connections=None if w["stats"] is None else _connections(w["stats"]),
                )
                for w in await self.workers.stats()
            ]
            each = [w.connections for w in workers if w.connections is not None]
            connections = Connections(
                open=sum(c.open for c in each),
                closed=sum(c.closed for c in each),
                idle_closed=sum(c.idle_closed for c in each),
                refused=sum(c.refused for c in each),
                max=sum(c.max for c in each),
            )
        elif origin is not None:
            connections = Connections(
                open=origin.open_connections,
                closed=origin.closed_connections,
                idle_closed=origin.idle_closed_connections,
                refused=origin.refused_connections,
                max=origin.max_connections,
            )
        body = Health(
            status="ok",
            version=__version__,
            origin=self.origin_urls,
            uptime_seconds=uptime,
            connections=connections,
            ca=self.ca,
            workers=workers,
        )
        return _json(request, 200, body)

    # -- profiles -------------------------------------------------------------------------

    @app.on("GET", "/profiles")
    @endpoint()
    def list_profiles(self, request: IRequest) -> bytes:
        profiles = self.state.profiles
        summaries = [
            ProfileSummary(
                name=name,
                description=profiles[name].description,
                source="api" if self.state.sources.get(name) == "api" else "file",
            )
            for name in sorted(profiles)
        ]
        return _json(request, 200, ProfileList(profiles=summaries))

    @app.on("GET", "/profiles/<name>")
    @endpoint()
    def get_profile(self, request: IRequest, name: str) -> bytes:
        return _json(request, 200, self._profile_document(name))

    def _profile_document(self, name: str) -> Any:
        try:
            profile = self.state.profile(name)
        except UnknownProfileError as err:
            raise ApiError(404, "not-found", str(err)) from None
        return profile.model_dump(mode="json", by_alias=True, exclude_defaults=True)

    @app.on("PUT", "/profiles/<name>")
    @endpoint(changes=True)
    def put_profile(self, request: IRequest, name: str) -> bytes:
        data = self.read_body(request)
        try:
            profile = profile_from_data(data, f"PUT /profiles/{name}", name=name)
        except ProfileError as err:
            details = [ErrorDetail(location=p.location, message=p.message) for p in err.located]
            raise ApiError(
                400, "invalid-profile", f"profile {name!r} is invalid", details
            ) from None
        if self._max_duration_seconds is not None:
            # The same rule as at start-up: a profile --max-duration would always cut is refused.
            problem = duration_problem(profile, self._max_duration_seconds, f"PUT /profiles/{name}")
            if problem is not None:
                detail = ErrorDetail(location=problem.location, message=problem.message)
                raise ApiError(400, "invalid-profile", f"profile {name!r} is invalid", [detail])
        created = self.state.put_profile(profile)
        return _json(request, 201 if created else 200, self._profile_document(name))

    @app.on("DELETE", "/profiles/<name>")
    @endpoint(changes=True)
    def delete_profile(self, request: IRequest, name: str) -> bytes:
        try:
            self.state.delete_profile(name)
        except UnknownProfileError as err:
            raise ApiError(404, "not-found", str(err)) from None
        except ProfileInUseError as err:
            raise ApiError(409, "profile-in-use", str(err)) from None
        return _no_content(request)

    # -- active profile ---------------------------------------------------------------------

    @app.on("GET", "/active")
    @endpoint()
    def get_active(self, request: IRequest) -> bytes:
        return _json(request, 200, Active(profile=self.state.active))

    @app.on("PUT", "/active")
    @endpoint(changes=True)
    def put_active(self, request: IRequest) -> bytes:
        active: Active = self._model(Active, self.read_body(request))
        self._profile_known(active.profile, "profile")
        self.state.set_active(active.profile)
        return _json(request, 200, active)

    # -- rules ------------------------------------------------------------------------------

    @app.on("GET", "/rules")
    @endpoint()
    def list_rules(self, request: IRequest) -> bytes:
        return _json(request, 200, RuleList(rules=[RuleOut.of(r) for r in self.state.rules]))

    @app.on("POST", "/rules")
    @endpoint(changes=True)
    def add_rule(self, request: IRequest) -> bytes:
        rule_in: RuleIn = self._model(RuleIn, self.read_body(request))
        self._profile_known(rule_in.profile, "profile")
        rule = self.state.add_rule(rule_in.to_rule())
        return _json(request, 201, RuleOut.of(rule))

    @app.on("DELETE", "/rules")
    @endpoint(changes=True)
    def clear_rules(self, request: IRequest) -> bytes:
        self.state.rules.clear()
        return _no_content(request)

    @app.on("DELETE", "/rules/<int:rule_id>")
    @endpoint(changes=True)
    def delete_rule(self, request: IRequest, rule_id: int) -> bytes:
        try:
            self.state.delete_rule(rule_id)
        except UnknownRuleError as err:
            raise ApiError(404, "not-found", str(err)) from None
        return _no_content(request)

    # -- journal ----------------------------------------------------------------------------

    async def _entries(self, query: JournalQuery) -> tuple[list[Any], int]:
        """The records ``query`` selects, as dicts, and how many were evicted: from this
        process's journal, or merged from every worker's."""
        if self.workers is not None:
            return await self.workers.journal_page(query, query.limit)
        journal = self.state.journal
        return [record.to_dict() for record in query.select(journal)], journal.evicted

    async def _page(self, request: IRequest, status: int, query: JournalQuery) -> bytes:
        entries, evicted = await self._entries(query)
        return _json(request, status, {"entries": entries, "evicted": evicted})

    @app.on("GET", "/journal")
    @endpoint()
    async def journal(self, request: IRequest) -> bytes:
        return await self._page(request, 200, self._query(request, JournalQuery))

    @app.on("GET", "/journal.har")
    @endpoint()
    async def journal_har(self, request: IRequest) -> bytes:
        from fakeorigin.control.har import har_document  # noqa: PLC0415 (built on demand)

        records, _ = await self._entries(self._query(request, JournalQuery))
        return _json(request, 200, har_document(records))

    @app.on("DELETE", "/journal")
    @endpoint()
    async def clear_journal(self, request: IRequest) -> bytes:
        if self.workers is not None:
            await self.workers.clear_journal()
        self.state.journal.clear()
        return _no_content(request)

    @app.on("GET", "/journal/<int:record_id>")
    @endpoint()
    async def journal_entry(self, request: IRequest, record_id: int) -> bytes:
        if self.workers is not None:
            entry = await self.workers.journal_entry(record_id)
        else:
            record = self.state.journal.get(record_id)
            entry = None if record is None else record.to_dict()
        if entry is None:
            raise ApiError(404, "not-found", f"no journal entry {record_id} (unknown or evicted)")
        return _json(request, 200, entry)

    @app.on("GET", "/journal/wait")
    @endpoint()
    async def journal_wait(self, request: IRequest) -> bytes:
        query: JournalWait = self._query(request, JournalWait)
        if self.workers is not None:
            arrived = await self.workers.wait(query)
        else:
            arrived = await JournalWaiter(self.state.journal, query, self.clock).done
        if not arrived:
            raise ApiError(
                408, "timeout", f"fewer than {query.count} matching entries after {query.timeout} s"
            )
        return await self._page(request, 200, query)

    # -- the journal page -------------------------------------------------------------------

    @app.on("GET", "/ui")
    @endpoint(public=True)
    def ui_page(self, request: IRequest) -> bytes:
        return _ui_file(request, "index.html")

    @app.on("GET", "/ui/ui.js")
    @endpoint(public=True)
    def ui_script(self, request: IRequest) -> bytes:
        return _ui_file(request, "ui.js")

    @app.on("GET", "/ui/ui.css")
    @endpoint(public=True)
    def ui_style(self, request: IRequest) -> bytes:
        return _ui_file(request, "ui.css")

    @app.on("GET", "/ui/icon.svg")
    @endpoint(public=True)
    def ui_icon(self, request: IRequest) -> bytes:
        return _ui_file(request, "icon.svg")

    # -- reset and the document -------------------------------------------------------------

    @app.on("POST", "/reset")
    @endpoint(changes=True)
    async def reset(self, request: IRequest) -> bytes:
        self.state.reset()
        if self.workers is not None:
            await self.workers.clear_journal()
        return _no_content(request)

    @app.on("GET", "/catalogue")
    @endpoint()
    def catalogue(self, request: IRequest) -> bytes:
        from fakeorigin.core.catalogue import catalogue_document  # noqa: PLC0415

        return _json(request, 200, catalogue_document())

    @app.on("GET", "/openapi.json")
    @endpoint()
    def openapi(self, request: IRequest) -> bytes:
        from fakeorigin.control.openapi import openapi_document  # noqa: PLC0415 (built on demand)

        return _json(request, 200, openapi_document())

    app.add_routes()
