"""Journal ids in the workers of ``--workers N``: unique across workers and increasing with
the time each exchange opened, so ``after_id`` (``fakeorigin journal --follow``, the journal
page) still means "opened after that one" and the parent can merge the journals by id.

Pure Python. A worker's ids are ``microseconds since the parent started * N + slot + 1``: the
slot is ``(id - 1) % N`` (where :class:`fakeorigin.workers.fleet.Fleet` asks for one record),
and two records in the same microsecond take the next free id of the slot.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def worker_ids(
    slot: int, workers: int, epoch: float, now: Callable[[], float] = time.time
) -> Callable[[int], int]:
    """The :class:`fakeorigin.core.journal.Journal` id maker of worker ``slot`` (0-based)."""

    def next_id(last: int) -> int:
        candidate = int((now() - epoch) * 1_000_000) * workers + slot + 1
        return candidate if candidate > last else last + workers

    return next_id


def slot_of(record_id: int, workers: int) -> int:
    """The worker slot whose journal holds ``record_id``."""
    return (record_id - 1) % workers
