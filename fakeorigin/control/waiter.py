"""``GET /journal/wait``'s long poll on one journal (the control API's, and in a worker of
``--workers N`` the worker's own: :mod:`fakeorigin.workers.child`)."""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from fakeorigin.control.models import JournalWait
from fakeorigin.core.journal import ExchangeRecord, Journal, fields


class JournalWaiter:
    """A long poll on the journal: ``done`` fires True once ``query.count`` records match, or
    False after ``query.timeout`` seconds; cancelling it (the client left) cleans up too.

    It reads the whole journal once, then only the record each change names (an exchange
    opened or ended): a wait held open while a load runs costs each exchange a few
    microseconds, where reading 10,000 records at every change cost milliseconds.
    """

    def __init__(self, journal: Journal, query: JournalWait, clock: IReactorTime) -> None:
        self.journal = journal
        self.query = query
        self.done: Deferred[bool] = Deferred(lambda _: self._stop())
        self._timer = clock.callLater(query.timeout, self._finish, False)
        self._matching: set[int] = set()
        journal.watchers.append(self._check)
        self._check(None)

    def _check(self, record: ExchangeRecord | None) -> None:
        if record is None:
            self._matching = set(self.journal.ids(self.query.matches))
        elif self.query.matches(*fields(record)):
            self._matching.add(record.id)
        else:
            self._matching.discard(record.id)
        if len(self._matching) >= self.query.count:
            # Evicted or cleared records no longer count (a rare case: look then only).
            self._matching = {i for i in self._matching if self.journal.holds(i)}
            if len(self._matching) >= self.query.count:
                self._finish(True)

    @property
    def matching(self) -> int:
        """How many records match the query now (as far as the waiter has seen)."""
        return len(self._matching)

    def _finish(self, arrived: bool) -> None:
        self._stop()
        self.done.callback(arrived)

    def _stop(self) -> None:
        if self._check in self.journal.watchers:
            self.journal.watchers.remove(self._check)
        if self._timer.active():
            self._timer.cancel()
