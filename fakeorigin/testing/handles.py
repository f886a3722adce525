"""The handles the pytest plugin gives a test: :class:`FakeOrigin` (a server reached over the
control API) and :class:`InProcessOrigin` (origin and control API in the test's own reactor),
and :func:`start_inprocess`, which imports Twisted only when it is called."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fakeorigin.control.client import ControlClient, ControlError, rule_body

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IDelayedCall, IListeningPort
    from twisted.protocols.policies import WrappingFactory

    from fakeorigin.core.state import OriginState
    from fakeorigin.http1.factory import OriginFactory

from fakeorigin.testing.entries import Entry, describe_journal

#: ``GET /journal`` returns at most this many entries per call (the API's own limit).
JOURNAL_LIMIT = 10_000


class WaitTimeoutError(AssertionError):
    """Fewer matching exchanges ended in time than a test waited for; the message lists the
    journal."""


def _timeout(count: int, timeout: float, filters: Mapping[str, Any], journal: list[Entry]) -> str:
    where = ", ".join(f"{k}={v!r}" for k, v in filters.items()) or "any"
    return (
        f"fewer than {count} exchanges ({where}) ended within {timeout} s; the journal has "
        f"{len(journal)}:\n{describe_journal(journal)}"
    )


# -- the handles ----------------------------------------------------------------------------


def _profile_source(profile: Mapping[str, Any] | str, name: str | None) -> str:
    """The profile's name: ``name``, else its ``name`` field (YAML text is parsed)."""
    if name is not None:
        return name
    data: Any = profile
    if isinstance(profile, str):
        import yaml  # noqa: PLC0415 (only when a test passes YAML)

        data = yaml.safe_load(profile)
    given = data.get("name") if isinstance(data, Mapping) else None
    if not isinstance(given, str):
        raise ValueError("the profile has no name: add a name field or pass name=...")
    return given


def _is_name(profile: Mapping[str, Any] | str) -> bool:
    # A profile name never contains ':'; a profile as YAML text always does.
    return isinstance(profile, str) and ":" not in profile


class _Handle:
    """What both fixtures share: profiles by name or content, rules, the journal."""

    origin_urls: list[str]
    control_url: str
    client: ControlClient

    @property
    def url(self) -> str:
        """The origin's base URL, e.g. ``http://127.0.0.1:43117``."""
        return self.origin_urls[0]

    def add_profile(self, profile: Mapping[str, Any] | str, *, name: str | None = None) -> str:
        """Add or replace a profile given as a dict or YAML text; returns its name."""
        raise NotImplementedError

    def activate(self, name: str) -> None:
        """Make profile ``name`` the active one."""
        raise NotImplementedError

    def add_rule(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /rules`` with ``body``."""
        raise NotImplementedError

    def _named(self, profile: Mapping[str, Any] | str) -> str:
        if _is_name(profile):
            assert isinstance(profile, str)
            return profile
        return self.add_profile(profile)

    def use(self, profile: Mapping[str, Any] | str) -> str:
        """Serve every request no header or rule routes with ``profile``: a name, a dict or
        YAML text (added first). Returns the profile's name."""
        name = self._named(profile)
        self.activate(name)
        return name

    def rule(
        self,
        profile: Mapping[str, Any] | str,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        path_regex: str | None = None,
        headers: Mapping[str, str] | None = None,
        times: int | None = None,
    ) -> dict[str, Any]:
        """Route matching requests to ``profile`` (a name, a dict or YAML text), ``times``
        times or for good; returns the rule with its id."""
        body = rule_body(
            self._named(profile),
            method=method,
            path_prefix=path_prefix,
            path_regex=path_regex,
            headers=headers,
            times=times,
        )
        return self.add_rule(body)


class FakeOrigin(_Handle):
    """A fakeorigin reached through its control API, reset for each test (the ``fakeorigin``
    fixture). Every method blocks: call them from plain (synchronous) tests.

    Attributes:
        origin_urls: every URL the origin listens on; ``url`` is the first.
        control_url: the control API's base URL.
        client: a :class:`~fakeorigin.control.client.ControlClient` for everything else.
        replicas: a client per replica when the suite drives several (``--fakeorigin-external
            URL1,URL2``): ``reset``, ``use``, ``rule`` and ``add_profile`` go to each, and
            ``journal``, ``wait_for`` and ``last`` read them all; else ``[client]``.
        ca: with TLS (``--fakeorigin-tls``), the CA certificate file to trust (``verify=``,
            ``cafile=``, ``curl --cacert``); None in cleartext.
    """

    def __init__(
        self,
        origin_urls: Sequence[str],
        control_url: str,
        client: ControlClient,
        ca: str | None = None,
        replicas: Sequence[ControlClient] = (),
    ) -> None:
        self.origin_urls = list(origin_urls)
        self.control_url = control_url
        self.client = client
        self.ca = ca
        self.replicas = list(replicas) or [client]

    def reset(self) -> None:
        """Back to the start-up state: file profiles, no rules, empty journal (on every
        replica)."""
        for replica in self.replicas:
            replica.reset()

    def add_profile(self, profile: Mapping[str, Any] | str, *, name: str | None = None) -> str:
        name = _profile_source(profile, name)
        for replica in self.replicas:
            replica.put_profile(name, profile)
        return name

    def activate(self, name: str) -> None:
        for replica in self.replicas:
            replica.activate(name)

    def add_rule(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /rules`` on every replica (a ``times`` counts on each); the first's answer."""
        results = [replica.request("POST", "/rules", body) for replica in self.replicas]
        first: dict[str, Any] = results[0]
        return first

    def journal(self, **filters: Any) -> list[Entry]:
        """Entries matching ``filters`` (``profile``, ``path_prefix``, ``method``, ``ended``,
        ``after_id``, ``limit``), oldest first. With several replicas, every replica's, in the
        order their requests arrived, each with ``replica`` (its control URL) in its data; ids
        are then only unique per replica."""
        query = {"limit": JOURNAL_LIMIT, **filters}
        if len(self.replicas) == 1:
            return [Entry(e) for e in self.client.journal(**query)]
        merged = [
            {**e, "replica": replica.base_url}
            for replica in self.replicas
            for e in replica.journal(**query)
        ]
        return [Entry(e) for e in sorted(merged, key=lambda e: (e["started_at"], e["replica"]))]

    def wait_for(self, count: int = 1, timeout: float = 10.0, **filters: Any) -> list[Entry]:
        """Block until ``count`` matching exchanges have ended (across the replicas); all
        matching entries.

        Raises :class:`WaitTimeoutError` (listing the journal) after ``timeout`` seconds.
        """
        if len(self.replicas) > 1:
            return self._wait_across(count, timeout, filters)
        try:
            found = self.client.wait_for(count, timeout, **{"limit": JOURNAL_LIMIT, **filters})
        except ControlError as err:
            if err.status != 408:
                raise
            journal = self.journal()
            raise WaitTimeoutError(_timeout(count, timeout, filters, journal)) from None
        return [Entry(e) for e in found]

    def last(self, timeout: float = 10.0, **filters: Any) -> Entry:
        """The newest matching exchange that has ended, waiting up to ``timeout`` for one."""
        return self.wait_for(1, timeout, **filters)[-1]

    def _wait_across(self, count: int, timeout: float, filters: dict[str, Any]) -> list[Entry]:
        """``wait_for`` over several replicas: their journals read every 50 ms (a long poll
        on one replica would miss what lands on another)."""
        query = {"ended": True, **filters}
        deadline = time.monotonic() + timeout
        while True:
            found = self.journal(**query)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise WaitTimeoutError(_timeout(count, timeout, filters, self.journal()))
            time.sleep(0.05)


class InProcessOrigin(_Handle):
    """Origin and control API listening in the test's reactor (the ``fakeorigin_inprocess``
    fixture, for tests under pytest-twisted).

    Changes go straight to the state (no request, nothing to await); ``wait_for`` and ``last``
    return a Deferred. ``client`` blocks: from a test in the reactor, call it in a thread
    (``deferToThread``), never directly.

    Attributes:
        state: the :class:`~fakeorigin.core.state.OriginState` both servers share.
        factory: the origin's factory; ``factory.connections`` are its open connections.
        control: the control API's factory; ``control.protocols`` are its open connections.
        ports: the two listening ports.
        delayed_calls: every DelayedCall fakeorigin scheduled (the reactor's others are not).
    """

    def __init__(
        self,
        state: OriginState,
        *,
        factory: OriginFactory,
        control: WrappingFactory,
        ports: list[IListeningPort],
        delayed_calls: list[IDelayedCall],
        urls: tuple[str, str],
    ) -> None:
        self.state = state
        self.factory = factory
        self.control = control
        self.ports = ports
        self.delayed_calls = delayed_calls
        self.origin_urls = [urls[0]]
        self.control_url = urls[1]
        self.client = ControlClient(urls[1])
        self.waits: list[Deferred[Any]] = []

    def reset(self) -> None:
        """Back to the start-up state: file profiles, no rules, empty journal."""
        self.state.reset()

    def add_profile(self, profile: Mapping[str, Any] | str, *, name: str | None = None) -> str:
        from fakeorigin.core.loader import (  # noqa: PLC0415
            ProfileError,
            profile_from_data,
            profile_from_yaml,
        )

        name = _profile_source(profile, name)
        source = f"add_profile({name!r})"
        try:
            if isinstance(profile, str):
                parsed = profile_from_yaml(profile, source, name=name)
            else:
                parsed = profile_from_data(dict(profile), source, name=name)
        except ProfileError as err:
            details = [{"location": p.location, "message": p.message} for p in err.located]
            message = f"profile {name!r} is invalid"
            raise ControlError(400, "invalid-profile", message, details) from None
        self.state.put_profile(parsed)
        return name

    def activate(self, name: str) -> None:
        self._known(name)
        self.state.set_active(name)

    def add_rule(self, body: dict[str, Any]) -> dict[str, Any]:
        from fakeorigin.control.models import RuleIn, RuleOut  # noqa: PLC0415

        rule_in = _validate(RuleIn, body)
        self._known(rule_in.profile)
        return RuleOut.of(self.state.add_rule(rule_in.to_rule())).model_dump(mode="json")

    def _known(self, name: str) -> None:
        if name not in self.state.profiles:
            known = ", ".join(sorted(self.state.profiles))
            raise ControlError(400, "unknown-profile", f"no profile named {name!r} ({known})")

    def journal(self, **filters: Any) -> list[Entry]:
        """Entries matching ``filters`` (as ``FakeOrigin.journal``), oldest first."""
        from fakeorigin.control.models import JournalQuery  # noqa: PLC0415

        query = _validate(JournalQuery, {"limit": JOURNAL_LIMIT, **filters})
        return [Entry(record.to_dict()) for record in query.select(self.state.journal)]

    def wait_for(
        self, count: int = 1, timeout: float = 10.0, **filters: Any
    ) -> Deferred[list[Entry]]:
        """A Deferred firing with all matching entries once ``count`` matching exchanges have
        ended; failing with :class:`WaitTimeoutError` after ``timeout`` seconds."""
        from fakeorigin.control.models import JournalWait  # noqa: PLC0415
        from fakeorigin.control.waiter import JournalWaiter  # noqa: PLC0415

        query = _validate(
            JournalWait, {"limit": JOURNAL_LIMIT, "count": count, "timeout": timeout, **filters}
        )
        clock = self.factory.clock
        waiter = JournalWaiter(self.state.journal, query, clock)

        def arrived(found: bool) -> list[Entry]:
            self.waits.remove(waiter.done)
            if not found:
                raise WaitTimeoutError(_timeout(count, timeout, filters, self.journal()))
            return [Entry(record.to_dict()) for record in query.select(self.state.journal)]

        self.waits.append(waiter.done)
        return waiter.done.addCallback(arrived)

    def last(self, timeout: float = 10.0, **filters: Any) -> Deferred[Entry]:
        """A Deferred firing with the newest matching exchange once one has ended."""
        return self.wait_for(1, timeout, **filters).addCallback(lambda found: found[-1])

    def connections(self) -> int:
        """Open connections to the origin and to the control API."""
        return len(self.factory.connections) + len(self.control.protocols)


def _validate(model: Any, data: dict[str, Any]) -> Any:
    """``model.model_validate(data)``, failing like the control API would (400 invalid-input)."""
    from pydantic import ValidationError  # noqa: PLC0415

    from fakeorigin.core.loader import format_location  # noqa: PLC0415

    try:
        return model.model_validate(data)
    except ValidationError as err:
        details = [
            {"location": format_location(d["loc"]), "message": d["msg"]}
            for d in err.errors(include_url=False)
        ]
        raise ControlError(400, "invalid-input", "the request does not validate", details) from None


# -- the in-process servers -----------------------------------------------------------------


@dataclass
class _Tracked:
    """DelayedCalls scheduled through :func:`_tracking_clock`, pruned as they finish."""

    calls: list[IDelayedCall] = field(default_factory=list)

    def add(self, call: IDelayedCall) -> None:
        if len(self.calls) > 256:
            self.calls[:] = [c for c in self.calls if c.active()]
        self.calls.append(call)

    def __iter__(self) -> Iterator[IDelayedCall]:
        return iter([c for c in self.calls if c.active()])


def _tracking_clock(reactor: Any, tracked: _Tracked) -> Any:
    """An IReactorTime over ``reactor`` that records every DelayedCall it schedules: the
    teardown's proof that fakeorigin left none behind."""
    from twisted.internet.interfaces import IReactorTime  # noqa: PLC0415
    from zope.interface import implementer  # noqa: PLC0415

    @implementer(IReactorTime)
    class TrackingClock:
        def seconds(self) -> float:
            return float(reactor.seconds())

        def callLater(  # noqa: N802 (Twisted API)
            self, delay: float, callable: Any, *args: object, **kwargs: object
        ) -> IDelayedCall:
            call: IDelayedCall = reactor.callLater(delay, callable, *args, **kwargs)
            tracked.add(call)
            return call

        def getDelayedCalls(self) -> list[IDelayedCall]:  # noqa: N802 (Twisted API)
            return list(tracked)

    return TrackingClock()


def start_inprocess(profile_dirs: Sequence[Any], max_duration_seconds: float) -> InProcessOrigin:
    """Listen with the origin and the control API on 127.0.0.1, port 0, in the running
    reactor; :func:`stop_inprocess` undoes it."""
    from twisted.internet import reactor  # noqa: PLC0415 (the one pytest-twisted installed)
    from twisted.protocols.policies import WrappingFactory  # noqa: PLC0415
    from twisted.web.server import Site  # noqa: PLC0415

    from fakeorigin.control.api import ControlAPI  # noqa: PLC0415
    from fakeorigin.core.journal import Journal  # noqa: PLC0415
    from fakeorigin.core.loader import bundled_profiles_dir, load_profile_dirs  # noqa: PLC0415
    from fakeorigin.core.state import OriginState  # noqa: PLC0415
    from fakeorigin.http1.factory import OriginFactory  # noqa: PLC0415
    from fakeorigin.http1.settings import OriginSettings  # noqa: PLC0415
    from fakeorigin.server.listen import port_url  # noqa: PLC0415

    state = OriginState(
        load_profile_dirs([bundled_profiles_dir(), *profile_dirs]), "default", Journal(10_000)
    )
    tracked = _Tracked()
    clock = _tracking_clock(reactor, tracked)
    factory = OriginFactory(state, clock, OriginSettings(max_duration_seconds=max_duration_seconds))
    api = ControlAPI(state, clock)
    api.origin = factory
    site = Site(api.app.resource(), reactor=clock)  # type: ignore[no-untyped-call]
    site.log = lambda request: None  # type: ignore[method-assign]
    site.noisy = False
    control = WrappingFactory(site)  # type: ignore[no-untyped-call]
    control.noisy = False
    ports: list[IListeningPort] = []
    try:
        ports.append(reactor.listenTCP(0, factory, interface="127.0.0.1"))
        # WrappingFactory is a Factory, not the ServerFactory the stub asks for.
        ports.append(reactor.listenTCP(0, control, interface="127.0.0.1"))  # type: ignore[arg-type]
    except BaseException:
        for port in ports:
            port.stopListening()
        raise
    urls = (port_url("http", ports[0]), port_url("http", ports[1]))
    api.origin_urls = [urls[0]]
    return InProcessOrigin(
        state, factory=factory, control=control, ports=ports, delayed_calls=tracked.calls, urls=urls
    )


async def stop_inprocess(origin: InProcessOrigin, settle_seconds: float = 5.0) -> list[str]:
    """Stop listening, cancel pending waits, abort every connection and wait until they are
    gone; returns what was still left afterwards (empty when the teardown is clean)."""
    from twisted.internet import reactor  # noqa: PLC0415
    from twisted.internet.defer import CancelledError, gatherResults  # noqa: PLC0415
    from twisted.internet.task import deferLater  # noqa: PLC0415
    from twisted.python.failure import Failure  # noqa: PLC0415

    def cancelled(failure: Failure) -> Failure | None:
        return None if isinstance(failure.value, CancelledError) else failure

    for wait in list(origin.waits):
        wait.cancel()
        wait.addErrback(cancelled)
    stopping = [port.stopListening() for port in origin.ports]
    await gatherResults([d for d in stopping if d is not None])
    for protocol in list(origin.factory.connections):
        protocol.transport.abortConnection()  # type: ignore[union-attr]
    for wrapper in list(origin.control.protocols):
        wrapper.transport.abortConnection()
    waited = 0.0
    while origin.connections() and waited < settle_seconds:
        await deferLater(reactor, 0.005, lambda: None)
        waited += 0.005
    left = [f"{origin.connections()} open connections"] if origin.connections() else []
    for call in [c for c in origin.delayed_calls if c.active()]:
        left.append(f"DelayedCall {call}")
        call.cancel()
    return left
