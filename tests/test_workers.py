"""``fakeorigin serve --workers N``: its pure parts in memory (the snapshot the parent pushes,
the journal ids, counted rules claimed from the parent, AMP's JSON argument), the claim in
the HTTP/1.1 protocol with a fake parent, and real processes (a counted rule under
concurrent load across two workers, a killed worker coming back, SIGTERM draining both,
TLS, the journal dump). The control API's end-to-end suite also runs against
``--workers 2`` (tests/test_control_e2e.py).
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.protocols import amp

from fakeorigin.core.journal import Journal
from fakeorigin.core.state import Claim, OriginState, Rule, Selection
from fakeorigin.core.wire import RequestHead
from fakeorigin.workers import commands
from fakeorigin.workers.ids import slot_of, worker_ids
from fakeorigin.workers.snapshot import Applier, take
from fakeorigin.workers.sockets import TCPListen, reuseport_sockets, tcp_listen
from tests.control_process import (
    CLIENT_SECONDS,
    FAKEORIGIN,
    Served,
    origin_get,
    serving,
    stop,
)
from tests.h2client import Client
from tests.memory import MemoryOrigin, bundled_profiles, profile

HOST = "127.0.0.1"


def head(target: bytes = b"/", method: bytes = b"GET") -> RequestHead:
    return RequestHead(method, target, b"HTTP/1.1", ((b"host", b"x"),))


def state(**kwargs: Any) -> OriginState:
    return OriginState(bundled_profiles(), "default", Journal(10), **kwargs)


# -- the snapshot -------------------------------------------------------------------------


def test_a_snapshot_makes_a_workers_state_the_parents() -> None:
    parent, worker = state(), state()
    parent.put_profile(profile({"respond": {"status": 209}}, name="mine"))
    parent.put_profile(profile({"respond": {"status": 210}}, name="default"))  # replaces a file's
    parent.delete_profile("hang")
    parent.set_active("mine")
    parent.add_rule(Rule("early-hints", method="PUT", path_regex=re.compile(r"^/x/\d+")))
    parent.add_rule(Rule("mine", path_prefix="/c", headers=(("X-A", "1"),), remaining=3))
    applier = Applier(worker)
    applier.apply(json.loads(json.dumps(take(parent))))
    assert take(worker) == take(parent)
    assert worker.profile("mine") == parent.profile("mine")
    assert "hang" not in worker.profiles
    assert worker.sources["default"] == "api"
    assert [r.path_regex.pattern for r in worker.rules if r.path_regex] == [r"^/x/\d+"]
    # back to the start: the file's profiles again, no rules
    parent.reset()
    applier.apply(take(parent))
    assert take(worker) == take(parent)
    assert worker.sources["default"] == "file"
    assert worker.profile("default") == state().profile("default")
    assert "hang" in worker.profiles


def test_an_unchanged_profile_document_is_not_validated_again() -> None:
    parent, worker = state(), state()
    parent.put_profile(profile({"respond": {"status": 209}}, name="mine"))
    applier = Applier(worker)
    applier.apply(take(parent))
    first = worker.profile("mine")
    parent.set_active("mine")
    applier.apply(take(parent))
    assert worker.profile("mine") is first


# -- journal ids --------------------------------------------------------------------------


def test_worker_ids_are_unique_across_workers_and_follow_time() -> None:
    now = [100.0]
    makers = [worker_ids(slot, 3, 100.0, lambda: now[0]) for slot in range(3)]
    seen: list[int] = []
    last = [0, 0, 0]
    for step in range(50):
        now[0] = 100.0 + step * 0.0000004  # several opens within one microsecond
        for slot, make in enumerate(makers):
            last[slot] = make(last[slot])
            assert slot_of(last[slot], 3) == slot
            seen.append(last[slot])
    assert len(set(seen)) == len(seen)
    for slot in range(3):
        mine = [i for i in seen if slot_of(i, 3) == slot]
        assert mine == sorted(mine)
    now[0] = 101.0  # a second later: every slot's next id is above every earlier one
    assert min(make(0) for make in makers) > max(seen)


def test_a_journal_with_worker_ids_finds_and_seals_its_records() -> None:
    now = [5.0]
    journal = Journal(3, ids=worker_ids(1, 2, 0.0, lambda: now[0]))
    records = []
    for step in range(5):
        now[0] += 0.5
        records.append(journal.open(1, step, "c", now[0]))
    kept = records[2:]
    assert [r.id for r in journal] == [r.id for r in kept]
    assert journal.get(records[1].id) is None  # evicted
    assert journal.get(kept[1].id) is kept[1]
    assert journal.get(kept[1].id + 1) is None
    journal.seal(kept[1])
    sealed = journal.get(kept[1].id)
    assert sealed is not None
    assert sealed.to_dict() == kept[1].to_dict()
    assert journal.opened == 5


# -- counted rules, claimed from the parent ----------------------------------------------


def test_a_workers_counted_rule_is_a_claim_and_the_parent_counts() -> None:
    parent = state()
    rule = parent.add_rule(Rule("early-hints", path_prefix="/c", remaining=2))
    worker = state(claims=True)
    Applier(worker).apply(take(parent))
    chosen = worker.choose(head(b"/c/1"))
    assert isinstance(chosen, Claim)
    assert chosen.rule.id == rule.id
    assert parent.grant(rule.id) is True
    served = worker.claimed(head(b"/c/1"), chosen, True)
    assert isinstance(served, Selection)
    assert (served.profile.name, served.selected_by) == ("early-hints", "rule")
    assert parent.grant(rule.id) is True
    assert parent.grant(rule.id) is False  # two uses, across every worker
    refused = worker.claimed(head(b"/c/3"), chosen, False)
    assert isinstance(refused, Selection)
    assert refused.selected_by == "active"
    assert worker.choose(head(b"/c/4")) == Selection(worker.profile("default"), "active")
    assert parent.grant(999) is False
    worker.rules[0].remaining = 1
    with pytest.raises(RuntimeError):
        worker.select(head(b"/c/5"))  # a claim: a worker's state is read with choose()
    assert state().select(head(b"/c")).selected_by == "active"  # one process: unchanged


@pytest.mark.parametrize("granted", [True, False])
def test_the_protocol_waits_for_the_parents_answer(granted: bool) -> None:
    origin = MemoryOrigin()
    origin.add(profile({"respond": {"status": 209, "body": "ruled"}}, name="ruled"))
    origin.state.claims = True
    origin.state.add_rule(Rule("ruled", path_prefix="/c", remaining=1))
    asked: list[tuple[int, Deferred[bool]]] = []

    def claim(rule_id: int) -> Deferred[bool]:
        answer: Deferred[bool] = Deferred()
        asked.append((rule_id, answer))
        return answer

    origin.factory.claim = claim
    client = origin.connect()
    client.send(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
    assert client.take() == b""  # nothing before the parent answers
    assert [rule_id for rule_id, _ in asked] == [1]
    asked[0][1].callback(granted)
    response = client.take()
    status = b"209" if granted else b"200"
    assert response.startswith(b"HTTP/1.1 " + status), response
    record = origin.record()
    assert record.selected_by == ("rule" if granted else "active")


def test_a_claim_answered_after_the_client_left_does_nothing() -> None:
    origin = MemoryOrigin()
    origin.state.claims = True
    origin.state.add_rule(Rule("early-hints", path_prefix="/c", remaining=1))
    answer: Deferred[bool] = Deferred()
    origin.factory.claim = lambda rule_id: answer
    client = origin.connect()
    client.send(b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
    client.lose()
    answer.callback(True)
    assert client.take() == b""
    assert origin.record().outcome.value == "client-gone"


# -- AMP's JSON argument ------------------------------------------------------------------


def test_json_over_amp_carries_more_than_one_value_may_hold() -> None:
    big = {"entries": [{"id": i, "text": "x" * 1000} for i in range(200)]}  # ~200 KB
    strings: dict[bytes, bytes] = {}
    commands.Json().toBox(b"page", strings, {"page": big}, None)
    assert all(len(value) <= 65_535 for value in strings.values())
    assert int(strings[b"page"]) >= 4
    # and through a real AMP box: serialised, parsed back
    wire = amp.AmpBox(strings).serialize()  # type: ignore[no-untyped-call]
    parsed = amp.parse(io.BytesIO(wire))  # type: ignore[no-untyped-call]
    objects: dict[str, Any] = {}
    commands.Json().fromBox(b"page", dict(parsed[0]), objects, None)
    assert objects["page"] == big


# -- the listening sockets ----------------------------------------------------------------


def test_a_tcp_endpoint_gets_one_socket_per_worker_on_one_port() -> None:
    assert tcp_listen("tcp:0:interface=127.0.0.1:backlog=99") == TCPListen(0, 99, "127.0.0.1")
    assert tcp_listen("tcp6:8080:interface=\\:\\:1") == TCPListen(8080, 50, "::1")
    assert tcp_listen("unix:/tmp/fakeorigin-test.sock") is None  # shared by the workers
    made = reuseport_sockets(TCPListen(0, 16, "127.0.0.1"), 3)
    try:
        assert len({sock.getsockname() for sock in made}) == 1
        assert all(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for sock in made)
    finally:
        for sock in made:
            sock.close()


# -- real processes -----------------------------------------------------------------------


def worker_pids(served: Served) -> list[int]:
    return [w["pid"] for w in served.client().health()["workers"]]


@pytest.mark.realsocket
def test_a_counted_rule_serves_exactly_k_across_workers_under_load() -> None:
    with serving("--workers", "2") as served:
        client = served.client()
        client.put_profile("counted", {"steps": [{"respond": {"status": 209}}]})
        client.add_rule(profile="counted", path_prefix="/c", times=37)
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(lambda i: origin_get(served, f"/c/{i}")[0], range(160)))
        assert statuses.count(209) == 37
        assert statuses.count(200) == 160 - 37
        assert client.rules()[0]["remaining"] == 0
        entries = client.journal(limit=1000)
        assert sum(e["selected_by"] == "rule" for e in entries) == 37
        slots = {slot_of(e["id"], 2) for e in entries}
        assert slots == {0, 1}, "both workers served"
        assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)
        workers = client.health()["workers"]
        assert [w["slot"] for w in workers] == [0, 1]
        assert all(w["connections"]["closed"] > 0 for w in workers)


@pytest.mark.realsocket
def test_a_killed_worker_is_started_again_and_the_api_keeps_answering() -> None:
    with serving("--workers", "2") as served:
        client = served.client()
        client.put_profile("five-hundred", {"steps": [{"respond": {"status": 500}}]})
        client.activate("five-hundred")
        before = worker_pids(served)
        os.kill(before[0], signal.SIGKILL)
        deadline = time.monotonic() + 20
        while True:
            workers = client.health()["workers"]
            if workers[0]["pid"] != before[0] and workers[0]["connections"] is not None:
                break
            assert time.monotonic() < deadline, workers
            time.sleep(0.1)
        assert workers[0]["restarts"] == 1
        assert workers[1] == {**workers[1], "pid": before[1], "restarts": 0}
        # the new worker got the active profile: every request, whichever worker, is a 500
        assert {origin_get(served, f"/{i}")[0] for i in range(20)} == {500}
        assert "worker 0 (pid" in served.log()
        assert "starting it again" in served.log()


@pytest.mark.realsocket
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_signal_drains_every_worker_and_dumps_the_merged_journal(
    signum: int, tmp_path: Path
) -> None:
    dump = tmp_path / "journal.jsonl"
    with serving("--workers", "2", "--journal-dump", str(dump), "--shutdown-grace", "5") as served:
        for i in range(10):
            assert origin_get(served, f"/{i}")[0] == 200
        sock = socket.create_connection((HOST, served.origin_port), timeout=CLIENT_SECONDS)
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\nFakeorigin-Profile: slow-body\r\n\r\n")
        time.sleep(0.3)
        pids = worker_pids(served)
        served.process.send_signal(signum)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.close()
        assert served.process.wait(15) == 0
    assert data.startswith(b"HTTP/1.1 200"), data[:100]
    lines = [json.loads(line) for line in dump.read_text().splitlines()]
    assert len(lines) == 11
    assert [e["id"] for e in lines] == sorted(e["id"] for e in lines)
    assert lines[-1]["profile"] == "slow-body"
    # as in one process (tests/reliability/test_shutdown.py): the response completes, then
    # the connection is not kept
    assert lines[-1]["outcome"] == "closed"
    last = lines[-1]["timeline"][-1]
    assert (last["event"], last.get("detail")) == (
        "close",
        "shutting down: the connection is not kept",
    )
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.realsocket
def test_workers_serve_tls_with_the_parents_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    with serving("--workers", "2", "--tls", "--tls-ca", str(ca)) as served:
        assert served.announce["ca"] == str(ca)
        context = ssl.create_default_context(cafile=str(ca))
        port = served.origin_port
        for _ in range(6):
            conn = http.client.HTTPSConnection(HOST, port, timeout=CLIENT_SECONDS, context=context)
            conn.request("GET", "/")
            assert conn.getresponse().status == 200
            conn.close()
        assert len(served.client().journal()) == 6


@pytest.mark.realsocket
def test_workers_share_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "origin.sock"
    with serving("--workers", "2", "--listen", f"unix:{path}") as served:
        assert served.announce["origin"] == [f"unix:{path}"]
        for index in range(8):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(CLIENT_SECONDS)
                sock.connect(str(path))
                sock.sendall(f"GET /{index} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert len(served.client().journal()) == 8


@pytest.mark.realsocket
def test_one_worker_is_one_process() -> None:
    with serving("--workers", "1") as served:
        assert served.client().health()["workers"] is None
        children = subprocess.run(
            ["pgrep", "-P", str(served.process.pid)], capture_output=True, check=False
        )
        assert children.stdout == b""


@pytest.mark.realsocket
def test_an_ssl_endpoint_is_refused_with_workers() -> None:
    process = subprocess.Popen(
        [
            str(FAKEORIGIN),
            "serve",
            "--workers",
            "2",
            "--listen",
            "ssl:0:privateKey=x.pem",
            "--control",
            "none",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _, err = process.communicate(timeout=20)
    finally:
        stop(process)
    assert process.returncode == 2
    assert b"an ssl: endpoint cannot be shared" in err


@pytest.mark.realsocket
def test_http2_streams_claim_a_counted_rule_across_workers() -> None:
    with serving("--workers", "2") as served:
        control = served.client()
        control.put_profile("counted", {"steps": [{"respond": {"status": 209}}]})
        control.add_rule(profile="counted", path_prefix="/c", times=7)
        clients = [Client(served) for _ in range(4)]
        try:
            streams = [(c, c.request(f"/c/{i}")) for c in clients for i in range(5)]
            for c in clients:
                c.until_done(*[s for owner, s in streams if owner is c])
        finally:
            for c in clients:
                c.close()
        statuses = [c.streams[s].statuses()[0] for c, s in streams]
        assert statuses.count(209) == 7
        assert statuses.count(200) == 13
        entries = control.journal()
        assert {e["http_version"] for e in entries} == {"2"}
        assert sum(e["selected_by"] == "rule" for e in entries) == 7
