"""The steps that are not made of other steps: ``continue``, ``informational``,
``read_body``, ``respond``, ``raw``, ``violate``, ``close``, ``reset``, ``hang`` (``sleep`` is
a number; ``repeat`` and the step union are in :mod:`fakeorigin.core.profile.model`). Each
model's docstring is its entry in ``docs/profiles.md``."""

import base64
import binascii
from typing import Any, Literal, Self

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from fakeorigin.core.frames import Frame, H2ErrorCode
from fakeorigin.core.profile.fields import (
    MAX_BODY_SIZE,
    Headers,
    _base64_or_none,
    _error,
    _Model,
    payload_bytes,
)
from fakeorigin.core.profile.raw_frame import RawFrame


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
    def _consistent(self) -> Self:
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
    """Bytes written verbatim, with no framing and no checks: the escape hatch; over HTTP/2,
    frames written as they are.

    Exactly one of ``text``, ``hex``, ``base64`` (bytes: HTTP/1.1 only) or ``frames``
    (HTTP/2 frames: HTTP/2 only; see below). fakeorigin does not read what it sends: when the
    steps end after a ``raw``, the connection is kept for the next request if the request
    body is complete and the request did not ask to close; end with ``close`` to close it.
    Over HTTP/2 the frames end the stream on fakeorigin's side (h2, which fakeorigin's
    HTTP/2 runs on, does not see them), and the connection stays open for the client.

    Fields:
        text: the bytes as text, encoded as UTF-8 (escapes such as ``\\r\\n`` work in YAML
            double quotes).
        hex: the bytes in hexadecimal; spaces allowed.
        base64: the bytes in base64.
        frames: HTTP/2 frames, each as ``raw.frames`` below says.

    ```yaml
    - raw: {text: "HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok"}
    ```
    """

    text: str | None = None
    hex: str | None = None
    base64: str | None = None
    frames: list[RawFrame] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        sources = ("text", "hex", "base64", "frames")
        given = [field for field in sources if getattr(self, field) is not None]
        if len(given) != 1:
            raise _error(
                "raw_source",
                "needs exactly one of text, hex, base64, frames (got {got})",
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
        """The bytes to write (empty for ``frames``)."""
        return payload_bytes(self.text, self.hex, self.base64)

    def http2_frames(self) -> tuple[Frame, ...]:
        """The frames to write (empty for bytes)."""
        return tuple(raw.frame() for raw in self.frames or ())


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
    def _known_entry(self) -> Self:
        from fakeorigin.core.violations import CATALOGUE  # noqa: PLC0415 (the catalogue imports us)

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

    Over TLS the connection is aborted at once: bytes not yet sent are lost. Over HTTP/2 the
    stream is reset instead: RST_STREAM with ``h2_error`` (RFC 9113 section 6.4), or, with
    ``h2_connection``, the whole connection: GOAWAY with that code, then the TCP connection
    closes (section 5.4.1).

    Fields:
        h2_error: the HTTP/2 error code by name (RFC 9113 section 7); default INTERNAL_ERROR.
            REFUSED_STREAM tells the client nothing was processed (it may retry), CANCEL that
            the stream is no longer needed. Ignored over HTTP/1.1.
        h2_connection: over HTTP/2, end the connection (GOAWAY) rather than the stream.

    ```yaml
    - reset: {h2_error: REFUSED_STREAM}  # or reset: {} (over HTTP/2: INTERNAL_ERROR)
    ```
    """

    h2_error: H2ErrorCode = "INTERNAL_ERROR"
    h2_connection: bool = False


class Hang(_Model):
    """Send nothing more until the client leaves or ``--max-duration`` passes.

    The ``--max-duration`` clock starts with the exchange, not with the hang; when it runs
    out, fakeorigin closes the connection.

    ```yaml
    - hang: {}
    ```
    """
