"""The catalogue of deliberate HTTP violations: named, cited, parameterised, and what each sends.

Theory of operation. Each :class:`Violation` is a registry entry (``@violation(...)`` on the
function that produces its actions), like h11's state tables or VTest's command table: a stable
kebab-case id naming the rule it breaks, the RFC section and the quoted requirement, its
parameters as a pydantic model with defaults, the actions it produces (bytes to write, waits),
how the exchange ends afterwards, and what a conformant intermediary and a conformant client
must do about it. A profile uses one with the final step ``violate: {id: ..., parameter: ...}``.

Entries marked ``legal`` are not violations: they look odd but the RFCs allow them, and the
catalogue says which rule allows them, so that no entry claims more than the RFCs say.

``verdicts`` record what strict parsers no one here wrote were observed to do with the bytes
(h11's client, Node.js's llhttp); ``tests/test_violations.py`` checks every recorded verdict.

Pure: no Twisted, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fakeorigin import __version__
from fakeorigin.actions import Action, Ending, Note, Wait, Write
from fakeorigin.journal import Event
from fakeorigin.wire import CRLF, Header, RequestHead, response_head

#: Bumped when an entry's id, parameters or bytes change incompatibly.
CATALOGUE_VERSION = "1"

#: What a strict parser was observed to do: rejects the bytes, or accepts them.
Verdict = Literal["rejects", "accepts", "accepts-lenient-only"]


class Parameters(BaseModel):
    """Base of every entry's parameters: frozen, unknown names refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class NoParameters(Parameters):
    """This entry takes no parameters."""


@dataclass(frozen=True, slots=True)
class Context:
    """What an entry may read when it produces its bytes."""

    request: RequestHead
    now: float


Producer = Callable[[Any, Context], Iterator[Action]]


@dataclass(frozen=True, slots=True)
class Violation:
    """One catalogue entry.

    Attributes:
        id: stable kebab-case name of the rule broken, e.g. ``content-length-too-long``.
        summary: one line.
        rule: where the rule is, e.g. ``RFC 9110 section 15.2``.
        requirement: the requirement, quoted from the RFC.
        proxy: what a conformant intermediary must or should do when its origin sends this.
        client: what a conformant client must or should do when it receives this.
        parameters: the pydantic model of its parameters (with defaults).
        produce: the function yielding the actions (writes, waits, notes).
        ending: how the exchange ends after the actions (keep-alive when the connection can
            be kept, close, reset, or hang).
        legal: True for a legal-but-unusual entry (``rule`` then names what allows it).
        verdicts: parser name (``h11``, ``llhttp``) -> what it was observed to do.
    """

    id: str
    summary: str
    rule: str
    requirement: str
    proxy: str
    client: str
    parameters: type[Parameters]
    produce: Producer
    ending: Ending
    legal: bool = False
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    def actions(self, parameters: Parameters, context: Context) -> Iterator[Action]:
        """The actions for ``parameters`` (validated with :attr:`parameters`)."""
        yield Note(Event.NOTE, None, f"violate {self.id}: {self.rule}")
        yield from self.produce(parameters, context)

    def example_bytes(self) -> bytes:
        """The bytes sent for the default parameters to ``GET / HTTP/1.1`` at epoch 0."""
        request = RequestHead(b"GET", b"/", b"1.1", ((b"Host", b"example.test"),))
        actions = self.actions(self.parameters(), Context(request, 0.0))
        return b"".join(action.data for action in actions if isinstance(action, Write))


#: Every entry by id, in the order registered.
CATALOGUE: dict[str, Violation] = {}


def violation(
    *,
    id: str,
    summary: str,
    rule: str,
    requirement: str,
    proxy: str,
    client: str,
    ending: Ending,
    parameters: type[Parameters] = NoParameters,
    legal: bool = False,
    verdicts: dict[str, Verdict] | None = None,
) -> Callable[[Producer], Producer]:
    """Register the decorated producer as catalogue entry ``id``; a duplicate id fails loudly."""

    def register(produce: Producer) -> Producer:
        if id in CATALOGUE:
            raise ValueError(f"violation {id!r} is registered twice")
        CATALOGUE[id] = Violation(
            id,
            summary,
            rule,
            requirement,
            proxy,
            client,
            parameters,
            produce,
            ending,
            legal,
            dict(verdicts or {}),
        )
        return produce

    return register


# -- building blocks ------------------------------------------------------------------------


def date_header(now: float) -> Header:
    """``Date`` as an origin with a clock sends it (RFC 9110 section 6.6.1)."""
    return (b"Date", formatdate(now, usegmt=True).encode("ascii"))


def server_header() -> Header:
    """``Server: fakeorigin/VERSION``."""
    return (b"Server", b"fakeorigin/" + __version__.encode("ascii"))


def final_response(
    status: int, content: bytes, now: float, extra: tuple[Header, ...] = ()
) -> bytes:
    """A correct final response with Content-Length framing (the parts not being broken)."""
    headers = [date_header(now), server_header(), (b"Content-Type", b"text/plain"), *extra]
    headers.append((b"Content-Length", b"%d" % len(content)))
    return response_head(status, None, headers) + content


def _write(data: bytes, detail: str) -> Write:
    return Write(data, Event.RAW_SENT, None, detail)


# -- 1xx ------------------------------------------------------------------------------------


@violation(
    id="informational-to-http10",
    summary="A 1xx interim response to an HTTP/1.0 request, then 200.",
    rule="RFC 9110 section 15.2",
    requirement="A server MUST NOT send a 1xx response to an HTTP/1.0 client.",
    proxy="must not forward the 1xx to an HTTP/1.0 client; it should drop it and forward "
    "only the final response",
    client="an HTTP/1.0 client does not expect a 1xx: it may take the 1xx as the final "
    "response; an HTTP/1.1 client that sent an HTTP/1.0 request must ignore a 1xx it did not "
    "expect (RFC 9110 section 15.2)",
    ending=Ending.CLOSE,
    verdicts={"h11": "accepts", "llhttp": "accepts"},
)
def _informational_to_http10(_: NoParameters, context: Context) -> Iterator[Action]:
    yield _write(response_head(102, None, []), "102 to an HTTP/1.0 request")
    yield _write(final_response(200, b"ok\n", context.now), "final 200")


class MissingBlankLine(Parameters):
    """Parameters of ``1xx-missing-blank-line``."""

    status: int = Field(default=103, ge=100, le=199, description="the interim status")


@violation(
    id="1xx-missing-blank-line",
    summary="An interim response whose header section lacks its terminating empty line, "
    "directly followed by the final response.",
    rule="RFC 9112 section 2.1",
    requirement="HTTP-message = start-line CRLF *( field-line CRLF ) CRLF [ message-body ]",
    proxy="must treat the message as invalid (the final status line becomes a malformed "
    "header line of the 1xx) and answer its client 502",
    client="must treat the response as invalid: the next status line is not a valid field "
    "line (RFC 9112 section 5)",
    ending=Ending.CLOSE,
    parameters=MissingBlankLine,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
)
def _missing_blank_line(params: MissingBlankLine, context: Context) -> Iterator[Action]:
    head = response_head(params.status, None, [(b"Link", b"</a.css>; rel=preload")])
    yield _write(head[: -len(CRLF)], f"{params.status} without its blank line")
    yield _write(final_response(200, b"ok\n", context.now), "final 200")


class Flood(Parameters):
    """Parameters of ``1xx-flood``."""

    count: int = Field(default=1000, ge=1, le=1_000_000, description="interim responses sent")
    status: int = Field(default=102, ge=100, le=199, description="their status")
    every: float = Field(default=0.0, ge=0, description="seconds between them")


@violation(
    id="1xx-flood",
    summary="Many interim responses before the final one.",
    rule="RFC 9110 section 15.2",
    requirement="A client MUST be able to parse one or more 1xx responses received prior to "
    "a final response, even if the client does not expect one. (No limit is set: the entry "
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
        yield Write(interim)
    yield _write(final_response(200, b"ok\n", context.now), f"{params.count} interims, then 200")


# -- framing --------------------------------------------------------------------------------


class LengthTooLong(Parameters):
    """Parameters of ``content-length-too-long``."""

    body: str = Field(default="hello\n", description="the content actually sent")
    missing: int = Field(default=10, ge=1, description="bytes declared but never sent")


@violation(
    id="content-length-too-long",
    summary="Content-Length declares more bytes than are sent; then the connection closes.",
    rule="RFC 9112 section 6.3",
    requirement="If the sender closes the connection or the recipient times out before the "
    "indicated number of octets are received, the recipient MUST consider the message to be "
    "incomplete and close the connection.",
    proxy="must consider the response incomplete: must not cache it, and must not present it "
    "as complete to its client (close the client connection or reset the stream)",
    client="must consider the message incomplete and close the connection",
    ending=Ending.CLOSE,
    parameters=LengthTooLong,
    verdicts={"h11": "rejects", "llhttp": "rejects"},
)
def _length_too_long(params: LengthTooLong, context: Context) -> Iterator[Action]:
    content = params.body.encode("utf-8")
    declared = len(content) + params.missing
    headers = [date_header(context.now), server_header(), (b"Content-Type", b"text/plain")]
    headers.append((b"Content-Length", b"%d" % declared))
    yield _write(response_head(200, None, headers) + content, f"{len(content)} of {declared}")
