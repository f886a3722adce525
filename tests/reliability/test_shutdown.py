"""Graceful shutdown of a real ``fakeorigin serve``: SIGTERM, --shutdown-grace, --journal-dump.

The server runs in a child process (tests/control_process.py: port 0, stopped by PID whatever
happens); the clients are raw sockets, each read in its own thread while the server stops.
Timing assertions keep at least 100 ms of slack (the machine may be shared).
"""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.clients import Ended, RawReader, RawResult, connect
from tests.control_process import STOP_SECONDS, serving
from tests.reliability.support import status_lines

pytestmark = pytest.mark.realsocket

GRACE = 2.0
SLOW_OK = 'name: slow-ok\nsteps:\n  - sleep: 1\n  - respond: {status: 200, body: "finished\\n"}\n'


def get(profile: str, target: str) -> bytes:
    return (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nFakeorigin-Profile: {profile}\r\n\r\n"
    ).encode()


def read_until_closed(reader: RawReader) -> RawResult:
    return reader.read(GRACE + 4)


def test_sigterm_drains_then_exits_0_with_the_journal_dumped(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "slow-ok.yaml").write_text(SLOW_OK)
    dump = tmp_path / "journal.jsonl"
    args = ["--profiles", "bundled", "--profiles", str(tmp_path / "profiles")]
    args += ["--shutdown-grace", str(GRACE), "--journal-dump", str(dump)]
    with serving(*args) as served, ThreadPoolExecutor(4) as pool:
        port = served.origin_port
        sockets = {name: connect(port) for name in ("idle", "hang", "trickle", "slow")}
        sockets["idle"].sendall(get("default", "/idle"))
        sockets["hang"].sendall(get("hang", "/hang"))
        sockets["trickle"].sendall(get("processing-trickle", "/trickle"))
        readers = {name: RawReader(sock, time.monotonic()) for name, sock in sockets.items()}
        assert status_lines(readers["idle"].read(5, until=b"}\n").data) == [200]
        assert readers["trickle"].read(5, until=b"\r\n\r\n").data.startswith(b"HTTP/1.1 102")
        sockets["slow"].sendall(get("slow-ok", "/slow"))
        time.sleep(0.3)

        stopped_at = time.monotonic()
        for reader in readers.values():
            reader.start = stopped_at
        served.process.send_signal(signal.SIGTERM)
        results = dict(zip(readers, pool.map(read_until_closed, readers.values()), strict=True))
        time.sleep(0.2)
        with pytest.raises(ConnectionRefusedError):
            connect(port, timeout=1)  # no longer accepting
        code = served.process.wait(STOP_SECONDS + GRACE)
        took = time.monotonic() - stopped_at
        log = served.log()
        for sock in sockets.values():
            sock.close()

    assert code == 0, log
    assert GRACE - 0.1 <= took <= GRACE + 2.0, log
    assert "shutting down: 4 connections open" in log
    assert f"--shutdown-grace {GRACE:g} s is over: closing 1 connections" in log
    assert "journal: 4 entries written" in log
    check_clients(results)
    check_dump(dump)


def check_clients(results: dict[str, RawResult]) -> None:
    """What each client saw after the SIGTERM (times since the signal)."""
    # An idle keep-alive connection and a hang are closed at once.
    for name in ("idle", "hang"):
        ended = results[name]
        assert ended.ended is Ended.EOF, name
        assert ended.ended_at is not None
        assert ended.ended_at < 0.5, name
    assert results["hang"].data == b""
    # A running exchange finishes (slow-ok: 1 s), then its connection is not kept.
    slow = results["slow"]
    assert status_lines(slow.data) == [200]
    assert slow.data.endswith(b"finished\n")
    assert slow.ended is Ended.EOF
    assert 0.6 <= slow.time_of(b"finished\n") <= 1.0
    # One still running at the end of the grace (a 5 s trickle) is closed there.
    trickle = results["trickle"]
    assert set(status_lines(trickle.data)) == {102}
    assert trickle.ended is Ended.EOF
    assert trickle.ended_at is not None
    assert GRACE - 0.1 <= trickle.ended_at <= GRACE + 0.5


def check_dump(dump: Path) -> None:
    """The --journal-dump file: each exchange, and how the shutdown ended it."""
    records = {r["target"]: r for r in map(json.loads, dump.read_text().splitlines())}
    assert set(records) == {"/idle", "/hang", "/trickle", "/slow"}
    assert records["/idle"]["outcome"] == "keep-alive"
    assert last(records["/hang"]) == ("close", "shutdown: a hang ends here")
    assert last(records["/slow"]) == ("close", "shutting down: the connection is not kept")
    assert last(records["/trickle"]) == ("close", f"shutdown: --shutdown-grace {GRACE:g} s is over")
    assert {records[t]["outcome"] for t in ("/hang", "/slow", "/trickle")} == {"closed"}


def last(record: dict[str, Any]) -> tuple[str, str | None]:
    entry = record["timeline"][-1]
    return entry["event"], entry.get("detail")


def test_sigterm_with_nothing_open_exits_at_once(tmp_path: Path) -> None:
    with serving("--shutdown-grace", "30") as served:
        started = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        code = served.process.wait(STOP_SECONDS)
        assert code == 0, served.log()
        assert time.monotonic() - started < 3.0


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_second_signal_ends_the_grace_at_once(tmp_path: Path, second: signal.Signals) -> None:
    dump = tmp_path / "journal.jsonl"
    with serving("--shutdown-grace", "30", "--journal-dump", str(dump)) as served:
        sock = connect(served.origin_port)
        sock.sendall(get("processing-trickle", "/trickle"))
        reader = RawReader(sock, time.monotonic())
        assert reader.read(5, until=b"\r\n\r\n").data.startswith(b"HTTP/1.1 102")
        served.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert served.process.poll() is None  # draining: the trickle may run for 30 s
        reader.start = time.monotonic()
        served.process.send_signal(second)
        code = served.process.wait(STOP_SECONDS)
        result = reader.read(5)
        sock.close()
        log = served.log()

    assert code == 0, log
    assert result.ended is Ended.EOF
    assert result.ended_at is not None
    assert result.ended_at < 1.0, log
    assert "received SIGTERM: shutting down (a second one ends the grace)" in log
    assert f"a second {second.name}: closing 1 connections" in log
    (record,) = map(json.loads, dump.read_text().splitlines())
    assert last(record) == ("close", f"shutdown: a second {second.name}")
    assert record["outcome"] == "closed"


def test_bundled_profiles_a_short_max_duration_would_cut_are_warned_about() -> None:
    """A bundled profile is read at its first use (here: the listing reads them all), and
    warned about then."""
    with serving("--max-duration", "0.4") as served:
        before = served.log()
        served.client().profiles()
        served.process.send_signal(signal.SIGTERM)
        served.process.wait(STOP_SECONDS)
        log = served.log()
    assert "processing-trickle.yaml" not in before
    assert "processing-trickle.yaml: steps: runs 5 s at least" in log
    assert "expect-continue-delayed.yaml: steps: runs 0.5 s at least" in log
    assert "served anyway (a bundled profile)" in log
    assert "early-hints.yaml" not in log  # 0.1 s: fits
