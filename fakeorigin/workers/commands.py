"""The AMP commands between the parent of ``--workers N`` and each worker, over a socket
pair (``twisted.protocols.amp``).

Parent to worker: :class:`Apply` (a snapshot after a change), the journal's reads
(:class:`JournalPage`, :class:`JournalEntry`, :class:`JournalCount`), :class:`JournalClear`,
:class:`Stats`, :class:`Drain`. Worker to parent: :class:`Ready` (answered with the snapshot
to start from) and :class:`ClaimRule` (one use of a counted rule).

AMP limits each value to 65,535 bytes; a journal page is larger, so :class:`Json` spreads
its text over as many keys as it needs.
"""

# AMP declares a command's arguments as class attributes holding lists (Twisted's API).
# ruff: noqa: RUF012

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.protocols import amp

log = Logger()

_CHUNK = 60_000


def _integer() -> amp.Argument:
    return amp.Integer()  # type: ignore[no-untyped-call]


def _float() -> amp.Argument:
    return amp.Float()  # type: ignore[no-untyped-call]


def _unicode() -> amp.Argument:
    return amp.Unicode()  # type: ignore[no-untyped-call]


def _boolean() -> amp.Argument:
    return amp.Boolean()  # type: ignore[no-untyped-call]


class Json(amp.Argument):
    """Any JSON-ready value, its UTF-8 text spread over ``NAME.0``, ``NAME.1``, ... (each
    under AMP's 65,535-byte limit on a value) and counted in ``NAME``."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def toBox(  # noqa: N802 (Twisted API)
        self, name: bytes, strings: dict[bytes, bytes], objects: dict[str, Any], proto: Any
    ) -> None:
        text = json.dumps(objects[name.decode("ascii")], separators=(",", ":")).encode()
        chunks = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [b""]
        strings[name] = str(len(chunks)).encode("ascii")
        for index, chunk in enumerate(chunks):
            strings[name + b"." + str(index).encode("ascii")] = chunk

    def fromBox(  # noqa: N802 (Twisted API)
        self, name: bytes, strings: dict[bytes, bytes], objects: dict[str, Any], proto: Any
    ) -> None:
        count = int(strings.pop(name))
        text = b"".join(strings.pop(name + b"." + str(i).encode("ascii")) for i in range(count))
        objects[name.decode("ascii")] = json.loads(text)


class Link(amp.AMP):
    """AMP without its log line per connection made and lost (the parent logs a worker's
    start and end itself)."""

    def makeConnection(self, transport: Any) -> None:  # noqa: N802 (Twisted API)
        amp.BinaryBoxProtocol.makeConnection(self, transport)  # type: ignore[no-untyped-call]

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802 (Twisted API)
        amp.BinaryBoxProtocol.connectionLost(self, reason)  # type: ignore[no-untyped-call]
        self.transport = None

    def unhandledError(self, failure: Any) -> None:  # noqa: N802 (Twisted API)
        """A command that failed is logged; the link stays (AMP would drop it, and with it
        the worker)."""
        log.failure("fakeorigin: a worker command failed", failure)


class Ready(amp.Command):
    """Worker to parent: ready to accept once it has the snapshot (and, with ``--tls``,
    the key and certificate chain to serve with; null without)."""

    arguments = [(b"slot", _integer()), (b"pid", _integer())]
    response = [(b"snapshot", Json()), (b"tls", Json())]


class ClaimRule(amp.Command):
    """Worker to parent: may one more request be served by the rule with this id?"""

    arguments = [(b"rule_id", _integer())]
    response = [(b"granted", _boolean())]


class Apply(amp.Command):
    """Parent to worker: make your state this snapshot (:mod:`fakeorigin.workers.snapshot`)."""

    arguments = [(b"snapshot", Json())]
    response = []


class JournalPage(amp.Command):
    """Parent to worker: the records a journal query selects (JSON of the query's fields),
    at most ``limit``, as ``GET /journal`` gives them, and how many were evicted."""

    arguments = [(b"query", Json()), (b"limit", _integer())]
    response = [(b"entries", Json()), (b"evicted", _integer())]


class JournalEntry(amp.Command):
    """Parent to worker: one record by id (null when unknown or evicted)."""

    arguments = [(b"record_id", _integer())]
    response = [(b"entry", Json())]


class JournalCount(amp.Command):
    """Parent to worker: how many records match the query, answered once more than
    ``above`` do or after ``timeout`` seconds (a ``journal/wait`` spread over workers)."""

    arguments = [(b"query", Json()), (b"above", _integer()), (b"timeout", _float())]
    response = [(b"count", _integer())]


class JournalClear(amp.Command):
    """Parent to worker: forget every record."""

    arguments = []
    response = []


class Stats(amp.Command):
    """Parent to worker: its connection counts and how many records it opened."""

    arguments = []
    response = [(b"stats", Json())]


class Drain(amp.Command):
    """Parent to worker: stop accepting and give running exchanges ``grace`` seconds."""

    arguments = [(b"grace", _float())]
    response = []
    requiresAnswer = True  # noqa: N815 (Twisted's name)


class EndGrace(amp.Command):
    """Parent to worker: a second SIGTERM/SIGINT came; close what still runs now."""

    arguments = [(b"why", _unicode())]
    response = []


def call(link: amp.AMP, command: type[amp.Command], **arguments: Any) -> Deferred[dict[str, Any]]:
    """``link.callRemote(command, **arguments)``, typed."""
    return link.callRemote(command, **arguments)  # type: ignore[no-untyped-call,no-any-return]
