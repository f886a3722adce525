"""The violation catalogue's HTTP/2 entries: frames that break RFC 9113 (or look odd and do
not), written as they are.

Each entry yields :class:`WriteHttp2` actions: frames the connection writes past h2's state
machine (h2 would refuse to send them), their field blocks encoded with the connection's own
HPACK encoder. Most entries answer with a response that is correct but for the one thing
broken: ``:status`` 200, ``content-type``, ``content-length``, ``date`` and ``server`` in one
HEADERS frame, then ``ok\\n`` in a DATA frame with END_STREAM. After the frames the stream is
over on fakeorigin's side; the connection goes on (``keep-alive``: what the client does with
it is its own choice) or is closed without a GOAWAY of fakeorigin's (``close``).

RFC 9113 section 8.1.1 says what a client and an intermediary must do with a malformed
response, the fate of most entries here: “Malformed requests or responses that are detected
MUST be treated as a stream error (Section 5.4.2) of type PROTOCOL_ERROR.”, “Clients MUST NOT
accept a malformed response.” and “Intermediaries that process HTTP requests or responses
(i.e., any intermediary not acting as a tunnel) MUST NOT forward a malformed request or
response.”

``verdicts`` are what four HTTP/2 clients no one here wrote did with the frames, for the
entry's probe request over prior-knowledge h2c: curl (on nghttp2), ``nghttp`` (Debian's
nghttp2-client), Node.js's ``http2`` client and h2's client; ``tests/test_h2_violations.py``
checks each on a real socket. ``accepts``: the client delivered a final response without an
error; ``rejects``: it reported an error (the stream reset, the connection ended, a timeout).

Pure: no Twisted, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email.utils import formatdate
from typing import Any, Literal

from pydantic import Field

from fakeorigin import __version__
from fakeorigin.core.actions import Action, AwaitBody, Ending, Wait, WriteHttp2
from fakeorigin.core.frames import (
    CONTINUATION,
    DATA,
    DEFAULT_MAX_FRAME_SIZE,
    END_HEADERS,
    END_STREAM,
    GOAWAY,
    HEADERS,
    NO_ERROR,
    PING,
    RST_STREAM,
    SETTINGS,
    SETTINGS_INITIAL_WINDOW_SIZE,
    SETTINGS_MAX_CONCURRENT_STREAMS,
    WINDOW_UPDATE,
    Frame,
    goaway,
    rst_stream,
    settings,
    window_update,
)
from fakeorigin.core.journal import Event
from fakeorigin.core.protocols import ONLY_H2
from fakeorigin.core.violation_registry import (
    Context,
    NoParameters,
    Parameters,
    Probe,
    Producer,
    Verdict,
    violation,
)
from fakeorigin.core.wire import Header

#: The content of the entries' responses.
OK = b"ok\n"

#: The request every entry is shown with, unless it needs another.
_GET = Probe(http_version="2", patience_seconds=3.0)
#: An upload the server does not read at once: more than the initial 65,535-byte windows.
_UPLOAD = Probe(method="POST", http_version="2", body=b"x" * 100_000, patience_seconds=5.0)

#: What a malformed response (RFC 9113 section 8.1.1) asks of an intermediary and a client.
_PROXY_MALFORMED = (
    "must not forward the malformed response (section 8.1.1); it resets the stream to the "
    "origin (PROTOCOL_ERROR) and answers its client 502"
)
_CLIENT_MALFORMED = (
    "must not accept the malformed response: a stream error of type PROTOCOL_ERROR "
    "(RST_STREAM) and the request fails (section 8.1.1)"
)
_MALFORMED = (
    "“Malformed requests or responses that are detected MUST be treated as a stream error "
    "(Section 5.4.2) of type PROTOCOL_ERROR.”"
)


#: What curl and Node.js say when nghttp2 reset the stream for a malformed response.
_CURL_PROTOCOL_ERROR = "(92) HTTP/2 stream 1 was not closed cleanly: PROTOCOL_ERROR"
_NODE_PROTOCOL_ERROR = "Stream closed with error code NGHTTP2_PROTOCOL_ERROR"
#: nghttp's word for it (no field at fault to name).
_NGHTTP_MESSAGING = "Violation in HTTP messaging rule"
#: Node.js's http2 client reports no error for a connection error it detects: the request
#: waits until it gives up.
_NODE_SILENT = "timeout"


def _verdicts(curl: Verdict, nghttp: Verdict, node: Verdict, h2: Verdict) -> dict[str, Verdict]:
    return {"curl": curl, "nghttp": nghttp, "node-http2": node, "h2": h2}


def _h2_entry(**kwargs: Any) -> Callable[[Producer], Producer]:
    """``@violation`` for an HTTP/2 entry: HTTP/2 only, shown with a GET unless said."""
    kwargs.setdefault("probe", _GET)
    return violation(protocols=ONLY_H2, **kwargs)


def _malformed(
    *,
    nghttp: str,
    h2: str,
    proxy: str = _PROXY_MALFORMED,
    client: str = _CLIENT_MALFORMED,
    **kwargs: Any,
) -> Callable[[Producer], Producer]:
    """``@violation`` for an entry whose response RFC 9113 section 8.1.1 calls malformed and
    all four clients were seen to refuse: curl and Node.js with nghttp2's stream error
    (PROTOCOL_ERROR), nghttp and h2 with the words given here. The stream is over after its
    frames; the connection stays open."""
    evidence = {
        "curl": _CURL_PROTOCOL_ERROR,
        "nghttp": nghttp,
        "node-http2": _NODE_PROTOCOL_ERROR,
        "h2": h2,
    }
    rejects = _verdicts("rejects", "rejects", "rejects", "rejects")
    return _h2_entry(
        proxy=proxy,
        client=client,
        ending=Ending.KEEP_ALIVE,
        verdicts=rejects,
        evidence=evidence,
        **kwargs,
    )


def _ok_fields(now: float, length: int = len(OK), status: bytes = b"200") -> list[Header]:
    """A final response's fields, lower-case, in the order h2 would send them."""
    return [
        (b":status", status),
        (b"content-type", b"text/plain"),
        (b"content-length", b"%d" % length),
        (b"date", formatdate(now, usegmt=True).encode("ascii")),
        (b"server", b"fakeorigin/" + __version__.encode("ascii")),
    ]


def _head(fields: list[Header], flags: int = END_HEADERS) -> Frame:
    return Frame(HEADERS, flags, fields=tuple(fields))


def _body(data: bytes = OK, flags: int = END_STREAM) -> Frame:
    return Frame(DATA, flags, payload=data)


def _write(detail: str, *frames: Frame) -> WriteHttp2:
    return WriteHttp2(frames, Event.RAW_SENT, None, detail)


# -- 1xx ------------------------------------------------------------------------------------


class Status1xx(Parameters):
    """Parameters of an entry that sends one interim response."""

    status: int = Field(default=103, ge=100, le=199, description="the interim status")


@_malformed(
    id="h2-1xx-end-stream",
    summary="An interim response in a HEADERS frame with END_STREAM: the stream ends on a 1xx.",
    rule="RFC 9113 section 8.1",
    requirement="“A HEADERS frame with the END_STREAM flag set that carries an informational "
    "status code is malformed (Section 8.1.1).” and, section 8.1.1, " + _MALFORMED,
    client=_CLIENT_MALFORMED + "; the 1xx is no final response",
    parameters=Status1xx,
    nghttp=_NGHTTP_MESSAGING,
    h2="Cannot set END_STREAM on informational responses",
)
def _interim_end_stream(params: Status1xx, _context: Context) -> Iterator[Action]:
    fields = [(b":status", b"%d" % params.status), (b"link", b"</style.css>; rel=preload")]
    yield _write(f"{params.status} with END_STREAM", _head(fields, END_HEADERS | END_STREAM))


@_h2_entry(
    id="h2-101-switching-protocols",
    summary="A 101 (Switching Protocols) interim response, then 200.",
    rule="RFC 9113 section 8.6",
    requirement="“HTTP/2 does not support the 101 (Switching Protocols) informational status "
    "code (Section 15.2.2 of [HTTP]).” and “The semantics of 101 (Switching Protocols) aren't "
    "applicable to a multiplexed protocol.”",
    proxy="must not forward the 101 (it switches no protocol over HTTP/2); it treats the "
    "response as broken and answers its client 502",
    client="cannot switch protocols on a stream: it should treat the response as invalid "
    "(the RFC names no error code; nghttp2 resets the stream with PROTOCOL_ERROR)",
    ending=Ending.KEEP_ALIVE,
    verdicts=_verdicts("rejects", "rejects", "rejects", "accepts"),
    evidence={
        "curl": _CURL_PROTOCOL_ERROR,
        "nghttp": "name: [:status], value: [101]",
        "node-http2": _NODE_PROTOCOL_ERROR,
    },
)
def _switching(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write("101", _head([(b":status", b"101")]))
    yield _write("final 200", _head(_ok_fields(context.now)), _body())


class InterimAfterFinal(Status1xx):
    """Parameters of ``h2-1xx-after-final``."""


@_malformed(
    id="h2-1xx-after-final",
    summary="The final 200's HEADERS, then a 103 HEADERS frame, then the content.",
    rule="RFC 9113 section 8.1",
    requirement="“An endpoint that receives a HEADERS frame without the END_STREAM flag set "
    "after receiving the HEADERS frame that opens a request or after receiving a final "
    "(non-informational) status code MUST treat the corresponding request or response as "
    "malformed (Section 8.1.1).”",
    parameters=InterimAfterFinal,
    nghttp="name: [:status], value: [103]",
    h2="Informational response after final response",
)
def _interim_after_final(params: InterimAfterFinal, context: Context) -> Iterator[Action]:
    interim = [(b":status", b"%d" % params.status), (b"link", b"</style.css>; rel=preload")]
    yield _write(
        f"200, then {params.status}, then the content",
        _head(_ok_fields(context.now)),
        _head(interim),
        _body(),
    )


# -- fields ---------------------------------------------------------------------------------


class ConnectionField(Parameters):
    """Parameters of ``h2-connection-specific-field``."""

    field: Literal[
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"
    ] = Field(default="connection", description="the connection-specific field sent")
    value: str = Field(default="keep-alive", description="its value", pattern=r"^[ -~]*$")


@_malformed(
    id="h2-connection-specific-field",
    summary="A 200 whose field block carries a connection-specific field (Connection: "
    "keep-alive by default).",
    rule="RFC 9113 section 8.2.2",
    requirement="“An endpoint MUST NOT generate an HTTP/2 message containing "
    "connection-specific header fields.” and “Any message containing connection-specific "
    "header fields MUST be treated as malformed (Section 8.1.1).”",
    proxy=_PROXY_MALFORMED + " (one translating to HTTP/1.1 must not pass the field on either way)",
    parameters=ConnectionField,
    nghttp="name: [connection], value: [keep-alive]",
    h2="Connection-specific header field present",
)
def _connection_field(params: ConnectionField, context: Context) -> Iterator[Action]:
    fields = _ok_fields(context.now)
    fields.insert(1, (params.field.encode("ascii"), params.value.encode("ascii")))
    yield _write(f"200 with {params.field}", _head(fields), _body())


class UppercaseName(Parameters):
    """Parameters of ``h2-uppercase-field-name``."""

    name: str = Field(
        default="Content-Type",
        pattern=r"^[!#$%&'*+\-.^_`|~0-9a-zA-Z]*[A-Z][!#$%&'*+\-.^_`|~0-9a-zA-Z]*$",
        description="the field name, with at least one upper-case letter",
    )


@_malformed(
    id="h2-uppercase-field-name",
    summary="A 200 with a field name in upper case (Content-Type).",
    rule="RFC 9113 section 8.2.1",
    requirement="“A field name MUST NOT contain characters in the ranges 0x00-0x20, "
    "0x41-0x5a, or 0x7f-0xff (all ranges inclusive).” and “A request or response that "
    "contains a field that violates any of these conditions MUST be treated as malformed "
    "(Section 8.1.1).”",
    parameters=UppercaseName,
    nghttp="name: [Content-Type]",
    h2="Received uppercase header name",
)
def _uppercase(params: UppercaseName, context: Context) -> Iterator[Action]:
    fields = _ok_fields(context.now)
    fields[1] = (params.name.encode("ascii"), b"text/plain")
    yield _write(f"200 with the field name {params.name}", _head(fields), _body())


@_malformed(
    id="h2-status-missing",
    summary="A response whose field block has no :status.",
    rule="RFC 9113 section 8.3.2",
    requirement="“This pseudo-header field MUST be included in all responses, including "
    "interim responses; otherwise, the response is malformed (Section 8.1.1).”",
    nghttp=_NGHTTP_MESSAGING,
    h2="Header block missing mandatory b':status' header",
)
def _status_missing(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write("a response without :status", _head(_ok_fields(context.now)[1:]), _body())


@_malformed(
    id="h2-status-repeated",
    summary="A response with two :status fields, 200 and 500.",
    rule="RFC 9113 section 8.3",
    requirement="“The same pseudo-header field name MUST NOT appear more than once in a field "
    "block. A field block for an HTTP request or response that contains a repeated "
    "pseudo-header field name MUST be treated as malformed (Section 8.1.1).”",
    nghttp="name: [:status], value: [500]",
    h2="Received duplicate pseudo-header field",
)
def _status_repeated(_: NoParameters, context: Context) -> Iterator[Action]:
    fields = _ok_fields(context.now)
    fields.insert(1, (b":status", b"500"))
    yield _write(":status 200 and 500", _head(fields), _body())


@_malformed(
    id="h2-pseudo-header-after-field",
    summary="A response whose :status comes after a regular field.",
    rule="RFC 9113 section 8.3",
    requirement="“All pseudo-header fields MUST appear in a field block before all regular "
    "field lines. Any request or response that contains a pseudo-header field that appears in "
    "a field block after a regular field line MUST be treated as malformed (Section 8.1.1).”",
    nghttp="name: [:status], value: [200]",
    h2="Received pseudo-header field out of sequence",
)
def _pseudo_after(_: NoParameters, context: Context) -> Iterator[Action]:
    fields = _ok_fields(context.now)
    fields = [fields[1], fields[0], *fields[2:]]
    yield _write(":status after content-type", _head(fields), _body())


@_malformed(
    id="h2-request-pseudo-header",
    summary="A 200 whose field block also carries :path, a request pseudo-header.",
    rule="RFC 9113 section 8.3",
    requirement="“Pseudo-header fields defined for requests MUST NOT appear in responses; "
    "pseudo-header fields defined for responses MUST NOT appear in requests.” and “Endpoints "
    "MUST treat a request or response that contains undefined or invalid pseudo-header fields "
    "as malformed (Section 8.1.1).”",
    nghttp="name: [:path]",
    h2="Encountered request-only headers",
)
def _request_pseudo(_: NoParameters, context: Context) -> Iterator[Action]:
    fields = _ok_fields(context.now)
    fields.insert(1, (b":path", b"/"))
    yield _write("200 with :path", _head(fields), _body())


# -- content --------------------------------------------------------------------------------


class Missing(Parameters):
    """Parameters of ``h2-content-length-mismatch``."""

    missing: int = Field(
        default=100, ge=1, description="content-length exceeds the DATA sent by this much"
    )


@_malformed(
    id="h2-content-length-mismatch",
    summary="content-length 103, then 3 bytes of DATA with END_STREAM.",
    rule="RFC 9113 section 8.1.1",
    requirement="“A request or response is also malformed if the value of a content-length "
    "header field does not equal the sum of the DATA frame payload lengths that form the "
    "content, unless the message is defined as having no content.”",
    proxy=_PROXY_MALFORMED + " (it may have forwarded the head already: it then resets its "
    "client's stream, or closes an HTTP/1.1 client's connection, before the content's end)",
    parameters=Missing,
    nghttp="RST_STREAM (error_code=PROTOCOL_ERROR(0x01))",
    h2="InvalidBodyLengthError",
)
def _length_mismatch(params: Missing, context: Context) -> Iterator[Action]:
    fields = _ok_fields(context.now, len(OK) + params.missing)
    yield _write(f"content-length {len(OK) + params.missing}, {len(OK)} bytes", _head(fields))
    yield _write("the content, END_STREAM", _body())


@_h2_entry(
    id="h2-data-before-headers",
    summary="A DATA frame on the stream before any HEADERS, then the whole response.",
    rule="RFC 9113 section 8.1",
    requirement="“A response stream starts with zero or more interim responses in HEADERS "
    "frames, followed by a HEADERS frame containing a final status code.” and, section 8.1.1, "
    "“A malformed request or response is one that is an otherwise valid sequence of HTTP/2 "
    "frames but is invalid due to the presence of extraneous frames, prohibited fields or "
    "pseudo-header fields, the absence of mandatory pseudo-header fields, the inclusion of "
    "uppercase field names, or invalid field names and/or values (in certain circumstances; "
    "see Section 8.2).”",
    proxy=_PROXY_MALFORMED,
    client=_CLIENT_MALFORMED + " (the stream's state allows the frame, section 5.1 "
    "half-closed (local): the message does not)",
    ending=Ending.KEEP_ALIVE,
    verdicts=_verdicts("rejects", "rejects", "rejects", "rejects"),
    evidence={
        "curl": "(52) Empty reply from server",
        "nghttp": "PROTOCOL_ERROR(0x01), opaque_data(23)=[DATA: stream not opened]",
        "node-http2": _NODE_SILENT,
        "h2": "cannot receive data before headers",
    },
)
def _data_first(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write("DATA before HEADERS", _body(b"early\n", 0))
    yield _write("the response", _head(_ok_fields(context.now)), _body())


@_h2_entry(
    id="h2-headers-after-end-stream",
    summary="A complete 200 (END_STREAM), then another HEADERS frame on the closed stream.",
    rule="RFC 9113 section 5.1",
    requirement="“An endpoint MUST NOT send frames other than PRIORITY on a closed stream.” "
    "and “An endpoint MAY treat receipt of any other type of frame on a closed stream as a "
    "connection error (Section 5.4.1) of type STREAM_CLOSED, except as noted below.”",
    proxy="has its response already (it may forward it); it must not take the late frame "
    "for anything and may end the connection to the origin with GOAWAY STREAM_CLOSED",
    client="has a complete response; the frame on the closed stream may end the connection "
    "(GOAWAY STREAM_CLOSED), not the response already received",
    ending=Ending.KEEP_ALIVE,
    verdicts=_verdicts("accepts", "accepts", "accepts", "rejects"),
    evidence={
        "h2": "StreamClosedError",
    },
)
def _after_end(_: NoParameters, context: Context) -> Iterator[Action]:
    late = [(b"x-late", b"1")]
    yield _write(
        "200, then HEADERS on the closed stream",
        _head(_ok_fields(context.now)),
        _body(),
        _head(late, END_HEADERS | END_STREAM),
    )


@_malformed(
    id="h2-trailers-without-end-stream",
    summary="A 200 with its content, trailers in a HEADERS frame without END_STREAM, then an "
    "empty DATA frame with END_STREAM.",
    rule="RFC 9113 section 8.1",
    requirement="“An endpoint that receives a HEADERS frame without the END_STREAM flag set "
    "after receiving the HEADERS frame that opens a request or after receiving a final "
    "(non-informational) status code MUST treat the corresponding request or response as "
    "malformed (Section 8.1.1).” and “Trailer fields are carried in a field block that also "
    "terminates the stream.”",
    nghttp=_NGHTTP_MESSAGING,
    h2="Trailers must have END_STREAM set",
)
def _trailers_open(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write(
        "200, content, trailers without END_STREAM, empty DATA with END_STREAM",
        _head(_ok_fields(context.now)),
        _body(flags=0),
        _head([(b"x-checksum", b"1")]),
        _body(b""),
    )


# -- framing --------------------------------------------------------------------------------


class FrameSize(Parameters):
    """Parameters of ``h2-frame-too-large``."""

    size: int = Field(
        default=DEFAULT_MAX_FRAME_SIZE + 1,
        gt=DEFAULT_MAX_FRAME_SIZE,
        le=2**24 - 1,
        description="the DATA frame's payload length (a frame's length field has 24 bits)",
    )


@_h2_entry(
    id="h2-frame-too-large",
    summary="A 200 whose content comes in one DATA frame of 16,385 bytes, over the initial "
    "SETTINGS_MAX_FRAME_SIZE.",
    rule="RFC 9113 section 4.2",
    requirement="“An endpoint MUST send an error code of FRAME_SIZE_ERROR if a frame exceeds "
    "the size defined in SETTINGS_MAX_FRAME_SIZE, exceeds any limit defined for the frame "
    "type, or is too small to contain mandatory frame data.”",
    proxy="must treat the frame as a FRAME_SIZE_ERROR (a stream error here, a connection "
    "error for a frame carrying a field block) and answer its client 502; a proxy that "
    "advertised a larger SETTINGS_MAX_FRAME_SIZE takes the frame",
    client="must treat the frame as a FRAME_SIZE_ERROR and fail the request, unless it "
    "advertised a SETTINGS_MAX_FRAME_SIZE of at least the frame's size",
    ending=Ending.KEEP_ALIVE,
    parameters=FrameSize,
    verdicts=_verdicts("rejects", "rejects", "rejects", "rejects"),
    evidence={
        "curl": "(18) transfer closed with 16385 bytes remaining to read",
        "nghttp": "FRAME_SIZE_ERROR(0x06)",
        "node-http2": _NODE_SILENT,
        "h2": "FrameTooLargeError",
    },
)
def _too_large(params: FrameSize, context: Context) -> Iterator[Action]:
    content = b"x" * params.size
    yield _write(
        f"one DATA frame of {params.size} bytes",
        _head(_ok_fields(context.now, params.size)),
        _body(content),
    )


@_h2_entry(
    id="h2-continuation-interrupted",
    summary="HEADERS without END_HEADERS, then a PING frame, then the CONTINUATION.",
    rule="RFC 9113 section 6.2",
    requirement="“A HEADERS frame without the END_HEADERS flag set MUST be followed by a "
    "CONTINUATION frame for the same stream. A receiver MUST treat the receipt of any other "
    "type of frame or a frame on a different stream as a connection error (Section 5.4.1) of "
    "type PROTOCOL_ERROR.”",
    proxy="must end the connection to the origin (GOAWAY PROTOCOL_ERROR) and answer its client 502",
    client="must end the connection with GOAWAY PROTOCOL_ERROR; the request fails",
    ending=Ending.KEEP_ALIVE,
    verdicts=_verdicts("rejects", "rejects", "rejects", "rejects"),
    evidence={
        "curl": "(52) Empty reply from server",
        "nghttp": "unexpected non-CONTINUATION frame",
        "node-http2": _NODE_SILENT,
        "h2": "Invalid frame during header block",
    },
)
def _continuation(_: NoParameters, context: Context) -> Iterator[Action]:
    fields = _ok_fields(context.now)
    yield _write(
        "HEADERS (no END_HEADERS), PING, CONTINUATION",
        _head(fields[:1], 0),
        Frame(PING, 0, 0, payload=b"\x00" * 8),
        Frame(CONTINUATION, END_HEADERS, fields=tuple(fields[1:])),
        _body(),
    )


@_h2_entry(
    id="h2-data-on-stream-zero",
    summary="A 200's HEADERS, then its content in a DATA frame on stream 0.",
    rule="RFC 9113 section 6.1",
    requirement="“DATA frames MUST be associated with a stream. If a DATA frame is received "
    "whose Stream Identifier field is 0x00, the recipient MUST respond with a connection "
    "error (Section 5.4.1) of type PROTOCOL_ERROR.”",
    proxy="must end the connection to the origin (GOAWAY PROTOCOL_ERROR) and answer its "
    "client 502 (or reset its client's stream if the head went on)",
    client="must end the connection with GOAWAY PROTOCOL_ERROR; the request fails",
    ending=Ending.KEEP_ALIVE,
    verdicts=_verdicts("rejects", "rejects", "rejects", "rejects"),
    evidence={
        "curl": "(18) transfer closed with 3 bytes remaining to read",
        "nghttp": "[DATA: stream_id == 0]",
        "node-http2": _NODE_SILENT,
        "h2": "Stream ID must be non-zero for DataFrame",
    },
)
def _stream_zero(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write(
        "200, then DATA on stream 0",
        _head(_ok_fields(context.now)),
        Frame(DATA, END_STREAM, 0, payload=OK),
    )


@_h2_entry(
    id="h2-window-update-zero",
    summary="A WINDOW_UPDATE with an increment of 0 on the stream, then the 200.",
    rule="RFC 9113 section 6.9",
    requirement="“A receiver MUST treat the receipt of a WINDOW_UPDATE frame with a "
    "flow-control window increment of 0 as a stream error (Section 5.4.2) of type "
    "PROTOCOL_ERROR; errors on the connection flow-control window MUST be treated as a "
    "connection error (Section 5.4.1).”",
    proxy="must reset the stream to the origin (PROTOCOL_ERROR) and answer its client 502",
    client="must reset the stream (PROTOCOL_ERROR); the request fails",
    ending=Ending.KEEP_ALIVE,
    verdicts=_verdicts("rejects", "rejects", "rejects", "rejects"),
    evidence={
        "curl": "(52) Empty reply from server",
        "nghttp": "Protocol error",
        "node-http2": "ERR_HTTP2_ERROR: Protocol error",
        "h2": "Received frame with non-compliant data",
    },
)
def _window_zero(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write("WINDOW_UPDATE 0", Frame(WINDOW_UPDATE, payload=window_update(0)))
    yield _write("the response", _head(_ok_fields(context.now)), _body())


# -- legal but unusual ----------------------------------------------------------------------


@_h2_entry(
    id="h2-rst-stream-after-response",
    summary="A complete 200 while the upload is still going, then RST_STREAM(NO_ERROR).",
    rule="RFC 9113 section 8.1",
    requirement="“When this is true, a server MAY request that the client abort transmission "
    "of a request without error by sending a RST_STREAM with an error code of NO_ERROR after "
    "sending a complete response (i.e., a frame with the END_STREAM flag set).” and “Clients "
    "MUST NOT discard responses as a result of receiving such a RST_STREAM, though clients "
    "can always discard responses at their discretion for other reasons.”",
    proxy="forwards the 200 and stops sending the request's content to the origin; an "
    "HTTP/1.1 client's upload it stops reading (closing that connection after the response)",
    client="must keep the 200 and stop sending the request's content",
    ending=Ending.KEEP_ALIVE,
    legal=True,
    probe=_UPLOAD,
    verdicts=_verdicts("rejects", "accepts", "accepts", "accepts"),
    evidence={"curl": "(92) Stream error in the HTTP/2 framing layer"},
)
def _rst_after(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write(
        "200 before the upload ends, then RST_STREAM (NO_ERROR)",
        _head(_ok_fields(context.now)),
        _body(),
        Frame(RST_STREAM, payload=rst_stream(NO_ERROR)),
    )


class GoawayBelow(Parameters):
    """Parameters of ``h2-goaway-below-stream``."""

    respond: bool = Field(
        default=False,
        description="send the 200 on the stream after the GOAWAY anyway (the GOAWAY said it "
        "was not processed), then close",
    )


@_h2_entry(
    id="h2-goaway-below-stream",
    summary="GOAWAY whose last-stream-id is below the request's stream, then close.",
    rule="RFC 9113 section 6.8",
    requirement="“If the receiver of the GOAWAY has sent data on streams with a higher stream "
    "identifier than what is indicated in the GOAWAY frame, those streams are not or will not "
    "be processed.” and “The receiver of the GOAWAY frame can treat the streams as though they "
    "had never been created at all, thereby allowing those streams to be retried later on a "
    "new connection.”",
    proxy="takes the request as not processed: it may retry it on a new connection "
    "(section 8.7: even a non-idempotent one), else answers its client 502",
    client="takes the request as not processed: it may retry it on a new connection; "
    "otherwise the request fails",
    ending=Ending.CLOSE,
    legal=True,
    parameters=GoawayBelow,
    verdicts=_verdicts("rejects", "rejects", "rejects", "rejects"),
    evidence={
        "curl": "(16) Error in the HTTP2 framing layer",
        "nghttp": "Some requests were not processed",
        "node-http2": "NGHTTP2_REFUSED_STREAM",
        "h2": "ConnectionTerminated",
    },
)
def _goaway_below(params: GoawayBelow, context: Context) -> Iterator[Action]:
    yield WriteHttp2(
        (Frame(GOAWAY, 0, 0, payload=goaway(0, NO_ERROR)),),
        Event.RAW_SENT,
        None,
        "GOAWAY last-stream-id 0",
    )
    if params.respond:
        yield _write("the 200 anyway", _head(_ok_fields(context.now)), _body())


class Stall(Parameters):
    """Parameters of ``h2-zero-window-upload``."""

    seconds: float = Field(
        default=1.0, ge=0, le=3600, description="how long the window stays at zero"
    )


@_h2_entry(
    id="h2-zero-window-upload",
    summary="SETTINGS_INITIAL_WINDOW_SIZE 0 stalls the upload for a second; then 65,535 "
    "again, the content is read and the 200 sent.",
    rule="RFC 9113 section 6.9.2",
    requirement="“A change to SETTINGS_INITIAL_WINDOW_SIZE can cause the available space in "
    "a flow-control window to become negative. A sender MUST track the negative flow-control "
    "window and MUST NOT send new flow-controlled frames until it receives WINDOW_UPDATE "
    "frames that cause the flow-control window to become positive.” and, section 5.2.1, "
    "“A receiver MAY choose to set any window size that it desires for each stream and for "
    "the entire connection.”",
    proxy="waits (its own timeouts permitting) and then sends the rest of the content; a "
    "proxy that buffers its client's upload must not give up while the window is closed",
    client="stops sending DATA while the window is not positive, resumes when it opens, and "
    "gets the 200",
    ending=Ending.KEEP_ALIVE,
    legal=True,
    parameters=Stall,
    probe=_UPLOAD,
    verdicts=_verdicts("accepts", "accepts", "accepts", "accepts"),
)
def _zero_window(params: Stall, context: Context) -> Iterator[Action]:
    closed = settings({SETTINGS_INITIAL_WINDOW_SIZE: 0})
    yield _write("SETTINGS INITIAL_WINDOW_SIZE 0", Frame(SETTINGS, 0, 0, payload=closed))
    yield Wait(params.seconds)
    opened = settings({SETTINGS_INITIAL_WINDOW_SIZE: 65_535})
    yield _write("SETTINGS INITIAL_WINDOW_SIZE 65535", Frame(SETTINGS, 0, 0, payload=opened))
    yield AwaitBody()
    yield _write("the response", _head(_ok_fields(context.now)), _body())


@_h2_entry(
    id="h2-max-concurrent-streams-zero",
    summary="SETTINGS_MAX_CONCURRENT_STREAMS 0 for the rest of the connection, then the 200.",
    rule="RFC 9113 section 6.5.2",
    requirement="“A value of 0 for SETTINGS_MAX_CONCURRENT_STREAMS SHOULD NOT be treated as "
    "special by endpoints. A zero value does prevent the creation of new streams; however, "
    "this can also happen for any limit that is exhausted with active streams.”",
    proxy="forwards the 200; opens no new stream on that connection (a new connection for "
    "the next request, or it waits)",
    client="gets the 200 and opens no new stream on that connection",
    ending=Ending.KEEP_ALIVE,
    legal=True,
    verdicts=_verdicts("accepts", "accepts", "accepts", "accepts"),
)
def _no_streams(_: NoParameters, context: Context) -> Iterator[Action]:
    zero = settings({SETTINGS_MAX_CONCURRENT_STREAMS: 0})
    yield _write("SETTINGS MAX_CONCURRENT_STREAMS 0", Frame(SETTINGS, 0, 0, payload=zero))
    yield _write("the response", _head(_ok_fields(context.now)), _body())
