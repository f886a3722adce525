# ruff: noqa: E501 (the bad-input table: one request per line reads best)
"""The control API under fire: profiles and rules change while traffic runs, and bad input
arrives at every endpoint meanwhile.

A real ``fakeorigin serve`` (child process, port 0, stopped by PID). For 3 s, twelve client
threads send requests that pick the ``flux`` profile in-band or through a rule, while three
threads replace ``flux`` (two versions: a sleep then ``one``, or ``two-two`` dribbled), delete
and restore it, and add and delete rules naming it; a fourth sends every bad request of the
table below, again and again. Each exchange picks its profile once, when its head arrives, so
every response must be one whole version (its ``X-Version`` and its body), the default echo,
or the 400 for an unknown profile (in the moment ``flux`` is deleted); never a 5xx, never a
mix. Every control answer is 2xx or a 4xx in the API's error shape. The journal holds a
record for each request, ended, with no error but the unknown profile.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pytest

from fakeorigin.client import ControlClient, ControlError
from tests.clients import H11Client, H11Response
from tests.control_process import Served, serving

pytestmark = pytest.mark.realsocket

SECONDS = 3.0
CLIENTS = 12
V1 = {"steps": [{"sleep": 0.2}, {"respond": {"status": 200, "headers": {"X-Version": "1"}, "body": "one"}}]}  # fmt: skip
V2 = {"steps": [{"respond": {"status": 200, "headers": {"X-Version": "2"}, "body": "two-two", "dribble": {"bytes": 2, "every": 0.05}}}]}  # fmt: skip
BODIES = {b"1": b"one", b"2": b"two-two"}

#: Bad input to every endpoint: method, path, body, content type -> status and error code.
BAD: list[tuple[str, str, str | None, str, int, str]] = [
    ("GET", "/nowhere", None, "application/json", 404, "not-found"),
    ("POST", "/health", None, "application/json", 405, "method-not-allowed"),
    ("GET", "/profiles/no-such", None, "application/json", 404, "not-found"),
    ("PUT", "/profiles/x", "steps: [\n", "application/yaml", 400, "malformed-yaml"),
    ("PUT", "/profiles/x", '{"steps": [{"informational": {"status": 99}}]}', "application/json", 400, "invalid-profile"),
    ("PUT", "/profiles/x", '{"name": "y", "steps": [{"close": {}}]}', "application/json", 400, "invalid-profile"),
    ("PUT", "/profiles/x", "hello", "text/plain", 415, "unsupported-media-type"),
    ("PUT", "/profiles/x", "{" + " " * (2 << 20) + "}", "application/json", 413, "body-too-large"),
    ("PUT", "/profiles/BAD%20NAME", '{"steps": [{"close": {}}]}', "application/json", 400, "invalid-profile"),
    ("DELETE", "/profiles/no-such", None, "application/json", 404, "not-found"),
    ("DELETE", "/profiles/default", None, "application/json", 409, "profile-in-use"),
    ("GET", "/active", "ignored", "application/json", 200, ""),
    ("PUT", "/active", '{"profile": "no-such"}', "application/json", 400, "unknown-profile"),
    ("PUT", "/active", '{"profile": ', "application/json", 400, "malformed-json"),
    ("PUT", "/active", "[]", "application/json", 400, "invalid-input"),
    ("POST", "/rules", '{"profile": "no-such"}', "application/json", 400, "unknown-profile"),
    ("POST", "/rules", '{"profile": "default", "match": {"method": "G E T"}}', "application/json", 400, "invalid-input"),
    ("POST", "/rules", '{"profile": "default", "times": -1}', "application/json", 400, "invalid-input"),
    ("POST", "/rules", '{"profile": "default", "match": {"path_regex": "("}}', "application/json", 400, "invalid-input"),
    ("DELETE", "/rules/999999", None, "application/json", 404, "not-found"),
    ("DELETE", "/rules/abc", None, "application/json", 404, "not-found"),
    ("GET", "/journal?limit=0", None, "application/json", 400, "invalid-input"),
    ("GET", "/journal?limit=abc", None, "application/json", 400, "invalid-input"),
    ("GET", "/journal?bogus=1", None, "application/json", 400, "invalid-input"),
    ("GET", "/journal/999999999", None, "application/json", 404, "not-found"),
    ("PATCH", "/journal", None, "application/json", 405, "method-not-allowed"),
    ("GET", "/journal/wait?count=0", None, "application/json", 400, "invalid-input"),
    ("GET", "/journal/wait?timeout=-1", None, "application/json", 400, "invalid-input"),
    ("GET", "/reset", None, "application/json", 405, "method-not-allowed"),
    ("POST", "/catalogue", None, "application/json", 405, "method-not-allowed"),
    ("POST", "/openapi.json", None, "application/json", 405, "method-not-allowed"),
]  # fmt: skip


@dataclass
class Fire:
    """What every thread saw; each appends, the test reads once they are done."""

    until: float
    responses: Counter[str] = field(default_factory=Counter)
    broken: list[str] = field(default_factory=list)
    control: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    bad_input: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: Held while flux is deleted, so that it stays deleted for a moment.
    flux: threading.Lock = field(default_factory=threading.Lock)

    def running(self) -> bool:
        return time.monotonic() < self.until

    def problem(self, text: str) -> None:
        with self.lock:
            self.broken.append(text[:300])


def judge(response: H11Response, target: str) -> str:
    """Which whole answer ``response`` is; raises AssertionError for anything else."""
    version = response.header(b"x-version")
    if response.status == 400:
        assert b"unknown profile 'flux'" in response.body, response.body
        return "unknown-profile"
    assert response.status == 200, response.status
    if version:
        assert response.body == BODIES[version[0]], (version, response.body)
        return f"v{version[0].decode()}"
    assert json.loads(response.body)["target"] == target, response.body
    return "default"


def traffic(fire: Fire, port: int, number: int) -> None:
    client: H11Client | None = None
    sequence = 0
    while fire.running():
        inband = sequence % 2 == 0
        target = f"/{'inband' if inband else 'ruled'}/{number}-{sequence}"
        sequence += 1
        headers = [("Fakeorigin-Profile", "flux")] if inband else []
        try:
            client = client or H11Client(port)
            with fire.lock:
                fire.sent += 1
            response = client.request("GET", target, headers)
            kind = judge(response, target)
            with fire.lock:
                fire.responses[kind] += 1
            if response.header(b"connection") == [b"close"]:
                client.close()
                client = None
        except Exception as err:  # every failure is a finding
            fire.problem(f"{target}: {type(err).__name__}: {err}")
            if client is not None:
                client.close()
            client = None
    if client is not None:
        client.close()


def control_call(fire: Fire, call: Callable[[], Any], allowed: tuple[str, ...] = ()) -> None:
    """A control change: 2xx, or one of the ``allowed`` 4xx codes in the error shape."""
    try:
        call()
        with fire.lock:
            fire.control["ok"] += 1
    except ControlError as err:
        if err.error in allowed and 400 <= err.status < 500:
            with fire.lock:
                fire.control[err.error] += 1
        else:
            fire.problem(f"control: {err}")


def replace_flux(fire: Fire, control: ControlClient) -> None:
    version = 0
    while fire.running():
        version += 1
        body = V1 if version % 2 else V2
        with fire.flux:
            control_call(fire, partial(control.put_profile, "flux", body))
        time.sleep(0.02)


def delete_and_restore(fire: Fire, control: ControlClient) -> None:
    while fire.running():
        with fire.flux:
            deleting = partial(control.delete_profile, "flux")
            control_call(fire, deleting, ("profile-in-use", "not-found"))
            time.sleep(0.1)  # requests naming flux meanwhile get 400
            control_call(fire, partial(control.put_profile, "flux", V1))
        time.sleep(0.3)  # then flux lives a while


def rules(fire: Fire, control: ControlClient) -> None:
    added: list[dict[str, Any]] = []

    def add() -> None:
        added.append(control.add_rule("flux", path_prefix="/ruled", times=5))

    while fire.running():
        control_call(fire, add, ("unknown-profile",))
        time.sleep(0.05)
        while added:
            rule_id = added.pop()["id"]
            control_call(fire, partial(control.delete_rule, rule_id))
        time.sleep(0.05)  # no rule: flux can be deleted


def bad_input(fire: Fire, control: ControlClient) -> None:
    while fire.running():
        for method, path, body, media, status, code in BAD:
            try:
                control.request(method, path, body, content_type=media)
                if status != 200:
                    fire.problem(f"{method} {path}: accepted, expected {status}")
            except ControlError as err:
                if (err.status, err.error) != (status, code):
                    fire.problem(f"{method} {path}: {err.status} {err.error}, expected {status}")
            with fire.lock:
                fire.bad_input += 1


def under_fire(served: Served) -> Fire:
    control = served.client()
    control.put_profile("flux", V1)
    fire = Fire(until=time.monotonic() + SECONDS)
    threads = [
        threading.Thread(target=traffic, args=(fire, served.origin_port, n)) for n in range(CLIENTS)
    ]
    threads += [
        threading.Thread(target=job, args=(fire, served.client()))
        for job in (replace_flux, delete_and_restore, rules, bad_input)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SECONDS + 30)
        assert not thread.is_alive(), "a thread did not finish"
    return fire


def test_control_changes_never_break_an_exchange_in_flight() -> None:
    with serving("--journal-size", "10000") as served:
        fire = under_fire(served)
        page = served.client().request("GET", "/journal", query={"limit": 10_000})
        log = served.log()
        served.assert_running()

    assert fire.broken == []
    assert fire.sent == sum(fire.responses.values()) > 100
    # Each kind of answer happened: both versions, the default (no rule), the unknown profile.
    assert set(fire.responses) == {"v1", "v2", "default", "unknown-profile"}, fire.responses
    assert fire.control["ok"] > 50
    assert fire.bad_input >= len(BAD)
    for sign in ("Traceback", "Unhandled", "#error]", "#critical]"):
        assert sign not in log, log[-4000:]
    entries = [
        e for e in page["entries"] if e["target"] and e["target"].startswith(("/inband", "/ruled"))
    ]
    assert (len(entries), page["evicted"]) == (fire.sent, 0)
    assert {e["outcome"] for e in entries} <= {"keep-alive", "refused"}
    assert {e["profile"] for e in entries} <= {"flux", "default", None}
    for entry in entries:
        if entry["outcome"] == "refused":
            assert (entry["selected_by"], entry["profile"]) == ("header", None)
        else:
            assert entry["error"] is None
