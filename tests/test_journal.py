"""The journal: bounded, ordered, and its records answer timing questions."""

from __future__ import annotations

import gc
import hashlib

import pytest

from fakeorigin.core.journal import (
    BODY_HEAD_BYTES,
    Event,
    ExchangeRecord,
    Journal,
    Outcome,
)
from fakeorigin.core.websocket_journal import (
    Opcode,
    WebSocketClose,
    WebSocketMessage,
    WebSocketRecord,
)


def test_ring_buffer_evicts_oldest_and_counts() -> None:
    journal = Journal(3)
    for n in range(5):
        journal.open(1, n + 1, "127.0.0.1:1", 0.0)
    assert [r.id for r in journal] == [3, 4, 5]
    assert journal.evicted == 2
    assert journal.get(1) is None
    assert journal.get(4) is not None
    journal.clear()
    assert len(journal) == 0
    assert journal.open(1, 1, "c", 0.0).id == 6


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="journal size must be >= 1"):
        Journal(0)


def test_body_record_keeps_length_digest_and_first_kib() -> None:
    record = Journal(1).open(1, 1, "c", 0.0)
    data = bytes(range(256)) * 10
    record.body.add(data[:1000])
    record.body.add(data[1000:])
    assert record.body.length == 2560
    assert record.body.sha256 == hashlib.sha256(data).hexdigest()
    assert bytes(record.body.head) == data[:BODY_HEAD_BYTES]


def test_body_bytes_before_continue_is_fixed_by_the_first_100() -> None:
    record = Journal(1).open(1, 1, "c", 0.0)
    record.body.add(b"abc")
    record.note(0.1, Event.INTERIM_SENT, 102)
    record.note(0.2, Event.INTERIM_SENT, 100)
    record.body.add(b"def")
    record.note(0.3, Event.INTERIM_SENT, 100)
    assert record.body_bytes_before_continue == 3
    assert record.interim_statuses == [102, 100, 100]


def test_to_dict_is_json_ready() -> None:
    record = Journal(1).open(7, 2, "127.0.0.1:5", 12.5)
    record.headers = ((b"Host", b"x"),)
    record.note(0.25, Event.INTERIM_SKIPPED, 100, "why")
    out = record.to_dict()
    assert out["headers"] == [["Host", "x"]]
    assert out["timeline"] == [
        {"t": 0.25, "event": "interim-skipped", "status": 100, "detail": "why"}
    ]
    assert out["outcome"] == "running"
    assert out["raw_request_base64"] is None


def full_record(journal: Journal) -> ExchangeRecord:
    """A record with every field set, a WebSocket side included."""
    record = journal.open(7, 2, "127.0.0.1:5", 12.5)
    record.method, record.target, record.http_version = "GET", "/chat", "1.1"
    record.headers = ((b"Host", b"x"), (b"Upgrade", b"websocket"))
    record.profile, record.selected_by = "websocket-echo", "header"
    record.body.add(b"abc")
    record.body.complete = True
    record.note(0.0, Event.BODY_COMPLETE, None, "3 bytes")
    record.note(0.25, Event.UPGRADE_SENT, 101)
    record.error, record.raw_request = "an error", b"GET /chat"
    websocket = WebSocketRecord("conformant", ["chat"], "chat", ["permessage-deflate"])
    websocket.response_head, websocket.upgraded_at = b"HTTP/1.1 101 Switching\r\n", 0.25
    websocket.log(0.5, "received", Opcode.TEXT, b"hi")
    websocket.close_sent = WebSocketClose(1.0, 1000, "bye")
    websocket.clean = True
    record.websocket = websocket
    record.outcome = Outcome.UPGRADED
    return record


def test_a_sealed_record_reads_as_it_was_and_the_collector_stops_tracking_it() -> None:
    journal = Journal(3)
    record = full_record(journal)
    live = journal.open(7, 3, "127.0.0.1:5", 13.0)
    before = record.to_dict()
    journal.seal(record)
    journal.seal(record)  # a second time: nothing changes
    [read, still_live] = list(journal)
    assert read is not record
    assert read.to_dict() == before
    assert still_live is live
    assert (read.body.sha256, read.websocket.messages) == (  # type: ignore[union-attr]
        hashlib.sha256(b"abc").hexdigest(),
        [WebSocketMessage(0.5, "received", Opcode.TEXT, 2, b"hi")],
    )
    assert journal.get(record.id) == read
    sealed = journal._records[0]  # what the collector sees
    gc.collect(0)  # one collection of the youngest generation is enough: a flat tuple
    assert type(sealed) is tuple
    assert not gc.is_tracked(sealed)


def test_select_filters_live_and_sealed_records_alike() -> None:
    journal = Journal(10)
    records = [journal.open(1, n, "c", 0.0) for n in range(4)]
    for record, profile in zip(records, ["a", "b", "a", "a"], strict=True):
        record.profile, record.method, record.target = profile, "GET", f"/{profile}"
    for record in records[:3]:
        record.outcome = Outcome.KEEP_ALIVE
    journal.seal(records[0])
    journal.seal(records[1])

    def only_a(record_id: int, profile: str | None, *rest: object) -> bool:
        return profile == "a"

    assert [r.id for r in journal.select(only_a, 10)] == [1, 3, 4]
    assert [r.id for r in journal.select(only_a, 2)] == [1, 3]
    ended = journal.select(lambda *fields: bool(fields[-1]), 10)
    assert [r.id for r in ended] == [1, 2, 3]
    journal.clear()
    journal.seal(records[2])  # cleared: a no-op
    assert journal.get(3) is None
