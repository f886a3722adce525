"""The real ``fakeorigin serve`` in a child process: announce line, curl, signals, env, failures.

Plain sync tests: the origin runs in its own process (``python -m fakeorigin``), so blocking
clients are fine here. Every process started is killed by PID at the end of its test, whatever
happened. Loopback only: every endpoint binds 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from fakeorigin import __version__
from tests import control_process
from tests.clients import Ended, RawReader, connect, curl

pytestmark = pytest.mark.realsocket

FAKEORIGIN = (sys.executable, "-m", "fakeorigin")
LOOPBACK_PORT_0 = "tcp:0:interface=127.0.0.1"
#: Start-up imports Twisted and pydantic: generous, but bounded.
ANNOUNCE_SECONDS = 15.0
#: SIGINT/SIGTERM must stop the server within this.
STOP_SECONDS = 5.0


def child_env(**settings: str) -> dict[str, str]:
    """This environment without any ``FAKEORIGIN_*``, plus ``settings``.

    The control API listens on 127.0.0.1:8081 unless told otherwise; these tests are about
    the origin, so it is switched off.
    """
    return control_process.child_env(**{"FAKEORIGIN_CONTROL": "none", **settings})


@dataclass
class Served:
    """A running ``fakeorigin serve`` and the JSON line it announced."""

    process: subprocess.Popen[bytes]
    announce: dict[str, Any]

    @property
    def url(self) -> str:
        urls: list[str] = self.announce["origin"]
        return urls[0]

    def stop(self, signum: int) -> tuple[int, float, bytes, bytes]:
        """Send ``signum``; exit code, seconds to exit, and the rest of stdout and stderr."""
        start = time.monotonic()
        self.process.send_signal(signum)
        out, err = self.process.communicate(timeout=STOP_SECONDS)
        return self.process.returncode, time.monotonic() - start, out, err


def read_line(process: subprocess.Popen[bytes], seconds: float) -> bytes:
    """The announce line: control_process.read_line, which must not meet the end of stdout."""
    line = control_process.read_line(process, seconds)
    assert line, f"stdout closed before the announce line; exit {process.wait(5)}"
    return line


@contextmanager
def serving(*args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Run ``fakeorigin serve ARGS``, wait for its announce line; kill it by PID at the end."""
    command = [*FAKEORIGIN, "serve", *args]
    with subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env() if env is None else env,
    ) as process:
        try:
            yield Served(process, json.loads(read_line(process, ANNOUNCE_SECONDS)))
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=STOP_SECONDS)


def announced_port(served: Served) -> int:
    found = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", served.url)
    assert found is not None, served.announce
    port = int(found.group(1))
    assert port > 0
    return port


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_announce_then_curl_then_signal_exits_0(signum: int) -> None:
    with serving("--listen", LOOPBACK_PORT_0, "--announce") as served:
        port = announced_port(served)
        assert served.announce == {
            "fakeorigin": __version__,
            "origin": [f"http://127.0.0.1:{port}"],
            "control": None,
        }
        result = curl("-i", f"{served.url}/hello")
        code, took, out, err = served.stop(signum)

    assert (result.exit_code, result.http_code) == (0, 200), result.stderr
    assert result.output.startswith(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
    assert json.loads(result.output.split(b"\r\n\r\n", 1)[1])["target"] == "/hello"
    assert (code, out) == (0, b""), err  # exactly one line on stdout: the announce
    assert took < STOP_SECONDS
    assert b"fakeorigin stopped" in err


def test_signal_stops_the_server_with_a_connection_hanging() -> None:
    env = child_env(FAKEORIGIN_PROFILE="hang")
    with (
        serving("--listen", LOOPBACK_PORT_0, "--announce", env=env) as served,
        connect(announced_port(served)) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        reader = RawReader(sock, time.monotonic())
        assert reader.read(0.3).ended is Ended.OPEN
        code, took, _, err = served.stop(signal.SIGTERM)
        reader.read(1.0)

    assert code == 0, err
    assert took < STOP_SECONDS
    assert reader.result.data == b""
    assert reader.result.ended is not Ended.OPEN  # the server closed the hanging connection


def test_environment_configures_serve() -> None:
    env = child_env(
        FAKEORIGIN_LISTEN=LOOPBACK_PORT_0,
        FAKEORIGIN_ANNOUNCE="1",
        FAKEORIGIN_PROFILE="hang",
        FAKEORIGIN_MAX_DURATION="0.5",
        FAKEORIGIN_LOG_FORMAT="json",
    )
    with serving(env=env) as served:
        announced_port(served)
        result = curl("-i", f"{served.url}/hang")
        code, _, _, err = served.stop(signal.SIGTERM)

    # hang is the active profile: nothing comes back until --max-duration (0.5 s) closes it.
    assert result.exit_code == 52, result.stderr  # 52: empty reply from server
    assert result.output == b""
    assert 0.45 <= result.seconds < 1.5
    assert code == 0, err
    lines = err.decode().splitlines()
    assert lines
    messages = [json.loads(line)["message"] for line in lines]  # every log line is JSON
    assert "fakeorigin stopped" in messages


def test_command_line_beats_environment() -> None:
    env = child_env(FAKEORIGIN_PROFILE="hang")
    with serving(
        "--listen", LOOPBACK_PORT_0, "--announce", "--profile", "early-hints", env=env
    ) as s:
        result = curl("-i", "-m", "5", f"{s.url}/")
        code, _, _, err = s.stop(signal.SIGTERM)

    assert result.exit_code == 0, result.stderr
    assert result.output.startswith(
        b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\n"
    )
    assert code == 0, err


def test_no_inband_ignores_the_profile_header() -> None:
    with serving("--listen", LOOPBACK_PORT_0, "--announce", "--no-inband") as served:
        result = curl("-i", "-m", "5", "-H", "Fakeorigin-Profile: hang", f"{served.url}/")
        code, _, _, err = served.stop(signal.SIGTERM)

    assert (result.exit_code, result.http_code) == (0, 200), result.stderr
    echo = json.loads(result.output.split(b"\r\n\r\n", 1)[1])
    assert ["Fakeorigin-Profile", "hang"] in echo["headers"]
    assert code == 0, err


def test_every_listen_endpoint_is_announced_and_served() -> None:
    with serving("--listen", LOOPBACK_PORT_0, "--listen", LOOPBACK_PORT_0, "--announce") as s:
        urls: list[str] = s.announce["origin"]
        results = [curl("-o", "/dev/null", url) for url in urls]
        code, _, _, err = s.stop(signal.SIGTERM)

    assert len(urls) == 2
    assert len(set(urls)) == 2
    assert [r.http_code for r in results] == [200, 200]
    assert code == 0, err


def test_listen_failure_exits_1_with_a_message() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        completed = subprocess.run(
            [*FAKEORIGIN, "serve", "--listen", f"tcp:{port}:interface=127.0.0.1", "--announce"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=child_env(),
            timeout=ANNOUNCE_SECONDS,
            check=False,
        )

    assert completed.returncode == 1, completed.stderr
    assert completed.stdout == b""  # nothing announced
    assert b"cannot listen" in completed.stderr
    assert f"127.0.0.1:{port}".encode() in completed.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--profile", "no-such-profile"], {}, "unknown profile 'no-such-profile'"),
        ([], {"FAKEORIGIN_MAX_DURATION": "soon"}, "FAKEORIGIN_MAX_DURATION='soon'"),
        (["--journal-size", "0"], {}, "--journal-size"),
        (["--no-such-option"], {}, "unrecognized arguments: --no-such-option"),
    ],
    ids=["unknown-profile", "bad-env-value", "bad-option-value", "unknown-option"],
)
def test_bad_usage_exits_2(args: list[str], env: dict[str, str], message: str) -> None:
    completed = subprocess.run(
        [*FAKEORIGIN, "serve", "--listen", LOOPBACK_PORT_0, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=child_env(**env),
        timeout=ANNOUNCE_SECONDS,
        check=False,
    )

    assert completed.returncode == 2, completed.stderr
    assert message in completed.stderr.decode()
    assert completed.stdout == b""
