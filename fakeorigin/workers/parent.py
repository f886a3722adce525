"""``fakeorigin serve --workers N`` (N > 1): the parent process.

It makes the origin's listening sockets (and, with ``--tls``, the CA and certificate), starts
the workers (:class:`fakeorigin.workers.fleet.Fleet`), and once every worker is ready serves
the control API over its own state and announces, as one process does. On SIGTERM/SIGINT
every worker drains within ``--shutdown-grace`` (a second signal ends the grace), the merged
journal is written to ``--journal-dump`` if asked, and the workers end.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import IO, Any

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

from fakeorigin import __version__
from fakeorigin.control.models import MAX_JOURNAL_LIMIT, JournalQuery
from fakeorigin.core.state import OriginState
from fakeorigin.server.listen import (
    Listening,
    address_url,
    endpoint_scheme,
    listen,
    with_backlog,
)
from fakeorigin.server.serve import announce, handle_signals, prepare, start_control
from fakeorigin.workers.fleet import Fleet, Port
from fakeorigin.workers.sockets import reuseport_sockets, tcp_listen

log = Logger()

#: How long the workers may take to say Ready before ``serve`` gives up.
START_TIMEOUT_SECONDS = 60.0


def family(port: Any) -> str:
    """The address family name a worker adopts the socket with."""
    address = port.getHost()
    if isinstance(address, IPv6Address):
        return "inet6"
    if isinstance(address, IPv4Address):
        return "inet"
    if isinstance(address, UNIXAddress):
        return "unix"
    raise ValueError(f"cannot share a listening socket of this kind with workers: {address}")


class _Unused(Factory):
    """The factory of the parent's listening ports, which never accept."""

    noisy = False


def serve_workers(settings: dict[str, Any], count: int, out: IO[str], err: IO[str]) -> int:
    """Run the parent of ``count`` workers until SIGTERM/SIGINT; the exit code."""
    state = prepare(settings, err)
    if isinstance(state, int):
        return state

    from twisted.internet import reactor  # noqa: PLC0415 (installs the default reactor)

    parent = Parent(reactor, state, settings, count, out)

    def begin() -> None:
        handle_signals(reactor, parent.end_grace)
        Deferred.fromCoroutine(parent.start()).addErrback(parent.cannot_start)

    reactor.callWhenRunning(begin)
    reactor.run()
    log.info("fakeorigin stopped")
    return parent.exit_code


class Parent:
    """The parent's start and stop."""

    def __init__(
        self, reactor: Any, state: OriginState, settings: dict[str, Any], count: int, out: IO[str]
    ) -> None:
        self.reactor = reactor
        self.state = state
        self.settings = settings
        self.count = count
        self.out = out
        self.exit_code = 0
        self.fleet: Fleet | None = None
        self.origin = Listening([], [])
        self.sockets: list[socket.socket] = []

    def fail(self, code: int, message: str) -> None:
        self.exit_code = code
        log.error("fakeorigin: {message}", message=message)
        if self.reactor.running:
            self.reactor.stop()

    def cannot_start(self, failure: Failure) -> None:
        self.fail(1, f"cannot listen: {failure.getErrorMessage()}")

    def end_grace(self, why: str) -> None:
        if self.fleet is not None:
            self.fleet.end_grace(why)

    def _tls(self) -> tuple[str | None, tuple[str, list[str]] | None]:
        """With ``--tls``: the CA file and the key and chain the workers serve with."""
        if not self.settings["tls"]:
            return None, None
        from fakeorigin.server.tls import generate  # noqa: PLC0415 (only with --tls)

        generated = generate(self.settings["tls_name"], self.settings["tls_ca"])
        self.reactor.addSystemEventTrigger("after", "shutdown", generated.remove)
        return str(generated.ca_path), generated.pems

    async def start(self) -> None:
        settings = self.settings
        shared = [d for d in settings["listen"] if endpoint_scheme(d) == "https"]
        if shared:
            self.fail(2, f"--workers: an ssl: endpoint cannot be shared ({shared[0]}); use --tls")
            return
        ca, pems = self._tls()
        urls, ports = await self._listen(tls=pems is not None)
        # The workers need no control token (they have no control API): it stays here.
        given = {key: value for key, value in settings.items() if key != "control_token"}
        jsonable = json.loads(json.dumps(given, default=str))
        self.fleet = fleet = Fleet(self.reactor, self.state, jsonable, ports, self.count, tls=pems)
        self.reactor.addSystemEventTrigger(
            "before", "shutdown", lambda: Deferred.fromCoroutine(self.stop(fleet))
        )
        started = fleet.start()
        timer = self.reactor.callLater(START_TIMEOUT_SECONDS, started.cancel)
        try:
            await started
        except Exception:
            self.fail(1, f"the workers did not start within {START_TIMEOUT_SECONDS:g} s")
            return
        timer.cancel()
        control_url = None
        if settings["control"].strip().lower() != "none":
            control_url = await start_control(
                self.reactor, self.state, None, urls, settings, ca=ca, workers=fleet
            )
            if control_url is None:
                self.fail(2, "the control API was not started")
                return
        log.info(
            "fakeorigin {version} serving {count} profiles (active: {active}) on {urls} with "
            "{workers} workers (pids {pids}); control API: {control}",
            version=__version__,
            count=len(self.state.profiles),
            active=self.state.active,
            urls=" ".join(urls),
            workers=self.count,
            pids=" ".join(str(slot.pid) for slot in fleet.slots),
            control=control_url or "off",
        )
        if settings["announce"]:
            announce(self.out, urls, control_url, ca)

    async def _listen(self, *, tls: bool) -> tuple[list[str], list[Port]]:
        """Every ``--listen`` endpoint's sockets (:mod:`fakeorigin.workers.sockets`): the
        URLs and what each worker adopts. The parent never accepts on them."""
        urls: list[str] = []
        ports: list[Port] = []
        scheme = "https" if tls else "http"
        backlog = self.settings["backlog"]
        for description in self.settings["listen"]:
            tcp = tcp_listen(with_backlog(description, backlog))
            if tcp is not None:
                made = reuseport_sockets(tcp, self.count)
                self.sockets += made
                host, port = made[0].getsockname()[:2]
                urls.append(address_url(scheme, host, port))
                kind = "inet6" if made[0].family == socket.AF_INET6 else "inet"
                ports.append(Port(tuple(sock.fileno() for sock in made), kind))
                continue
            listening = await listen(self.reactor, [description], _Unused(), backlog, tls=tls)
            self.origin.ports.extend(listening.ports)
            urls += listening.urls
            for made_port in listening.ports:
                made_port.stopReading()  # type: ignore[attr-defined]
                ports.append(Port((made_port.fileno(),), family(made_port)))  # type: ignore[attr-defined]
        return urls, ports

    async def stop(self, fleet: Fleet) -> None:
        dump = self.settings["journal_dump"]

        async def write() -> None:
            if not await write_dump(fleet, Path(dump)):
                self.exit_code = 1

        grace = self.settings["shutdown_grace"]
        await fleet.stop(grace, before_end=None if dump is None else write)
        await self.origin.stop()
        for sock in self.sockets:
            sock.close()


async def write_dump(fleet: Fleet, path: Path) -> bool:
    """``--journal-dump``: every worker's records, merged by id, one JSON object per line."""
    after = 0
    count = 0
    try:
        with path.open("w", encoding="utf-8") as out:
            while True:
                query = JournalQuery(limit=MAX_JOURNAL_LIMIT, after_id=after)
                entries, _ = await fleet.journal_page(query, MAX_JOURNAL_LIMIT)
                for entry in entries:
                    out.write(json.dumps(entry) + "\n")
                count += len(entries)
                if len(entries) < MAX_JOURNAL_LIMIT:
                    break
                after = entries[-1]["id"]
    except OSError as problem:
        log.error("fakeorigin: --journal-dump: {problem}", problem=str(problem))
        return False
    log.info("journal: {count} entries written to {path}", count=count, path=str(path))
    return True
