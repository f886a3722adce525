"""A profile: a named, ordered list of steps (the step union, ``repeat``), the rules of their order,
the protocols that can carry them, and the connection policy."""

import functools
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from fakeorigin.core.profile.fields import (
    _PROFILE_NAME,
    _error,
    _Model,
)
from fakeorigin.core.profile.steps import (
    Close,
    Continue,
    Hang,
    Informational,
    Raw,
    ReadBody,
    Reset,
    Respond,
    Violate,
)
from fakeorigin.core.profile.websocket import (
    WebSocket,
)
from fakeorigin.core.protocols import H2, HTTP1, PROTOCOLS


class Repeat(_Model):
    """Run ``steps`` once per period of ``every`` seconds, ``times`` times or for ``for`` seconds.

    Period k starts ``k * every`` seconds after the repeat began (plus a random delay of up to
    ``jitter`` seconds), so the cadence does not drift. The repeat ends when the last period
    ends: ``times * every`` seconds, or ``for`` seconds, after it began (with both, whichever
    comes first). Periods are never skipped: if a period's steps take longer than ``every``,
    the next one starts at once and the repeat runs late. Its steps cannot include a final
    action.

    Fields:
        times: number of periods (>= 1).
        for: total seconds (> 0).
        every: the period in seconds (> 0).
        jitter: up to this many seconds added at random to each period's start; default 0.
        steps: the steps of one period.

    ```yaml
    - repeat: {every: 2, for: 60, steps: [{informational: {status: 102}}]}
    ```
    """

    times: int | None = Field(default=None, ge=1)
    for_seconds: float | None = Field(default=None, gt=0, alias="for")
    every: float = Field(gt=0)
    jitter: float = Field(default=0, ge=0)
    steps: "list[Step]" = Field(min_length=1)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.times is None and self.for_seconds is None:
            raise _error("repeat_unbounded", "needs times or for (got neither)")
        for index, step in enumerate(self.steps):
            if step.kind in FINAL_KINDS:
                raise _error(
                    "repeat_final",
                    "steps[{index}] is a {kind} step: a final action cannot repeat",
                    index=index,
                    kind=step.kind,
                )
        return self


@functools.cache
def step_field(cls: type[BaseModel]) -> tuple[str, str]:
    """A step class's (attribute, key), e.g. ``("continue_", "continue")``: read once per
    class, not per request (pydantic's ``model_fields`` is a slow descriptor)."""
    name, field = next(iter(cls.model_fields.items()))
    return name, field.alias or name


class _Step(_Model):
    @property
    def kind(self) -> str:
        """The step's key, e.g. ``"informational"``."""
        return step_field(type(self))[1]

    @property
    def value(self) -> Any:
        """The step's value: its model, or the seconds of a ``sleep``."""
        return getattr(self, step_field(type(self))[0])


class ContinueStep(_Step):
    continue_: Continue = Field(alias="continue")


class InformationalStep(_Step):
    informational: Informational


class SleepStep(_Step):
    """Wait this many seconds; nothing goes on the wire.

    ```yaml
    - sleep: 0.5
    ```
    """

    sleep: float = Field(ge=0)


class RepeatStep(_Step):
    repeat: Repeat


class ReadBodyStep(_Step):
    read_body: ReadBody


class RespondStep(_Step):
    respond: Respond


class RawStep(_Step):
    raw: Raw


class ViolateStep(_Step):
    violate: Violate


class CloseStep(_Step):
    close: Close


class ResetStep(_Step):
    reset: Reset


class HangStep(_Step):
    hang: Hang


class WebSocketStep(_Step):
    websocket: WebSocket


#: Every step kind: its key in a profile and its wrapper model. The engine has the same table.
STEP_KINDS: dict[str, type[_Step]] = {
    "continue": ContinueStep,
    "informational": InformationalStep,
    "sleep": SleepStep,
    "repeat": RepeatStep,
    "read_body": ReadBodyStep,
    "respond": RespondStep,
    "raw": RawStep,
    "violate": ViolateStep,
    "close": CloseStep,
    "reset": ResetStep,
    "hang": HangStep,
    "websocket": WebSocketStep,
}
#: Steps that may end a profile.
FINAL_KINDS = frozenset({"respond", "raw", "violate", "close", "reset", "hang", "websocket"})
#: Steps after which nothing more can run.
TERMINAL_KINDS = frozenset({"violate", "close", "reset", "hang", "websocket"})


def _sends_response(step: _Step) -> bool:
    """True for a step that puts a (1xx or final) response on the wire by itself."""
    if step.kind == "repeat":
        return any(_sends_response(inner) for inner in step.value.steps)
    return step.kind in ("continue", "informational", "respond", "violate", "websocket")


#: Why a step kind that only HTTP/1.1 carries cannot run over another protocol. Every other
#: kind is made of messages and runs over any (``repeat`` and ``violate`` are looked into).
_HTTP1_ONLY_KINDS = {
    "raw": "sends HTTP/1.1 bytes as they are",
    "websocket": "upgrades an HTTP/1.1 connection (WebSocket over HTTP/2, RFC 8441, is not "
    "supported)",
}


def cannot_carry(steps: Sequence[_Step], protocol: str, where: str = "steps") -> str | None:
    """Why ``protocol`` cannot carry ``steps`` (the first step that it cannot, located), or
    None when it can carry them all."""
    for index, step in enumerate(steps):
        kind, at = step.kind, f"{where}[{index}]"
        if kind == "repeat":
            inner = cannot_carry(step.value.steps, protocol, f"{at}.repeat.steps")
            if inner is not None:
                return inner
        elif kind == "violate":
            from fakeorigin.core.violations import CATALOGUE  # noqa: PLC0415 (see Violate)

            entry = CATALOGUE[step.value.id]
            if protocol not in entry.protocols:
                writes = "HTTP/2 frames" if HTTP1 not in entry.protocols else "HTTP/1.1 bytes"
                return f"{at}: violate {step.value.id} writes {writes} as they are"
        elif kind == "raw" and step.value.frames is not None:
            if protocol != H2:
                return f"{at}: raw sends HTTP/2 frames as they are"
        elif kind in _HTTP1_ONLY_KINDS and protocol != HTTP1:
            return f"{at}: {kind} {_HTTP1_ONLY_KINDS[kind]}"
    return None


def _step_tag(value: Any) -> str | None:
    if isinstance(value, _Step):
        return value.kind
    if isinstance(value, Mapping) and len(value) == 1:
        key = next(iter(value))
        return key if key in STEP_KINDS else None
    return None


Step = Annotated[
    Annotated[ContinueStep, Tag("continue")]
    | Annotated[InformationalStep, Tag("informational")]
    | Annotated[SleepStep, Tag("sleep")]
    | Annotated[RepeatStep, Tag("repeat")]
    | Annotated[ReadBodyStep, Tag("read_body")]
    | Annotated[RespondStep, Tag("respond")]
    | Annotated[RawStep, Tag("raw")]
    | Annotated[ViolateStep, Tag("violate")]
    | Annotated[CloseStep, Tag("close")]
    | Annotated[ResetStep, Tag("reset")]
    | Annotated[HangStep, Tag("hang")]
    | Annotated[WebSocketStep, Tag("websocket")],
    Discriminator(
        _step_tag,
        custom_error_type="step_kind",
        custom_error_message="a step is a mapping with exactly one key, one of: "
        + ", ".join(STEP_KINDS),
    ),
]


class ConnectionPolicy(_Model):
    """When the origin closes a kept-alive connection, and what a request that meets the close gets.

    Real servers end keep-alive connections on their own: after a time with no request
    (nginx's ``keepalive_timeout``, 75 s; Apache's ``KeepAliveTimeout``, 5 s) and after a
    number of requests (nginx's ``keepalive_requests``, 1,000). A client or proxy that sends a
    request on a connection just as the origin closes it meets the keep-alive race: no response
    ever comes. RFC 9112 section 9.3.1 lets a client retry such a request on a new connection
    when it is idempotent (RFC 9110 section 9.2.2), never silently when it is not. The policy of
    the profile that served a connection's latest request applies to that connection.

    Fields:
        max_requests: the request with this number on its connection is the last one: the
            origin closes the connection after its response. Every request on the connection
            counts, whichever profile served it.
        close_header: whether that last response says ``Connection: close`` (RFC 9112 section
            9.6). With ``false`` the response looks like any other and the origin closes after
            it without warning, which RFC 9112 section 9.3 allows a server at any time.
        idle_timeout: seconds the connection may wait for its next request before the origin
            closes it; down to milliseconds, to aim the race at a client's next request.
            Default: ``--idle-timeout``.
        late_request: what a request that arrives after the origin's close gets: ``ignore``
            (the origin has sent its FIN; it reads the request and never answers: the client
            sees the connection end with no response) or ``reset`` (an RST, as a kernel
            answers bytes sent to a socket its server closed). Either way the journal has a
            record of it with the event ``late-request``.
        close_on_next_request: hold each close the origin has not announced (after
            ``max_requests`` with ``close_header: false``, or once ``idle_timeout`` has passed)
            until the next request arrives, then close on it: the race every time instead of
            by timing. A connection that sends nothing more is closed by ``--idle-timeout``.

    ```yaml
    name: second-request-meets-the-close
    steps:
      - respond: {status: 200, body: "ok\\n"}
    connection: {max_requests: 1, close_header: false, close_on_next_request: true}
    ```
    """

    max_requests: int | None = Field(default=None, ge=1)
    close_header: bool = True
    idle_timeout: float | None = Field(default=None, gt=0)
    late_request: Literal["ignore", "reset"] = "ignore"
    close_on_next_request: bool = False

    @model_validator(mode="after")
    def _meaningful(self) -> Self:
        if not self.close_header and self.max_requests is None:
            raise _error(
                "close_header_without_max_requests",
                "close_header applies to the last response of max_requests: set max_requests",
            )
        if self.close_on_next_request and self.max_requests is None and self.idle_timeout is None:
            raise _error(
                "nothing_to_hold",
                "close_on_next_request holds the close of max_requests or idle_timeout: set one",
            )
        return self


class Profile(_Model):
    """A named, ordered list of steps: what fakeorigin does with one request.

    Fields:
        name: the file stem and the control-API name: lower case, digits, ``.``, ``_``, ``-``.
        description: one line for ``fakeorigin profiles``.
        steps: run in order; the last must be a final action (respond, raw, violate, close,
            reset, hang, websocket), and nothing may follow violate, close, reset, hang or
            websocket.
        connection: when the origin closes a kept-alive connection after this profile's
            response, and what a request meeting that close gets: see
            [The connection](#the-connection).
    """

    name: str
    description: str = ""
    steps: list[Step] = Field(min_length=1)
    connection: ConnectionPolicy | None = None

    @functools.cached_property
    def protocols(self) -> frozenset[str]:
        """The protocols that can carry every step (:mod:`fakeorigin.core.protocols`): HTTP/1.1
        carries every step but HTTP/2 frames (a ``raw`` step's, an HTTP/2 catalogue
        entry's). Worked out at the first request and kept in the instance's ``__dict__``:
        the engine reads it for every request, where a pydantic private attribute would cost
        a ``__getattr__`` call each time."""
        return frozenset(p for p in PROTOCOLS if cannot_carry(self.steps, p) is None)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _PROFILE_NAME.fullmatch(name):
            raise _error(
                "profile_name",
                "must be lower case letters, digits, '.', '_' or '-' (got {got})",
                got=repr(name),
            )
        return name

    @field_validator("steps")
    @classmethod
    def _ends_with_final_action(cls, steps: list[_Step]) -> list[_Step]:
        for index, step in enumerate(steps[:-1]):
            if step.kind in TERMINAL_KINDS:
                raise _error(
                    "unreachable_step",
                    "steps[{index}] can never run: it follows a {kind} step",
                    index=index + 1,
                    kind=step.kind,
                )
        responded = False
        for index, step in enumerate(steps):
            if responded and _sends_response(step):
                raise _error(
                    "response_after_final",
                    "steps[{index}] sends a response after respond (RFC 9110 section 15: the "
                    "final response ends the exchange); use raw to send one on purpose",
                    index=index,
                )
            responded = responded or step.kind == "respond"
        if steps[-1].kind not in FINAL_KINDS:
            raise _error(
                "no_final_action",
                "the last step is {kind}: a profile must end with one of {finals}",
                kind=steps[-1].kind,
                finals=", ".join(sorted(FINAL_KINDS)),
            )
        return steps


def complete_models() -> None:
    """Resolve the annotations that refer to models defined after them (``Repeat.steps``)
    and build every validator now.

    Every model here is built at its first use (``defer_build``): one build of
    :class:`Profile` builds the validators of all the steps it nests together, where building
    each class as it was defined cost ``serve`` tens of milliseconds more at start-up. The
    reference generator reads the annotations, so it completes them first.
    """
    Repeat.model_rebuild()
    Profile.model_rebuild()
