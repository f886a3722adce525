"""Rendering is byte-exact; the request head answers the questions the engine asks."""

from __future__ import annotations

import pytest

from fakeorigin.core.wire import (
    RequestHead,
    chunk,
    header_block,
    last_chunk,
    reason_phrase,
    response_head,
    status_line,
    tokens,
)


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (100, None, b"HTTP/1.1 100 Continue\r\n"),
        (102, None, b"HTTP/1.1 102 Processing\r\n"),
        (103, None, b"HTTP/1.1 103 Early Hints\r\n"),
        (417, None, b"HTTP/1.1 417 Expectation Failed\r\n"),
        (199, None, b"HTTP/1.1 199 \r\n"),  # RFC 9112 section 4: SP stays, phrase may be empty
        (200, "Fine", b"HTTP/1.1 200 Fine\r\n"),
        (200, "", b"HTTP/1.1 200 \r\n"),
    ],
)
def test_status_line(status: int, reason: str | None, expected: bytes) -> None:
    assert status_line(status, reason) == expected


def test_reason_phrase_of_unregistered_code_is_empty() -> None:
    assert reason_phrase(599) == ""


def test_headers_go_out_exactly_as_given() -> None:
    headers = [(b"X-A", b"1"), (b"x-a", b"2"), (b"Link", b"</a>; rel=preload")]
    assert header_block(headers) == b"X-A: 1\r\nx-a: 2\r\nLink: </a>; rel=preload\r\n"


def test_interim_response_bytes() -> None:
    assert response_head(103, None, [(b"Link", b"</s.css>; rel=preload")]) == (
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
    )
    assert response_head(100, None, []) == b"HTTP/1.1 100 Continue\r\n\r\n"


def test_chunked_coding() -> None:
    assert chunk(b"hello, world") == b"c\r\nhello, world\r\n"
    assert last_chunk([]) == b"0\r\n\r\n"
    assert last_chunk([(b"Checksum", b"abc")]) == b"0\r\nChecksum: abc\r\n\r\n"


def test_tokens_of_a_list_field() -> None:
    assert tokens(b" Keep-Alive , close,,") == {b"keep-alive", b"close"}


def head(
    version: bytes = b"1.1", *headers: tuple[bytes, bytes], method: bytes = b"GET"
) -> RequestHead:
    return RequestHead(method, b"/", version, tuple(headers))


@pytest.mark.parametrize(
    ("request_head", "expects_continue", "wants_close"),
    [
        (head(), False, False),
        (head(b"1.1", (b"Expect", b"100-Continue")), True, False),
        (head(b"1.1", (b"expect", b"foo, 100-continue")), True, False),
        (head(b"1.1", (b"Connection", b"Keep-Alive, Close")), False, True),
        (head(b"1.0"), False, True),
        (head(b"1.0", (b"Connection", b"keep-alive")), False, True),  # h11: no 1.0 keep-alive
    ],
)
def test_request_head_questions(
    request_head: RequestHead, expects_continue: bool, wants_close: bool
) -> None:
    assert request_head.expects_continue is expects_continue
    assert request_head.wants_close is wants_close


def test_header_lookup_is_case_insensitive_and_ordered() -> None:
    request = head(b"1.1", (b"X-Tag", b"a"), (b"x-tag", b"b"), (b"Host", b"h"))
    assert request.values(b"X-TAG") == [b"a", b"b"]
    assert request.first(b"host") == b"h"
    assert request.first(b"missing") is None
