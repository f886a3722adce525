"""What a request head must pass before a profile sees it: the limits, and the rules h11 leaves.

h11 refuses most malformed requests itself, and the origin answers its status hint. A few
shapes h11 accepts are refused here, because a test origin that served them would hide what a
proxy in front of it did wrong, and the limits of ``fakeorigin serve`` are checked here too.
Each rule is one function in :data:`RULES`, in the order they are checked, and gives the
status and one line saying what is wrong and which rule or option says so. Every refusal is
answered with ``Connection: close``, and the head's raw bytes are journaled.

The head's raw bytes are what the client sent for it (request line through the blank line), as
the protocol collected them: h11 unfolds obsolete line folding and keeps no bytes, so folding
can only be seen there.

Pure: no Twisted, no I/O.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from fakeorigin.core.wire import RequestHead, valid_host

#: h11's default for the largest request head it buffers (``max_incomplete_event_size``).
DEFAULT_MAX_HEADER_BYTES = 16 * 1024
#: The largest request body fakeorigin takes by default: 1 GiB, the largest body it generates.
DEFAULT_MAX_BODY_BYTES = 1 << 30
#: Connections open at once for an ``OriginFactory`` made without a limit (tests, the
#: in-process fixture); ``fakeorigin serve`` takes its default from the open-file limit
#: (:mod:`fakeorigin.server.descriptors`).
DEFAULT_MAX_CONNECTIONS = 10_000

#: RFC 9110 section 5.5: ``field-value = *field-content``, visible characters, SP, HTAB and
#: obs-text: every other control character (NUL, CR and LF h11 refuses itself) is invalid.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Limits:
    """What ``fakeorigin serve`` takes from one request.

    Attributes:
        max_header_bytes: the largest request head (request line, fields, blank line);
            ``--max-header-bytes``. Over it: 431.
        max_body_bytes: the largest request body; ``--max-body-bytes``. A Content-Length over
            it: 413 before the body is read; a chunked body that grows over it: 413 if no
            response has started, else the connection is closed.
    """

    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: the status to answer and one line naming what and why."""

    status: int
    reason: str


def admit(
    head: bytes, head_size: int, request: RequestHead, limits: Limits, *, plain: bool = False
) -> Refusal | None:
    """The first rule ``request`` breaks, or None.

    ``head`` is the raw head (possibly cut short when it is over the limit); ``head_size`` is
    its true length. ``plain``: the head passed :func:`fakeorigin.core.wire.simple_request`, so
    only :data:`PLAIN_RULES` can still refuse it.
    """
    for rule in PLAIN_RULES if plain else RULES:
        refusal = rule(head, head_size, request, limits)
        if refusal is not None:
            return refusal
    return None


def body_too_large(received: int, limits: Limits) -> Refusal | None:
    """A (chunked) body that grew over ``--max-body-bytes`` while it arrived."""
    if received <= limits.max_body_bytes:
        return None
    return Refusal(
        413,
        f"the request body passed {limits.max_body_bytes} bytes (--max-body-bytes) "
        f"at {received} bytes",
    )


def _head_size(_head: bytes, size: int, _request: RequestHead, limits: Limits) -> Refusal | None:
    if size <= limits.max_header_bytes:
        return None
    return Refusal(
        431,
        f"the request head is {size} bytes, over --max-header-bytes {limits.max_header_bytes} "
        "(RFC 6585 section 5)",
    )


def _version(_head: bytes, _size: int, request: RequestHead, _limits: Limits) -> Refusal | None:
    """RFC 9110 section 2.5: a higher minor version of HTTP/1 is served as HTTP/1.1; another
    major version is refused with 505 (section 15.6.6)."""
    if request.http_version.startswith(b"1."):
        return None
    return Refusal(
        505,
        f"HTTP/{request.http_version.decode('latin-1')}: fakeorigin speaks HTTP/1.0 and "
        "HTTP/1.1 (RFC 9110 section 15.6.6)",
    )


def _length_and_chunked(
    _head: bytes, _size: int, request: RequestHead, _limits: Limits
) -> Refusal | None:
    """RFC 9112 section 6.3: "A server MAY reject a request that contains both Content-Length
    and Transfer-Encoding or process such a request in accordance with the Transfer-Encoding
    alone. Regardless, the server MUST close the connection after responding"; h11 takes the
    Transfer-Encoding alone. Refused: that shape is how requests are smuggled past a proxy."""
    if not (request.values(b"content-length") and request.values(b"transfer-encoding")):
        return None
    return Refusal(
        400,
        "Content-Length together with Transfer-Encoding (RFC 9112 section 6.3: a request "
        "smuggling shape; refused, and the connection closed)",
    )


def _obsolete_folding(
    head: bytes, _size: int, _request: RequestHead, _limits: Limits
) -> Refusal | None:
    """RFC 9112 section 5.2: "A server that receives an obs-fold in a request message [...]
    MUST either reject the message by sending a 400 (Bad Request) [...] or replace each
    received obs-fold with one or more SP octets"; h11 replaces it, which would hide it."""
    for previous, line in itertools.pairwise(head.split(b"\n")[1:]):
        if line[:1] in (b" ", b"\t") and line.strip(b"\r"):
            name = previous.split(b":", 1)[0].decode("latin-1")
            return Refusal(
                400,
                f"obsolete line folding in field {name} (RFC 9112 section 5.2: a server MUST "
                "reject it or replace it with SP)",
            )
    return None


def _control_characters(
    _head: bytes, _size: int, request: RequestHead, _limits: Limits
) -> Refusal | None:
    for name, value in request.headers:
        found = _CONTROL.search(value)
        if found is not None:
            return Refusal(
                400,
                f"field {name.decode('latin-1')} contains the control character "
                f"0x{found.group()[0]:02x} (RFC 9110 section 5.5: a field value is visible "
                "characters, SP, HTAB and obs-text)",
            )
    return None


def _invalid_host(
    _head: bytes, _size: int, request: RequestHead, _limits: Limits
) -> Refusal | None:
    """RFC 9112 section 3.2: "A server MUST respond with a 400 (Bad Request) status code to
    any HTTP/1.1 request message that lacks a Host header field and to any request message
    that contains more than one Host header field line or a Host header field with an invalid
    field value"; h11 checks the first two."""
    for value in request.values(b"host"):
        if not valid_host(value):
            return Refusal(
                400,
                f'Host {value.decode("latin-1")!r} is not uri-host [ ":" port ] (RFC 9112 '
                "section 3.2: a server MUST answer 400 to an invalid Host)",
            )
    return None


def _connect(_head: bytes, _size: int, request: RequestHead, _limits: Limits) -> Refusal | None:
    """RFC 9110 section 9.3.6: a 2xx to CONNECT turns the connection into a tunnel, which an
    origin server does not open; section 9.1: 501 for a method it does not implement."""
    if request.method != b"CONNECT":
        return None
    return Refusal(
        501,
        "CONNECT asks for a tunnel, and fakeorigin is an origin server (RFC 9110 section "
        "9.3.6; section 9.1: 501 for a method not implemented)",
    )


def _declared_body(
    _head: bytes, _size: int, request: RequestHead, limits: Limits
) -> Refusal | None:
    """A Content-Length over the limit is refused before any of the body is read (h11 has
    checked it is a number, or a list of one number repeated)."""
    declared = request.first(b"content-length")
    if declared is None:
        return None
    length = int(declared.split(b",", 1)[0])
    if length <= limits.max_body_bytes:
        return None
    return Refusal(
        413,
        f"Content-Length {length} is over --max-body-bytes {limits.max_body_bytes}",
    )


Rule = Callable[[bytes, int, RequestHead, Limits], Refusal | None]

#: Every rule, in the order checked: the head's size first (nothing else of an oversized head
#: is looked at), then its version, its framing and fields, its method, its body's size.
RULES: tuple[Rule, ...] = (
    _head_size,
    _version,
    _length_and_chunked,
    _obsolete_folding,
    _control_characters,
    _invalid_host,
    _connect,
    _declared_body,
)

#: The rules a head :func:`fakeorigin.core.wire.simple_request` accepted can still break: it is
#: HTTP/1.1 with one valid Host and no Content-Length, Transfer-Encoding or folded line by
#: construction, but its size, its other field values and its method are not checked there.
PLAIN_RULES: tuple[Rule, ...] = (_head_size, _control_characters, _connect)
