"""The control API's bodies as pydantic models: validation in, JSON out, and the OpenAPI schemas.

Pure: no Twisted, no Klein. :mod:`fakeorigin.control.api` serves them and
:mod:`fakeorigin.control.openapi` turns them into the OpenAPI 3.1 document.
"""

import re
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from fakeorigin.core.journal import ExchangeRecord, Journal
from fakeorigin.core.state import Rule

#: RFC 9110 section 5.6.2: token = 1*tchar.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: Most entries one GET /journal returns.
MAX_JOURNAL_LIMIT = 10_000
#: Longest a GET /journal/wait may hold the request, in seconds.
MAX_WAIT_SECONDS = 300.0


# Every model here is built at its first use (``defer_build``), not at start-up: a request
# model by the first request whose body or query it validates, a response model by the first
# answer that has one. Built when the module loaded, the five request models cost start-up
# 2.5 ms; at first use each costs its first request 0.2-0.6 ms, once (bench/FINDINGS.md).


class _In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)


class ErrorDetail(_Out):
    """One problem: where (``steps[2].respond.status``, ``match.path_regex``) and what."""

    location: str
    message: str


class ErrorBody(_Out):
    """Every error the control API returns has this shape."""

    error: str = Field(description="kebab-case code, e.g. invalid-profile, not-found")
    message: str
    details: list[ErrorDetail] = []


class Connections(_Out):
    """The origin's connections: open now, closed since start-up (``idle_closed`` of them by
    ``--idle-timeout``), refused at accept because ``--max-connections`` were open, and that
    limit."""

    open: int
    closed: int
    idle_closed: int
    refused: int
    max: int


class WorkerHealth(_Out):
    """One worker of ``--workers N``: its slot (0-based), process id, how many times it was
    started again after it died, and its connections."""

    slot: int
    pid: int | None
    restarts: int
    connections: Connections | None


class Health(_Out):
    """``GET /health``; ``connections`` is null for an API run without an origin (with
    ``--workers N``: every worker's added up, each worker's in ``workers``, else null);
    ``ca`` is the CA certificate file to trust with ``--tls`` (null without)."""

    status: Literal["ok"]
    version: str
    origin: list[str]
    uptime_seconds: float
    connections: Connections | None
    ca: str | None = None
    workers: list[WorkerHealth] | None = None


class ProfileSummary(_Out):
    """A profile's name, description and where it came from."""

    name: str
    description: str
    source: Literal["file", "api"]


class ProfileList(_Out):
    """``GET /profiles``."""

    profiles: list[ProfileSummary]


class Active(_In):
    """``GET /active`` and ``PUT /active``: the profile used when no header or rule picks one."""

    profile: str


def _no_headers() -> dict[str, str]:
    """A new empty dict (not ``dict``: see ``raw_frame._no_flags``)."""
    return {}


class RuleMatch(_In):
    """What a rule matches; every given field must match, an empty match matches all."""

    method: str | None = Field(default=None, min_length=1)
    path_prefix: str | None = None
    path_regex: str | None = Field(
        default=None, description="a Python regular expression searched in the request target"
    )
    headers: dict[str, str] = Field(
        default_factory=_no_headers, description="name (any case) -> exact value"
    )

    @field_validator("method")
    @classmethod
    def _method_is_a_token(cls, method: str | None) -> str | None:
        if method is not None and not _TOKEN.fullmatch(method):
            raise PydanticCustomError(
                "token",
                "a method is a token (RFC 9110 section 9.1), got {method}",
                {"method": repr(method)},
            )
        return method

    @field_validator("headers")
    @classmethod
    def _headers_fit_the_wire(cls, headers: dict[str, str]) -> dict[str, str]:
        # Rule.matches compares them with the request's bytes as latin-1: what cannot be on
        # the wire would fail there, on the origin's request path.
        for name, value in headers.items():
            if not _TOKEN.fullmatch(name):
                raise PydanticCustomError(
                    "token",
                    "a field name is a token (RFC 9110 section 5.1), got {name}",
                    {"name": repr(name)},
                )
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                raise PydanticCustomError(
                    "latin1",
                    "field {name}: a field value is latin-1 text, got {value}",
                    {"name": repr(name), "value": repr(value)},
                ) from None
        return headers

    @field_validator("path_regex")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as err:
                raise PydanticCustomError(
                    "regex", "not a valid regular expression: {why}", {"why": str(err)}
                ) from None
        return pattern


class RuleIn(_In):
    """``POST /rules``: route matching requests to ``profile``, ``times`` times or forever."""

    match: RuleMatch = RuleMatch()
    profile: str
    times: int | None = Field(default=None, ge=1)

    def to_rule(self) -> Rule:
        """The state's Rule (without id)."""
        return Rule(
            profile=self.profile,
            method=self.match.method,
            path_prefix=self.match.path_prefix,
            path_regex=None if self.match.path_regex is None else re.compile(self.match.path_regex),
            headers=tuple(self.match.headers.items()),
            remaining=self.times,
        )


class RuleOut(_Out):
    """A rule as stored: ``remaining`` counts down to 0, where the rule stops matching."""

    id: int
    match: RuleMatch
    profile: str
    times: int | None
    remaining: int | None

    @classmethod
    def of(cls, rule: Rule) -> Self:
        """From the state's Rule."""
        return cls(
            id=rule.id,
            match=RuleMatch(
                method=rule.method,
                path_prefix=rule.path_prefix,
                path_regex=None if rule.path_regex is None else rule.path_regex.pattern,
                headers=dict(rule.headers),
            ),
            profile=rule.profile,
            times=rule.times,
            remaining=rule.remaining,
        )


class RuleList(_Out):
    """``GET /rules``, in the order they are tried."""

    rules: list[RuleOut]


class TimelineEntryOut(_Out):
    """One timeline event, ``t`` seconds after the request head was complete."""

    t: float
    event: str
    status: int | None = None
    detail: str | None = None


class BodyOut(_Out):
    """The request body as received."""

    length: int
    complete: bool
    sha256: str
    head_base64: str
    head_text: str


class TlsOut(_Out):
    """The TLS of an exchange's connection."""

    version: str = Field(description="e.g. TLSv1.3")
    sni: str | None = Field(description="the server name the client asked for (SNI), if any")
    alpn: str | None = Field(description="the ALPN protocol agreed (http/1.1), if any")


class JournalEntry(_Out):
    """One exchange (see docs/journal.md)."""

    id: int
    connection_id: int
    index: int
    client: str
    started_at: float
    method: str | None
    target: str | None
    http_version: str | None
    headers: list[list[str]]
    body: BodyOut
    profile: str | None
    selected_by: str | None
    body_bytes_before_continue: int | None
    timeline: list[TimelineEntryOut]
    outcome: str
    error: str | None
    raw_request_base64: str | None
    websocket: dict[str, Any] | None = Field(
        default=None,
        description="after an upgrade: the handshake, the message log and both Close frames "
        "(docs/journal.md)",
    )
    tls: TlsOut | None = Field(default=None, description="over TLS (--tls, ssl:); else null")


class JournalPage(_Out):
    """``GET /journal`` and ``GET /journal/wait``: matching entries, oldest first."""

    entries: list[JournalEntry]
    evicted: int = Field(description="entries dropped from the ring buffer since start-up")


class HarLog(_Out):
    """HAR 1.2's ``log`` (see :mod:`fakeorigin.control.har` for what each entry holds)."""

    version: str
    creator: dict[str, str]
    pages: list[dict[str, Any]]
    entries: list[dict[str, Any]]


class HarDocument(_Out):
    """``GET /journal.har``: the matching entries as one HAR 1.2 document."""

    log: HarLog


class JournalQuery(_In):
    """Filters of ``GET /journal`` and ``GET /journal/wait`` (query parameters)."""

    limit: int = Field(default=1000, ge=1, le=MAX_JOURNAL_LIMIT)
    after_id: int = Field(default=0, ge=0)
    profile: str | None = None
    path_prefix: str | None = None
    method: str | None = None
    ended: bool | None = Field(
        default=None, description="true: only exchanges that have ended; false: only running"
    )

    def matches(
        self,
        record_id: int,
        profile: str | None,
        method: str | None,
        target: str | None,
        ended: bool,
    ) -> bool:
        """True when a record with these fields passes every filter but ``limit``."""
        if record_id <= self.after_id:
            return False
        if self.profile is not None and profile != self.profile:
            return False
        if self.method is not None and method != self.method:
            return False
        if self.path_prefix is not None and not (target or "").startswith(self.path_prefix):
            return False
        return self.ended is None or self.ended == ended

    def select(self, journal: Journal, limit: int | None = None) -> list[ExchangeRecord]:
        """Matching records, oldest first, at most ``limit`` (default: the query's)."""
        return journal.select(self.matches, self.limit if limit is None else limit)


class JournalWait(JournalQuery):
    """``GET /journal/wait``: hold the request until ``count`` entries match, or 408.

    Unlike ``GET /journal``, ``ended`` defaults to true: a test usually wants the exchange's
    whole timeline.
    """

    count: int = Field(default=1, ge=1, le=MAX_JOURNAL_LIMIT)
    timeout: float = Field(default=10.0, gt=0, le=MAX_WAIT_SECONDS)
    ended: bool | None = True
