"""The journal: a bounded, in-memory record of every exchange and what happened when.

Each exchange gets one :class:`ExchangeRecord` the moment its request head is complete (or the
moment a malformed request is refused), and the record grows while the exchange runs, so a
hanging exchange is visible too. Times in a timeline are seconds since the request head was
complete, read from the reactor's clock. This is what answers "did the proxy wait for the 100
before it sent the body?".

Pure Python: no Twisted, no I/O.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import marshal
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple

from fakeorigin.core.wire import Header, head_dict

if TYPE_CHECKING:
    from fakeorigin.core.websocket_journal import WebSocketRecord

_EMPTY_SHA256 = hashlib.sha256().hexdigest()

#: How much of a request body the journal keeps.
BODY_HEAD_BYTES = 1024
#: How much of a malformed request the journal keeps.
RAW_REQUEST_BYTES = 4096


class Event(StrEnum):
    """What can happen in an exchange's timeline."""

    INTERIM_SENT = "interim-sent"
    INTERIM_SKIPPED = "interim-skipped"
    BODY_FIRST_BYTE = "body-first-byte"
    BODY_COMPLETE = "body-complete"
    RESPONSE_STARTED = "response-started"
    RESPONSE_COMPLETE = "response-complete"
    RAW_SENT = "raw-sent"
    FRAME_SENT = "frame-sent"
    FRAME_RECEIVED = "frame-received"
    NOTE = "note"
    CLOSE = "close"
    RESET = "reset"
    HANG = "hang"
    CLIENT_FIN = "client-fin"
    CLIENT_GONE = "client-gone"
    MAX_DURATION = "max-duration"
    BAD_REQUEST = "bad-request"
    LATE_REQUEST = "late-request"
    STALLED = "stalled"
    UPGRADE_SENT = "upgrade-sent"
    WEBSOCKET_BROKEN_HANDSHAKE = "websocket-broken-handshake"
    WEBSOCKET_CLOSE_SENT = "websocket-close-sent"
    WEBSOCKET_CLOSE_RECEIVED = "websocket-close-received"
    WEBSOCKET_MISMATCH = "websocket-mismatch"
    WEBSOCKET_CLOSED = "websocket-closed"


class Outcome(StrEnum):
    """How an exchange ended."""

    RUNNING = "running"
    KEEP_ALIVE = "keep-alive"
    CLOSED = "closed"
    RESET = "reset"
    CLIENT_FIN = "client-fin"
    CLIENT_GONE = "client-gone"
    MAX_DURATION = "max-duration"
    STALLED = "stalled"
    REFUSED = "refused"
    BAD_REQUEST = "bad-request"
    UPGRADED = "upgraded"


class TimelineEntry(NamedTuple):
    """One event: when (seconds since the head was complete), what, and its details.

    ``event`` is the :class:`Event`'s plain string value (equal to the member:
    ``entry.event == Event.NOTE``). A record keeps its entries as plain tuples of these four
    atoms (:attr:`ExchangeRecord.entries`) and makes these named ones when read: the
    collector stops tracking a plain tuple of strings, numbers and None at the first
    collection it survives, but never a named tuple, nor a tuple holding an enum member. A
    full journal holds about ten entries per exchange: this decides whether every full
    collection walks 100,000 of them or none.
    """

    seconds: float
    event: str
    status: int | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, leaving out empty details."""
        out: dict[str, Any] = {"t": round(self.seconds, 6), "event": self.event}
        if self.status is not None:
            out["status"] = self.status
        if self.detail is not None:
            out["detail"] = self.detail
        return out


@dataclass(slots=True)
class BodyRecord:
    """The request body as received so far: length, running sha256, first KiB."""

    length: int = 0
    complete: bool = False
    head: bytearray = field(default_factory=bytearray)
    # A sha256 once the first byte arrives (most requests have no body); its hex digest once
    # the record is sealed.
    _digest: Any = None

    def add(self, data: bytes | bytearray) -> None:
        """Account for ``data`` received."""
        self.length += len(data)
        if self._digest is None:
            self._digest = hashlib.sha256()
        self._digest.update(data)
        room = BODY_HEAD_BYTES - len(self.head)
        if room > 0:
            self.head += data[:room]

    @property
    def sha256(self) -> str:
        """Hex sha256 of the bytes received so far."""
        digest = self._digest
        if digest is None:
            return _EMPTY_SHA256
        return digest if isinstance(digest, str) else str(digest.hexdigest())

    def sealed(self) -> tuple[int, bool, str, bytes]:
        """Length, completeness, sha256 and first KiB, as a plain tuple (see
        :meth:`Journal.seal`)."""
        return (self.length, self.complete, self.sha256, bytes(self.head))

    @classmethod
    def unsealed(cls, sealed: tuple[int, bool, str, bytes]) -> BodyRecord:
        """The record :meth:`sealed` was made from (its sha256 no longer grows)."""
        length, complete, sha256, head = sealed
        return cls(length, complete, bytearray(head), sha256)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: length, completeness, sha256 and the first KiB (base64 and text)."""
        return {
            "length": self.length,
            "complete": self.complete,
            "sha256": self.sha256,
            **head_dict(bytes(self.head)),
        }


@dataclass(slots=True)
class ExchangeRecord:
    """One exchange: the request as received, the profile that served it, its timeline.

    Attributes:
        id: journal-wide, increasing from 1.
        connection_id: fakeorigin's id of the connection; ``index`` counts exchanges on it.
        client: the peer address, e.g. ``127.0.0.1:51234``.
        started_at: wall-clock (epoch seconds) when the head was complete.
        method, target, http_version, headers: the request as received (latin-1 text,
            header order and case kept); None for a request too malformed to have them.
        profile, selected_by: the profile's name and how it was picked (``header``, ``rule``,
            ``active``).
        entries: the timeline as plain ``(seconds, event, status, detail)`` tuples;
            :attr:`timeline` reads them as :class:`TimelineEntry`.
        body_bytes_before_continue: request body bytes received when the 100 went out;
            None when no 100 was sent.
        raw_request: for a malformed request, the bytes received (first 4 KiB).
        websocket: for an exchange handed to autobahn after a WebSocket opening handshake,
            the handshake, the message log and the close; None otherwise.
        tls: over TLS, ``(version, SNI name, ALPN protocol)`` of its connection, e.g.
            ``("TLSv1.3", "localhost", "http/1.1")`` (the last two None when the client sent
            none); None over cleartext.
    """

    id: int
    connection_id: int
    index: int
    client: str
    started_at: float
    method: str | None = None
    target: str | None = None
    http_version: str | None = None
    headers: tuple[Header, ...] = ()
    body: BodyRecord = field(default_factory=BodyRecord)
    profile: str | None = None
    selected_by: str | None = None
    entries: list[tuple[float, str, int | None, str | None]] = field(default_factory=list)
    body_bytes_before_continue: int | None = None
    outcome: Outcome = Outcome.RUNNING
    error: str | None = None
    raw_request: bytes | None = None
    websocket: WebSocketRecord | None = None
    tls: tuple[str, str | None, str | None] | None = None

    def note(
        self, seconds: float, event: Event, status: int | None = None, detail: str | None = None
    ) -> None:
        """Add a timeline entry; the first 100 sent also fixes ``body_bytes_before_continue``."""
        self.entries.append((seconds, event._value_, status, detail))
        first_continue = self.body_bytes_before_continue is None
        if event is Event.INTERIM_SENT and status == 100 and first_continue:
            self.body_bytes_before_continue = self.body.length

    @property
    def timeline(self) -> list[TimelineEntry]:
        """The events so far, in order (made from :attr:`entries` at each read)."""
        return list(map(TimelineEntry._make, self.entries))

    def events(self, event: Event) -> list[TimelineEntry]:
        """The timeline entries of one kind, in order."""
        return [entry for entry in self.timeline if entry.event == event]

    @property
    def interim_statuses(self) -> list[int]:
        """Statuses of the interim responses actually sent, in order."""
        return [e.status for e in self.events(Event.INTERIM_SENT) if e.status is not None]

    def sealed(self) -> SealedRecord:
        """The record as :data:`SealedRecord`: what a query filters on, then every field in
        one ``marshal`` blob (see :meth:`Journal.seal`); :meth:`unsealed` reads it."""
        fields = (
            self.id,
            self.connection_id,
            self.index,
            self.client,
            self.started_at,
            self.method,
            self.target,
            self.http_version,
            self.headers,
            self.body.sealed(),
            self.profile,
            self.selected_by,
            tuple(self.entries),
            self.body_bytes_before_continue,
            self.outcome._value_,
            self.error,
            self.raw_request,
            None if self.websocket is None else self.websocket.sealed(),
            self.tls,
        )
        outcome: str = self.outcome._value_
        return (self.id, self.profile, self.method, self.target, outcome, marshal.dumps(fields))

    @classmethod
    def unsealed(cls, sealed: SealedRecord) -> ExchangeRecord:
        """A record equal to the one :meth:`sealed` was made from (a new object each time)."""
        (record_id, connection_id, index, client, started_at, method, target, http_version,
         headers, body, profile, selected_by, entries, before_continue, outcome, error, raw,
         websocket, tls) = marshal.loads(sealed[-1])  # fmt: skip
        if websocket is not None:  # WebSocket's side loads with WebSocket (or here)
            from fakeorigin.core.websocket_journal import WebSocketRecord  # noqa: PLC0415

            websocket = WebSocketRecord.unsealed(websocket)
        return cls(
            record_id,
            connection_id,
            index,
            client,
            started_at,
            method,
            target,
            http_version,
            headers,
            BodyRecord.unsealed(body),
            profile,
            selected_by,
            list(entries),
            before_continue,
            _OUTCOMES[outcome],
            error,
            raw,
            websocket,
            tls,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as the control API shows it (docs/journal.md)."""
        return {
            "id": self.id,
            "connection_id": self.connection_id,
            "index": self.index,
            "client": self.client,
            "started_at": self.started_at,
            "method": self.method,
            "target": self.target,
            "http_version": self.http_version,
            "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in self.headers],
            "body": self.body.to_dict(),
            "profile": self.profile,
            "selected_by": self.selected_by,
            "body_bytes_before_continue": self.body_bytes_before_continue,
            "timeline": [entry.to_dict() for entry in self.timeline],
            "outcome": self.outcome.value,
            "error": self.error,
            "raw_request_base64": None
            if self.raw_request is None
            else base64.b64encode(self.raw_request).decode("ascii"),
            "websocket": None if self.websocket is None else self.websocket.to_dict(),
            "tls": None
            if self.tls is None
            else dict(zip(("version", "sni", "alpn"), self.tls, strict=True)),
        }


#: A finished record as :meth:`ExchangeRecord.sealed` makes it: ``(id, profile, method,
#: target, outcome, blob)``, every field in ``blob`` (``marshal``, read back in this process
#: only). A flat tuple of atoms: the collector stops tracking it at the first collection it
#: is in, where a tuple nesting others needs one collection per level (CPython looks at a
#: tuple before the tuples only it refers to).
SealedRecord = tuple[int, str | None, str | None, str | None, str, bytes]

_OUTCOMES = {outcome.value: outcome for outcome in Outcome}

#: A record's ``error`` when fakeorigin itself failed (the traceback is in the log).
INTERNAL_ERROR = "internal error: see the server log"


class Journal:
    """A ring buffer of exchange records, oldest evicted first.

    A record whose exchange is over and whose connection has let go of it is *sealed*
    (:meth:`seal`): kept as a :data:`SealedRecord`, a flat tuple of atoms, instead of
    objects. The collector stops tracking it at the first collection it is in, so a full
    journal costs a full collection nothing, where 10,000 live records cost it about 14 ms
    (bench/FINDINGS.md). Reading gives :class:`ExchangeRecord` objects either way: a sealed
    one is rebuilt at each read.

    Attributes:
        size: the most records kept.
        evicted: how many records were dropped to make room.
    """

    def __init__(self, size: int, ids: Callable[[int], int] | None = None) -> None:
        """``ids``, when given, makes each new record's id from the last one's (0 at first),
        always larger (a worker of ``--workers N``: :mod:`fakeorigin.workers.ids`); else ids
        are consecutive from 1."""
        if size < 1:
            raise ValueError(f"journal size must be >= 1 (got {size})")
        self.size = size
        self.evicted = 0
        # Ids increase, oldest first; consecutive ones (no ``ids``) make a record's place its
        # id minus the first one's, others are searched for.
        self._records: deque[ExchangeRecord | SealedRecord] = deque(maxlen=size)
        self._next_id = 1
        self._ids = ids
        self._last_id = 0
        self.watchers: list[Callable[[ExchangeRecord | None], None]] = []

    def touch(self, record: ExchangeRecord | None = None) -> None:
        """``record`` was opened or has ended (None: something changed, look at them all):
        tell the watchers (the control API's long polls)."""
        if self.watchers:
            for watcher in list(self.watchers):
                watcher(record)

    def open(
        self, connection_id: int, index: int, client: str, started_at: float
    ) -> ExchangeRecord:
        """Start and keep a new record; it can still change while its exchange runs."""
        record_id = self._next_id if self._ids is None else self._ids(self._last_id)
        self._last_id = record_id
        record = ExchangeRecord(record_id, connection_id, index, client, started_at)
        self._next_id += 1
        if len(self._records) == self.size:
            self.evicted += 1
        self._records.append(record)
        return record

    def seal(self, record: ExchangeRecord) -> None:
        """``record`` will not change any more: keep it sealed (a no-op once it is evicted,
        cleared, or already sealed)."""
        place = self._place(record.id)
        if place is not None and self._records[place] is record:
            self._records[place] = record.sealed()

    @property
    def opened(self) -> int:
        """How many records were ever opened (evicted and cleared ones included)."""
        return self._next_id - 1

    def __iter__(self) -> Iterator[ExchangeRecord]:
        for item in self._records:
            yield _record(item)

    def __len__(self) -> int:
        return len(self._records)

    def get(self, record_id: int) -> ExchangeRecord | None:
        """The record with ``record_id``, or None if unknown or evicted."""
        place = self._place(record_id)
        return None if place is None else _record(self._records[place])

    def select(self, keep: Keep, limit: int) -> list[ExchangeRecord]:
        """The first ``limit`` records, oldest first, for which ``keep(id, profile, method,
        target, ended)`` is true; a sealed record is rebuilt only when it is kept."""
        found: list[ExchangeRecord] = []
        for item in self._records:
            if keep(*_fields(item)):
                found.append(_record(item))
                if len(found) == limit:
                    break
        return found

    def ids(self, keep: Keep) -> list[int]:
        """The ids of every record for which ``keep`` is true (:meth:`select`), oldest first."""
        return [fields[0] for fields in map(_fields, self._records) if keep(*fields)]

    def holds(self, record_id: int) -> bool:
        """Whether the record with ``record_id`` is still here (not evicted nor cleared)."""
        return self._place(record_id) is not None

    def clear(self) -> None:
        """Forget every record (ids keep increasing)."""
        self._records.clear()

    def _place(self, record_id: int) -> int | None:
        if not self._records:
            return None
        if self._ids is not None:
            place = bisect.bisect_left(self._records, record_id, key=_id)
            found = place < len(self._records) and _id(self._records[place]) == record_id
            return place if found else None
        first = self._records[0]
        place = record_id - (first.id if isinstance(first, ExchangeRecord) else first[0])
        return place if 0 <= place < len(self._records) else None


def _id(item: ExchangeRecord | SealedRecord) -> int:
    return item.id if isinstance(item, ExchangeRecord) else item[0]


#: What a query reads of a record: ``(id, profile, method, target, ended)``.
Fields = tuple[int, str | None, str | None, str | None, bool]
#: What :meth:`Journal.select` asks of each record: ``keep(*fields)``.
Keep = Callable[[int, str | None, str | None, str | None, bool], bool]


def fields(record: ExchangeRecord) -> Fields:
    """A record's ``(id, profile, method, target, ended)``, what a :data:`Keep` is given."""
    ended = record.outcome is not Outcome.RUNNING
    return (record.id, record.profile, record.method, record.target, ended)


def _fields(item: ExchangeRecord | SealedRecord) -> Fields:
    if isinstance(item, ExchangeRecord):
        return fields(item)
    record_id, profile, method, target, outcome, _ = item
    return (record_id, profile, method, target, outcome != "running")


def _record(item: ExchangeRecord | SealedRecord) -> ExchangeRecord:
    return item if isinstance(item, ExchangeRecord) else ExchangeRecord.unsealed(item)
