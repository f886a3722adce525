"""One worker of ``fakeorigin serve --workers N``: the origin, as one process serves it, on
listening sockets the parent made.

The parent starts it as ``python -m fakeorigin.workers.child`` (``reactor.spawnProcess``)
with its settings in ``FAKEORIGIN_WORKER`` (JSON), its AMP socket to the parent as fd 3 and
the origin's listening sockets as fds 4, 5, ... (:mod:`fakeorigin.workers.fleet`). It says
:class:`~fakeorigin.workers.commands.Ready`, takes the snapshot of profiles and rules the
parent answers with, and only then accepts (connections that come before wait in the
listening socket's backlog). It has no control API: it answers the parent's commands. When
the parent's socket closes (the parent is gone), it shuts down as on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.protocol import Factory, connectionDone
from twisted.logger import Logger, globalLogBeginner
from twisted.python.failure import Failure

from fakeorigin.control.models import MAX_JOURNAL_LIMIT, JournalQuery, JournalWait
from fakeorigin.control.waiter import JournalWaiter
from fakeorigin.core.journal import Journal
from fakeorigin.core.state import OriginState
from fakeorigin.http1.factory import OriginFactory
from fakeorigin.server.descriptors import connection_limit, open_descriptors
from fakeorigin.server.listen import Listening
from fakeorigin.server.logs import log_observer
from fakeorigin.server.serve import build_state, handle_signals, origin_factory, shut_down
from fakeorigin.workers import commands
from fakeorigin.workers.ids import worker_ids
from fakeorigin.workers.snapshot import Applier

log = Logger()

#: The environment variable the parent passes the worker's settings in.
ENVIRONMENT = "FAKEORIGIN_WORKER"
#: The worker's AMP socket to the parent; the listening sockets follow it.
PARENT_FD = 3
FIRST_PORT_FD = 4
FAMILIES = {"inet": socket.AF_INET, "inet6": socket.AF_INET6, "unix": socket.AF_UNIX}
#: The settings that name files.
_PATHS = ("profiles",)


def settings_from(config: dict[str, Any]) -> dict[str, Any]:
    """The ``serve`` settings as the parent sent them (JSON), with their paths again."""
    settings = dict(config["settings"])
    settings["profiles"] = [Path(p) for p in settings["profiles"]]
    return settings


class ParentLink(commands.Link):
    """The worker's end of the AMP connection: answers the parent's commands."""

    def __init__(self, worker: Worker) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.worker = worker

    def connectionMade(self) -> None:  # noqa: N802 (Twisted API)
        super().connectionMade()  # type: ignore[no-untyped-call]
        self.worker.linked(self)

    def connectionLost(self, reason: Failure = connectionDone) -> None:  # noqa: N802
        super().connectionLost(reason)
        self.worker.parent_gone()

    @commands.Apply.responder
    def apply(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        self.worker.applier.apply(snapshot)
        return {}

    @commands.JournalPage.responder
    def journal_page(self, query: dict[str, Any], limit: int) -> dict[str, Any]:
        journal = self.worker.state.journal
        selected = JournalQuery.model_validate(query).select(journal, limit)
        return {"entries": [r.to_dict() for r in selected], "evicted": journal.evicted}

    @commands.JournalEntry.responder
    def journal_entry(self, record_id: int) -> dict[str, Any]:
        record = self.worker.state.journal.get(record_id)
        return {"entry": None if record is None else record.to_dict()}

    @commands.JournalCount.responder
    def journal_count(self, query: dict[str, Any], above: int, timeout: float) -> Deferred[Any]:
        count = min(above + 1, MAX_JOURNAL_LIMIT)
        wait = JournalWait.model_validate({**query, "count": count, "timeout": max(timeout, 0.001)})
        waiter = JournalWaiter(self.worker.state.journal, wait, self.worker.reactor)
        return waiter.done.addCallback(lambda _: {"count": waiter.matching})

    @commands.JournalClear.responder
    def journal_clear(self) -> dict[str, Any]:
        journal = self.worker.state.journal
        journal.clear()
        journal.touch()
        return {}

    @commands.Stats.responder
    def stats(self) -> dict[str, Any]:
        factory = self.worker.factory
        return {
            "stats": {
                "pid": os.getpid(),
                "open": factory.open_connections,
                "closed": factory.closed_connections,
                "idle_closed": factory.idle_closed_connections,
                "refused": factory.refused_connections,
                "max": factory.max_connections,
                "opened": self.worker.state.journal.opened,
            }
        }

    @commands.EndGrace.responder
    def end_grace(self, why: str) -> dict[str, Any]:
        self.worker.factory.end_grace(why)
        return {}

    @commands.Drain.responder
    def drain(self, grace: float) -> Deferred[Any]:
        return Deferred.fromCoroutine(self.worker.drain(grace)).addCallback(lambda _: {})


class Worker:
    """The worker's origin, its state and its link to the parent."""

    def __init__(self, reactor: Any, config: dict[str, Any]) -> None:
        self.reactor = reactor
        self.slot: int = config["slot"]
        self.families: list[str] = config["families"]
        self.shared: list[bool] = config["shared"]
        self.settings = settings_from(config)
        state, _ = build_state(self.settings)  # the parent warned about the bundled ones
        state.claims = True
        state.journal = Journal(
            self.settings["journal_size"],
            ids=worker_ids(self.slot, config["workers"], config["epoch"]),
        )
        self.state: OriginState = state
        self.applier = Applier(state)
        limit = connection_limit(self.settings["max_connections"], open_descriptors())
        self.factory: OriginFactory = origin_factory(
            state, reactor, self.settings, limit.max_connections
        )
        self.factory.claim = self.claim
        self.listening = Listening([], [])
        self.link: ParentLink | None = None
        self._draining: Deferred[None] | None = None

    def start(self) -> None:
        self.reactor.adoptStreamConnection(
            PARENT_FD, socket.AF_UNIX, Factory.forProtocol(lambda: ParentLink(self))
        )
        os.close(PARENT_FD)

    def linked(self, link: ParentLink) -> None:
        self.link = link
        ready = commands.call(link, commands.Ready, slot=self.slot, pid=os.getpid())
        ready.addCallback(self.ready)
        ready.addErrback(self.failed)

    def ready(self, answer: dict[str, Any]) -> None:
        self.applier.apply(answer["snapshot"])
        served: Any = self.factory
        tls = answer["tls"]
        if tls is not None:
            from fakeorigin.server.tls import options, wrap  # noqa: PLC0415 (TLS only)

            served = wrap(self.factory, options(tls["key"], tls["chain"]))
        for offset, family in enumerate(self.families):
            fd = FIRST_PORT_FD + offset
            port = self.reactor.adoptStreamPort(fd, FAMILIES[family], served)
            if self.shared[offset]:
                port.__class__ = _one_at_a_time(type(port))
            os.close(fd)
            self.listening.ports.append(port)

    def failed(self, failure: Failure) -> None:
        log.failure("worker {slot}: could not start", failure, slot=self.slot)
        self.reactor.stop()

    def claim(self, rule_id: int) -> Deferred[bool]:
        """One use of a counted rule, asked of the parent (False when it is not there)."""
        if self.link is None:  # the parent is gone: no more uses to give
            return succeed(False)
        asked: Deferred[dict[str, Any]] = commands.call(
            self.link, commands.ClaimRule, rule_id=rule_id
        )
        return asked.addCallback(lambda answer: bool(answer["granted"]))

    async def drain(self, grace: float) -> None:
        """Stop accepting and drain (once, whoever asks: the parent, SIGTERM)."""
        if self._draining is None:
            self._draining = Deferred.fromCoroutine(shut_down(self.factory, self.listening, grace))
        await self._draining

    def parent_gone(self) -> None:
        self.link = None
        if self.reactor.running:
            self.reactor.stop()


_MADE: dict[type, type] = {}


def _one_at_a_time(port_class: type) -> type:
    """``port_class`` accepting one connection each time the socket is readable.

    On a socket every worker shares (a UNIX socket: TCP has one per worker), the kernel wakes
    them all when a connection comes. Twisted's port accepts up to ``numberAccepts``
    connections per wake-up (100 at first, growing): the first worker awake would take a whole
    burst (wrk's 50 connections all went to one worker, the other idle). One per wake-up
    spreads them somewhat: the worker that is less busy gets back to the socket first.
    """
    made = _MADE.get(port_class)
    if made is None:
        fixed = property(lambda self: 1, lambda self, value: None)
        name = f"OneAtATime{port_class.__name__}"
        made = _MADE[port_class] = type(name, (port_class,), {"numberAccepts": fixed})
    return made


def main() -> int:
    """Run one worker until the parent asks it to stop or goes away."""
    config = json.loads(os.environ.pop(ENVIRONMENT))
    from twisted.internet import reactor  # noqa: PLC0415 (installs the default reactor)

    worker = Worker(reactor, config)
    globalLogBeginner.beginLoggingTo(
        [log_observer(worker.settings["log_format"], sys.stderr)], redirectStandardIO=False
    )
    grace = worker.settings["shutdown_grace"]
    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: Deferred.fromCoroutine(worker.drain(grace))
    )

    def begin() -> None:
        handle_signals(reactor, worker.factory.end_grace)
        # Ctrl-C reaches the whole process group: the parent drains the workers (and reads
        # their journals for --journal-dump first), so a worker leaves SIGINT to it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        worker.start()

    reactor.callWhenRunning(begin)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
