"""The keep-alive race through real proxies: nginx and HAProxy from Debian's packages in front
of the ``keepalive-race`` profile, which closes every reused upstream connection as the next
request arrives on it (a FIN, no response).

A client no one here wrote (Python's http.client, a new connection per request, as curl makes
them) sends GETs and then POSTs through the proxy; the test counts what the client saw and
what the journal saw upstream: which requests met the close, and which the proxy sent again on
a new connection. RFC 9112 section 9.3.1 and RFC 9110 section 9.2.2: a proxy may retry an
idempotent request on a new connection, never a non-idempotent one silently. What each proxy
does here is in docs/reliability.md.
"""

from __future__ import annotations

import http.client
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from fakeorigin.core.journal import Event, ExchangeRecord
from tests.conftest import RunningOrigin
from tests.proxies import Proxy, haproxy, nginx

pytestmark = pytest.mark.realsocket

GETS = [f"/get/{n}" for n in range(1, 6)]
POSTS = [f"/post/{n}" for n in range(1, 5)]
PROFILE = {"Fakeorigin-Profile": "keepalive-race"}


@dataclass(frozen=True)
class Run:
    """What the client saw per target (a status), and the journal's records upstream."""

    seen: dict[str, int]
    records: list[ExchangeRecord]

    def met_close(self) -> list[str]:
        """The targets whose request met the origin's close on a reused connection."""
        return [r.target or "" for r in self.records if r.events(Event.LATE_REQUEST)]

    def sent(self, target: str) -> list[ExchangeRecord]:
        """Every time the proxy sent ``target`` upstream."""
        return [r for r in self.records if r.target == target]

    def answered(self, target: str) -> list[ExchangeRecord]:
        return [r for r in self.sent(target) if r.events(Event.RESPONSE_STARTED)]


def _through(proxy: Proxy) -> dict[str, int]:
    seen = {}
    for method, targets, body in (("GET", GETS, None), ("POST", POSTS, b"order=1")):
        for target in targets:
            connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
            try:
                connection.request(method, target, body=body, headers=PROFILE)
                response = connection.getresponse()
                response.read()
                seen[target] = response.status
            finally:
                connection.close()
    return seen


async def run_through(
    origin: RunningOrigin, start: Callable[[int, Path], AbstractContextManager[Proxy]], tmp: Path
) -> Run:
    def client() -> dict[str, int]:
        with start(origin.port_number, tmp) as proxy:
            return _through(proxy)

    seen = await deferToThread(client)
    await origin.settle()
    return Run(seen, origin.records())


def check_no_late_request_was_answered(run: Run) -> None:
    for record in run.records:
        if record.events(Event.LATE_REQUEST):
            assert not record.events(Event.RESPONSE_STARTED), record.to_dict()
            assert record.profile is None


@pytest_twisted.ensureDeferred
async def test_nginx_retries_a_get_on_a_new_connection_and_answers_502_to_a_post(
    origin: RunningOrigin, tmp_path: Path
) -> None:
    run = await run_through(origin, nginx, tmp_path)

    check_no_late_request_was_answered(run)
    met = run.met_close()
    gets_met = [t for t in met if t in GETS]
    posts_met = [t for t in met if t in POSTS]
    assert gets_met, met  # the race happened for both methods
    assert posts_met, met
    # A GET that met the close was sent again, on a new upstream connection, and answered.
    assert all(run.seen[target] == 200 for target in GETS), run.seen
    for target in gets_met:
        late, retried = run.sent(target)
        assert retried.connection_id != late.connection_id
        assert retried.index == 1
        assert len(run.answered(target)) == 1
    # A POST that met the close was never sent again: the client got nginx's 502.
    for target in POSTS:
        assert len(run.sent(target)) == 1
        assert run.seen[target] == (502 if target in posts_met else 200)


@pytest_twisted.ensureDeferred
async def test_haproxy_by_default_never_sends_a_first_request_on_a_reused_connection(
    origin: RunningOrigin, tmp_path: Path
) -> None:
    # http-reuse safe (the default): the first request of a client connection gets its own
    # server connection, so a client that opens one per request never meets the race.
    run = await run_through(origin, haproxy, tmp_path)

    assert run.met_close() == []
    assert set(run.seen.values()) == {200}
    assert all(record.index == 1 for record in run.records)
    assert len({record.connection_id for record in run.records}) == len(GETS) + len(POSTS)


def haproxy_reusing(port: int, directory: Path) -> AbstractContextManager[Proxy]:
    return haproxy(port, directory, "http-reuse always")


def haproxy_retrying(port: int, directory: Path) -> AbstractContextManager[Proxy]:
    return haproxy(port, directory, "http-reuse always\nretry-on conn-failure empty-response")


@pytest_twisted.ensureDeferred
async def test_haproxy_reusing_always_answers_502_to_every_request_that_meets_the_close(
    origin: RunningOrigin, tmp_path: Path
) -> None:
    run = await run_through(origin, haproxy_reusing, tmp_path)

    check_no_late_request_was_answered(run)
    met = run.met_close()
    assert met
    for target in GETS + POSTS:
        assert len(run.sent(target)) == 1  # no layer-7 retries without retry-on
        assert run.seen[target] == (502 if target in met else 200)


@pytest_twisted.ensureDeferred
async def test_haproxy_with_retry_on_empty_response_retries_gets_and_sometimes_a_post(
    origin: RunningOrigin, tmp_path: Path
) -> None:
    # HAProxy sends a request that met the close again (a retry may meet another stale
    # connection, and be sent a third time). Every GET was answered in the runs made here; a
    # POST that met the close was sometimes sent again (the origin received it twice) and
    # sometimes answered 502. Whatever the timing: a request is answered at most once, the
    # client's 200 is that answer, and a 502 means the origin never answered it.
    run = await run_through(origin, haproxy_retrying, tmp_path)

    check_no_late_request_was_answered(run)
    met = run.met_close()
    retried = [t for t in met if t in GETS and run.answered(t)]
    assert retried, met  # the race happened, and a GET was sent again and answered
    for target in retried:
        late, served = run.sent(target)[0], run.answered(target)[0]
        assert served.connection_id != late.connection_id
    for target in GETS + POSTS:
        answers = run.answered(target)
        assert len(answers) <= 1, target
        assert run.seen[target] == (200 if answers else 502), (target, run.seen)
