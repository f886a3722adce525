"""The violation catalogue's registry: what an entry is, how one is registered, and the
request that shows it.

Theory of operation. Each :class:`Violation` is a registry entry (``@violation(...)`` on the
function that produces its actions), like h11's state tables or VTest's command table: a stable
kebab-case id naming the rule it breaks, the RFC section and the quoted requirement, its
parameters as a pydantic model with defaults, the actions it produces (bytes or frames to
write, waits), how the exchange ends afterwards, and what a conformant intermediary and a
conformant client must do about it. A profile uses one with the final step ``violate: {id:
..., parameter: ...}``. The entries themselves are in :mod:`fakeorigin.core.violations`
(HTTP/1.1) and :mod:`fakeorigin.core.h2_violations` (HTTP/2); import the catalogue from the
former, which registers both.

Entries marked ``legal`` are not violations: they look odd but the RFCs allow them, and the
catalogue says which rule allows them, so that no entry claims more than the RFCs say. Some of
them still test a limit (how many interim responses, how large a header section) that an
intermediary must set for itself.

Requirements are quoted verbatim between “ and ” from the RFC section named in ``rule`` (ABNF
rules with their alignment spaces collapsed to one); a note after the quotation is ours.

``verdicts`` record what clients no one here wrote were observed to do with the bytes, for the
request in ``probe``: for HTTP/1.1 two strict parsers (h11's client; Node.js's http client,
whose parser is llhttp), checked by ``tests/test_violations.py``; for HTTP/2 four clients
(curl on nghttp2, ``nghttp``, Node.js's ``http2`` client, h2's client), checked by
``tests/test_h2_violations.py``. For a legal entry, ``rejects`` means the client hit one of
its own limits or gave up on the request.

Pure: no Twisted, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hpack import Encoder
from pydantic import BaseModel, ConfigDict

from fakeorigin.core.actions import (
    Action,
    AwaitBody,
    Ending,
    Note,
    Wait,
    WriteHttp1,
    WriteHttp2,
)
from fakeorigin.core.journal import Event
from fakeorigin.core.protocols import ONLY_HTTP1
from fakeorigin.core.wire import CRLF, RequestHead, header_block

#: Bumped when an entry's id, parameters or bytes change incompatibly.
CATALOGUE_VERSION = "1"

#: What a client was observed to do: rejects the bytes (an error, the request failed),
#: accepts them (a response without an error), or accepts them only in its lenient mode
#: (llhttp's ``insecureHTTPParser``).
Verdict = Literal["rejects", "accepts", "accepts-lenient-only"]


class Parameters(BaseModel):
    """Base of every entry's parameters: frozen, unknown names refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class NoParameters(Parameters):
    """This entry takes no parameters."""


@dataclass(frozen=True, slots=True)
class Context:
    """What an entry may read when it produces its bytes.

    Attributes:
        request: the request head (empty when ``on_accept``).
        now: epoch seconds, for the Date header.
        on_accept: True when the entry runs as the connection is accepted, before any request
            (only for an entry registered with ``on_accept``).
    """

    request: RequestHead
    now: float
    on_accept: bool = False


Producer = Callable[[Any, Context], Iterator[Action]]


@dataclass(frozen=True, slots=True)
class Probe:
    """The request that shows an entry: what a test, or someone with ``nc``, should send.

    Attributes:
        method: the request method; ``HEAD`` where the violation is about HEAD.
        http_version: ``1.1``, ``1.0`` where the violation is about HTTP/1.0 clients, or
            ``2`` for an HTTP/2 entry (the request then goes out as HEADERS and DATA frames:
            ``:method``, ``:path``, ``:scheme``, ``:authority`` and the headers, lower-cased).
        headers: request fields besides ``Host`` (and a profile-selecting field).
        body: request content, sent with ``Content-Length`` right after the head.
        requests: how many such requests go one after another on one connection: 2 where the
            damage shows only in the next exchange (bytes left on a kept-alive connection).
        patience_seconds: how long a client should wait for the final response; short where
            the entry never sends one.
    """

    method: str = "GET"
    http_version: str = "1.1"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    requests: int = 1
    patience_seconds: float = 5.0

    def head(self, host: str = "example.test") -> RequestHead:
        """The request head as fakeorigin would parse it."""
        return RequestHead(
            self.method.encode("ascii"),
            b"/",
            self.http_version.encode("ascii"),
            tuple((n.encode("latin-1"), v.encode("latin-1")) for n, v in self.all_headers(host)),
        )

    def all_headers(
        self, host: str = "example.test", extra: Sequence[tuple[str, str]] = ()
    ) -> list[tuple[str, str]]:
        """``Host``, then ``extra``, the probe's headers and, with a body, ``Content-Length``."""
        fields = [("Host", host), *extra, *self.headers]
        if self.body:
            fields.append(("Content-Length", str(len(self.body))))
        return fields

    def encode(self, host: str = "example.test", extra: Sequence[tuple[str, str]] = ()) -> bytes:
        """One request on the wire: request line, header section, content."""
        start = f"{self.method} / HTTP/{self.http_version}\r\n".encode("ascii")
        fields = [
            (n.encode("latin-1"), v.encode("latin-1")) for n, v in self.all_headers(host, extra)
        ]
        return start + header_block(fields) + CRLF + self.body


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
        verdicts: client name (``h11``, ``llhttp``; for HTTP/2 ``curl``, ``nghttp``,
            ``node-http2``, ``h2``) -> what it was observed to do.
        evidence: client name -> what it reported when it refused the bytes (in its strict
            mode): the start of h11's RemoteProtocolError message, llhttp's error code (or
            ``ECONNRESET`` where Node's client found the response cut short); curl's exit
            code, nghttp's error, Node.js's error code, h2's exception or the stream's reset.
        probe: the request that shows the entry (HTTP/1.0, HEAD, Expect, a second request).
        on_accept: the entry writes as the connection is accepted, before any request.
        protocols: the protocols that can carry it (:mod:`fakeorigin.core.protocols`): HTTP/1.1
            alone for an entry that writes HTTP/1.1 bytes, HTTP/2 alone for one that writes
            HTTP/2 frames.
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
    evidence: dict[str, str] = field(default_factory=dict)
    probe: Probe = Probe()
    on_accept: bool = False
    protocols: frozenset[str] = ONLY_HTTP1

    def actions(self, parameters: Parameters, context: Context) -> Iterator[Action]:
        """The actions for ``parameters`` (validated with :attr:`parameters`)."""
        if not context.on_accept:
            yield Note(Event.NOTE, None, f"violate {self.id}: {self.rule}")
        yield from self.produce(parameters, context)

    def accept_bytes(self, parameters: Parameters, now: float) -> bytes:
        """What the entry writes as the connection is accepted (nothing unless ``on_accept``)."""
        if not self.on_accept:
            return b""
        context = Context(RequestHead(b"", b"", b"", ()), now, on_accept=True)
        return _written(self.actions(parameters, context))

    def example_bytes(self) -> bytes:
        """Every byte sent for the default parameters at epoch 0, to the :attr:`probe` request.

        For an ``on_accept`` entry, the bytes written on accept come first. An entry that never
        ends (``102-forever``) is cut at its :data:`EXAMPLE_WAITS`-th wait. An HTTP/2 entry's
        frames are on stream 1, their field blocks encoded by a fresh HPACK encoder (on a
        connection, its own encoder's table may make them shorter).
        """
        parameters = self.parameters()
        actions = self.actions(parameters, Context(self.probe.head(), 0.0))
        return self.accept_bytes(parameters, 0.0) + _written(actions)

    def example_frames(self) -> list[str]:
        """An HTTP/2 entry's frames for the default parameters, one line each (empty for an
        HTTP/1.1 entry)."""
        if self.protocols <= ONLY_HTTP1:
            return []  # bytes, not frames (and some of them never end)
        actions = self.actions(self.parameters(), Context(self.probe.head(), 0.0))
        lines = []
        waits = 0
        for action in actions:
            if isinstance(action, WriteHttp2):
                lines += [frame.describe(EXAMPLE_STREAM) for frame in action.frames]
            elif isinstance(action, Wait):
                lines.append(f"(wait {action.seconds:g} s)")
                waits += 1
                if waits == EXAMPLE_WAITS:
                    break
            elif isinstance(action, AwaitBody):
                lines.append("(read the request's content to its end)")
        return lines


#: An example stops at this many waits: enough to show what repeats.
EXAMPLE_WAITS = 3


#: The stream an HTTP/2 example is shown on: a connection's first request.
EXAMPLE_STREAM = 1


def _written(actions: Iterator[Action]) -> bytes:
    data = []
    waits = 0
    encoder = Encoder()
    for action in actions:
        if isinstance(action, WriteHttp1):
            data.append(action.data)
        elif isinstance(action, WriteHttp2):
            data += [f.serialize(EXAMPLE_STREAM, encoder.encode) for f in action.frames]
        elif isinstance(action, Wait):
            waits += 1
            if waits == EXAMPLE_WAITS:
                break
    return b"".join(data)


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
    evidence: dict[str, str] | None = None,
    probe: Probe | None = None,
    on_accept: bool = False,
    protocols: frozenset[str] = ONLY_HTTP1,
) -> Callable[[Producer], Producer]:
    """Register the decorated producer as catalogue entry ``id``; a duplicate id fails loudly."""

    def register(produce: Producer) -> Producer:
        if id in CATALOGUE:
            raise ValueError(f"violation {id!r} is registered twice")
        CATALOGUE[id] = Violation(
            id=id,
            summary=summary,
            rule=rule,
            requirement=requirement,
            proxy=proxy,
            client=client,
            parameters=parameters,
            produce=produce,
            ending=ending,
            legal=legal,
            verdicts=dict(verdicts or {}),
            evidence=dict(evidence or {}),
            probe=probe or Probe(),
            on_accept=on_accept,
            protocols=protocols,
        )
        return produce

    return register


def accept_bytes(step: Any, now: float) -> bytes:
    """What a profile's ``violate`` step writes as a connection is accepted, before any request.

    ``step`` is the step's value (:class:`fakeorigin.core.profile.Violate`: ``id`` and validated
    ``parameters``). Empty for every entry but those registered with ``on_accept``.
    """
    return CATALOGUE[step.id].accept_bytes(step.parameters, now)
