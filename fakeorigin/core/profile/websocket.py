"""The ``websocket`` step and its script: the opening handshake (conformant or broken on purpose,
RFC 6455 section 4.2.2) and what the session sends and expects after the 101."""

import base64
from typing import Any, Literal, Self

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from fakeorigin.core.profile.fields import (
    _TOKEN,
    MAX_BODY_SIZE,
    Headers,
    _base64_or_none,
    _error,
    _Model,
)

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
    def _one_payload(self) -> Self:
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
    def _one_expectation(self) -> Self:
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
    def _one_key(self) -> Self:
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
    script: list[ScriptAction] = []  # noqa: RUF012 (pydantic copies a default per instance)
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
    def _consistent(self) -> Self:
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
