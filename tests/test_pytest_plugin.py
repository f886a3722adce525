"""The pytest plugin, driven the way its users drive it: inner pytest sessions (``pytester``).

Each inner session is a child process (``runpytest_subprocess``): the plugin starts its own
fakeorigin child there, and these tests check what the user sees (outcomes, the report of a
failing test) and what is left afterwards (no process, by PID; no port, connection or
DelayedCall). Inner sessions run with ``filterwarnings = error`` and ``--strict-markers``.
Everything binds 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fakeorigin import __version__
from fakeorigin.probe.scenarios import SCENARIOS
from fakeorigin.testing import Entry, Timeline, TimelineEvent
from fakeorigin.testing.pytest_plugin import FakeOriginServer, Settings, start_server
from tests.control_process import serving
from tests.proxies import haproxy

pytest_plugins = ["pytester"]

#: One inner session: generous for a loaded machine, far below what a hang would take.
INNER_SECONDS = 60.0

INNER_INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
filterwarnings = error
"""

TEAPOT = """
name: teapot
description: 418 for the marker and --fakeorigin-profiles tests.
steps:
  - respond: {status: 418, body: "short and stout\\n"}
"""


def inner(pytester: pytest.Pytester, *args: str, autoload: bool = True) -> pytest.RunResult:
    """Run pytest in a child process in ``pytester.path``; without ``autoload``, only the
    plugins named with ``-p`` are loaded."""
    with pytest.MonkeyPatch.context() as patch:
        if autoload:
            patch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
        else:
            patch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        return pytester.runpytest_subprocess(*args, timeout=INNER_SECONDS)


def assert_gone(pid: int) -> None:
    """The process ``pid`` no longer exists: stopped and reaped (a zombie fails too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    status = Path(f"/proc/{pid}/status")
    state = status.read_text().splitlines()[:3] if status.exists() else "(no /proc)"
    raise AssertionError(f"fakeorigin process {pid} is still there: {state}")


def records(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))]


@pytest.fixture
def record_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory the inner tests write what they saw into (``$FO_RECORD``)."""
    directory = tmp_path / "records"
    directory.mkdir()
    monkeypatch.setenv("FO_RECORD", str(directory))
    return directory


RECORD = """
import json, os, pathlib, uuid

def record(server, **more):
    seen = {"pid": server.pid, "url": server.url, "control": server.control_url, **more}
    path = pathlib.Path(os.environ["FO_RECORD"]) / f"{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(seen))
"""


# -- synchronous clients against the session's child process ---------------------------------


def test_sync_clients_reset_marker_and_profiles_dir(
    pytester: pytest.Pytester, record_dir: Path
) -> None:
    pytester.makeini(INNER_INI)
    pytester.mkdir("mine").joinpath("teapot.yaml").write_text(TEAPOT)
    pytester.makepyfile(record=RECORD)
    pytester.makepyfile(
        """
        import httpx
        import pytest
        import requests

        from record import record

        def test_requests_and_the_journal(fakeorigin, fakeorigin_server):
            record(fakeorigin_server)
            reply = requests.post(fakeorigin.url + "/upload?x=1", data=b"hello")
            assert reply.status_code == 200
            assert reply.json()["target"] == "/upload?x=1"
            entry = fakeorigin.last()
            assert (entry.method, entry.target, entry.body_length) == ("POST", "/upload?x=1", 5)
            assert (entry.profile, entry.selected_by, entry.final_status) == (
                "default", "active", 200
            )
            # Left behind on purpose: the next test must not see any of it.
            fakeorigin.use("hang")
            fakeorigin.rule("expect-reject", path_prefix="/never")
            fakeorigin.add_profile({"name": "mine", "steps": [{"respond": {"status": 204}}]})

        def test_each_test_starts_from_a_reset_server(fakeorigin, fakeorigin_server):
            record(fakeorigin_server)
            assert fakeorigin.client.active() == "default"
            assert fakeorigin.client.rules() == []
            assert fakeorigin.journal() == []
            assert "mine" not in {p["name"] for p in fakeorigin.client.profiles()}
            with httpx.Client() as client:
                reply = client.get(
                    fakeorigin.url + "/hints", headers={"Fakeorigin-Profile": "early-hints"}
                )
            assert (reply.status_code, reply.text) == (200, "hello\\n")
            entry = fakeorigin.last()
            assert entry.interim_statuses == [103, 103]
            assert entry.selected_by == "header"

        @pytest.mark.fakeorigin_profile("teapot")
        def test_marker_activates_a_profile_from_the_profiles_dir(fakeorigin):
            assert requests.get(fakeorigin.url + "/").status_code == 418
            assert fakeorigin.last().profile == "teapot"
            assert fakeorigin.client.active() == "teapot"

        def test_rules_and_yaml_profiles(fakeorigin):
            name = fakeorigin.add_profile("name: gone\\nsteps:\\n  - respond: {status: 410}\\n")
            fakeorigin.rule(name, path_prefix="/old", times=1)
            assert requests.get(fakeorigin.url + "/old").status_code == 410
            assert requests.get(fakeorigin.url + "/old").status_code == 200
            assert [e.profile for e in fakeorigin.wait_for(2)] == ["gone", "default"]
        """
    )

    result = inner(pytester, "--fakeorigin-profiles", "mine")

    result.assert_outcomes(passed=4)
    seen = records(record_dir)
    assert len(seen) == 2
    assert seen[0] == seen[1], "one server for the whole session"
    assert seen[0]["url"].startswith("http://127.0.0.1:")
    assert seen[0]["control"].startswith("http://127.0.0.1:")
    assert_gone(seen[0]["pid"])


def test_tls_option_serves_https_and_hands_the_ca(pytester: pytest.Pytester) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(
        """
        import ssl
        import urllib.request

        import requests

        def test_requests_trusts_the_ca(fakeorigin):
            assert fakeorigin.url.startswith("https://127.0.0.1:")
            reply = requests.get(fakeorigin.url + "/tls", verify=fakeorigin.ca)
            assert reply.status_code == 200
            assert fakeorigin.last().target == "/tls"

        def test_the_stdlib_trusts_it_too(fakeorigin):
            context = ssl.create_default_context(cafile=fakeorigin.ca)
            with urllib.request.urlopen(fakeorigin.url + "/", context=context) as reply:
                assert reply.status == 200
            tls = fakeorigin.client.journal()[-1]["tls"]
            assert tls["version"].startswith("TLSv1.")
            assert tls["alpn"] is None  # urllib offers no ALPN with a context of its caller
        """
    )

    result = inner(pytester, "--fakeorigin-tls")

    result.assert_outcomes(passed=2)


def test_a_failing_test_shows_the_journal_and_the_server_log(pytester: pytest.Pytester) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(
        """
        import httpx
        import requests

        def test_expects_a_100(fakeorigin):
            headers = {"Fakeorigin-Profile": "early-hints"}
            httpx.get(fakeorigin.url + "/where", headers=headers)
            assert fakeorigin.last().interim_statuses == [100]

        def test_waits_in_vain(fakeorigin):
            fakeorigin.wait_for(1, timeout=0.2)

        def test_did_not_wait_for_the_100(fakeorigin):
            requests.post(fakeorigin.url + "/up", data=b"body")
            fakeorigin.last().assert_waited_for_continue()
        """
    )

    result = inner(pytester)

    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    # The assertion itself prints the timeline (pytest_assertrepr_compare)...
    assert_in_order(
        out,
        "assert [103, 103] == [100]\n",
        "E         interim statuses of exchange #1: GET /where HTTP/1.1 from 127.0.0.1:",
        ", profile early-hints (by header), outcome ",
        "E           0.",
        "  interim-sent 103\n",
    )
    # ... and so do the report sections: the journal, then the server's log.
    assert out.count("- fakeorigin journal -") == 3
    assert out.count("- fakeorigin server log -") == 3
    assert out.count("----- this test -----") == 3
    assert f"fakeorigin {__version__} serving " in out  # the server's start-up line
    assert_in_order(
        out,
        "WaitTimeoutError: fewer than 1 exchanges (any) ended within 0.2 s; the journal has 0:",
        "(the journal is empty)",
        "- fakeorigin journal -",
        "(the journal is empty)",
        "- fakeorigin server log -",
    )
    assert_in_order(
        out,
        "E       AssertionError: no 100 Continue was sent, so the client had nothing to wait for",
        "E       exchange #2: POST /up HTTP/1.1 from 127.0.0.1:",
        "E             0.",
        "  interim-skipped 100 (request has no Expect: 100-continue)",
    )


def assert_in_order(text: str, *parts: str) -> None:
    """Each of ``parts`` occurs in ``text``, each after the one before."""
    position = 0
    for part in parts:
        found = text.find(part, position)
        assert found >= 0, f"{part!r} not found after position {position} in:\n{text}"
        position = found + len(part)


# -- Twisted: treq under pytest-twisted, both reactors ------------------------------------------

TWISTED_TESTS = """
import socket

import pytest
import pytest_twisted
import treq

LEFT = {}


async def pause(seconds):
    from twisted.internet import reactor
    from twisted.internet.task import deferLater

    await deferLater(reactor, seconds, lambda: None)


@pytest_twisted.ensureDeferred
async def test_treq_against_the_session_server(fakeorigin, pytestconfig):
    from twisted.internet import reactor

    chosen = pytestconfig.getoption("reactor")
    assert ("Asyncio" in type(reactor).__name__) == (chosen == "asyncio")
    fakeorigin.use("early-hints")
    response = await treq.get(fakeorigin.url + "/t")
    assert (response.code, await response.text()) == (200, "hello\\n")
    assert fakeorigin.last().interim_statuses == [103, 103]


@pytest.mark.fakeorigin_profile("teapot")
@pytest_twisted.ensureDeferred
async def test_inprocess_left_with_work_running(fakeorigin_inprocess):
    from twisted.internet.threads import deferToThread

    fo = fakeorigin_inprocess
    response = await treq.get(fo.url + "/")
    assert (response.code, await response.text()) == (418, "short and stout\\n")
    assert (await fo.last()).profile == "teapot"
    health = await deferToThread(fo.client.health)  # blocking client: from a thread
    assert health["origin"] == [fo.url]

    # Leave an exchange hanging, a journal wait and an HTTP long poll pending.
    fo.rule("hang", path_prefix="/hang")
    treq.get(fo.url + "/hang").addErrback(lambda _: None)
    await fo.wait_for(1, ended=False, path_prefix="/hang")
    fo.wait_for(5, timeout=60)
    treq.get(fo.control_url + "/journal/wait?count=9&timeout=60").addErrback(lambda _: None)
    while len(fo.state.journal.watchers) < 2:
        await pause(0.005)
    assert fo.connections() >= 2
    assert len([call for call in fo.delayed_calls if call.active()]) >= 3
    LEFT["handle"] = fo
    LEFT["ports"] = [port.getHost().port for port in fo.ports]


@pytest_twisted.ensureDeferred
async def test_nothing_left_behind():
    from twisted.internet import reactor

    await pause(0.05)  # the client side sees its connections close
    fo = LEFT["handle"]
    assert fo.connections() == 0
    assert [call for call in fo.delayed_calls if call.active()] == []
    # The reactor may still hold the client's timers (treq's connection attempts), not ours.
    server_side = ("JournalWaiter", "TimerHeap", "OriginProtocol", "HTTPFactory", "HTTPChannel")
    assert [c for c in reactor.getDelayedCalls() if any(s in repr(c) for s in server_side)] == []
    for port in LEFT["ports"]:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
"""


@pytest.mark.parametrize("reactor", ["default", "asyncio"])
def test_treq_under_pytest_twisted(pytester: pytest.Pytester, reactor: str) -> None:
    pytester.makeini(INNER_INI + "fakeorigin_profiles = profiles\n")
    pytester.mkdir("profiles").joinpath("teapot.yaml").write_text(TEAPOT)
    pytester.makepyfile(TWISTED_TESTS)

    result = inner(
        pytester,
        "-p",
        "fakeorigin",
        "-p",
        "pytest_twisted",
        f"--reactor={reactor}",
        autoload=False,
    )

    result.assert_outcomes(passed=3)


def test_inprocess_without_pytest_twisted_says_so(pytester: pytest.Pytester) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile("def test_it(fakeorigin_inprocess):\n    pass\n")

    result = inner(pytester, "-p", "fakeorigin", autoload=False)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fakeorigin_inprocess runs in pytest-twisted's reactor*"])


# -- xdist, external servers, start-up failures ------------------------------------------------


def test_xdist_workers_each_get_their_own_server(
    pytester: pytest.Pytester, record_dir: Path
) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile(record=RECORD)
    pytester.makepyfile(
        """
        import os

        import pytest
        import requests

        from record import record

        @pytest.mark.parametrize("n", range(6))
        def test_one(fakeorigin, fakeorigin_server, n):
            record(fakeorigin_server, worker=os.environ["PYTEST_XDIST_WORKER"])
            assert requests.get(f"{fakeorigin.url}/{n}").status_code == 200
            assert fakeorigin.last().target == f"/{n}"
        """
    )

    result = inner(pytester, "-n", "2")

    result.assert_outcomes(passed=6)
    seen = records(record_dir)
    by_worker = {s["worker"]: (s["pid"], s["url"], s["control"]) for s in seen}
    assert len(by_worker) == 2, seen
    pids, urls, controls = zip(*by_worker.values(), strict=True)
    assert len(set(pids)) == 2
    assert len(set(urls)) == 2
    assert len(set(controls)) == 2
    for pid in pids:
        assert_gone(pid)


def test_external_server(pytester: pytest.Pytester, tmp_path: Path) -> None:
    server = start_server(Settings([], None, None, None, []), tmp_path / "external.log")
    try:
        pytester.makeini(INNER_INI)
        pytester.makepyfile(
            f"""
            import requests

            def test_uses_the_external_server(fakeorigin, fakeorigin_server):
                assert fakeorigin_server.pid is None
                assert fakeorigin.url == {server.url!r}
                fakeorigin.use("hang")  # for the reset of the next test to undo

            def test_resets_it_too(fakeorigin):
                assert fakeorigin.client.active() == "default"
                assert requests.get(fakeorigin.url + "/external").status_code == 200
            """
        )

        result = inner(pytester, "--fakeorigin-external", server.control_url)

        result.assert_outcomes(passed=2)
        assert server.process is not None
        assert server.process.poll() is None, "the plugin must leave an external server running"
        assert [e["target"] for e in server.client.journal()] == ["/external"]
    finally:
        server.stop()
    assert_gone(server.process.pid)


def test_external_replicas(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Two servers given as replicas of one origin (as behind a Kubernetes Service): the
    fixture resets and changes both, and reads both journals merged in time order."""
    first = start_server(Settings([], None, None, None, []), tmp_path / "first.log")
    second = start_server(Settings([], None, None, None, []), tmp_path / "second.log")
    try:
        pytester.makeini(INNER_INI)
        pytester.makepyfile(
            f"""
            import requests

            REPLICAS = [{first.url!r}, {second.url!r}]

            def test_drives_every_replica(fakeorigin):
                assert len(fakeorigin.replicas) == 2
                assert fakeorigin.url == REPLICAS[0]  # the first's origin, as /health says
                fakeorigin.use({{"name": "teapot", "steps": [{{"respond": {{"status": 418}}}}]}})
                fakeorigin.rule("hang", path_prefix="/never")
                for replica in fakeorigin.replicas:
                    assert replica.active() == "teapot"
                    assert [r["profile"] for r in replica.rules()] == ["hang"]
                for n, url in enumerate(REPLICAS):
                    assert requests.get(f"{{url}}/r{{n}}").status_code == 418
                entries = fakeorigin.wait_for(2)
                assert [e.target for e in entries] == ["/r0", "/r1"]
                assert [e.data["replica"] for e in entries] == [
                    r.base_url for r in fakeorigin.replicas
                ]
                assert {{e.profile for e in entries}} == {{"teapot"}}
                assert fakeorigin.last().target == "/r1"

            def test_every_replica_was_reset(fakeorigin):
                for replica in fakeorigin.replicas:
                    assert replica.active() == "default"
                    assert replica.rules() == []
                    assert "teapot" not in {{p["name"] for p in replica.profiles()}}
                assert fakeorigin.journal() == []
            """
        )

        result = inner(
            pytester, "--fakeorigin-external", f"{first.control_url}, {second.control_url}"
        )

        result.assert_outcomes(passed=2)
    finally:
        first.stop()
        second.stop()


def test_external_server_unreachable(pytester: pytest.Pytester) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile("def test_it(fakeorigin):\n    pass\n")

    result = inner(pytester, "--fakeorigin-external", "http://127.0.0.1:1")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*--fakeorigin-external http://127.0.0.1:1: cannot reach the control API*"]
    )


def test_server_that_cannot_start_says_why(pytester: pytest.Pytester) -> None:
    pytester.makeini(INNER_INI)
    pytester.makepyfile("def test_it(fakeorigin):\n    pass\n")

    result = inner(pytester, "--fakeorigin-profiles", "no-such-dir")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*FakeOriginError: fakeorigin exited before it was listening",
            "*fakeorigin (pid *) exited with 1; its log:",
            "*no-such-dir: not a directory",
        ]
    )


def test_plugin_imports_no_twisted() -> None:
    code = (
        "import sys, fakeorigin.testing.pytest_plugin\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('twisted', 'klein', 'pydantic', 'yaml'))\n"
        "print(heavy)\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert completed.stdout == "[]\n", completed.stderr


# -- journal entries (no server) --------------------------------------------------------------

#: ``docs/journal.md``'s examples, trimmed to what Entry reads.
WAITED = {
    "id": 1,
    "client": "127.0.0.1:35332",
    "method": "POST",
    "target": "/upload",
    "http_version": "1.1",
    "headers": [["Host", "127.0.0.1:8080"], ["Expect", "100-continue"]],
    "body": {"length": 4000000, "complete": True, "head_text": "xxxx"},
    "profile": "expect-continue-delayed",
    "selected_by": "header",
    "body_bytes_before_continue": 0,
    "timeline": [
        {"t": 0.500626, "event": "interim-sent", "status": 100},
        {"t": 0.501229, "event": "body-first-byte"},
        {"t": 0.507267, "event": "body-complete", "detail": "4000000 bytes"},
        {"t": 0.50758, "event": "response-started", "status": 200},
        {"t": 0.507601, "event": "response-complete", "status": 200},
    ],
    "outcome": "keep-alive",
    "error": None,
}
EARLY = {
    **WAITED,
    "body_bytes_before_continue": 5,
    "timeline": [
        {"t": 0.000025, "event": "body-first-byte"},
        {"t": 0.000125, "event": "interim-sent", "status": 100},
    ],
}
NO_EXPECT = {
    **WAITED,
    "body_bytes_before_continue": None,
    "headers": [["Host", "127.0.0.1:8080"]],
    "timeline": [
        {
            "t": 0.000119,
            "event": "interim-skipped",
            "status": 100,
            "detail": "request has no Expect: 100-continue",
        }
    ],
}


@pytest.mark.parametrize(
    ("data", "waited", "before", "message"),
    [
        (WAITED, True, 0, None),
        (EARLY, False, 5, "5 body bytes had arrived when the 100 Continue went out"),
        (NO_EXPECT, None, None, "no 100 Continue was sent"),
    ],
    ids=["waited", "early", "no-expect"],
)
def test_entry_waited_for_continue(
    data: dict[str, Any], waited: bool | None, before: int | None, message: str | None
) -> None:
    entry = Entry(data)

    assert entry.waited_for_continue is waited
    assert entry.body_bytes_before_continue == before
    if message is None:
        entry.assert_waited_for_continue()
    else:
        with pytest.raises(AssertionError) as failed:
            entry.assert_waited_for_continue()
        text = str(failed.value)
        assert text.startswith(message)
        assert "exchange #1: POST /upload HTTP/1.1 from 127.0.0.1:35332" in text
        assert all(str(event) in text for event in entry.timeline)


def test_entry_reads_the_record() -> None:
    entry = Entry(WAITED)

    assert entry.interim_statuses == [100]
    assert entry.final_status == 200
    assert entry.header("expect") == "100-continue"
    assert entry.header("x-missing") is None
    assert entry.ended
    assert entry.timeline.first("body-first-byte") == TimelineEvent(0.501229, "body-first-byte")
    assert entry.timeline.first("response-started", status=201) is None
    assert [e.t for e in entry.timeline.of("interim-sent")] == [0.500626]
    assert str(entry.timeline).splitlines()[0] == "  0.500626  interim-sent 100"
    assert str(Timeline()) == "(no events)"
    assert repr(entry) == "<Entry #1 POST /upload expect-continue-delayed keep-alive>"
    entry.assert_interim_statuses(100)
    with pytest.raises(AssertionError, match=r"sent: \[100\], expected \[103\]\n"):
        entry.assert_interim_statuses(103)


def test_server_stop_reaps(tmp_path: Path) -> None:
    server: FakeOriginServer = start_server(Settings([], None, None, None, []), tmp_path / "log")
    assert server.process is not None
    pid = server.process.pid
    health = server.client.health()

    assert server.stop() == 0  # SIGTERM: a clean exit
    assert health["origin"] == server.origin_urls
    assert "fakeorigin stopped" in server.log()
    assert_gone(pid)


def test_control_client_ignores_proxy_environment(tmp_path: Path) -> None:
    server = start_server(Settings([], None, None, None, []), tmp_path / "log")
    try:
        code = (
            "import sys; from fakeorigin.client import ControlClient as C; C(sys.argv[1]).health()"
        )
        completed = subprocess.run(
            [sys.executable, "-c", code, server.control_url],
            # port 9 (discard) on loopback: nothing listens, so a proxied call fails at once
            env={**os.environ, "http_proxy": "http://127.0.0.1:9", "no_proxy": ""},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        server.stop()

    assert completed.returncode == 0, completed.stderr


# -- the probe's scenarios as tests ----------------------------------------------------------


def test_the_probe_runs_as_tests_through_a_proxy(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """``--fakeorigin-probe-proxy`` adds a test per scenario to a suite that has none of its
    own; through HAProxy (no violation there) every one passes but those that need what was
    not given (a read timeout) or could not tell, which are skipped; ``-k`` selects as usual
    and ``--fakeorigin-probe-fail-on deviation`` fails the deviations."""
    with serving() as served, haproxy(served.origin_port, tmp_path) as proxy:
        pytester.makeini(INNER_INI)
        pytester.makepyfile("def test_their_own():\n    pass\n")
        common = ("--fakeorigin-external", served.control_url, "--fakeorigin-probe-proxy")

        result = inner(pytester, *common, proxy.url, "-rs")

        skipped = ["1xx-to-http10-client", *[s for s in SCENARIOS if SCENARIOS[s].timed]]
        result.assert_outcomes(passed=len(SCENARIOS) - len(skipped) + 1, skipped=len(skipped))
        result.stdout.fnmatch_lines(
            ["SKIPPED [[]3[]] *n/a: needs the proxy's upstream read timeout*"]
        )

        strict = inner(
            pytester,
            *common,
            proxy.url,
            "--fakeorigin-probe-fail-on",
            "deviation",
            "-k",
            "version",
        )
        strict.assert_outcomes(passed=1, failed=1)
        strict.stdout.fnmatch_lines(["*deviation: the request reached the origin as HTTP/1.0*"])
