"""Bytes <-> typed values for HTTP/1.1 (RFC 9112), with no I/O and no Twisted.

Requests are parsed by h11 (see :mod:`fakeorigin.http1.protocol`); this module holds the
request head as fakeorigin sees it and renders every response byte fakeorigin sends. h11 is
never used to send: it refuses several of the shapes a test origin needs.
"""

from __future__ import annotations

import base64
import functools
import http
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.utils import formatdate

from fakeorigin import __version__

CRLF = b"\r\n"

#: The ``Server`` field's value fakeorigin sends unless a profile sets or omits it.
SERVER_HEADER = b"fakeorigin/" + __version__.encode("ascii")

#: A header as it goes on the wire: name and value, case and order kept.
Header = tuple[bytes, bytes]


def head_dict(head: bytes) -> dict[str, str]:
    """The first bytes of a body or message as the journal shows them: base64, and text
    (UTF-8, undecodable bytes replaced)."""
    return {
        "head_base64": base64.b64encode(head).decode("ascii"),
        "head_text": head.decode("utf-8", "replace"),
    }


#: RFC 9110's reason phrases where Python's ``http.HTTPStatus`` lacks them or, before Python
#: 3.13, still spells them the RFC 7231 way.
_EXTRA_REASONS = {
    103: "Early Hints",
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    421: "Misdirected Request",
    422: "Unprocessable Content",
    425: "Too Early",
}


@functools.lru_cache(maxsize=1024)
def reason_phrase(status: int) -> str:
    """The registered reason phrase for ``status``, or ``""`` for an unregistered code.

    RFC 9112 section 4: the reason-phrase is optional, but the SP before it is not.
    """
    if status in _EXTRA_REASONS:
        return _EXTRA_REASONS[status]
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""


def tokens(value: bytes) -> set[bytes]:
    """The lower-cased members of a comma-separated list field (RFC 9110 section 5.6.1)."""
    return {part.strip().lower() for part in value.split(b",") if part.strip()}


@dataclass(frozen=True, slots=True)
class RequestHead:
    """A request line and header section as received.

    Attributes:
        method: the method token, e.g. ``b"POST"``.
        target: the request-target exactly as sent, e.g. ``b"/upload?x=1"``.
        http_version: ``b"1.1"`` or ``b"1.0"``.
        headers: every header field in arrival order, names in their original case.
    """

    method: bytes
    target: bytes
    http_version: bytes
    headers: tuple[Header, ...]

    def values(self, name: bytes) -> list[bytes]:
        """Every value of the field ``name`` (case-insensitive), in arrival order."""
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def first(self, name: bytes) -> bytes | None:
        """The first value of the field ``name``, or None when absent."""
        found = self.values(name)
        return found[0] if found else None

    @property
    def is_http10(self) -> bool:
        """True for an HTTP/1.0 request: RFC 9110 section 15.2 forbids sending it a 1xx."""
        return self.http_version == b"1.0"

    @property
    def expects_continue(self) -> bool:
        """True when ``Expect`` carries ``100-continue`` (RFC 9110 section 10.1.1)."""
        return any(b"100-continue" in tokens(value) for value in self.values(b"expect"))

    @property
    def wants_close(self) -> bool:
        """True when the connection cannot persist after this exchange (RFC 9112 section 9.3).

        HTTP/1.1 persists unless ``Connection: close``. HTTP/1.0 is always closed here: h11
        does not implement HTTP/1.0 keep-alive, so fakeorigin closes after every 1.0 exchange.
        An HTTP/2 request (version ``2``) never asks: its connection outlives every stream
        (RFC 9113 section 8.2.2 forbids ``Connection``).
        """
        if self.http_version != b"1.1":
            return self.http_version != b"2"
        return any(b"close" in tokens(value) for value in self.values(b"connection"))

    @property
    def is_head(self) -> bool:
        """True for HEAD: the response has the headers of a GET and no content."""
        return self.method == b"HEAD"


def status_line(status: int, reason: str | None) -> bytes:
    """``HTTP/1.1 <status> <reason>\\r\\n``; the registered phrase when ``reason`` is None.

    fakeorigin always answers with HTTP/1.1, also to an HTTP/1.0 request (RFC 9112 section
    2.3: a server sends the highest minor version it conforms to).
    """
    phrase = reason_phrase(status) if reason is None else reason
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode("latin-1"))


def header_block(headers: Iterable[Header]) -> bytes:
    """Header lines, each ``name: value\\r\\n``, exactly as given (no re-casing, no folding)."""
    return b"".join(name + b": " + value + CRLF for name, value in headers)


def response_head(status: int, reason: str | None, headers: Sequence[Header]) -> bytes:
    """Status line, header lines and the blank line that ends them.

    This is all of an interim (1xx) response (RFC 9110 section 15.2) and the head of a final
    one.
    """
    return status_line(status, reason) + header_block(headers) + CRLF


def chunk(data: bytes) -> bytes:
    """One chunk of the chunked transfer coding (RFC 9112 section 7.1): hex size, data."""
    return b"%x\r\n" % len(data) + data + CRLF


def last_chunk(trailers: Sequence[Header]) -> bytes:
    """The zero-size last chunk, the trailer section and the final CRLF (RFC 9112 7.1.2)."""
    return b"0\r\n" + header_block(trailers) + CRLF


def has_header(headers: Iterable[Header], name: bytes) -> bool:
    """True when ``name`` (case-insensitive) is among ``headers``."""
    wanted = name.lower()
    return any(key.lower() == wanted for key, _ in headers)


_date_second = -1
_date_value = b""


def http_date(now: float) -> bytes:
    """The IMF-fixdate for ``now`` (RFC 9110 section 5.6.7), formatted once per second."""
    global _date_second, _date_value  # noqa: PLW0603 (a one-entry cache)
    second = int(now)
    if second != _date_second:
        _date_value = formatdate(second, usegmt=True).encode("ascii")
        _date_second = second
    return _date_value


#: RFC 3986 section 3.2.2 and RFC 9110 section 7.2: ``uri-host [ ":" port ]``; an IPv6
#: literal is checked by :mod:`ipaddress` once it matched here. A reg-name is written as runs
#: of its characters between percent-encodings: one way to match, so no backtracking.
_HOST = re.compile(
    rb"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]"
    rb"|\[v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+\]"
    rb"|[A-Za-z0-9\-._~!$&'()*+,;=]*(?:%[0-9A-Fa-f]{2}[A-Za-z0-9\-._~!$&'()*+,;=]*)*)"
    rb"(?::[0-9]*)?"
)


def valid_host(value: bytes) -> bool:
    """``value`` is a Host field value: ``uri-host [ ":" port ]`` (RFC 9110 section 7.2), the
    host an IP-literal, an IPv4 address or a reg-name (RFC 3986 section 3.2.2), possibly
    empty (RFC 9112 section 3.2: a target without an authority is sent with an empty Host)."""
    found = _HOST.fullmatch(value)
    if found is None:
        return False
    literal = found["ipv6"]
    if literal is None:
        return True
    try:
        ipaddress.IPv6Address(literal.decode("ascii"))
    except ValueError:
        return False
    return True


# RFC 9112 section 3 (request-line) and section 5 (field-line), RFC 9110 section 5.6.2
# (token), the same grammar h11 parses with; obs-text is allowed in values, obs-fold is not.
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/1\.1")
_FIELD_LINE = re.compile(rb"(" + _TOKEN + rb"):[ \t]*((?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?)[ \t]*")
#: Fields that frame a body, ask for a 100 or an upgrade, or end the connection: a head with
#: any of them is left to h11.
_H11_FIELDS = frozenset(
    {b"content-length", b"transfer-encoding", b"expect", b"connection", b"upgrade", b"te"}
)
#: h11's default limit on an incomplete head.
SIMPLE_HEAD_MAX_BYTES = 16 * 1024


#: Plain heads parsed already, by their bytes: a keep-alive client that repeats its head (a
#: poller, a health check, a load generator) is parsed once, not per request (parsing one
#: costs about 2.5 us, a look-up 30 ns). Bounded: cleared when full; long heads not kept.
_PARSED: dict[bytes, RequestHead] = {}
_PARSED_MOST = 256
_PARSED_HEAD_BYTES = 1024


def simple_request(data: bytes) -> RequestHead | None:
    """``data`` as a RequestHead when it is exactly one complete, plain HTTP/1.1 head
    (:func:`parse_simple_request`, remembered for the heads seen most recently)."""
    if len(data) > _PARSED_HEAD_BYTES:  # not hashed: a large packet is rarely a plain head
        return parse_simple_request(data)
    known = _PARSED.get(data)
    if known is not None:
        return known
    request = parse_simple_request(data)
    if request is not None:
        if len(_PARSED) >= _PARSED_MOST:
            _PARSED.clear()
        _PARSED[data] = request
    return request


def parse_simple_request(data: bytes) -> RequestHead | None:
    """``data`` as a RequestHead when it is exactly one complete, plain HTTP/1.1 head.

    Plain: CRLF line endings, no body framing (Content-Length, Transfer-Encoding), no
    Expect, Upgrade, Connection or TE field, one valid Host (RFC 9112 section 3.2), every
    line valid by the grammar above. Anything else, or
    anything this is unsure about, is None and goes to h11, which has the last word on what
    is malformed: this only spares the common request h11's per-request state machine.
    """
    if len(data) > SIMPLE_HEAD_MAX_BYTES or not data.endswith(b"\r\n\r\n"):
        return None
    lines = data[:-4].split(b"\r\n")
    request_line = _REQUEST_LINE.fullmatch(lines[0])
    if request_line is None:
        return None
    headers = []
    hosts = 0
    for line in lines[1:]:
        field = _FIELD_LINE.fullmatch(line)
        if field is None:
            return None
        name = field[1]
        lowered = name.lower()
        if lowered in _H11_FIELDS:
            return None
        if lowered == b"host":
            if not valid_host(field[2]):
                return None  # admission answers 400
            hosts += 1
        headers.append((name, field[2]))
    if hosts != 1:
        return None
    return RequestHead(request_line[1], request_line[2], b"1.1", tuple(headers))
