# ruff: noqa: E501 (the corpus is a table: one request per line reads best)
"""What the reliability tests share: the hostile corpus, a log capture, the limits they set.

The corpus is a table of request bytes and the answer each must get. The same table is fed to
the origin in memory (whole and one byte at a time) and over a real socket.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from twisted.logger import ILogObserver, LogLevel, globalLogPublisher
from zope.interface import provider

from fakeorigin.core.admission import Limits

#: The limits the corpus is written against: small enough to reach with short requests.
LIMITS = Limits(max_header_bytes=4096, max_body_bytes=1000)

#: The statuses a refused request may get (and 408 for a head that never completes).
REFUSAL_STATUSES = frozenset({400, 408, 413, 431, 501, 503, 505})

_STATUS_LINE = re.compile(rb"HTTP/1\.1 (\d{3}) [^\r\n]*\r\n")


@dataclass(frozen=True)
class Hostile:
    """One hostile request and the status it must get (``Connection: close`` always).

    Attributes:
        why: a part of the reason journaled as the record's error.
        in_body: the head is fine and the body breaks: the record keeps the head as parsed and
            the body received, and the error quotes the bad bytes (no raw head is kept).
    """

    data: bytes
    status: int
    why: str
    in_body: bool = False


def _get(*lines: bytes, version: bytes = b"1.1", target: bytes = b"/") -> bytes:
    return b"GET " + target + b" HTTP/" + version + b"\r\n" + b"".join(lines) + b"\r\n"


HOST = b"Host: example.test\r\n"
CHUNKED_POST = b"POST /up HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n"

CORPUS: dict[str, Hostile] = {
    # request lines
    # (empty lines before a request line are skipped: RFC 9112 section 2.2)
    "a lone CR before the request line": Hostile(b"\r" + _get(HOST), 400, "illegal request line"),
    "request line without target and version": Hostile(b"GET\r\n\r\n", 400, "illegal request"),
    "HTTP/0.9 simple request": Hostile(b"GET /\r\n\r\n", 400, "illegal request line"),
    "version in lower case": Hostile(_get(HOST, version=b"1.1").replace(b"HTTP", b"http"), 400, "illegal request line"),
    "method with a non-token character": Hostile(b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "illegal request line"),
    "NUL in the target": Hostile(_get(HOST, target=b"/a\x00b"), 400, "illegal request line"),
    "HTTP/2.0 in an HTTP/1 request line": Hostile(_get(HOST, version=b"2.0"), 505, "HTTP/2.0"),
    "HTTP/9.9": Hostile(_get(HOST, version=b"9.9"), 505, "speaks HTTP/1.0 and HTTP/1.1"),
    "HTTP/10.0": Hostile(_get(HOST, version=b"10.0"), 400, "illegal request line"),
    "CONNECT": Hostile(b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n", 501, "tunnel"),
    "binary garbage": Hostile(bytes(range(256)), 400, "illegal request line"),
    "a TLS ClientHello": Hostile(bytes.fromhex("160301020001000100fc0303") + bytes(64), 400, "illegal request line"),
    # size
    "a 10 KiB method": Hostile(b"A" * 10240 + b" / HTTP/1.1\r\nHost: a\r\n\r\n", 431, ""),
    "a head over --max-header-bytes": Hostile(_get(HOST, *[b"X-Pad-%d: %s\r\n" % (i, b"p" * 90) for i in range(60)]), 431, ""),
    # fields
    "no Host": Hostile(_get(), 400, "Missing mandatory Host"),
    "two Host fields": Hostile(_get(HOST, HOST), 400, "multiple Host"),
    "Host with a port that is no number": Hostile(_get(b"Host: example.test:http\r\n"), 400, "invalid Host"),
    "Host with a path": Hostile(_get(b"Host: example.test/a\r\n"), 400, "invalid Host"),
    "Host with userinfo": Hostile(_get(b"Host: user@example.test\r\n"), 400, "invalid Host"),
    "Host with a space": Hostile(_get(b"Host: example test\r\n"), 400, "invalid Host"),
    "Host with a bad IPv6 literal": Hostile(_get(b"Host: [::g]:80\r\n"), 400, "invalid Host"),
    "space before the colon": Hostile(_get(b"Host : a\r\n"), 400, "illegal header line"),
    "empty field name": Hostile(_get(HOST, b": x\r\n"), 400, "illegal header line"),
    "NUL in a field value": Hostile(_get(HOST, b"X: a\x00b\r\n"), 400, "illegal header line"),
    "bare CR in a field value": Hostile(_get(HOST, b"X: a\rb\r\n"), 400, "illegal header line"),
    "control byte in a field value": Hostile(_get(HOST, b"X: a\x01b\r\n"), 400, "control character 0x01"),
    "DEL in a field value": Hostile(_get(HOST, b"X: a\x7fb\r\n"), 400, "control character 0x7f"),
    "obsolete line folding": Hostile(_get(HOST, b"X-Folded: a\r\n  b\r\n"), 400, "obsolete line folding in field X-Folded"),
    "whitespace before the first field": Hostile(_get(b" X: a\r\n", HOST), 400, "continuation line"),
    # framing
    "Content-Length not a number": Hostile(_get(HOST, b"Content-Length: abc\r\n"), 400, "bad Content-Length"),
    "negative Content-Length": Hostile(_get(HOST, b"Content-Length: -1\r\n"), 400, "bad Content-Length"),
    "Content-Length of 40 digits": Hostile(_get(HOST, b"Content-Length: " + b"9" * 40 + b"\r\n"), 400, "bad Content-Length"),
    "two different Content-Lengths": Hostile(_get(HOST, b"Content-Length: 1\r\nContent-Length: 2\r\n"), 400, "conflicting Content-Length"),
    "Content-Length over --max-body-bytes": Hostile(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + b"x" * 100, 413, "over --max-body-bytes 1000"),
    "Content-Length with Transfer-Encoding": Hostile(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "smuggling"),
    "unknown transfer coding": Hostile(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "Transfer-Encoding: chunked"),
    "Transfer-Encoding twice": Hostile(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501, "multiple Transfer-Encoding"),
    "chunk size not hex": Hostile(CHUNKED_POST + b"zz\r\n", 400, "illegal chunk header", in_body=True),
    "chunk size of 21 hex digits": Hostile(CHUNKED_POST + b"f" * 21 + b"\r\n", 400, "illegal chunk header", in_body=True),
    "negative chunk size": Hostile(CHUNKED_POST + b"-1\r\n", 400, "illegal chunk header", in_body=True),
    "chunk data without its CRLF": Hostile(CHUNKED_POST + b"1\r\nxy0\r\n\r\n", 400, "malformed chunk footer", in_body=True),
    "chunked body over --max-body-bytes": Hostile(CHUNKED_POST + b"400\r\n" + b"x" * 1024 + b"\r\n", 413, "passed 1000 bytes", in_body=True),
}  # fmt: skip


def status_lines(data: bytes) -> list[int]:
    """The status of every response head in ``data``, in order."""
    return [int(found.group(1)) for found in _STATUS_LINE.finditer(data)]


def refusal_head(data: bytes) -> bytes:
    """The head of the last response in ``data`` (a refusal comes last)."""
    found = list(_STATUS_LINE.finditer(data))
    assert found, data
    start = found[-1].start()
    return data[start : data.index(b"\r\n\r\n", start) + 4]


@dataclass
class LogCapture:
    """Every log event at warning or above, and every failure (traceback) logged."""

    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        return [
            event["log_failure"].getTraceback()
            for event in self.events
            if event.get("log_failure") is not None
        ]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("log_level") in (LogLevel.error, LogLevel.critical)]


@contextmanager
def captured_logs(minimum: LogLevel = LogLevel.warn) -> Iterator[LogCapture]:
    """Collect Twisted's log events of level ``minimum`` and above, and every failure logged,
    while the block runs."""
    capture = LogCapture()

    @provider(ILogObserver)
    def observe(event: dict[str, Any]) -> None:
        level = event.get("log_level")
        if event.get("log_failure") is not None or (level is not None and level >= minimum):
            capture.events.append(event)

    globalLogPublisher.addObserver(observe)
    try:
        yield capture
    finally:
        globalLogPublisher.removeObserver(observe)
