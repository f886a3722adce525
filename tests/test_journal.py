"""The journal: bounded, ordered, and its records answer timing questions."""

from __future__ import annotations

import hashlib

import pytest

from fakeorigin.journal import BODY_HEAD_BYTES, Event, Journal


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
