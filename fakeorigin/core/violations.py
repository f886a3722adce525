"""The violation catalogue's HTTP/1.1 entries, and the catalogue itself.

Every entry here writes HTTP/1.1 bytes as they are (:class:`WriteHttp1`); what an entry is and
how it is registered is in :mod:`fakeorigin.core.violation_registry`, the HTTP/2 entries in
:mod:`fakeorigin.core.h2_violations`. Importing this module registers both: read
:data:`CATALOGUE` from here.

Requirements are quoted verbatim between “ and ” from the RFC section named in ``rule`` (ABNF
rules with their alignment spaces collapsed to one); a note after the quotation is ours.
``tests/test_violations.py`` checks every recorded verdict (h11's client, Node.js's llhttp)
against a real socket.

Pure: no Twisted, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from email.utils import formatdate

from pydantic import Field

from fakeorigin import __version__
from fakeorigin.core.actions import Action, AwaitBody, Ending, Note, Wait, WriteHttp1
from fakeorigin.core.journal import Event
from fakeorigin.core.violation_registry import (
    CATALOGUE,
    CATALOGUE_VERSION,
    EXAMPLE_WAITS,
    Context,
    NoParameters,
    Parameters,
    Probe,
    Verdict,
    Violation,
    accept_bytes,
    violation,
)
from fakeorigin.core.wire import CRLF, Header, header_block, response_head

__all__ = [
    "CATALOGUE",
    "CATALOGUE_VERSION",
    "EXAMPLE_WAITS",
    "Context",
    "NoParameters",
    "Parameters",
    "Probe",
    "Verdict",
    "Violation",
    "accept_bytes",
    "violation",
]

# -- building blocks ------------------------------------------------------------------------


def date_header(now: float) -> Header:
    """``Date`` as an origin with a clock sends it (RFC 9110 section 6.6.1)."""
    return (b"Date", formatdate(now, usegmt=True).encode("ascii"))


def server_header() -> Header:
    """``Server: fakeorigin/VERSION``."""
    return (b"Server", b"fakeorigin/" + __version__.encode("ascii"))


def base_headers(now: float) -> list[Header]:
    """Date, Server and ``Content-Type: text/plain``: the fields every entry's response has."""
    return [date_header(now), server_header(), (b"Content-Type", b"text/plain")]


def final_response(
    status: int, content: bytes, now: float, extra: tuple[Header, ...] = ()
) -> bytes:
    """A correct final response with Content-Length framing (the parts not being broken)."""
    headers = [*base_headers(now), *extra]
    headers.append((b"Content-Length", b"%d" % len(content)))
    return response_head(status, None, headers) + content


def _write(data: bytes, detail: str) -> WriteHttp1:
    return WriteHttp1(data, Event.RAW_SENT, None, detail)


#: The content of most entries' responses.
OK_BODY = b"ok\n"

#: RFC 9110 section 5.6.2: a token (field names, protocol names).
TOKEN_PATTERN = r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"

_EXPECT = Probe(method="POST", headers=(("Expect", "100-continue"),), body=b"hello\n")


class Status1xx(Parameters):
    """Parameters of an entry that sends one interim response."""

    status: int = Field(default=103, ge=100, le=199, description="the interim status")


class Interim(Parameters):
    """Parameters of an entry that sends one interim response, 102 by default."""

    status: int = Field(default=102, ge=100, le=199, description="the interim status")


class Body(Parameters):
    """Parameters of an entry whose response carries content it should not."""

    body: str = Field(default="hello\n", description="the content sent")


# -- 1xx ------------------------------------------------------------------------------------


@violation(
    id="informational-to-http10",
    summary="A 1xx interim response to an HTTP/1.0 request, then 200.",
    rule="RFC 9110 section 15.2",
    requirement="“Since HTTP/1.0 did not define any 1xx status codes, a server MUST NOT send "
    "a 1xx response to an HTTP/1.0 client.”",
    proxy="must not forward the 1xx to an HTTP/1.0 client: it drops it and forwards only "
    "the final response",
    client="a real HTTP/1.0 client may take the 1xx for the final response and fail; an "
    "HTTP/1.1 client that sent an HTTP/1.0 request must still parse it and may ignore it "
    "(RFC 9110 section 15.2)",
    ending=Ending.CLOSE,
    parameters=Interim,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
    probe=Probe(http_version="1.0"),
)
def _informational_to_http10(params: Interim, context: Context) -> Iterator[Action]:
    interim = response_head(params.status, None, [])
    yield _write(interim, f"{params.status} to an HTTP/1.0 request")
    yield _write(final_response(200, OK_BODY, context.now), "final 200")


@violation(
    id="1xx-missing-blank-line",
    summary="An interim response whose header section lacks its terminating empty line, "
    "directly followed by the final response.",
    rule="RFC 9112 section 2.1",
    requirement="“HTTP-message = start-line CRLF *( field-line CRLF ) CRLF [ message-body ]”",
    proxy="must treat the message as invalid (the final status line becomes a malformed "
    "header line of the 1xx) and answer its client 502",
    client="must treat the response as invalid: the next status line is not a valid field "
    "line (RFC 9112 section 5)",
    ending=Ending.CLOSE,
    parameters=Status1xx,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "illegal header line", "llhttp": "HPE_INVALID_HEADER_TOKEN"},
)
def _missing_blank_line(params: Status1xx, context: Context) -> Iterator[Action]:
    head = response_head(params.status, None, [(b"Link", b"</a.css>; rel=preload")])
    yield _write(head[: -len(CRLF)], f"{params.status} without its blank line")
    yield _write(final_response(200, OK_BODY, context.now), "final 200")


class InterimWithBody(Status1xx):
    """Parameters of ``1xx-with-body``."""

    body: str = Field(default="hello\n", description="the content after the interim head")


@violation(
    id="1xx-with-body",
    summary="An interim response with Content-Length and content, then 200.",
    rule="RFC 9110 section 15.2",
    requirement="“A 1xx response is terminated by the end of the header section; it cannot "
    "contain content or trailers.”",
    proxy="must end the 1xx at its blank line; the bytes after it do not start a valid "
    "response, so it must treat the response as invalid, close the connection and answer 502",
    client="must end the 1xx at its blank line and then finds no valid status line: the "
    "response is invalid",
    ending=Ending.CLOSE,
    parameters=InterimWithBody,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "illegal status line", "llhttp": "HPE_INVALID_CONSTANT"},
)
def _interim_with_body(params: InterimWithBody, context: Context) -> Iterator[Action]:
    content = params.body.encode("utf-8")
    head = response_head(params.status, None, [(b"Content-Length", b"%d" % len(content))])
    yield _write(head + content, f"{params.status} with {len(content)} bytes of content")
    yield _write(final_response(200, OK_BODY, context.now), "final 200")


@violation(
    id="1xx-after-final",
    summary="A complete 200, then an interim 102 on the kept-alive connection.",
    rule="RFC 9112 section 9.2",
    requirement="“More than one response message per request only occurs when one or more "
    "informational responses (1xx; see Section 15.2 of [HTTP]) precede a final response to "
    "the same request.” and “If a client receives data on a connection that doesn't have "
    "outstanding requests, the client MUST NOT consider that data to be a valid response; the "
    "client SHOULD close the connection, since message delimitation is now ambiguous, unless "
    "the data consists only of one or more CRLF (which can be discarded per Section 2.2).”",
    proxy="must not forward the 102 (the exchange is over) nor take it as an interim response "
    "to the next request it sends on that connection; it should close the connection",
    client="must not take the 102 as part of the next exchange; it should close the connection",
    ending=Ending.KEEP_ALIVE,
    parameters=Interim,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
    probe=Probe(requests=2),
)
def _after_final(params: Interim, context: Context) -> Iterator[Action]:
    final = final_response(200, OK_BODY, context.now)
    interim = response_head(params.status, None, [])
    yield _write(final + interim, f"200, then {params.status}")


@violation(
    id="100-unsolicited",
    summary="100 Continue to a request that did not ask for it (no Expect), then 200.",
    rule="RFC 9110 section 15.2.1",
    requirement="“If the request did not contain an Expect header field containing the "
    "100-continue expectation, the client can simply discard this interim response.”",
    proxy="must forward it like any 1xx (RFC 9110 section 15.2: “A proxy MUST forward 1xx "
    "responses unless the proxy itself requested the generation of the 1xx response”), or "
    "drop it; either way it must deliver the final response",
    client="must parse it and may discard it, then read the final response",
    ending=Ending.KEEP_ALIVE,
    legal=True,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
)
def _unsolicited_100(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write(response_head(100, None, []), "100 without Expect")
    yield _write(final_response(200, OK_BODY, context.now), "final 200")


@violation(
    id="100-after-body-complete",
    summary="Read the whole request content first, then send 100 Continue, then 200.",
    rule="RFC 9110 section 10.1.1",
    requirement="“The origin server MUST NOT wait for the content before sending the 100 "
    "(Continue) response.”",
    proxy="may forward the late 100 or drop it (the client has sent everything already), "
    "and must deliver the final response; a client that waits for the 100 meanwhile is held "
    "up until its own expect timeout",
    client="waits for the 100 no longer than its timeout (RFC 9110 section 10.1.1: a client "
    "“SHOULD NOT wait for an indefinite period before sending the content”), sends the "
    "content, then parses the late 100 and the final response",
    ending=Ending.KEEP_ALIVE,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
    probe=_EXPECT,
)
def _continue_late(_: NoParameters, context: Context) -> Iterator[Action]:
    yield AwaitBody()
    yield _write(response_head(100, None, []), "100 after the whole content")
    yield _write(final_response(200, OK_BODY, context.now), "final 200")


@violation(
    id="100-twice",
    summary="Two 100 Continue responses, then 200.",
    rule="RFC 9110 section 15.2",
    requirement="“A client MUST be able to parse one or more 1xx responses received prior to "
    "a final response, even if the client does not expect one.”",
    proxy="must forward or drop each 100 and deliver the final response",
    client="must parse both; a client that waits for a 100 sends its content after the first",
    ending=Ending.KEEP_ALIVE,
    legal=True,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
    probe=_EXPECT,
)
def _continue_twice(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write(response_head(100, None, []) * 2, "100 twice")
    yield _write(final_response(200, OK_BODY, context.now), "final 200")


class UpgradeProtocol(Parameters):
    """Parameters of ``101-without-upgrade-request``."""

    protocol: str = Field(
        default="websocket", pattern=TOKEN_PATTERN, description="the Upgrade protocol named"
    )


@violation(
    id="101-without-upgrade-request",
    summary="101 Switching Protocols to a request that has no Upgrade field, then close.",
    rule="RFC 9110 section 7.8",
    requirement="“A server MUST NOT switch to a protocol that was not indicated by the client "
    "in the corresponding request's Upgrade header field.”",
    proxy="must not switch protocols or tunnel: the response is invalid for this request; it "
    "should close the connection and answer 502",
    client="must not switch protocols it did not ask for: the response is invalid",
    ending=Ending.CLOSE,
    parameters=UpgradeProtocol,
    verdicts={"h11": "rejects", "llhttp": "accepts"},
    evidence={"h11": "Received server _SWITCH_UPGRADE event without a pending proposal"},
)
def _switch_unasked(params: UpgradeProtocol, _context: Context) -> Iterator[Action]:
    headers = [(b"Connection", b"Upgrade"), (b"Upgrade", params.protocol.encode("ascii"))]
    yield _write(response_head(101, None, headers), "101 without an Upgrade request")


@violation(
    id="101-missing-upgrade-header",
    summary="101 Switching Protocols without an Upgrade field, to a request that asked to "
    "upgrade; then close.",
    rule="RFC 9110 section 15.2.2",
    requirement="“The server MUST generate an Upgrade header field in the response that "
    "indicates which protocol(s) will be in effect after this response.”",
    proxy="cannot tell which protocol follows: it must not tunnel on guesswork; it should "
    "close the connection and answer 502",
    client="cannot tell which protocol follows and should treat the upgrade as failed",
    ending=Ending.CLOSE,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
    probe=Probe(headers=(("Connection", "Upgrade"), ("Upgrade", "websocket"))),
)
def _switch_unnamed(_: NoParameters, _context: Context) -> Iterator[Action]:
    headers = [(b"Connection", b"Upgrade")]
    yield _write(response_head(101, None, headers), "101 without Upgrade")


class Flood(Parameters):
    """Parameters of ``1xx-flood``."""

    count: int = Field(default=1000, ge=1, le=1_000_000, description="interim responses sent")
    status: int = Field(default=102, ge=100, le=199, description="their status")
    every: float = Field(default=0.0, ge=0, description="seconds between them")


@violation(
    id="1xx-flood",
    summary="Many interim responses before the final one.",
    rule="RFC 9110 section 15.2",
    requirement="“A client MUST be able to parse one or more 1xx responses received prior to "
    "a final response, even if the client does not expect one.” (No limit is set: the entry "
    "is legal, but it tests the limits an intermediary must set to protect itself.)",
    proxy="should bound the interim responses it forwards or buffers; must still deliver "
    "the final response",
    client="must parse every 1xx and then the final response",
    ending=Ending.KEEP_ALIVE,
    parameters=Flood,
    legal=True,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
)
def _flood(params: Flood, context: Context) -> Iterator[Action]:
    interim = response_head(params.status, None, [])
    for index in range(params.count):
        if index and params.every:
            yield Wait(params.every)
        yield WriteHttp1(interim)
    yield _write(final_response(200, OK_BODY, context.now), f"{params.count} interims, then 200")


class InvalidCode(Parameters):
    """Parameters of ``informational-invalid-code``."""

    code: str = Field(
        default="1XX",
        pattern=r"^[!-~]+$",
        description="what stands where the 3-digit status code belongs (1000, 99, 1XX...)",
    )


@violation(
    id="informational-invalid-code",
    summary="An interim response whose status code is not three digits (1XX), then 200.",
    rule="RFC 9112 section 4",
    requirement="“The status-code element is a 3-digit integer code describing the result of "
    "the server's attempt to understand and satisfy the client's corresponding request.” and "
    "“status-code = 3DIGIT”",
    proxy="must treat the response as invalid: close the connection and answer 502",
    client="must treat the response as invalid",
    ending=Ending.CLOSE,
    parameters=InvalidCode,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "illegal status line", "llhttp": "HPE_INVALID_STATUS"},
)
def _invalid_code(params: InvalidCode, context: Context) -> Iterator[Action]:
    line = b"HTTP/1.1 " + params.code.encode("ascii") + b" Informational\r\n\r\n"
    yield _write(line, f"interim status {params.code}")
    yield _write(final_response(200, OK_BODY, context.now), "final 200")


class Forever(Parameters):
    """Parameters of ``102-forever``."""

    every: float = Field(default=1.0, gt=0, description="seconds between the 102s")
    status: int = Field(default=102, ge=100, le=199, description="the interim status")


@violation(
    id="102-forever",
    summary="102 Processing every second, and never a final response.",
    rule="RFC 9110 section 15",
    requirement="“A single request can have multiple associated responses: zero or more "
    'interim (non-final) responses with status codes in the "informational" (1xx) range, '
    "followed by exactly one final response with a status code in one of the other ranges.”",
    proxy="must not wait forever: interim responses must not reset its timeout for the final "
    "response; when it runs out it answers 504 (or closes if it already forwarded a 1xx)",
    client="should give up after its own timeout",
    ending=Ending.HANG,
    parameters=Forever,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
    probe=Probe(patience_seconds=0.5),
)
def _forever(params: Forever, _context: Context) -> Iterator[Action]:
    interim = response_head(params.status, None, [])
    while True:
        yield _write(interim, f"{params.status}, and no final response will follow")
        yield Wait(params.every)


@violation(
    id="1xx-with-headers",
    summary="A 103 Early Hints carrying several header fields, then 200.",
    rule="RFC 9110 section 15.2",
    requirement="“A 1xx response is terminated by the end of the header section; it cannot "
    "contain content or trailers.” (An interim response has a header section like any other "
    "response.)",
    proxy="must forward the 1xx with its fields (it may drop fields it would drop from any "
    "response) and deliver the final response",
    client="must parse the fields of the 1xx; they do not apply to the final response",
    ending=Ending.KEEP_ALIVE,
    legal=True,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
)
def _interim_with_headers(_: NoParameters, context: Context) -> Iterator[Action]:
    headers = [
        (b"Link", b"</style.css>; rel=preload; as=style"),
        (b"Link", b"</app.js>; rel=preload; as=script"),
        (b"X-Early", b"yes"),
    ]
    yield _write(response_head(103, None, headers), "103 with three fields")
    yield _write(final_response(200, OK_BODY, context.now), "final 200")


class Several(Parameters):
    """Parameters of ``several-103``."""

    count: int = Field(default=3, ge=2, le=100, description="how many 103 responses")


@violation(
    id="several-103",
    summary="Several 103 Early Hints responses, each with its own Link, then 200.",
    rule="RFC 9110 section 15.2",
    requirement="“A client MUST be able to parse one or more 1xx responses received prior to "
    "a final response, even if the client does not expect one.”",
    proxy="must forward each 103 (or drop them all) and deliver the final response",
    client="must parse each 103; each carries its own hints",
    ending=Ending.KEEP_ALIVE,
    parameters=Several,
    legal=True,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
)
def _several_103(params: Several, context: Context) -> Iterator[Action]:
    for index in range(params.count):
        link = b"</asset-%d.js>; rel=preload; as=script" % index
        yield _write(response_head(103, None, [(b"Link", link)]), f"103 #{index + 1}")
    yield _write(final_response(200, OK_BODY, context.now), "final 200")


# -- status line and headers ------------------------------------------------------------------


def _response_with_line(line: bytes, now: float, extra: Sequence[Header] = ()) -> bytes:
    """``line`` as the status line, then a correct 200's fields (plus ``extra``) and content."""
    fields = [*base_headers(now), *extra, (b"Content-Length", b"%d" % len(OK_BODY))]
    return line + CRLF + header_block(fields) + CRLF + OK_BODY


def _response_with_field(field: bytes, now: float) -> bytes:
    """A correct 200 with one extra, verbatim header line ``field`` (no CRLF) after Server."""
    head = response_head(200, None, base_headers(now))
    length = b"Content-Length: %d\r\n" % len(OK_BODY)
    return head[: -len(CRLF)] + field + CRLF + length + CRLF + OK_BODY


class StatusLine(Parameters):
    """Parameters of ``bad-status-line``."""

    line: str = Field(
        default="HTTP/1.1 OK",
        pattern=r"^[^\r\n]*$",
        description="the status line sent (without its CRLF)",
    )


@violation(
    id="bad-status-line",
    summary="A status line with no status code (HTTP/1.1 OK), then a normal 200's fields.",
    rule="RFC 9112 section 4",
    requirement="“status-line = HTTP-version SP status-code SP [ reason-phrase ]”",
    proxy="must treat the response as invalid: close the connection and answer 502",
    client="must treat the response as invalid",
    ending=Ending.CLOSE,
    parameters=StatusLine,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "illegal status line", "llhttp": "HPE_INVALID_STATUS"},
)
def _bad_status_line(params: StatusLine, context: Context) -> Iterator[Action]:
    line = params.line.encode("latin-1")
    yield _write(_response_with_line(line, context.now), f"status line {params.line!r}")


class Version(Parameters):
    """Parameters of ``http-version-mismatch``."""

    version: str = Field(
        default="2.0", pattern=r"^[0-9]\.[0-9]$", description="the version in the status line"
    )


@violation(
    id="http-version-mismatch",
    summary="An HTTP/1.1 request answered with an HTTP/2.0 status line in HTTP/1.1 syntax.",
    rule="RFC 9110 section 6.2",
    requirement="“A server SHOULD send a response version equal to the highest version to "
    "which the server is conformant that has a major version less than or equal to the one "
    "received in the request. A server MUST NOT send a version to which it is not "
    "conformant.”",
    proxy="must not relay a major version higher than the request's: treat the response as "
    "invalid (close, 502)",
    client="must not take an HTTP/1.1-framed message as HTTP/2; it should treat the response "
    "as invalid",
    ending=Ending.CLOSE,
    parameters=Version,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
)
def _version_mismatch(params: Version, context: Context) -> Iterator[Action]:
    line = b"HTTP/" + params.version.encode("ascii") + b" 200 OK"
    yield _write(_response_with_line(line, context.now), f"HTTP/{params.version} status line")


@violation(
    id="lf-only-line-endings",
    summary="A 200 whose status line and header lines end in LF alone, not CRLF.",
    rule="RFC 9112 section 2.2",
    requirement="“Although the line terminator for the start-line and fields is the sequence "
    "CRLF, a recipient MAY recognize a single LF as a line terminator and ignore any preceding "
    "CR.” (The sender's grammar, section 2.1: “HTTP-message = start-line CRLF *( field-line "
    "CRLF ) CRLF [ message-body ]”.)",
    proxy="may accept it, and must then forward it with CRLF line endings; or treat it as "
    "invalid (502)",
    client="may accept it",
    ending=Ending.CLOSE,
    verdicts={"h11": "accepts", "llhttp": "accepts-lenient-only"},
    evidence={"llhttp": "HPE_CR_EXPECTED"},
)
def _lf_only(_: NoParameters, context: Context) -> Iterator[Action]:
    response = final_response(200, OK_BODY, context.now)
    head, _blank, content = response.partition(CRLF + CRLF)
    yield _write(head.replace(CRLF, b"\n") + b"\n\n" + content, "LF line endings")


class Folded(Parameters):
    """Parameters of ``obs-fold-header``."""

    name: str = Field(
        default="X-Folded", pattern=r"^[!#-'*+.0-9A-Z^-z|~-]+$", description="the field name"
    )


@violation(
    id="obs-fold-header",
    summary="A header field value continued on a second line (obsolete line folding).",
    rule="RFC 9112 section 5.2",
    requirement="“A sender MUST NOT generate a message that includes line folding (i.e., that "
    "has any field line value that contains a match to the obs-fold rule) unless the message "
    'is intended for packaging within the "message/http" media type.”',
    proxy="RFC 9112 section 5.2: “A proxy or gateway that receives an obs-fold in a response "
    'message that is not within a "message/http" container MUST either discard the message '
    "and replace it with a 502 (Bad Gateway) response, preferably with a representation "
    "explaining that unacceptable line folding was received, or replace each received "
    "obs-fold with one or more SP octets prior to interpreting the field value or forwarding "
    "the message downstream.”",
    client="must replace each obs-fold with one or more SP before interpreting the value",
    ending=Ending.CLOSE,
    parameters=Folded,
    verdicts={"h11": "accepts", "llhttp": "accepts-lenient-only"},
    evidence={"llhttp": "HPE_INVALID_HEADER_TOKEN"},
)
def _obs_fold(params: Folded, context: Context) -> Iterator[Action]:
    folded = params.name.encode("ascii") + b": first\r\n second"
    yield _write(_response_with_field(folded, context.now), "a folded field")


class Spaced(Parameters):
    """Parameters of ``header-space-before-colon``."""

    name: str = Field(
        default="X-Spaced", pattern=r"^[!#-'*+.0-9A-Z^-z|~-]+$", description="the field name"
    )


@violation(
    id="header-space-before-colon",
    summary="A header field line with whitespace between the field name and the colon.",
    rule="RFC 9112 section 5.1",
    requirement="“No whitespace is allowed between the field name and colon.” and “A proxy "
    "MUST remove any such whitespace from a response message before forwarding the message "
    "downstream.”",
    proxy="must remove the whitespace before forwarding (or reject the response: 502)",
    client="should treat the response as invalid (the field name is not a token)",
    ending=Ending.CLOSE,
    parameters=Spaced,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "illegal header line", "llhttp": "HPE_INVALID_HEADER_TOKEN"},
)
def _space_before_colon(params: Spaced, context: Context) -> Iterator[Action]:
    field = params.name.encode("ascii") + b" : value"
    yield _write(_response_with_field(field, context.now), "space before the colon")


@violation(
    id="header-nul-byte",
    summary="A header field value containing a NUL octet.",
    rule="RFC 9110 section 5.5",
    requirement="“Field values containing CR, LF, or NUL characters are invalid and dangerous, "
    "due to the varying ways that implementations might parse and interpret those characters; "
    "a recipient of CR, LF, or NUL within a field value MUST either reject the message or "
    "replace each of those characters with SP before further processing or forwarding of that "
    "message.”",
    proxy="must reject the response (502) or replace the NUL with SP before forwarding",
    client="must reject the response or replace the NUL with SP",
    ending=Ending.CLOSE,
    verdicts={"h11": "rejects", "llhttp": "accepts-lenient-only"},
    evidence={"h11": "illegal header line", "llhttp": "HPE_INVALID_HEADER_TOKEN"},
)
def _nul(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write(_response_with_field(b"X-Nul: a\x00b", context.now), "NUL in a field value")


@violation(
    id="header-bare-cr",
    summary="A header field value containing a CR not followed by LF.",
    rule="RFC 9112 section 2.2",
    requirement="“A sender MUST NOT generate a bare CR (a CR character not immediately "
    "followed by LF) within any protocol elements other than the content. A recipient of such "
    "a bare CR MUST consider that element to be invalid or replace each bare CR with SP before "
    "processing the element or forwarding the message.”",
    proxy="must treat the field as invalid (502) or replace the bare CR with SP before forwarding",
    client="must treat the field as invalid or replace the bare CR with SP",
    ending=Ending.CLOSE,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "illegal header line", "llhttp": "HPE_LF_EXPECTED"},
)
def _bare_cr(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write(_response_with_field(b"X-Bare-CR: a\rb", context.now), "bare CR in a field value")


class InvalidName(Parameters):
    """Parameters of ``header-invalid-name``."""

    name: str = Field(
        default="X-Bad(Name)",
        pattern=r"^[^\r\n:]+$",
        description="the field name sent (no CR, LF or colon)",
    )


@violation(
    id="header-invalid-name",
    summary="A header field whose name is not a token (it contains parentheses).",
    rule="RFC 9110 section 5.1",
    requirement="“field-name = token” (and section 5.6.2: “token = 1*tchar”, where tchar is "
    "“any VCHAR, except delimiters”)",
    proxy="must treat the response as invalid (502)",
    client="must treat the response as invalid",
    ending=Ending.CLOSE,
    parameters=InvalidName,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "illegal header line", "llhttp": "HPE_INVALID_HEADER_TOKEN"},
)
def _invalid_name(params: InvalidName, context: Context) -> Iterator[Action]:
    field = params.name.encode("latin-1") + b": value"
    yield _write(_response_with_field(field, context.now), f"field name {params.name!r}")


@violation(
    id="whitespace-before-first-header",
    summary="A header field line indented with a space, right after the status line.",
    rule="RFC 9112 section 2.2",
    requirement="“A sender MUST NOT send whitespace between the start-line and the first "
    "header field.”",
    proxy="RFC 9112 section 2.2: must “either reject the message as invalid or consume each "
    "whitespace-preceded line without further processing of it”",
    client="must reject the response or ignore the indented line",
    ending=Ending.CLOSE,
    verdicts={"h11": "rejects", "llhttp": "accepts-lenient-only"},
    evidence={"h11": "continuation line at start of headers", "llhttp": "HPE_UNEXPECTED_SPACE"},
)
def _indented_first(_: NoParameters, context: Context) -> Iterator[Action]:
    line = b"HTTP/1.1 200 OK\r\n X-Indented: value"
    yield _write(_response_with_line(line, context.now), "indented first field line")


class Oversized(Parameters):
    """Parameters of ``oversized-header``."""

    size: int = Field(
        default=65536, ge=1, le=64 * 1024 * 1024, description="bytes in the field's value"
    )


@violation(
    id="oversized-header",
    summary="A 200 with one header field whose value is 64 KiB.",
    rule="RFC 9110 section 5.4",
    requirement="“HTTP does not place a predefined limit on the length of each field line, "
    "field value, or on the length of a header or trailer section as a whole, as described in "
    "Section 2.” (Legal; it tests the limit every recipient sets for itself.)",
    proxy="may refuse a header section larger than its limit: then it must not forward a "
    "truncated response; it answers 502",
    client="may refuse it past its own limit (RFC 9110 section 5.4: a client MAY discard or "
    "truncate field lines it does not wish to process only if that changes neither framing "
    "nor semantics)",
    ending=Ending.CLOSE,
    parameters=Oversized,
    legal=True,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "Receive buffer too long", "llhttp": "HPE_HEADER_OVERFLOW"},
)
def _oversized(params: Oversized, context: Context) -> Iterator[Action]:
    field = b"X-Large: " + b"a" * params.size
    yield _write(_response_with_field(field, context.now), f"a {params.size}-byte field value")


@violation(
    id="missing-space-after-status",
    summary="A status line that ends right after the status code (HTTP/1.1 200, no space).",
    rule="RFC 9112 section 4",
    requirement="“A server MUST send the space that separates the status-code from the "
    "reason-phrase even when the reason-phrase is absent (i.e., the status-line would end "
    "with the space).”",
    proxy="may accept it (RFC 9112 section 4 lets recipients parse on whitespace boundaries) "
    "and must then forward a well-formed status line; or treat it as invalid (502)",
    client="may accept it",
    ending=Ending.CLOSE,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
)
def _missing_space(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write(_response_with_line(b"HTTP/1.1 200", context.now), "status line without SP")


@violation(
    id="empty-reason-phrase",
    summary="A 200 whose status line has the space but no reason phrase (HTTP/1.1 200 ).",
    rule="RFC 9112 section 4",
    requirement="“A server MUST send the space that separates the status-code from the "
    "reason-phrase even when the reason-phrase is absent (i.e., the status-line would end "
    "with the space).”",
    proxy="must accept it and forward it (it may supply a reason phrase)",
    client="must accept it (RFC 9112 section 4: a client “SHOULD ignore the reason-phrase "
    "content”)",
    ending=Ending.KEEP_ALIVE,
    legal=True,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
)
def _empty_reason(_: NoParameters, context: Context) -> Iterator[Action]:
    length = (b"Content-Length", b"%d" % len(OK_BODY))
    response = response_head(200, "", [*base_headers(context.now), length])
    yield _write(response + OK_BODY, "empty reason phrase")


class OutOfRange(Parameters):
    """Parameters of ``status-code-out-of-range``."""

    status: int = Field(default=600, ge=0, le=999, description="the final status code (3 digits)")


@violation(
    id="status-code-out-of-range",
    summary="A final response with status 600: three digits, but outside 100..599.",
    rule="RFC 9110 section 15",
    requirement="“Values outside the range 100..599 are invalid.” and “A client that receives "
    "a response with an invalid status code SHOULD process the response as if it had a 5xx "
    "(Server Error) status code.”",
    proxy="should treat it as a 5xx (and must not cache it as anything else)",
    client="should process it as if it were a 5xx",
    ending=Ending.CLOSE,
    parameters=OutOfRange,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
)
def _out_of_range(params: OutOfRange, context: Context) -> Iterator[Action]:
    line = b"HTTP/1.1 %03d Invalid" % params.status
    yield _write(_response_with_line(line, context.now), f"status {params.status}")


# -- framing ----------------------------------------------------------------------------------


class LengthTooLong(Parameters):
    """Parameters of ``content-length-too-long``."""

    body: str = Field(default="hello\n", description="the content actually sent")
    missing: int = Field(default=10, ge=1, description="bytes declared but never sent")


@violation(
    id="content-length-too-long",
    summary="Content-Length declares more bytes than are sent; then the connection closes.",
    rule="RFC 9112 section 6.3",
    requirement="“If the sender closes the connection or the recipient times out before the "
    "indicated number of octets are received, the recipient MUST consider the message to be "
    "incomplete and close the connection.”",
    proxy="must consider the response incomplete: must not cache it, and must not present it "
    "as complete to its client (close the client connection or reset the stream)",
    client="must consider the message incomplete and close the connection",
    ending=Ending.CLOSE,
    parameters=LengthTooLong,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={
        "h11": "peer closed connection without sending complete message body",
        "llhttp": "ECONNRESET",
    },
)
def _length_too_long(params: LengthTooLong, context: Context) -> Iterator[Action]:
    content = params.body.encode("utf-8")
    declared = len(content) + params.missing
    headers = [*base_headers(context.now), (b"Content-Length", b"%d" % declared)]
    yield _write(response_head(200, None, headers) + content, f"{len(content)} of {declared}")


class LengthTooShort(Parameters):
    """Parameters of ``content-length-too-short``."""

    body: str = Field(default="hello\n", description="the content actually sent")
    excess: int = Field(default=3, ge=1, description="bytes sent beyond the declared length")


@violation(
    id="content-length-too-short",
    summary="Content-Length declares fewer bytes than are sent; the rest stays on the "
    "kept-alive connection.",
    rule="RFC 9112 section 6.3",
    requirement="“If the final response to the last request on a connection has been "
    "completely received and there remains additional data to read, a user agent MAY discard "
    "the remaining data or attempt to determine if that data belongs as part of the prior "
    "message body, which might be the case if the prior message's Content-Length value is "
    "incorrect. A client MUST NOT process, cache, or forward such extra data as a separate "
    "response, since such behavior would be vulnerable to cache poisoning.”",
    proxy="must not take the extra bytes as (the start of) the next response: it should close "
    "the connection instead of reusing it",
    client="must not process the extra bytes as a separate response",
    ending=Ending.KEEP_ALIVE,
    parameters=LengthTooShort,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "illegal status line", "llhttp": "HPE_INVALID_CONSTANT"},
    probe=Probe(requests=2),
)
def _length_too_short(params: LengthTooShort, context: Context) -> Iterator[Action]:
    content = params.body.encode("utf-8")
    declared = max(len(content) - params.excess, 0)
    headers = [*base_headers(context.now), (b"Content-Length", b"%d" % declared)]
    yield _write(response_head(200, None, headers) + content, f"{len(content)} of {declared}")


@violation(
    id="duplicate-content-length-differing",
    summary="Two Content-Length fields with different values (6 and 7).",
    rule="RFC 9112 section 6.3",
    requirement="“If a message is received without Transfer-Encoding and with an invalid "
    "Content-Length header field, then the message framing is invalid and the recipient MUST "
    "treat it as an unrecoverable error, unless the field value can be successfully parsed as "
    "a comma-separated list (Section 5.6.1 of [HTTP]), all values in the list are valid, and "
    "all values in the list are the same (in which case, the message is processed with that "
    "single value used as the Content-Length field value).”",
    proxy="RFC 9112 section 6.3: “the proxy MUST close the connection to the server, discard "
    "the received response, and send a 502 (Bad Gateway) response to the client”",
    client="“the user agent MUST close the connection to the server and discard the received "
    "response” (RFC 9112 section 6.3)",
    ending=Ending.CLOSE,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={
        "h11": "conflicting Content-Length headers",
        "llhttp": "HPE_UNEXPECTED_CONTENT_LENGTH",
    },
)
def _two_lengths(_: NoParameters, context: Context) -> Iterator[Action]:
    content = b"hello\n"
    headers = [*base_headers(context.now), (b"Content-Length", b"6"), (b"Content-Length", b"7")]
    yield _write(response_head(200, None, headers) + content, "Content-Length 6 and 7")


@violation(
    id="duplicate-content-length-identical",
    summary="Two Content-Length fields with the same value (6 and 6).",
    rule="RFC 9110 section 8.6",
    requirement="“Likewise, a sender MUST NOT forward a message with a Content-Length header "
    "field value that does not match the ABNF above, with one exception: a recipient of a "
    "Content-Length header field value consisting of the same decimal value repeated as a "
    'comma-separated list (e.g, "Content-Length: 42, 42") MAY either reject the message as '
    "invalid or replace that invalid field value with a single instance of the decimal value, "
    "since this likely indicates that a duplicate was generated or combined by an upstream "
    "message processor.”",
    proxy="may reject it (502) or use the single value; if it forwards, it must send one "
    "Content-Length",
    client="may reject it or use the single value",
    ending=Ending.CLOSE,
    verdicts={"h11": "accepts", "llhttp": "rejects"},
    evidence={"llhttp": "HPE_UNEXPECTED_CONTENT_LENGTH"},
)
def _two_equal_lengths(_: NoParameters, context: Context) -> Iterator[Action]:
    content = b"hello\n"
    headers = [*base_headers(context.now), (b"Content-Length", b"6"), (b"Content-Length", b"6")]
    yield _write(response_head(200, None, headers) + content, "Content-Length 6 and 6")


@violation(
    id="content-length-with-chunked",
    summary="Transfer-Encoding: chunked and a Content-Length that disagrees with it.",
    rule="RFC 9112 section 6.2",
    requirement="“A sender MUST NOT send a Content-Length header field in any message that "
    "contains a Transfer-Encoding header field.”",
    proxy="RFC 9112 section 6.3: the Transfer-Encoding overrides the Content-Length, and the "
    "message “ought to be handled as an error”; “An intermediary that chooses to forward the "
    "message MUST first remove the received Content-Length field and process the "
    "Transfer-Encoding (as described below) prior to forwarding the message downstream.”",
    client="must frame by Transfer-Encoding, never by Content-Length, or treat it as an error",
    ending=Ending.CLOSE,
    verdicts={"h11": "accepts", "llhttp": "accepts-lenient-only"},
    evidence={"llhttp": "HPE_INVALID_CONTENT_LENGTH"},
)
def _length_and_chunked(_: NoParameters, context: Context) -> Iterator[Action]:
    headers = [
        *base_headers(context.now),
        (b"Transfer-Encoding", b"chunked"),
        (b"Content-Length", b"6"),
    ]
    body = b"6\r\nhello\n\r\n0\r\n\r\n"
    yield _write(response_head(200, None, headers) + body, "chunked with Content-Length 6")


def _chunked_head(now: float) -> bytes:
    return response_head(200, None, [*base_headers(now), (b"Transfer-Encoding", b"chunked")])


class ChunkSize(Parameters):
    """Parameters of ``chunked-bad-size``."""

    size: str = Field(
        default="zz", pattern=r"^[^\r\n]*$", description="the chunk-size line (no CR or LF)"
    )


@violation(
    id="chunked-bad-size",
    summary="A chunked response whose chunk-size is not hexadecimal (zz).",
    rule="RFC 9112 section 7.1",
    requirement="“chunk-size = 1*HEXDIG” and “The chunk-size field is a string of hex digits "
    "indicating the size of the chunk-data in octets.”",
    proxy="must treat the response as invalid: it cannot find the end of the message; close "
    "the connection, and answer 502 if nothing was forwarded yet (or cut its client's "
    "response short)",
    client="must treat the message as invalid (RFC 9112 section 8: decoding a supposedly "
    "chunked transfer coding failed; record it as incomplete)",
    ending=Ending.CLOSE,
    parameters=ChunkSize,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "illegal chunk header", "llhttp": "HPE_INVALID_CHUNK_SIZE"},
)
def _bad_chunk_size(params: ChunkSize, context: Context) -> Iterator[Action]:
    body = params.size.encode("latin-1") + b"\r\nhello\n\r\n0\r\n\r\n"
    yield _write(_chunked_head(context.now) + body, f"chunk size {params.size!r}")


@violation(
    id="chunked-missing-last-chunk",
    summary="A chunked response that ends (close) without the zero-size last chunk.",
    rule="RFC 9112 section 8",
    requirement="“A message body that uses the chunked transfer coding is incomplete if the "
    "zero-sized chunk that terminates the encoding has not been received.”",
    proxy="must consider the response incomplete: not cache it, and not present it as "
    "complete to its client (close the client connection without the last chunk)",
    client="“MUST record the message as incomplete” (RFC 9112 section 8)",
    ending=Ending.CLOSE,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={
        "h11": "peer closed connection without sending complete message body",
        "llhttp": "ECONNRESET",
    },
)
def _no_last_chunk(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write(_chunked_head(context.now) + b"6\r\nhello\n\r\n", "no last chunk")


class Extension(Parameters):
    """Parameters of ``chunked-extension-garbage``."""

    extension: str = Field(
        default=';="unterminated',
        pattern=r"^[^\r\n]*$",
        description="what follows the chunk size on its line (no CR or LF)",
    )


@violation(
    id="chunked-extension-garbage",
    summary="A chunk whose extension does not match the chunk-ext grammar.",
    rule="RFC 9112 section 7.1.1",
    requirement='“chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] '
    ")” and “chunk-ext-name = token”",
    proxy="should treat the message as invalid (close; 502 if nothing was forwarded yet); "
    "one that ignores chunk extensions must still find the line's end exactly as the client "
    "will",
    client="should treat the message as invalid",
    ending=Ending.CLOSE,
    parameters=Extension,
    verdicts={"h11": "accepts", "llhttp": "rejects"},
    evidence={"llhttp": "HPE_STRICT"},
)
def _extension_garbage(params: Extension, context: Context) -> Iterator[Action]:
    body = b"6" + params.extension.encode("latin-1") + b"\r\nhello\n\r\n0\r\n\r\n"
    yield _write(_chunked_head(context.now) + body, f"chunk extension {params.extension!r}")


@violation(
    id="chunked-to-http10",
    summary="A chunked response to an HTTP/1.0 request.",
    rule="RFC 9112 section 6.1",
    requirement="“A server MUST NOT send a response containing Transfer-Encoding unless the "
    "corresponding request indicates HTTP/1.1 (or later minor revisions).”",
    proxy="must decode the chunked coding and forward to an HTTP/1.0 client with "
    "Content-Length or by closing the connection",
    client="an HTTP/1.0 client cannot decode it; an HTTP/1.1 client may",
    ending=Ending.CLOSE,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
    probe=Probe(http_version="1.0"),
)
def _chunked_to_http10(_: NoParameters, context: Context) -> Iterator[Action]:
    body = b"6\r\nhello\n\r\n0\r\n\r\n"
    yield _write(_chunked_head(context.now) + body, "chunked to HTTP/1.0")


@violation(
    id="body-on-204",
    summary="A 204 No Content followed by content; the connection is kept alive.",
    rule="RFC 9110 section 15.3.5",
    requirement="“A 204 response is terminated by the end of the header section; it cannot "
    "contain content or trailers.”",
    proxy="must end the 204 at its header section and must not take the bytes after it as "
    "the next response; it should close the connection",
    client="must end the 204 at its header section; it must not take the stray bytes as a "
    "response (RFC 9112 section 9.2)",
    ending=Ending.KEEP_ALIVE,
    parameters=Body,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "illegal status line", "llhttp": "HPE_INVALID_CONSTANT"},
    probe=Probe(requests=2),
)
def _body_on_204(params: Body, context: Context) -> Iterator[Action]:
    head = response_head(204, None, [date_header(context.now), server_header()])
    yield _write(head + params.body.encode("utf-8"), "content after a 204")


@violation(
    id="body-on-304",
    summary="A 304 Not Modified with Content-Length and the content; the connection is kept alive.",
    rule="RFC 9110 section 15.4.5",
    requirement="“A 304 response is terminated by the end of the header section; it cannot "
    "contain content or trailers.”",
    proxy="must end the 304 at its header section (its Content-Length describes the selected "
    "representation) and must not take the content as the next response; it should close",
    client="must end the 304 at its header section and not take the stray bytes as a response",
    ending=Ending.KEEP_ALIVE,
    parameters=Body,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "illegal status line", "llhttp": "HPE_INVALID_CONSTANT"},
    probe=Probe(requests=2),
)
def _body_on_304(params: Body, context: Context) -> Iterator[Action]:
    content = params.body.encode("utf-8")
    headers = [date_header(context.now), server_header(), (b"Content-Length", b"%d" % len(content))]
    yield _write(response_head(304, None, headers) + content, "content after a 304")


@violation(
    id="body-on-head",
    summary="A response to HEAD with Content-Length and the content; kept alive.",
    rule="RFC 9110 section 9.3.2",
    requirement="“The HEAD method is identical to GET except that the server MUST NOT send "
    "content in the response.”",
    proxy="must end the response at its header section and must not take the content as the "
    "next response; it should close the connection",
    client="must end the response at its header section and not take the stray bytes as a response",
    ending=Ending.KEEP_ALIVE,
    parameters=Body,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "illegal status line", "llhttp": "HPE_INVALID_CONSTANT"},
    probe=Probe(method="HEAD", requests=2),
)
def _body_on_head(params: Body, context: Context) -> Iterator[Action]:
    content = params.body.encode("utf-8")
    headers = [*base_headers(context.now), (b"Content-Length", b"%d" % len(content))]
    yield _write(response_head(200, None, headers) + content, "content in a response to HEAD")


# -- connection -------------------------------------------------------------------------------


@violation(
    id="empty-response",
    summary="Close the connection without sending a byte.",
    rule="RFC 9110 section 15",
    requirement="“A single request can have multiple associated responses: zero or more "
    'interim (non-final) responses with status codes in the "informational" (1xx) range, '
    "followed by exactly one final response with a status code in one of the other ranges.”",
    proxy="must answer its client 502; it may retry only an idempotent request (RFC 9110 "
    "section 9.2.2: “A proxy MUST NOT automatically retry non-idempotent requests.”)",
    client="must treat the request as failed; it may retry an idempotent request",
    ending=Ending.CLOSE,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "can't handle event type ConnectionClosed", "llhttp": "ECONNRESET"},
)
def _empty(_: NoParameters, _context: Context) -> Iterator[Action]:
    yield Note(Event.NOTE, None, "no response")


class MidBody(Parameters):
    """Parameters of ``reset-mid-body``."""

    size: int = Field(default=100, ge=2, le=1 << 30, description="the declared content length")
    sent: int = Field(default=50, ge=1, description="content bytes sent before the reset")


@violation(
    id="reset-mid-body",
    summary="A 200 head announcing 100 bytes, 50 of them, then a TCP reset.",
    rule="RFC 9112 section 8",
    requirement="“A client that receives an incomplete response message, which can occur when "
    "a connection is closed prematurely or when decoding a supposedly chunked transfer coding "
    "fails, MUST record the message as incomplete.”",
    proxy="must record the response as incomplete: not cache it, and cut its client's "
    "response short (close or reset) rather than complete it",
    client="must record the message as incomplete",
    ending=Ending.RESET,
    parameters=MidBody,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={
        "h11": "peer closed connection without sending complete message body",
        "llhttp": "ECONNRESET",
    },
)
def _reset_mid_body(params: MidBody, context: Context) -> Iterator[Action]:
    pattern = b"0123456789"
    sent = min(params.sent, params.size - 1)
    content = (pattern * (sent // len(pattern) + 1))[:sent]
    headers = [*base_headers(context.now), (b"Content-Length", b"%d" % params.size)]
    yield _write(response_head(200, None, headers) + content, f"{sent} of {params.size}, reset")


@violation(
    id="respond-before-request",
    summary="A complete 200 written as soon as the connection is accepted, before any request.",
    rule="RFC 9112 section 9.2",
    requirement="“If a client receives data on a connection that doesn't have outstanding "
    "requests, the client MUST NOT consider that data to be a valid response; the client "
    "SHOULD close the connection, since message delimitation is now ambiguous, unless the data "
    "consists only of one or more CRLF (which can be discarded per Section 2.2).”",
    proxy="must not take the bytes as the response to a request it sends later: a connection "
    "with data waiting before any request should be closed, not used",
    client="must not take it as the response to its request; it should close the connection",
    ending=Ending.CLOSE,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
    on_accept=True,
)
def _before_request(_: NoParameters, context: Context) -> Iterator[Action]:
    if context.on_accept:
        yield _write(final_response(200, OK_BODY, context.now), "200 on accept")
    else:
        yield Note(Event.NOTE, None, "the response was sent on accept")


class Garbage(Parameters):
    """Parameters of ``garbage-after-response``."""

    garbage: str = Field(default="oops\r\n", description="the stray bytes (UTF-8)")
    after: float = Field(
        default=0.1, ge=0, description="seconds between the response and the stray bytes"
    )


@violation(
    id="garbage-after-response",
    summary="A complete 200, then, a moment later, stray bytes on the kept-alive connection.",
    rule="RFC 9112 section 9.2",
    requirement="“If a client receives data on a connection that doesn't have outstanding "
    "requests, the client MUST NOT consider that data to be a valid response; the client "
    "SHOULD close the connection, since message delimitation is now ambiguous, unless the data "
    "consists only of one or more CRLF (which can be discarded per Section 2.2).”",
    proxy="must not take the stray bytes as (part of) the next response; it should close the "
    "idle connection instead of reusing it",
    client="must not consider the stray bytes a valid response; it should close the connection",
    ending=Ending.KEEP_ALIVE,
    parameters=Garbage,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
    evidence={"h11": "illegal status line", "llhttp": "HPE_INVALID_CONSTANT"},
    probe=Probe(requests=2),
)
def _garbage_after(params: Garbage, context: Context) -> Iterator[Action]:
    yield _write(final_response(200, OK_BODY, context.now), "200")
    if params.after:
        yield Wait(params.after)
    yield _write(params.garbage.encode("utf-8"), "stray bytes after the response")


# The HTTP/2 entries register after HTTP/1.1's (the catalogue's order is the docs' order).
import fakeorigin.core.h2_violations  # noqa: E402, F401
