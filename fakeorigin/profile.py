"""The profile model: a named, ordered list of steps, frozen and validated (pydantic v2).

A step is a one-key mapping whose key names what goes on the wire (``informational``,
``respond``, ``raw``...). Every step is conformant by default; a field that breaks an HTTP rule
says so in its name (``force`` on ``informational``). Each step model's docstring is its entry
in ``docs/profiles.md``, which ``tests/test_docs.py`` keeps in step with this module.

No Twisted and no I/O here: :mod:`fakeorigin.loader` reads files, :mod:`fakeorigin.engine` runs
the steps.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PrivateAttr,
    Tag,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from fakeorigin.protocols import ANY, HTTP1, PROTOCOLS

#: RFC 9110 section 5.1: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: RFC 9110 section 5.5: CR, LF and NUL are never valid in a field value.
_FORBIDDEN_IN_VALUE = re.compile(r"[\x00\r\n]")
#: A profile name is its file stem and its control-API path segment.
_PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")

#: Largest generated body (``body_size``): 1 GiB.
MAX_BODY_SIZE = 1 << 30


def _error(error_type: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(error_type, message, context)


def _base64_or_none(text: str | None) -> str | None:
    if text is not None:
        try:
            base64.b64decode(text, validate=True)
        except binascii.Error as err:
            raise _error("base64", "not valid base64 ({why})", why=str(err)) from None
    return text


def _to_header_pairs(value: Any) -> tuple[tuple[bytes, bytes], ...]:
    """Accept a mapping or a list of ``[name, value]`` pairs; keep order, case and duplicates."""
    if isinstance(value, tuple) and all(isinstance(pair, tuple) for pair in value):
        return value  # already validated (model_copy, re-validation)
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list):
        items = []
        for index, pair in enumerate(value):
            if not (isinstance(pair, list | tuple) and len(pair) == 2):
                raise _error(
                    "header_pair",
                    "item {index} must be a [name, value] pair (got {got})",
                    index=index,
                    got=repr(pair),
                )
            items.append((pair[0], pair[1]))
    else:
        raise _error(
            "headers_type",
            "must be a mapping or a list of [name, value] pairs (got {got})",
            got=type(value).__name__,
        )
    pairs = []
    for name, raw_value in items:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise _error(
                "header_name",
                "invalid field name {got} (RFC 9110 section 5.1: a field name is a token)",
                got=repr(name),
            )
        if isinstance(raw_value, bool) or not isinstance(raw_value, str | int | float):
            raise _error(
                "header_value_type",
                "value of {name} must be a string (got {got})",
                name=name,
                got=type(raw_value).__name__,
            )
        text = str(raw_value)
        if _FORBIDDEN_IN_VALUE.search(text):
            raise _error(
                "header_value",
                "value of {name} contains CR, LF or NUL "
                "(RFC 9110 section 5.5: never valid in a field value)",
                name=name,
            )
        try:
            pairs.append((name.encode("ascii"), text.encode("latin-1")))
        except UnicodeEncodeError:
            raise _error(
                "header_value_charset",
                "value of {name} has characters outside Latin-1",
                name=name,
            ) from None
    return tuple(pairs)


def _header_pairs_out(pairs: tuple[tuple[bytes, bytes], ...]) -> list[list[str]]:
    return [[name.decode("latin-1"), value.decode("latin-1")] for name, value in pairs]


_HEADER_VALUE_SCHEMA: dict[str, Any] = {"type": ["string", "integer", "number"]}
_PAIR_SCHEMA: dict[str, Any] = {
    "type": "array",
    "prefixItems": [{"type": "string", "pattern": f"^{_TOKEN.pattern}$"}, _HEADER_VALUE_SCHEMA],
    "minItems": 2,
    "maxItems": 2,
}

#: Header fields, order, case and duplicates kept; YAML/JSON give a mapping or a pair list,
#: and they are written back as a list of ``[name, value]`` pairs.
Headers = Annotated[
    tuple[tuple[bytes, bytes], ...],
    BeforeValidator(_to_header_pairs),
    PlainSerializer(_header_pairs_out, return_type=list[list[str]]),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "object", "additionalProperties": _HEADER_VALUE_SCHEMA},
                {"type": "array", "items": _PAIR_SCHEMA},
            ],
            "description": "a mapping, or a list of [name, value] pairs (order, case and "
            "duplicates kept)",
        },
        mode="validation",
    ),
    WithJsonSchema(
        {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        mode="serialization",
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Continue(_Model):
    """Send ``HTTP/1.1 100 Continue`` if the client is waiting for it.

    Goes on the wire only when the request is HTTP/1.1, carries ``Expect: 100-continue`` and
    its body is not complete yet (RFC 9110 section 10.1.1: a server MAY omit the 100 once it
    has received the content; RFC 9110 section 15.2: never to HTTP/1.0). Otherwise nothing is
    sent and the journal says why. A second ``continue`` in one exchange sends nothing.

    ```yaml
    - continue: {}
    ```
    """


class Informational(_Model):
    """One interim (1xx) response: status line, header lines, blank line.

    Fields:
        status: 100..199 except 101 (101 Switching Protocols belongs to the upgrade steps).
        reason: the reason phrase; default: the registered one (``Processing``,
            ``Early Hints``), or empty for an unregistered code.
        headers: a mapping or a list of ``[name, value]`` pairs, sent as given.
        force: send it to an HTTP/1.0 client too. Breaks RFC 9110 section 15.2 ("A server
            MUST NOT send a 1xx response to an HTTP/1.0 client"); default false, and the
            step is then skipped and journaled for HTTP/1.0.

    ```yaml
    - informational: {status: 103, headers: {link: "</app.css>; rel=preload; as=style"}}
    ```
    """

    status: int = Field(json_schema_extra={"minimum": 100, "maximum": 199, "not": {"const": 101}})
    reason: str | None = None
    headers: Headers = ()
    force: bool = False

    @field_validator("status")
    @classmethod
    def _interim_status(cls, status: int) -> int:
        if not 100 <= status <= 199 or status == 101:
            raise _error("interim_status", "must be 100..199 except 101 (got {got})", got=status)
        return status


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
    steps: list[Step] = Field(min_length=1)

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True, defer_build=True)

    @model_validator(mode="after")
    def _bounded(self) -> Repeat:
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


class ReadBody(_Model):
    """Wait until the whole request body has arrived (Content-Length or chunked).

    Nothing goes on the wire. Without this step fakeorigin never waits for the body (``continue``
    sends the 100 but does not wait either); the body is still received and journaled.

    ```yaml
    - read_body: {}
    ```
    """


class Dribble(_Model):
    """Send the response content ``bytes`` at a time, ``every`` seconds apart.

    Fields:
        bytes: content bytes per write (>= 1); with chunked, one chunk per write.
        every: seconds between writes (>= 0).
    """

    bytes: int = Field(ge=1)
    every: float = Field(ge=0)


class Respond(_Model):
    """The final response, framed correctly for you.

    fakeorigin adds ``Content-Length`` (or uses chunked coding when ``chunked``), and ``Date``
    and ``Server: fakeorigin/VERSION`` unless the headers set them or ``omit`` names them.
    HEAD, 204 and 304 responses carry no content (RFC 9110 sections 9.3.2, 15.3.5, 15.4.5).
    An HTTP/1.0 request gets Content-Length instead of chunked (RFC 9112 section 6.1).

    If the request body has not fully arrived when the response head is written, the
    connection ends with a lingering close (``Connection: close`` is sent, writing is shut
    down, the rest of the upload is drained for up to 2 s, then the socket closes), so an
    uploading client reads the response instead of a broken pipe. Otherwise the connection
    stays open for the next request unless the request asked to close (any HTTP/1.0 request
    does) or ``headers`` include ``Connection: close``.

    After a ``respond``, a profile may not send another response or an interim one (RFC 9110
    section 15: a final response ends the exchange); use ``raw`` to do that on purpose.

    Fields:
        status: 200..599.
        reason: the reason phrase; default: the registered one.
        headers: a mapping or a list of ``[name, value]`` pairs, sent as given. Framing
            fields (Content-Length, Transfer-Encoding) are computed and cannot be set here:
            use ``raw`` to send your own.
        body: content as text (UTF-8).
        body_base64: content as base64.
        body_size: that many bytes of the repeated pattern ``0123456789abcdef``.
        echo: content is a JSON description of the request (method, target, version,
            headers, body length, sha256 and whether it is complete, as received when the
            response starts), like httpbin's ``/anything``; adds ``Content-Type:
            application/json`` unless set.
        chunked: use the chunked transfer coding (RFC 9112 section 7.1); to an HTTP/1.0
            request Content-Length is used instead and trailers are dropped.
        dribble: ``{bytes, every}``: send the content a few bytes at a time.
        trailers: trailer fields after the last chunk (needs ``chunked``).
        omit: leave out ``date`` and/or ``server``. Leaving out ``date`` breaks RFC 9110
            section 6.6.1 (an origin server with a clock MUST send Date in 2xx, 3xx and 4xx
            responses).

    ```yaml
    - respond: {status: 200, headers: {content-type: text/plain}, body: "hello\\n"}
    ```
    """

    status: int = Field(json_schema_extra={"minimum": 200, "maximum": 599})
    reason: str | None = None
    headers: Headers = ()
    body: str | None = None
    body_base64: str | None = None
    body_size: int | None = Field(default=None, ge=0, le=MAX_BODY_SIZE)
    echo: bool = False
    chunked: bool = False
    dribble: Dribble | None = None
    trailers: Headers = ()
    omit: tuple[Literal["date", "server"], ...] = ()

    @field_validator("status")
    @classmethod
    def _final_status(cls, status: int) -> int:
        if not 200 <= status <= 599:
            raise _error(
                "final_status",
                "must be 200..599 (got {got}); send a 1xx with informational",
                got=status,
            )
        return status

    _decodable = field_validator("body_base64")(_base64_or_none)

    @field_validator("headers")
    @classmethod
    def _no_framing(cls, headers: tuple[tuple[bytes, bytes], ...]) -> Any:
        for name, _ in headers:
            if name.lower() in (b"content-length", b"transfer-encoding"):
                raise _error(
                    "framing_header",
                    "{name} is computed by fakeorigin; use a raw step to send your own framing",
                    name=name.decode(),
                )
        return headers

    @model_validator(mode="after")
    def _consistent(self) -> Respond:
        given = [
            field
            for field in ("body", "body_base64", "body_size", "echo")
            if getattr(self, field) not in (None, False)
        ]
        if len(given) > 1:
            raise _error(
                "body_sources",
                "at most one of body, body_base64, body_size, echo (got {got})",
                got=", ".join(given),
            )
        if self.trailers and not self.chunked:
            raise _error("trailers_unchunked", "trailers need chunked: true")
        if self.status in (204, 304) and (given or self.chunked):
            raise _error(
                "no_content_status",
                "a {status} response has no content (RFC 9110 section {section})",
                status=self.status,
                section="15.3.5" if self.status == 204 else "15.4.5",
            )
        return self

    def content(self) -> bytes:
        """The content bytes for ``body``, ``body_base64`` or ``body_size`` (echo is computed)."""
        if self.body is not None:
            return self.body.encode("utf-8")
        if self.body_base64 is not None:
            return base64.b64decode(self.body_base64)
        if self.body_size is not None:
            pattern = b"0123456789abcdef"
            return (pattern * (self.body_size // len(pattern) + 1))[: self.body_size]
        return b""


class Raw(_Model):
    """Bytes written verbatim, with no framing and no checks: the escape hatch.

    Exactly one of ``text``, ``hex`` or ``base64``. fakeorigin does not read what it sends:
    when the steps end after a ``raw``, the connection is kept for the next request if the
    request body is complete and the request did not ask to close; end with ``close`` to
    close it.

    Fields:
        text: the bytes as text, encoded as UTF-8 (escapes such as ``\\r\\n`` work in YAML
            double quotes).
        hex: the bytes in hexadecimal; spaces allowed.
        base64: the bytes in base64.

    ```yaml
    - raw: {text: "HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok"}
    ```
    """

    text: str | None = None
    hex: str | None = None
    base64: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Raw:
        given = [field for field in ("text", "hex", "base64") if getattr(self, field) is not None]
        if len(given) != 1:
            raise _error(
                "raw_source",
                "needs exactly one of text, hex, base64 (got {got})",
                got=", ".join(given) or "none",
            )
        try:
            self.data()
        except (ValueError, binascii.Error) as err:
            raise _error(
                "raw_decode", "{field} does not decode ({why})", field=given[0], why=str(err)
            ) from None
        return self

    def data(self) -> bytes:
        """The bytes to write."""
        if self.text is not None:
            return self.text.encode("utf-8")
        if self.hex is not None:
            return bytes.fromhex(self.hex)
        return base64.b64decode(self.base64 or "", validate=True)


class Violate(_Model):
    """Break one HTTP rule on purpose, chosen by its id in the violation catalogue.

    ``fakeorigin catalogue`` (and docs/violations.md) lists every entry: the rule it breaks
    (RFC section and quoted requirement), its parameters and defaults, the bytes it sends,
    and what a conformant intermediary and client must do. The entry's other parameters sit
    next to ``id``. A ``violate`` step ends the profile: the entry says how the connection
    goes on (kept, closed, reset or left hanging).

    Fields:
        id: the catalogue id, e.g. ``content-length-too-long``.

    ```yaml
    - violate: {id: content-length-too-long, missing: 100}
    ```
    """

    model_config = ConfigDict(frozen=True, extra="allow", defer_build=True)

    id: str
    _parameters: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _known_entry(self) -> Violate:
        from fakeorigin.violations import CATALOGUE  # noqa: PLC0415 (the catalogue imports us)

        entry = CATALOGUE.get(self.id)
        if entry is None:
            raise _error(
                "unknown_violation",
                "unknown violation {got}; see fakeorigin catalogue (known: {known})",
                got=repr(self.id),
                known=", ".join(CATALOGUE),
            )
        try:
            self._parameters = entry.parameters.model_validate(self.model_extra or {})
        except ValidationError as err:
            problems = "; ".join(
                ".".join(str(part) for part in detail["loc"]) + ": " + detail["msg"]
                for detail in err.errors(include_url=False)
            )
            raise _error(
                "violation_parameters",
                "{id} parameters: {problems}",
                id=self.id,
                problems=problems,
            ) from None
        return self

    @property
    def parameters(self) -> Any:
        """The entry's parameters, validated (defaults filled in)."""
        return self._parameters


class Close(_Model):
    """Flush what was written, then close the connection with a FIN.

    If the request body has not fully arrived, the close lingers (shut down writing, drain,
    then close) so the kernel does not answer the unread upload with a reset. The linger
    lasts at most 2 s; a client still sending then is aborted (RST).

    ```yaml
    - close: {}
    ```
    """


class Reset(_Model):
    """Flush what was written, then reset the connection (TCP RST, via SO_LINGER 0).

    Over TLS the connection is aborted at once: bytes not yet sent are lost.

    ```yaml
    - reset: {}
    ```
    """


class Hang(_Model):
    """Send nothing more until the client leaves or ``--max-duration`` passes.

    The ``--max-duration`` clock starts with the exchange, not with the hang; when it runs
    out, fakeorigin closes the connection.

    ```yaml
    - hang: {}
    ```
    """


#: RFC 6455 section 7.4: the close codes an endpoint may put in a Close frame (1004, 1005,
#: 1006 and 1015 are reserved and never sent; 1012-1014 are registered by IANA since).
_SENDABLE_CLOSE_CODES = frozenset(range(1000, 1004)) | frozenset(range(1007, 1015))
#: RFC 6455 section 5.5: a control frame's payload is at most 125 bytes, so a Close reason
#: (after its two-byte code) is at most 123 bytes of UTF-8.
MAX_CLOSE_REASON_BYTES = 123
MAX_PING_BYTES = 125
#: The default ``max_message_bytes`` of a ``websocket`` step: 16 MiB.
DEFAULT_MAX_MESSAGE_BYTES = 16 << 20
#: WebSocket handshake fields fakeorigin (or autobahn) computes; ``headers`` cannot set them.
_COMPUTED_101_HEADERS = frozenset(
    {
        b"upgrade",
        b"connection",
        b"sec-websocket-accept",
        b"sec-websocket-protocol",
        b"sec-websocket-extensions",
        b"content-length",
        b"transfer-encoding",
    }
)

#: The ``handshake`` values that write their own bytes instead of handing off to autobahn.
RAW_HANDSHAKES = frozenset(
    {"missing-upgrade-header", "status-200", "close-after-101", "http-after-101", "unsolicited-101"}
)
Handshake = Literal[
    "conformant",
    "bad-accept",
    "missing-upgrade-header",
    "status-200",
    "close-after-101",
    "http-after-101",
    "unsolicited-101",
]


def _utf8_at_most(text: str, limit: int, what: str) -> str:
    size = len(text.encode("utf-8"))
    if size > limit:
        raise _error(
            "too_long",
            "{what} is {size} bytes of UTF-8; at most {limit} (RFC 6455 section 5.5)",
            what=what,
            size=size,
            limit=limit,
        )
    return text


class ScriptSend(_Model):
    """Send one message: exactly one of ``text`` (a text message, UTF-8) or ``binary_base64``
    (a binary message)."""

    text: str | None = None
    binary_base64: str | None = None

    _decodable = field_validator("binary_base64")(_base64_or_none)

    @model_validator(mode="after")
    def _one_payload(self) -> ScriptSend:
        given = [name for name in ("text", "binary_base64") if getattr(self, name) is not None]
        if len(given) != 1:
            raise _error(
                "send_payload",
                "needs exactly one of text, binary_base64 (got {got})",
                got=", ".join(given) or "none",
            )
        return self

    def payload(self) -> tuple[bytes, bool]:
        """The message bytes and whether the message is binary."""
        if self.text is not None:
            return self.text.encode("utf-8"), False
        return base64.b64decode(self.binary_base64 or ""), True


class ScriptReceive(_Model):
    """Wait for the client's next message and check it: exactly one of ``text`` (a text
    message equal to it), ``binary_base64`` (a binary message equal to it) or ``any: true``;
    ``timeout`` seconds (default 10) at most."""

    text: str | None = None
    binary_base64: str | None = None
    any: bool = False
    timeout: float = Field(default=10.0, gt=0)

    _decodable = field_validator("binary_base64")(_base64_or_none)

    @model_validator(mode="after")
    def _one_expectation(self) -> ScriptReceive:
        given = [name for name in ("text", "binary_base64") if getattr(self, name) is not None]
        if self.any:
            given.append("any")
        if len(given) != 1:
            raise _error(
                "receive_expectation",
                "needs exactly one of text, binary_base64, any: true (got {got})",
                got=", ".join(given) or "none",
            )
        return self

    def expected(self) -> tuple[bytes, bool] | None:
        """The message expected (bytes, binary), or None for any message."""
        if self.text is not None:
            return self.text.encode("utf-8"), False
        if self.binary_base64 is not None:
            return base64.b64decode(self.binary_base64), True
        return None


class ScriptPing(_Model):
    """Send a Ping with ``text`` as its payload (default empty, at most 125 bytes)."""

    text: str = ""

    @field_validator("text")
    @classmethod
    def _short(cls, text: str) -> str:
        return _utf8_at_most(text, MAX_PING_BYTES, "a ping payload")


class ScriptClose(_Model):
    """Start the closing handshake: a Close frame with ``code`` (default 1000) and ``reason``
    (default empty, at most 123 bytes)."""

    code: int = 1000
    reason: str = ""

    @field_validator("code")
    @classmethod
    def _sendable(cls, code: int) -> int:
        if code not in _SENDABLE_CLOSE_CODES and not 3000 <= code <= 4999:
            raise _error(
                "close_code",
                "{got} cannot be sent in a Close frame (RFC 6455 section 7.4: 1000-1003, "
                "1007-1014 or 3000-4999)",
                got=code,
            )
        return code

    @field_validator("reason")
    @classmethod
    def _short(cls, reason: str) -> str:
        return _utf8_at_most(reason, MAX_CLOSE_REASON_BYTES, "a close reason")


class ScriptAction(_Model):
    """One action of a ``script``: a mapping with exactly one key, run in order.

    Fields:
        send: ``{text}`` or ``{binary_base64}``: send one message.
        receive: ``{text}``, ``{binary_base64}`` or ``{any: true}``, and ``timeout`` (seconds,
            default 10): wait for the client's next message (messages that arrived earlier
            are taken first, in order) and check it. A different message, or none within
            the timeout, is journaled as ``websocket-mismatch`` and fakeorigin closes with
            1008 (policy violation).
        sleep: seconds to wait.
        ping: ``{text}``: send a Ping (payload at most 125 bytes, default empty).
        close: ``{code, reason}``: send a Close frame (code default 1000: 1000-1003,
            1007-1014 or 3000-4999; reason at most 123 bytes) and end the script.
    """

    send: ScriptSend | None = None
    receive: ScriptReceive | None = None
    sleep: float | None = Field(default=None, ge=0)
    ping: ScriptPing | None = None
    close: ScriptClose | None = None

    @model_validator(mode="after")
    def _one_key(self) -> ScriptAction:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            raise _error(
                "script_action",
                "a script action is a mapping with exactly one key, one of: "
                "send, receive, sleep, ping, close (got {got})",
                got=", ".join(given) or "none",
            )
        return self

    @property
    def kind(self) -> str:
        """The action's key, e.g. ``"send"``."""
        return next(name for name in type(self).model_fields if getattr(self, name) is not None)


class WebSocket(_Model):
    """Answer a WebSocket opening handshake with ``101 Switching Protocols`` and speak
    WebSocket (RFC 6455) on the same connection, through autobahn.

    The request must be a valid opening handshake (RFC 6455 section 4.1): ``GET``, HTTP/1.1,
    ``Upgrade: websocket``, ``Connection: Upgrade``, one ``Sec-WebSocket-Key`` of 16 bytes in
    base64, ``Sec-WebSocket-Version: 13``. A request without ``Upgrade: websocket`` and
    ``Connection: Upgrade``, or with another version, gets ``426 Upgrade Required`` with
    ``Upgrade: websocket`` and ``Sec-WebSocket-Version: 13`` (RFC 6455 section 4.2.2, RFC 9110
    section 15.5.22); any other broken handshake gets ``400 Bad Request`` (RFC 6455 section
    4.2.1). Both are ordinary responses: the connection is kept when it can be. A request
    body is read before the 101. Then fakeorigin hands the connection to autobahn, which
    sends the 101 (with ``Server``, the chosen subprotocol, the accepted extensions and
    ``headers``) and runs the session: ``echo`` sends every message back as it came (text
    or binary), ``script`` runs its actions and then closes with 1000. A client's Close is
    answered with the same code and reason. The session ends when the connection does; the
    journal keeps the handshake, every message (bounded) and both Close frames.

    ``--max-duration`` still applies: when it runs out fakeorigin closes with 1001.

    Fields:
        mode: ``echo`` or ``script``.
        script: for ``script``: the actions, in order (see below).
        subprotocols: the subprotocols fakeorigin speaks; it picks the first the client
            offers (in the client's order) that is in this list, or none.
        require_subprotocol: refuse a client that offers none of ``subprotocols`` with
            ``400 Bad Request`` before upgrading (RFC 6455 section 4.2.2 lets a server
            refuse; autobahn cannot, so fakeorigin answers before the hand-off).
        headers: extra header fields for the 101 (a mapping or ``[name, value]`` pairs;
            repeated names are sent together). Upgrade, Connection and the
            Sec-WebSocket-* fields are computed and cannot be set here.
        max_message_bytes: the largest message (and frame) accepted from the client; a
            larger one is answered with Close 1009 (message too big).
        close_after: close with 1000 (reason ``close_after``) this many seconds after the
            101, whatever the session is doing; default: never.
        permessage_deflate: accept the client's permessage-deflate offer (RFC 7692) when it
            makes one; default true (most clients offer it). False sends no extensions.
        handshake: ``conformant`` (the default), or one deliberately broken handshake. Each
            variant is journaled as ``websocket-broken-handshake``. ``bad-accept``: a wrong
            Sec-WebSocket-Accept, then the session as usual (breaks RFC 6455 section 4.2.2:
            the accept value is base64 of SHA-1 of the key and the GUID; the client must
            fail the connection). ``missing-upgrade-header``: a 101 without ``Upgrade``, then
            close (breaks RFC 9110 section 7.8 and RFC 6455 section 4.2.2). ``status-200``:
            ``200 OK`` with the WebSocket headers instead of 101, then close (breaks RFC
            6455 section 4.2.2: accepting is a 101). ``close-after-101``: a correct 101,
            then a FIN without any Close frame (breaks RFC 6455 section 7.1.2: the client
            sees 1006, abnormal closure). ``http-after-101``: a correct 101, then an HTTP
            response where frames must follow, then close (breaks RFC 9110 section 7.8:
            the new protocol starts right after the 101). ``unsolicited-101``: ``101`` with
            ``Upgrade: websocket`` and no Sec-WebSocket-Accept to any request, also one that
            asked for no upgrade, then close (breaks RFC 9110 section 7.8: a server MUST NOT
            switch to a protocol the request's Upgrade did not name). Every variant except
            ``bad-accept`` writes its bytes itself and starts no session, so it takes no
            ``script`` or ``close_after``.

    ```yaml
    - websocket: {mode: echo, subprotocols: [chat.v2, chat.v1]}
    ```

    ```yaml
    - websocket:
        mode: script
        script:
          - send: {text: hello}
          - receive: {any: true, timeout: 5}
          - ping: {text: are you there}
          - sleep: 0.5
          - close: {code: 1000, reason: bye}
    ```
    """

    mode: Literal["echo", "script"] = "echo"
    script: list[ScriptAction] = []
    subprotocols: tuple[str, ...] = ()
    require_subprotocol: bool = False
    headers: Headers = ()
    max_message_bytes: int = Field(default=DEFAULT_MAX_MESSAGE_BYTES, ge=1, le=MAX_BODY_SIZE)
    close_after: float | None = Field(default=None, gt=0)
    permessage_deflate: bool = True
    handshake: Handshake = "conformant"

    @field_validator("subprotocols")
    @classmethod
    def _tokens(cls, subprotocols: tuple[str, ...]) -> tuple[str, ...]:
        for name in subprotocols:
            if not _TOKEN.fullmatch(name):
                raise _error(
                    "subprotocol",
                    "invalid subprotocol {got} (RFC 6455 section 4.1: a subprotocol is a token)",
                    got=repr(name),
                )
        if len(set(subprotocols)) != len(subprotocols):
            raise _error("subprotocol_repeated", "a subprotocol is listed twice")
        return subprotocols

    @field_validator("headers")
    @classmethod
    def _not_computed(cls, headers: tuple[tuple[bytes, bytes], ...]) -> Any:
        for name, _ in headers:
            if name.lower() in _COMPUTED_101_HEADERS:
                raise _error(
                    "computed_header",
                    "{name} is computed for the 101; use handshake for a broken one",
                    name=name.decode(),
                )
        return headers

    @model_validator(mode="after")
    def _consistent(self) -> WebSocket:
        if self.mode == "script" and not self.script:
            raise _error("script_missing", "mode script needs a non-empty script")
        if self.mode == "echo" and self.script:
            raise _error("script_unused", "a script needs mode: script")
        if self.require_subprotocol and not self.subprotocols:
            raise _error("subprotocols_missing", "require_subprotocol needs subprotocols")
        if self.handshake in RAW_HANDSHAKES:
            unused = [name for name in ("script", "close_after") if getattr(self, name)]
            if unused:
                raise _error(
                    "no_session",
                    "handshake: {handshake} starts no WebSocket session, so {unused} would "
                    "never run",
                    handshake=self.handshake,
                    unused=", ".join(unused),
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
            from fakeorigin.violations import CATALOGUE  # noqa: PLC0415 (see Violate)

            if protocol not in CATALOGUE[step.value.id].protocols:
                return f"{at}: violate {step.value.id} writes HTTP/1.1 bytes as they are"
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
    def _meaningful(self) -> ConnectionPolicy:
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
    _protocols: frozenset[str] = PrivateAttr(default=ANY)

    @model_validator(mode="after")
    def _find_protocols(self) -> Profile:
        self._protocols = frozenset(p for p in PROTOCOLS if cannot_carry(self.steps, p) is None)
        return self

    @property
    def protocols(self) -> frozenset[str]:
        """The protocols that can carry every step (:mod:`fakeorigin.protocols`); HTTP/1.1
        carries them all."""
        return self._protocols

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
