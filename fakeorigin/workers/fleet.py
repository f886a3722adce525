"""The parent of ``fakeorigin serve --workers N``: it starts and watches the workers, and
is what the control API asks when there are workers.

One listening socket per ``--listen`` endpoint, made here and handed to every worker
(``childFDs``), which adopts it (``adoptStreamPort``): the kernel gives each connection to
one worker. A shared socket rather than ``SO_REUSEPORT``: it works for every endpoint
``--listen`` takes (``tcp:0`` gets one port for all, a UNIX socket one path), a restarted
worker takes over a socket that never stopped listening (connections wait in its backlog,
none is refused), and Twisted's endpoints set no ``SO_REUSEPORT``.

Workers are processes Twisted starts and watches (``reactor.spawnProcess``): one that exits
is logged and started again (after a second, when it lived less than five). Each has an AMP
connection to the parent on a socket pair (:mod:`fakeorigin.workers.commands`). Profiles,
rules and the active profile live in the parent's state; after each change the control API
awaits :meth:`Fleet.sync`, which returns once every worker applied the snapshot. A rule's
count is counted here (:meth:`OriginState.grant`). Each worker keeps its own journal: the
control API's reads go to every worker and are merged by id (:mod:`fakeorigin.workers.ids`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet import protocol
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.error import ProcessExitedAlready
from twisted.logger import Logger
from twisted.python.failure import Failure

import fakeorigin
from fakeorigin.control.models import JournalQuery, JournalWait
from fakeorigin.core.state import OriginState
from fakeorigin.workers import commands
from fakeorigin.workers.child import ENVIRONMENT, FIRST_PORT_FD, PARENT_FD
from fakeorigin.workers.ids import slot_of
from fakeorigin.workers.snapshot import take

log = Logger()

#: A worker that lived less than this many seconds is started again only after a pause.
QUICK_DEATH_SECONDS = 5.0
RESTART_PAUSE_SECONDS = 1.0


@dataclass
class Slot:
    """One worker place: the process now in it, its AMP link once it said Ready."""

    index: int
    process: Any = None
    pid: int | None = None
    link: ChildLink | None = None
    restarts: int = 0
    started_at: float = 0.0
    ready: Deferred[None] = field(default_factory=Deferred)
    ended: list[Deferred[None]] = field(default_factory=list)


class ChildLink(commands.Link):
    """The parent's end of one worker's AMP connection."""

    def __init__(self, fleet: Fleet, slot: Slot) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.fleet = fleet
        self.slot = slot

    @commands.Ready.responder
    def ready(self, slot: int, pid: int) -> dict[str, Any]:
        return self.fleet.worker_ready(self.slot, self, pid)

    @commands.ClaimRule.responder
    def claim(self, rule_id: int) -> dict[str, Any]:
        return {"granted": self.fleet.state.grant(rule_id)}

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:  # noqa: N802
        super().connectionLost(reason)
        if self.slot.link is self:
            self.slot.link = None


class WorkerProcess(protocol.ProcessProtocol):
    """Watches one worker process."""

    def __init__(self, fleet: Fleet, slot: Slot) -> None:
        self.fleet = fleet
        self.slot = slot

    def processEnded(self, reason: Failure) -> None:  # noqa: N802 (Twisted API)
        self.fleet.worker_ended(self.slot, reason)


@dataclass(frozen=True)
class Port:
    """An endpoint's listening sockets: one per worker slot (``SO_REUSEPORT``), or one the
    workers share; and their address family name."""

    fds: tuple[int, ...]
    family: str

    def fd(self, slot: int) -> int:
        return self.fds[slot] if len(self.fds) > 1 else self.fds[0]


class Fleet:
    """N workers and the parent's half of each one's AMP link.

    Attributes:
        state: the parent's state (the control API changes it; :meth:`sync` pushes it).
        slots: one per worker.
    """

    def __init__(
        self,
        reactor: Any,
        state: OriginState,
        settings: dict[str, Any],
        ports: list[Port],
        count: int,
        *,
        tls: tuple[str, list[str]] | None = None,
    ) -> None:
        self.reactor = reactor
        self.state = state
        self.settings = settings
        self.ports = ports
        self.slots = [Slot(i) for i in range(count)]
        self.epoch = time.time()
        self._tls = None if tls is None else {"key": tls[0], "chain": tls[1]}
        self._stopping = False

    # -- processes ------------------------------------------------------------------------

    def start(self) -> Deferred[list[None]]:
        """Start every worker; fires once each said Ready."""
        for slot in self.slots:
            self._spawn(slot)
        return gatherResults([slot.ready for slot in self.slots])

    def _spawn(self, slot: Slot) -> None:
        parent_end, child_end = socket.socketpair()
        config = {
            "settings": self.settings,
            "slot": slot.index,
            "workers": len(self.slots),
            "epoch": self.epoch,
            "families": [port.family for port in self.ports],
            "shared": [len(port.fds) == 1 for port in self.ports],
        }
        source = str(Path(fakeorigin.__file__).resolve().parent.parent)
        path = os.environ.get("PYTHONPATH")
        env = dict(
            os.environ,
            PYTHONPATH=source if not path else f"{source}{os.pathsep}{path}",
            **{ENVIRONMENT: json.dumps(config, default=str)},
        )
        fds: dict[int, Any] = {0: "w", 1: 2, 2: 2, PARENT_FD: child_end.fileno()}
        for offset, port in enumerate(self.ports):
            fds[FIRST_PORT_FD + offset] = port.fd(slot.index)
        argv = [sys.executable, "-m", "fakeorigin.workers.child"]
        process = self.reactor.spawnProcess(
            WorkerProcess(self, slot), sys.executable, argv, env=env, childFDs=fds
        )
        child_end.close()
        process.closeStdin()
        slot.process = process
        slot.pid = process.pid
        slot.started_at = time.monotonic()
        link = ChildLink(self, slot)
        self.reactor.adoptStreamConnection(parent_end.fileno(), socket.AF_UNIX, _Once(link))
        parent_end.close()

    def worker_ready(self, slot: Slot, link: ChildLink, pid: int) -> dict[str, Any]:
        """A worker said Ready: it gets the snapshot to start from (and the TLS key)."""
        slot.link = link
        slot.pid = pid
        if not slot.ready.called:
            slot.ready.callback(None)
        return {"snapshot": take(self.state), "tls": self._tls}

    def worker_ended(self, slot: Slot, reason: Failure) -> None:
        slot.process = None
        slot.link = None
        waiting, slot.ended = slot.ended, []
        for ended in waiting:
            ended.callback(None)
        if self._stopping:
            return
        lived = time.monotonic() - slot.started_at
        pause = RESTART_PAUSE_SECONDS if lived < QUICK_DEATH_SECONDS else 0.0
        slot.restarts += 1
        log.warn(
            "fakeorigin: worker {slot} (pid {pid}) ended after {lived:.1f} s: {why}; "
            "starting it again{after}",
            slot=slot.index,
            pid=slot.pid,
            lived=lived,
            why=reason.getErrorMessage(),
            after=f" in {pause:g} s" if pause else "",
        )
        self.reactor.callLater(pause, self._respawn, slot)

    def _respawn(self, slot: Slot) -> None:
        if not self._stopping and slot.process is None:
            self._spawn(slot)

    async def stop(
        self, grace: float, before_end: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Every worker drains (``grace`` seconds for running exchanges); then
        ``before_end`` runs (the journal dump reads the drained journals) and they end."""
        self._stopping = True
        draining = [commands.call(link, commands.Drain, grace=grace) for link in self._links()]
        await gatherResults(draining, consumeErrors=True).addErrback(lambda _: None)
        if before_end is not None:
            try:
                await before_end()
            except Exception:  # the workers still end
                log.failure("fakeorigin: before the workers ended")
        ended = []
        for slot in self.slots:
            if slot.process is not None:
                done: Deferred[None] = Deferred()
                slot.ended.append(done)
                with contextlib.suppress(ProcessExitedAlready):
                    slot.process.signalProcess("TERM")
                ended.append(done)
        if ended:
            timeout = self.reactor.callLater(grace + 5, self._kill)
            await gatherResults(ended)
            if timeout.active():
                timeout.cancel()

    def end_grace(self, why: str) -> None:
        """A second SIGTERM/SIGINT: every worker closes what still runs now."""
        for link in self._links():
            commands.call(link, commands.EndGrace, why=why).addErrback(lambda _: None)

    def _kill(self) -> None:
        for slot in self.slots:
            if slot.process is not None:
                with contextlib.suppress(ProcessExitedAlready):
                    slot.process.signalProcess("KILL")

    def kill(self, index: int) -> None:
        """End worker ``index`` at once (SIGKILL), as a crash would (for the tests)."""
        os.kill(self.slots[index].pid or 0, signal.SIGKILL)

    # -- what the control API asks --------------------------------------------------------

    def _links(self) -> list[ChildLink]:
        return [slot.link for slot in self.slots if slot.link is not None]

    async def sync(self) -> None:
        """Push the parent's state to every worker; return once each applied it."""
        snapshot = take(self.state)
        await gatherResults(
            [commands.call(link, commands.Apply, snapshot=snapshot) for link in self._links()]
        )

    async def journal_page(self, query: JournalQuery, limit: int) -> tuple[list[Any], int]:
        """Every worker's records that ``query`` selects, merged by id, at most ``limit``,
        and how many records the workers evicted."""
        fields = query.model_dump(mode="json", include=set(JournalQuery.model_fields))
        pages = await gatherResults(
            [
                commands.call(link, commands.JournalPage, query=fields, limit=limit)
                for link in self._links()
            ]
        )
        entries = sorted((e for page in pages for e in page["entries"]), key=lambda e: e["id"])
        return entries[:limit], sum(page["evicted"] for page in pages)

    async def journal_entry(self, record_id: int) -> Any:
        """The record with this id, from the worker whose id it is; None if not there."""
        link = self.slots[slot_of(record_id, len(self.slots))].link
        if link is None:
            return None
        answer = await commands.call(link, commands.JournalEntry, record_id=record_id)
        return answer["entry"]

    async def clear_journal(self) -> None:
        await gatherResults([commands.call(link, commands.JournalClear) for link in self._links()])

    def wait(self, query: JournalWait) -> Deferred[bool]:
        """True once ``query.count`` records match across the workers, False after
        ``query.timeout``: each worker answers when its own count grows
        (:class:`commands.JournalCount`) and is asked again."""
        done: Deferred[bool] = Deferred()
        fields = query.model_dump(mode="json", include=set(JournalQuery.model_fields))
        deadline = self.reactor.seconds() + query.timeout
        counts: dict[int, int] = {}

        def finish(arrived: bool) -> None:
            if not done.called:
                done.callback(arrived)

        timer = self.reactor.callLater(query.timeout, finish, False)
        done.addBoth(_cancel(timer))

        def ask(slot: Slot, link: ChildLink) -> None:
            remaining = deadline - self.reactor.seconds()
            if done.called or remaining <= 0:
                return
            asked = commands.call(
                link,
                commands.JournalCount,
                query=fields,
                above=counts.get(slot.index, 0),
                timeout=remaining,
            )

            def answered(answer: dict[str, Any]) -> None:
                counts[slot.index] = answer["count"]
                if sum(counts.values()) >= query.count:
                    finish(True)
                else:
                    ask(slot, link)

            asked.addCallbacks(answered, lambda _: None)

        for slot in self.slots:
            if slot.link is not None:
                ask(slot, slot.link)
        return done

    async def stats(self) -> list[dict[str, Any]]:
        """Each worker's slot, pid, restarts and connection counts (None while it starts)."""
        out = []
        for slot in self.slots:
            counts = None
            if slot.link is not None:
                try:
                    counts = (await commands.call(slot.link, commands.Stats))["stats"]
                except Exception:  # it just died: shown as starting
                    counts = None
            out.append(
                {"slot": slot.index, "pid": slot.pid, "restarts": slot.restarts, "stats": counts}
            )
        return out


class _Once(protocol.Factory):
    """A factory for one adopted connection: the protocol made beforehand."""

    noisy = False

    def __init__(self, made: protocol.Protocol) -> None:
        self.made = made

    def buildProtocol(self, addr: Any) -> protocol.Protocol:  # noqa: N802 (Twisted API)
        return self.made


def _cancel(timer: Any) -> Callable[[Any], Any]:
    def cancel(result: Any) -> Any:
        if timer.active():
            timer.cancel()
        return result

    return cancel
