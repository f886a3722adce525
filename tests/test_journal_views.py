"""The journal where people look: HAR 1.2 (``GET /journal.har``, ``fakeorigin journal --har``)
read back by haralyzer, a HAR library no one here wrote; and ``fakeorigin journal`` in a
terminal, one line per exchange, following new ones with ``--follow``. Real servers
(``fakeorigin serve``), real requests (curl)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from haralyzer import HarPage, HarParser

from fakeorigin.control.har import har_document
from fakeorigin.control.journal_line import journal_line
from tests.clients import curl
from tests.control_process import FAKEORIGIN, Served, child_env, read_line, serving

pytestmark = pytest.mark.realsocket

#: A record as the journal gives it, for the pure cases (an Expect upload: the 100 at 0.5 s,
#: the body after it, then the 200).
UPLOAD: dict[str, Any] = {
    "id": 3,
    "connection_id": 2,
    "index": 1,
    "client": "127.0.0.1:5000",
    "started_at": 1_700_000_000.25,
    "method": "POST",
    "target": "/up?x=1",
    "http_version": "1.1",
    "headers": [["Host", "origin.test"], ["Expect", "100-continue"], ["X-Evil", "<b>"]],
    "body": {"length": 5, "complete": True, "sha256": "-", "head_base64": "", "head_text": ""},
    "profile": "expect-continue-delayed",
    "selected_by": "header",
    "body_bytes_before_continue": 0,
    "timeline": [
        {"t": 0.5, "event": "interim-sent", "status": 100},
        {"t": 0.501, "event": "body-first-byte"},
        {"t": 0.52, "event": "body-complete", "detail": "5 bytes"},
        {"t": 0.53, "event": "response-started", "status": 200},
        {"t": 0.531, "event": "response-complete", "status": 200},
    ],
    "outcome": "keep-alive",
    "error": None,
    "raw_request_base64": None,
    "tls": None,
    "websocket": None,
}


def test_a_record_as_a_har_entry() -> None:
    [entry] = har_document([UPLOAD])["log"]["entries"]
    assert entry["startedDateTime"] == "2023-11-14T22:13:20.250Z"
    assert entry["request"]["url"] == "http://origin.test/up?x=1"
    assert entry["request"]["queryString"] == [{"name": "x", "value": "1"}]
    assert entry["request"]["headers"][2] == {"name": "X-Evil", "value": "<b>"}
    assert (entry["request"]["bodySize"], entry["response"]["status"]) == (5, 200)
    assert entry["response"]["statusText"] == "OK"
    timings = entry["timings"]
    assert (timings["send"], timings["wait"], timings["receive"]) == (520.0, 10.0, 1.0)
    assert entry["time"] == 531.0
    assert entry["_interim"] == [{"status": 100, "time": 500.0}]
    assert (entry["_bodyBytesBeforeContinue"], entry["_outcome"]) == (0, "keep-alive")


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        pytest.param(
            {},
            "#3 POST /up?x=1 expect-continue-delayed 100@0.50s body 0.50-0.52s 200@0.53s "
            "keep-alive",
            id="an Expect upload",
        ),
        pytest.param(
            {
                "timeline": [
                    {"t": 0.0, "event": "interim-skipped", "status": 100},
                    {"t": 0.2, "event": "body-first-byte"},
                ],
                "outcome": "running",
            },
            "#3 POST /up?x=1 expect-continue-delayed ~100@0.00s body 0.20-… running",
            id="still uploading",
        ),
        pytest.param(
            {
                "method": None,
                "target": None,
                "profile": None,
                "timeline": [{"t": 0.0, "event": "bad-request"}],
                "outcome": "bad-request",
                "error": "Missing mandatory Host: header",
            },
            "#3 - - - bad-request (Missing mandatory Host: header)",
            id="refused",
        ),
    ],
)
def test_journal_line(changes: dict[str, Any], line: str) -> None:
    assert journal_line({**UPLOAD, **changes}) == line


def test_journal_line_colours_only_when_asked() -> None:
    plain = journal_line(UPLOAD)
    coloured = journal_line(UPLOAD, colour=True)
    assert "\x1b[" not in plain
    assert "\x1b[36m100@0.50s\x1b[0m" in coloured
    assert "\x1b[32mkeep-alive\x1b[0m" in coloured


# -- against a running server --------------------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving() as server:
        yield server


def _traffic(served: Served) -> None:
    """An Expect upload, early hints and a reset: three exchanges, ended."""
    served.client().clear_journal()
    pick = "Fakeorigin-Profile: "
    curl(
        "-H",
        pick + "expect-continue",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        "hello",
        f"{served.origin_url}/up?x=1",
    )
    curl("-H", pick + "early-hints", f"{served.origin_url}/hints")
    curl("-H", pick + "reset-after-headers", f"{served.origin_url}/reset")
    served.client().wait_for(count=3)


def test_haralyzer_reads_the_export_as_the_journal_says(served: Served) -> None:
    _traffic(served)
    journal = served.client().journal()
    har = served.client().request("GET", "/journal.har")
    parser = HarParser(har)
    assert parser.creator["name"] == "fakeorigin"
    [page] = parser.pages
    assert isinstance(page, HarPage)
    entries = page.entries
    assert [e.request.method for e in entries] == [r["method"] for r in journal]
    assert [e.url for e in entries] == [
        f"http://{served.origin_url.removeprefix('http://')}{r['target']}" for r in journal
    ]
    # reset-after-headers writes its head with raw: the journal (and HAR) know of no response.
    assert [e.status for e in entries] == [200, 200, 0]
    upload, hints, reset = entries
    assert upload.request.headers[: len(journal[0]["headers"])] == [
        {"name": n, "value": v} for n, v in journal[0]["headers"]
    ]
    assert upload["_interim"][0]["status"] == 100
    assert upload["_bodyBytesBeforeContinue"] == journal[0]["body_bytes_before_continue"]
    assert [i["status"] for i in hints["_interim"]] == [103, 103]
    assert reset["_outcome"] == "reset"
    for entry, record in zip(entries, journal, strict=True):
        assert entry.startTime is not None
        assert entry["_timeline"] == [
            {**e, "t": round(e["t"] * 1000, 3)} for e in record["timeline"]
        ]
        assert entry.timings["send"] >= 0
        assert entry.timings["wait"] >= 0


def _command(served: Served, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FAKEORIGIN), "journal", "--control", served.control_url, *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env(),
        check=False,
    )


def test_journal_prints_one_line_per_exchange(served: Served) -> None:
    _traffic(served)
    done = _command(served)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    seconds = r"\d+\.\d\ds"
    assert re.fullmatch(
        rf"#\d+ POST /up\?x=1 expect-continue 100@{seconds} body {seconds[:-1]}-{seconds} "
        rf"200@{seconds} keep-alive",
        lines[0],
    ), lines[0]
    assert re.fullmatch(
        rf"#\d+ GET /hints early-hints 103@{seconds} 103@{seconds} 200@{seconds} keep-alive",
        lines[1],
    ), lines[1]
    assert re.fullmatch(rf"#\d+ GET /reset reset-after-headers raw@{seconds} reset", lines[2])
    assert "\x1b[" not in done.stdout  # not a terminal: no colour


def test_journal_json_and_har(served: Served) -> None:
    _traffic(served)
    as_json = [json.loads(line) for line in _command(served, "--json").stdout.splitlines()]
    assert [r["profile"] for r in as_json] == [
        "expect-continue",
        "early-hints",
        "reset-after-headers",
    ]
    har = json.loads(_command(served, "--har").stdout)
    assert len(har["log"]["entries"]) == 3


def test_journal_follow_prints_each_exchange_as_it_ends(served: Served) -> None:
    served.client().clear_journal()
    follower = subprocess.Popen(
        [str(FAKEORIGIN), "journal", "--control", served.control_url, "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    try:
        time.sleep(0.5)
        curl("-H", "Fakeorigin-Profile: early-hints", f"{served.origin_url}/first")
        first = read_line(follower, 5).decode()
        assert " GET /first early-hints " in first
        curl(f"{served.origin_url}/second")
        second = read_line(follower, 5).decode()
        assert " GET /second default " in second
        assert second.rstrip().endswith("keep-alive")
    finally:
        follower.terminate()
        follower.wait(10)
        for pipe in (follower.stdout, follower.stderr):
            assert pipe is not None
            pipe.close()


def test_journal_says_when_the_api_is_unreachable() -> None:
    done = subprocess.run(
        [str(FAKEORIGIN), "journal", "--control", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=30,
        env=child_env(),
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("fakeorigin journal: http://127.0.0.1:9: ")
