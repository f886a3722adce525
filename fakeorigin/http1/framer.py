"""The HTTP/1.1 framer: the engine's messages as HTTP/1.1 bytes (RFC 9112). Pure, no I/O.

One :class:`Http1Framer` per connection: HTTP/1.1 sends one response at a time, and the
framer remembers how the current one's body is framed (Content-Length: data goes out as it
is; chunked: each piece of data is a chunk and the end of the body the last chunk with its
trailers, RFC 9112 section 7.1). :data:`FRAMES` maps each message type to the function that
renders it, so the protocol dispatches with one dictionary lookup.

A head a step sends many times (``ResponseHead.fixed``) and an interim response the engine
made once per step are rendered once: only the Date value and ``Connection: close`` change
per exchange.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fakeorigin.core.actions import (
    EndBody,
    ResponseHead,
    SendData,
    SendHead,
    SendInterim,
    WriteHttp1,
)
from fakeorigin.core.wire import (
    CRLF,
    SERVER_HEADER,
    Header,
    chunk,
    header_block,
    http_date,
    last_chunk,
    response_head,
    status_line,
)

__all__ = ["FRAMES", "Http1Framer", "error_response", "render_head"]


def _head_parts(head: ResponseHead) -> tuple[bytes, bytes]:
    """The head's bytes before the Date line (status line and fields) and after it (trailing
    fields and the framing field), without the final ``Connection: close`` and blank line."""
    rest: list[Header] = list(head.trailing)
    if head.chunked:
        rest.append((b"Transfer-Encoding", b"chunked"))
    elif head.length is not None:
        rest.append((b"Content-Length", b"%d" % head.length))
    return status_line(head.status, head.reason) + header_block(head.fields), header_block(rest)


#: The parts of each fixed head, by its identity (the head kept beside them, so that its id
#: cannot be reused): a dictionary read inline, one call fewer per response than a helper.
_FIXED_HEADS: dict[int, tuple[ResponseHead, bytes, bytes]] = {}
#: Each interim response's bytes, by the message's identity (the engine makes one per step:
#: a trickle's 102 is rendered once); the message kept beside them, at most 1024.
_INTERIMS: dict[int, tuple[SendInterim, bytes]] = {}


def render_head(head: ResponseHead, date: bytes, *, last: bool) -> bytes:
    """A final response's head: status line, fields, Date, trailing fields, Content-Length or
    Transfer-Encoding, ``Connection: close`` when ``last``, blank line. A ``fixed`` head's
    parts are rendered once (kept by its identity, at most 1024 of them)."""
    if head.fixed:
        cached = _FIXED_HEADS.get(id(head))
        if cached is None or cached[0] is not head:
            if len(_FIXED_HEADS) >= 1024:
                _FIXED_HEADS.clear()
            cached = (head, *_head_parts(head))
            _FIXED_HEADS[id(head)] = cached
        _, start, rest = cached
    else:
        start, rest = _head_parts(head)
    date_line = b"Date: " + date + CRLF if head.date else b""
    close = b"Connection: close\r\n" if last else b""
    return start + date_line + rest + close + CRLF


class Http1Framer:
    """How the response being sent on one HTTP/1.1 connection frames its body."""

    __slots__ = ("chunked",)

    def __init__(self) -> None:
        self.chunked = False


def _interim(_framer: Http1Framer, action: SendInterim) -> bytes:
    cached = _INTERIMS.get(id(action))
    if cached is not None and cached[0] is action:
        return cached[1]
    if len(_INTERIMS) >= 1024:
        _INTERIMS.clear()
    data = response_head(action.status, action.reason, action.fields)
    _INTERIMS[id(action)] = (action, data)
    return data


def _head(framer: Http1Framer, action: SendHead) -> bytes:
    head = action.head
    chunked = framer.chunked = head.chunked and action.body
    content = action.content
    if content and chunked:
        content = chunk(content)
    if head.fixed:  # render_head's fast path, inline: one call per response fewer
        cached = _FIXED_HEADS.get(id(head))
        if cached is not None and cached[0] is head:
            date_line = b"Date: " + action.date + CRLF if head.date else b""
            close = b"Connection: close\r\n" if action.last else b""
            return cached[1] + date_line + cached[2] + close + CRLF + content
    return render_head(head, action.date, last=action.last) + content


def _data(framer: Http1Framer, action: SendData) -> bytes:
    return chunk(action.data) if framer.chunked else action.data


def _end(framer: Http1Framer, action: EndBody) -> bytes:
    if framer.chunked:
        framer.chunked = False
        return last_chunk(action.trailers)
    return b""


def _raw(_framer: Http1Framer, action: WriteHttp1) -> bytes:
    return action.data


#: The function that renders each message type on an HTTP/1.1 connection.
FRAMES: dict[type[Any], Callable[[Http1Framer, Any], bytes]] = {
    SendInterim: _interim,
    SendHead: _head,
    SendData: _data,
    EndBody: _end,
    WriteHttp1: _raw,
}


def error_response(status: int, text: str, now: float) -> bytes:
    """A complete ``Connection: close`` response with a plain-text body, for refusals.

    Used for a request h11 refuses (RFC 9112 section 3: 400 for a malformed request) and for
    an unknown in-band profile name.
    """
    content = text.encode("utf-8")
    headers = [
        (b"Content-Type", b"text/plain; charset=utf-8"),
        (b"Date", http_date(now)),
        (b"Server", SERVER_HEADER),
        (b"Content-Length", b"%d" % len(content)),
        (b"Connection", b"close"),
    ]
    return response_head(status, None, headers) + content
