"""What the pytest plugin hands to a test: a running fakeorigin and its journal entries.

- :class:`Entry` wraps one journal record (the JSON form of ``docs/journal.md``) with the
  questions tests ask of it (``interim_statuses``, ``body_bytes_before_continue``,
  ``waited_for_continue``, ``timeline``), and failure messages that print the timeline.
- :class:`FakeOrigin` is the ``fakeorigin`` fixture: a server reached over the control API,
  in a child process or already running elsewhere. Blocking calls: use it from plain tests.
- :class:`InProcessOrigin` is the ``fakeorigin_inprocess`` fixture: origin and control API in
  the test's own reactor (pytest-twisted). The same methods; the two that wait return a
  Deferred to ``await``.

The entries are in :mod:`.entries`, the handles in :mod:`.handles`, the plugin in
:mod:`.pytest_plugin`.

Cheap to import: no Twisted, no pydantic at import time (the plugin imports this module, and a
reactor must not be chosen before pytest-twisted chooses one). :func:`start_inprocess` imports
Twisted when it is called.
"""

from fakeorigin.testing.entries import (
    Entry,
    InterimStatuses,
    Timeline,
    TimelineEvent,
    describe_journal,
)
from fakeorigin.testing.handles import (
    JOURNAL_LIMIT,
    FakeOrigin,
    InProcessOrigin,
    WaitTimeoutError,
    start_inprocess,
    stop_inprocess,
)

__all__ = [
    "JOURNAL_LIMIT",
    "Entry",
    "FakeOrigin",
    "InProcessOrigin",
    "InterimStatuses",
    "Timeline",
    "TimelineEvent",
    "WaitTimeoutError",
    "describe_journal",
    "start_inprocess",
    "stop_inprocess",
]
