"""The control API in memory: treq's ``StubTreq`` over the Klein resource, time on a task.Clock.

No socket and no reactor: a request is pumped through twisted.web in memory, so a test sends
it and reads the answer in the same synchronous call. A long poll (``/journal/wait``) stays
pending until the test changes the journal or advances :attr:`MemoryControl.clock`, then
:meth:`MemoryControl.flush` delivers the answer.

Shared by ``tests/test_control_api.py`` and ``tests/test_control_openapi.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

import pytest
from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import ILogObserver, LogEvent, Logger
from twisted.python.failure import Failure
from twisted.web.http_headers import Headers

from fakeorigin.control import api as control_api
from fakeorigin.control.api import DEFAULT_MAX_BODY_BYTES, ControlAPI
from fakeorigin.core.journal import Event, ExchangeRecord, Journal, Outcome
from fakeorigin.core.loader import bundled_profiles_dir, load_profile_dir
from fakeorigin.core.state import OriginState

#: Any host will do: nothing is resolved, the stub agent delivers every request to the app.
BASE_URL = "http://control.test"


@dataclass(frozen=True)
class Reply:
    """A response as the client received it."""

    status: int
    headers: Headers
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """The one value of header ``name`` (None when absent); fails on repeated headers."""
        values = self.headers.getRawHeaders(name)
        if values is None:
            return None
        assert len(values) == 1, f"{name} sent {len(values)} times: {values}"
        return values[0]


class InFlight:
    """A request sent: pending until the app answers, then its :class:`Reply`."""

    def __init__(self, sent: Deferred[Reply]) -> None:
        self._sent = sent
        self._results: list[Reply | Failure] = []
        sent.addBoth(self._results.append)  # also keeps a failure from going unhandled

    @property
    def pending(self) -> bool:
        """True until the reply (or a failure) has arrived."""
        return not self._results

    def reply(self) -> Reply:
        """The reply; fails if the request is still pending, raises a client-side failure."""
        assert self._results, "still pending: the request has not been answered"
        (result,) = self._results
        if isinstance(result, Failure):
            result.raiseException()
        assert isinstance(result, Reply)
        return result

    def cancel(self) -> None:
        """Give up, as a client that goes away: the connection is aborted."""
        self._sent.cancel()


class MemoryControl:
    """A :class:`ControlAPI` over the bundled profiles (active: ``default``), driven in memory.

    Attributes:
        clock: the API's clock (uptime, long-poll timeouts): advance it by hand.
        state: the origin state the API changes.
        api: the Klein class under test.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        journal_size: int = 100,
    ) -> None:
        self.clock = Clock()
        profiles = load_profile_dir(bundled_profiles_dir())
        self.state = OriginState(profiles, "default", Journal(journal_size))
        self.api = ControlAPI(self.state, self.clock, token=token, max_body_bytes=max_body_bytes)
        # StubTreq sets its request methods in __init__, so its type says nothing about them.
        self._stub: Any = StubTreq(self.api.app.resource())  # type: ignore[no-untyped-call]

    def start(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        json_body: Any = None,
        content_type: str | None = None,
        authorization: str | None = None,
    ) -> InFlight:
        """Send a request; it is answered once the app has answered and bytes are flushed.

        ``json_body`` is sent as ``application/json``; ``body`` as is, with ``content_type``
        if given (no Content-Type header otherwise). Redirects are not followed.
        """
        headers: dict[str, list[str]] = {}
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            content_type = content_type or "application/json"
        if content_type is not None:
            headers["Content-Type"] = [content_type]
        if authorization is not None:
            headers["Authorization"] = [authorization]
        sent: Deferred[Any] = self._stub.request(
            method, BASE_URL + path, data=body, headers=headers, allow_redirects=False
        )

        async def read(response: Any) -> Reply:
            content: bytes = await response.content()
            return Reply(response.code, response.headers, content)

        in_flight = InFlight(
            sent.addCallback(lambda response: Deferred.fromCoroutine(read(response)))
        )
        self.flush()
        return in_flight

    def call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        json_body: Any = None,
        content_type: str | None = None,
        authorization: str | None = None,
    ) -> Reply:
        """Send a request that the app answers at once, and return the reply."""
        return self.start(
            method,
            path,
            body=body,
            json_body=json_body,
            content_type=content_type,
            authorization=authorization,
        ).reply()

    def flush(self) -> None:
        """Move every byte waiting between the in-memory client and server."""
        self._stub.flush()


def add_record(
    journal: Journal,
    method: str = "GET",
    target: str = "/",
    profile: str = "default",
    outcome: Outcome = Outcome.KEEP_ALIVE,
) -> ExchangeRecord:
    """A journal record as the origin protocol leaves it (the watchers are not told)."""
    record = journal.open(7, len(journal) + 1, "127.0.0.1:50000", 1_700_000_000.25)
    record.method = method
    record.target = target
    record.http_version = "1.1"
    record.headers = ((b"Host", b"origin.test"), (b"Content-Length", b"2"))
    record.body.add(b"hi")
    record.body.complete = True
    record.profile = profile
    record.selected_by = "active"
    record.note(0.0125, Event.RESPONSE_STARTED, status=200)
    record.outcome = outcome
    return record


def capture_control_log(monkeypatch: pytest.MonkeyPatch) -> list[LogEvent]:
    """Keep what the control API logs in a list, away from the global log publisher.

    Events sent to the global publisher before logging has begun are buffered and replayed
    to the first real observer (say, the stream of a later in-process ``serve`` test), so a
    test that makes the API log a failure reads it here instead, and clears the list.
    """
    events: list[LogEvent] = []
    observer = cast(ILogObserver, events.append)
    logger = Logger(namespace=control_api.log.namespace, observer=observer)
    monkeypatch.setattr(control_api, "log", logger)
    return events
