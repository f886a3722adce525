"""The control API end to end: a real ``fakeorigin serve`` in a child process, real ports.

curl and :class:`fakeorigin.client.ControlClient` drive the control API; curl, http.client and
raw sockets drive the origin. One server serves the module and is reset (``POST /reset``)
before every test; the token, refusal and ``--control none`` tests start their own. Plain sync
tests: the server is another process, so blocking clients are fine. Loopback only, every
socket and subprocess has a timeout, every process is stopped by its PID.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from fakeorigin.client import ControlError
from tests.clients import Ended, refused_at_once, wait_for
from tests.control_process import (
    CLIENT_SECONDS,
    FAKEORIGIN,
    LOOPBACK_PORT_0,
    Served,
    child_env,
    curl,
    origin_get,
    read_line,
    serving,
    stop,
)

pytestmark = pytest.mark.realsocket

HOST = "127.0.0.1"
#: Slack for every timing assertion: loaded CI machines are slow, never early.
SLACK_SECONDS = 0.5


@pytest.fixture(scope="module", params=[1, 2], ids=["one-process", "workers-2"])
def server(request: pytest.FixtureRequest) -> Iterator[Served]:
    """One process, then ``--workers 2``: every test on ``served`` runs against both (the
    control API in the parent, two workers serving the origin's port)."""
    with serving("--workers", str(request.param)) as served:
        yield served


@pytest.fixture
def served(server: Served) -> Served:
    """The module's server, alive and back in its start-up state."""
    server.assert_running()
    server.client().reset()
    return server


def read_until(sock: socket.socket, data: bytes, needle: bytes | None, seconds: float) -> bytes:
    """Keep reading into ``data`` until it holds ``needle`` (None: until EOF), at most
    ``seconds``."""
    deadline = time.monotonic() + seconds
    while needle is None or needle not in data:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"waited {seconds} s for {needle!r}; got {data!r}"
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            assert needle is None, f"EOF before {needle!r}; got {data!r}"
            return data
        data += chunk
    return data


# -- health ----------------------------------------------------------------------------------------


def test_health_counts_open_closed_and_refused_connections() -> None:
    with serving("--max-connections", "1") as served:
        client = served.client()
        start = {"open": 0, "closed": 0, "idle_closed": 0, "refused": 0, "max": 1}
        assert client.health()["connections"] == start
        held = socket.create_connection((HOST, served.origin_port), timeout=CLIENT_SECONDS)
        try:
            held.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nFakeorigin-Profile: hang\r\n\r\n")
            wait_for(lambda: client.health()["connections"]["open"] == 1)
            get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
            assert refused_at_once(served.origin_port, get) in (Ended.RESET, Ended.EOF)
            wait_for(lambda: client.health()["connections"]["refused"] == 1)
        finally:
            held.close()
        ended = {"open": 0, "closed": 1, "idle_closed": 0, "refused": 1, "max": 1}
        wait_for(lambda: client.health()["connections"] == ended)


# -- the active profile ----------------------------------------------------------------------------


def test_active_profile_changed_with_curl_applies_to_the_very_next_request(
    served: Served,
) -> None:
    before = origin_get(served, "/before")
    changed = curl(
        "--json", '{"profile":"expect-reject"}', "-X", "PUT", f"{served.control_url}/active"
    )
    after = origin_get(served, "/after")
    shown = curl(f"{served.control_url}/active")

    assert before[0] == 200
    assert (changed.exit_code, changed.status) == (0, 200), changed.stderr
    assert changed.json() == {"profile": "expect-reject"}
    assert after == (417, b"expectation failed\n")
    assert shown.json() == {"profile": "expect-reject"}
    entries = served.client().journal()
    assert [(e["target"], e["profile"], e["selected_by"]) for e in entries] == [
        ("/before", "default", "active"),
        ("/after", "expect-reject", "active"),
    ]


def test_an_unknown_active_profile_is_refused_and_changes_nothing(served: Served) -> None:
    refused = curl("--json", '{"profile":"nope"}', "-X", "PUT", f"{served.control_url}/active")

    assert refused.status == 400
    assert refused.json() == {
        "error": "unknown-profile",
        "message": "no profile named 'nope'",
        "details": [{"location": "profile", "message": "unknown profile 'nope'"}],
    }
    assert served.client().active() == "default"
    assert origin_get(served, "/")[0] == 200


# -- rules -----------------------------------------------------------------------------------------


def test_a_rule_with_times_2_serves_exactly_two_matching_requests(served: Served) -> None:
    client = served.client()
    rule = client.add_rule("expect-reject", path_prefix="/limited/", times=2)

    statuses = [
        origin_get(served, path)[0]
        for path in ("/other", "/limited/1", "/limited/2", "/limited/3", "/limited/4")
    ]

    assert rule["times"] == rule["remaining"] == 2
    assert statuses == [200, 417, 417, 200, 200]
    assert client.rules() == [
        {
            "id": rule["id"],
            "match": {
                "method": None,
                "path_prefix": "/limited/",
                "path_regex": None,
                "headers": {},
            },
            "profile": "expect-reject",
            "times": 2,
            "remaining": 0,
        }
    ]
    picked = [(e["target"], e["selected_by"]) for e in client.journal()]
    assert picked == [
        ("/other", "active"),
        ("/limited/1", "rule"),
        ("/limited/2", "rule"),
        ("/limited/3", "active"),
        ("/limited/4", "active"),
    ]


def test_rules_come_after_the_inband_header_and_before_the_active_profile(
    served: Served,
) -> None:
    client = served.client()
    client.add_rule("expect-reject", method="GET")
    client.activate("hang")  # a request reaching the active profile would hang

    by_rule = origin_get(served, "/")
    by_header = origin_get(served, "/", {"Fakeorigin-Profile": "default"})

    assert by_rule[0] == 417
    assert by_header[0] == 200
    assert [e["selected_by"] for e in client.journal()] == ["rule", "header"]


# -- the journal's long poll -----------------------------------------------------------------------


def test_journal_wait_returns_as_soon_as_the_request_lands(served: Served) -> None:
    client = served.client()
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(client.wait_for, 1, 5.0, path_prefix="/landed")
        time.sleep(0.3)  # let the long poll start: it must be the one waiting, not a late call
        assert not waiting.done()
        sent = time.monotonic()
        assert origin_get(served, "/landed")[0] == 200
        entries = waiting.result(timeout=CLIENT_SECONDS)
        returned = time.monotonic()

    assert returned - sent < SLACK_SECONDS  # well under the 5 s timeout
    assert [e["target"] for e in entries] == ["/landed"]
    assert entries[0]["outcome"] == "keep-alive"


def test_journal_wait_answers_408_when_nothing_comes(served: Served) -> None:
    started = time.monotonic()
    with pytest.raises(ControlError) as caught:
        served.client().wait_for(1, 0.3, path_prefix="/never")
    took = time.monotonic() - started

    assert (caught.value.status, caught.value.error) == (408, "timeout")
    assert 0.3 <= took < 0.3 + SLACK_SECONDS


def test_journal_wait_waits_for_the_exchange_to_end_unless_told_otherwise(
    served: Served,
) -> None:
    client = served.client()
    started = time.monotonic()
    # slow-body dribbles 64 bytes, 8 every 0.1 s: the exchange runs for about 0.7 s.
    slow = ("-H", "Fakeorigin-Profile: slow-body", f"{served.origin_url}/slow")
    with subprocess.Popen(
        ["curl", "-sS", "--max-time", "10", "-o", "/dev/null", *slow],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as download:
        try:
            running = client.wait_for(1, 5.0, path_prefix="/slow", ended=False)
            running_at = time.monotonic() - started
            ended = client.wait_for(1, 5.0, path_prefix="/slow")
            ended_at = time.monotonic() - started
        finally:
            code = download.wait(CLIENT_SECONDS)

    assert code == 0
    assert running[0]["outcome"] == "running"
    assert running_at < 0.6  # the exchange had just opened: nowhere near its end
    assert ended[0]["outcome"] != "running"
    assert ended_at >= 0.6
    assert ended[0]["id"] == running[0]["id"]


# -- an exchange keeps the profile it started with -------------------------------------------------

TRICKLE = {
    "name": "trickle",
    "description": "102 every 0.2 s, 5 times, then 200 old",
    "steps": [
        {"repeat": {"times": 5, "every": 0.2, "steps": [{"informational": {"status": 102}}]}},
        {"respond": {"status": 200, "headers": {"content-type": "text/plain"}, "body": "old\n"}},
    ],
}
REPLACEMENT = {
    "name": "trickle",
    "description": "straight to 200 new",
    "steps": [
        {"respond": {"status": 200, "headers": {"content-type": "text/plain"}, "body": "new\n"}}
    ],
}
PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"


def _trickle_request(served: Served, headers: bytes, change: Any) -> tuple[bytes, bytes]:
    """Start a request, run ``change()`` once the first 102 is in, read to the end; the bytes
    before and after the change."""
    with socket.create_connection((HOST, served.origin_port), timeout=CLIENT_SECONDS) as sock:
        sock.sendall(b"GET /trickle HTTP/1.1\r\nHost: fo\r\nConnection: close\r\n" + headers)
        before = read_until(sock, b"", PROCESSING, CLIENT_SECONDS)
        change()
        after = read_until(sock, before, None, CLIENT_SECONDS)
    return before, after[len(before) :]


def _assert_old_profile_to_the_end(before: bytes, after: bytes) -> None:
    assert b"HTTP/1.1 200" not in before  # the change happened mid-run
    whole = before + after
    assert whole.count(PROCESSING) == 5
    head, _, body = whole.rpartition(b"\r\n\r\n")
    assert head.startswith(PROCESSING * 5 + b"HTTP/1.1 200 OK\r\n")
    assert body == b"old\n"


def test_a_running_exchange_keeps_its_active_profile_when_it_is_replaced(served: Served) -> None:
    client = served.client()
    assert client.put_profile("trickle", TRICKLE)["steps"][0]["repeat"]["times"] == 5
    client.activate("trickle")
    outcomes: list[Any] = []

    def replace_then_try_to_delete() -> None:
        client.put_profile("trickle", REPLACEMENT)
        try:
            client.delete_profile("trickle")
        except ControlError as err:
            outcomes.append((err.status, err.error))

    before, after = _trickle_request(served, b"\r\n", replace_then_try_to_delete)
    following = origin_get(served, "/next")

    _assert_old_profile_to_the_end(before, after)
    assert outcomes == [(409, "profile-in-use")]  # still active: deleting it is refused
    assert following == (200, b"new\n")  # the replacement, for requests from now on


def test_a_running_exchange_keeps_its_profile_when_it_is_deleted(served: Served) -> None:
    client = served.client()
    client.put_profile("trickle", TRICKLE)
    header = b"Fakeorigin-Profile: trickle\r\n\r\n"

    before, after = _trickle_request(served, header, lambda: client.delete_profile("trickle"))
    following = origin_get(served, "/next", {"Fakeorigin-Profile": "trickle"})

    _assert_old_profile_to_the_end(before, after)
    assert "trickle" not in [p["name"] for p in client.profiles()]
    assert following[0] == 400
    assert b"trickle" in following[1]


# -- profiles --------------------------------------------------------------------------------------

YAML_PROFILE = """\
name: teapot
description: From YAML, with curl.
steps:
  - informational: {status: 103, headers: {link: "</a.css>; rel=preload"}}
  - respond: {status: 418, headers: {content-type: text/plain}, body: "short and stout\\n"}
"""


def test_put_a_profile_as_yaml_with_curl(served: Served, tmp_path: Any) -> None:
    path = tmp_path / "teapot.yaml"
    path.write_text(YAML_PROFILE, encoding="utf-8")
    url = f"{served.control_url}/profiles/teapot"
    yaml_put = ("-X", "PUT", "-H", "Content-Type: application/yaml", "--data-binary", f"@{path}")

    created = curl(*yaml_put, url)
    replaced = curl(*yaml_put, url)
    listed = curl(f"{served.control_url}/profiles").json()["profiles"]
    answered = curl("-H", "Fakeorigin-Profile: teapot", f"{served.origin_url}/")
    served.client().reset()
    gone = curl(url)

    assert (created.exit_code, created.status) == (0, 201), created.stderr
    assert created.json() == {
        "name": "teapot",
        "description": "From YAML, with curl.",
        "steps": [
            {"informational": {"status": 103, "headers": [["link", "</a.css>; rel=preload"]]}},
            {
                "respond": {
                    "status": 418,
                    "headers": [["content-type", "text/plain"]],
                    "body": "short and stout\n",
                }
            },
        ],
    }
    assert replaced.status == 200
    assert {"name": "teapot", "description": "From YAML, with curl.", "source": "api"} in listed
    assert (answered.status, answered.body) == (418, b"short and stout\n")  # after the 103
    assert gone.status == 404  # reset forgets API-made profiles


def test_an_invalid_yaml_profile_is_refused_with_located_errors(served: Served) -> None:
    refused = curl(
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/yaml",
        "--data-binary",
        "steps:\n  - respond: {status: 99}\n",
        f"{served.control_url}/profiles/bad",
    )

    assert refused.status == 400
    body = refused.json()
    assert body["error"] == "invalid-profile"
    assert [d["location"] for d in body["details"]] == ["steps[0].respond.status"]
    assert "bad" not in [p["name"] for p in served.client().profiles()]


# -- token, exposure, no control API ---------------------------------------------------------------


def test_a_token_guards_everything_but_health() -> None:
    with serving("--control-token", "s3cret") as token_server:
        base = token_server.control_url
        health = curl(f"{base}/health")
        without = curl(f"{base}/profiles")
        wrong = curl("-H", "Authorization: Bearer nope", f"{base}/profiles")
        with_token = curl("-H", "Authorization: Bearer s3cret", f"{base}/profiles")
        with pytest.raises(ControlError) as refused:
            token_server.client().active()
        active = token_server.client(token="s3cret").active()

    assert health.status == 200
    assert health.json()["origin"] == token_server.announce["origin"]
    assert (without.status, without.json()["error"]) == (401, "unauthorized")
    assert wrong.status == 401
    assert with_token.status == 200
    assert "default" in [p["name"] for p in with_token.json()["profiles"]]
    assert (refused.value.status, refused.value.error) == (401, "unauthorized")
    assert active == "default"


def test_an_exposed_control_api_without_a_token_is_refused() -> None:
    command = [str(FAKEORIGIN), "serve", "--announce", "--listen", LOOPBACK_PORT_0]
    with subprocess.Popen(
        [*command, "--control", "tcp:0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    ) as process:
        try:
            out, err = process.communicate(timeout=20)
        finally:
            stop(process)

    assert process.returncode == 2
    assert out == b""  # nothing announced
    assert b"--control-token" in err
    assert b"--control-insecure" in err


@pytest.mark.parametrize(
    "allow", [("--control-insecure",), ("--control-token", "s3cret")], ids=["insecure", "token"]
)
def test_an_exposed_control_api_starts_when_allowed(allow: tuple[str, ...]) -> None:
    with serving("--control", "tcp:0", *allow) as exposed:
        health = exposed.client().health()

    assert exposed.control_url.startswith("http://127.0.0.1:")  # a wildcard is announced as such
    assert health["status"] == "ok"
    assert health["origin"] == exposed.announce["origin"]


def test_control_none_announces_null() -> None:
    with subprocess.Popen(
        [str(FAKEORIGIN), "serve", "--announce", "--listen", LOOPBACK_PORT_0, "--control", "none"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=child_env(),
    ) as process:
        try:
            line = read_line(process, 20)
        finally:
            code = stop(process)

    announce = json.loads(line)
    assert announce["control"] is None
    assert announce["origin"][0].startswith("http://127.0.0.1:")
    assert code == 0


# -- input Python cannot decode --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body", "error"),
    [
        ("application/json", b'{"profile": "\xff"}', "malformed-json"),
        ("application/json", b"[" * 100_000 + b"]" * 100_000, "malformed-input"),
        ("application/yaml", b"a: " + b"[" * 5_000 + b"]" * 5_000, "malformed-input"),
    ],
    ids=["json-not-utf8", "json-too-deep", "yaml-too-deep"],
)
def test_bodies_python_cannot_parse_are_400_not_500(
    served: Served, tmp_path: Any, content_type: str, body: bytes, error: str
) -> None:
    path = tmp_path / "body"
    path.write_bytes(body)
    refused = curl(
        "-X",
        "PUT",
        "-H",
        f"Content-Type: {content_type}",
        "--data-binary",
        f"@{path}",
        f"{served.control_url}/active",
    )

    assert (refused.status, refused.json()["error"]) == (400, error)
    assert served.client().active() == "default"


def test_a_path_that_is_not_utf8_gets_the_error_shape(served: Served) -> None:
    answered = curl(f"{served.control_url}/profiles/%FF")

    assert answered.status == 400
    assert set(answered.json()) == {"error", "message", "details"}


# -- regressions of bugs found here --------------------------------------------------------

_NOT_LATIN_1 = "\u0100"


@pytest.mark.parametrize(
    "match",
    [
        {"method": _NOT_LATIN_1},
        {"headers": {"x-a": _NOT_LATIN_1}},
        {"headers": {_NOT_LATIN_1: "a"}},
    ],
    ids=["method", "header-value", "header-name"],
)
def test_a_rule_outside_latin_1_never_breaks_the_origin(
    served: Served, match: dict[str, Any]
) -> None:
    rule = {"match": match, "profile": "expect-reject"}
    posted = curl("--json", json.dumps(rule), f"{served.control_url}/rules")
    answered = curl(f"{served.origin_url}/")

    assert posted.status in (201, 400)  # refusing it (400, located) or never matching: both fine
    assert (answered.exit_code, answered.status) == (0, 200), answered.stderr
