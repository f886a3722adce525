"""The container contract: what docker/Dockerfile says the image runs, run without a Docker engine.

No Docker engine runs on our machines or in CI, so these tests read docker/Dockerfile
(:mod:`tests.dockerfile`) and run what ``docker run`` would run:

- The wheel is built once per session from a copy of the files the build stage COPYs (after
  .dockerignore), i.e. what the image build would see, and installed the way the runtime stage
  installs it (``pip install --no-index --find-links WHEELS fakeorigin==VERSION``) into a fresh
  virtualenv.
- The final stage's ENTRYPOINT + CMD runs with exactly its ENV, in a working directory and a
  HOME outside the checkout (so nothing can import the sources), with the virtualenv first on
  PATH (it stands for the image's ``python`` and ``fakeorigin``).
- The HEALTHCHECK command runs as Docker runs it, within its ``--timeout``; the process must be
  healthy within ``--start-period``; the STOPSIGNAL is the signal that stops it.

Two rewrites, and only these: every EXPOSEd port (8080, 8081) is replaced, wherever it appears
in the ENV values and the HEALTHCHECK command, by a free port chosen at test time, because tests
run in parallel on one machine (the bind address stays 0.0.0.0, as in the container); and each
VOLUME path (/profiles) becomes a temporary directory, as Docker mounts a volume there (empty
unless the test puts profiles in it). What a user adds with ``docker run -e`` (the control
token) is added on top, with the same rewrites.

What is not the image's: the Python is the test's (not ``PYTHON_VERSION``), and the process runs
as the test's user; USER is checked to be non-root from the Dockerfile instead.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from fakeorigin import __version__
from tests.dockerfile import (
    Dockerfile,
    DockerfileError,
    DockerIgnore,
    context_problems,
    parse_dockerfile,
    stage_context,
)

pytestmark = pytest.mark.realsocket

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "docker" / "Dockerfile"
#: The stop signal must end the process within this, with exit code 0.
STOP_SECONDS = 5.0
#: A start that is refused (no token) must end within this.
REFUSE_SECONDS = 15.0
TOKEN = "contract-test-token"
BUNDLED = frozenset(path.stem for path in (ROOT / "profiles").glob("*.yaml"))
TEAPOT = (
    "name: teapot\ndescription: I am a teapot.\nsteps:\n  - respond: {status: 418, body: teapot}\n"
)


def read_dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text())


def read_dockerignore() -> DockerIgnore:
    return DockerIgnore.parse((ROOT / ".dockerignore").read_text())


def endpoint_port(description: str) -> tuple[str, int]:
    """``tcp:8080:interface=0.0.0.0`` -> ``("0.0.0.0", 8080)``; TCP endpoints only."""
    kind, port, *options = description.split(":")
    assert kind == "tcp", f"not a TCP endpoint: {description}"
    settings = dict(option.split("=", 1) for option in options)
    return settings.get("interface", "0.0.0.0"), int(port)


def remap_ports(text: str, ports: Mapping[int, int]) -> str:
    """Each ``:PORT`` in ``text`` whose PORT is a key of ``ports`` becomes ``:ports[PORT]``."""

    def replace(found: re.Match[str]) -> str:
        return str(ports.get(int(found.group(0)), found.group(0)))

    return re.sub(r"(?<=:)\d+(?!\d)", replace, text)


def remap_volumes(value: str, volumes: Mapping[str, Path]) -> str:
    """Each whitespace-separated word that is a volume path (or under one) points into it."""

    def rewrite(word: str) -> str:
        for inside, outside in volumes.items():
            if word == inside or word.startswith(inside.rstrip("/") + "/"):
                return str(outside) + word[len(inside.rstrip("/")) :]
        return word

    return " ".join(rewrite(word) for word in value.split(" "))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        port: int = probe.getsockname()[1]
        return port


def listening_hosts(port: int) -> set[str]:
    """The IPv4 addresses with a socket listening on ``port`` (from /proc/net/tcp)."""
    hosts = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
            hosts.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return hosts


def http_get(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# -- what the Dockerfile declares ------------------------------------------------------------


def test_dockerfile_declares_the_contract() -> None:
    image = read_dockerfile()
    env = image.env
    listen_host, listen_port = endpoint_port(env["FAKEORIGIN_LISTEN"])
    control_host, control_port = endpoint_port(env["FAKEORIGIN_CONTROL"])
    health = image.healthcheck
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())

    assert len(image.stages) >= 2, "multi-stage: the wheel is built in its own stage"
    official = re.fullmatch(r"python:3\.(\d+)-slim(-\w+)?", image.final.base)
    assert official is not None, f"a slim official Python image, not {image.final.base}"
    oldest = pyproject["project"]["requires-python"].removeprefix(">=3.")
    assert int(official.group(1)) >= int(oldest), "the image's Python is one fakeorigin supports"
    assert image.command == ["fakeorigin", "serve"]
    assert (listen_host, control_host) == ("0.0.0.0", "0.0.0.0")
    assert sorted(image.exposed_ports) == sorted({listen_port, control_port})
    assert env["FAKEORIGIN_LOG_FORMAT"] == "json"
    assert env["FAKEORIGIN_PROFILES"].split() == ["bundled", "/profiles"]
    assert image.volumes == ["/profiles"]
    # Safe by default: the image never opens the control API by itself.
    assert "FAKEORIGIN_CONTROL_TOKEN" not in env
    assert "FAKEORIGIN_CONTROL_INSECURE" not in env
    assert image.user is not None
    assert image.user.split(":")[0] not in ("root", "0"), image.user
    assert image.stopsignal in ("SIGTERM", "SIGINT"), "the signals fakeorigin serve handles"
    assert health is not None
    assert health.command[:2] == ["python", "-c"], "the image has no curl: Python's urllib"
    assert f"http://127.0.0.1:{control_port}/health" in health.command[2]
    assert health.timeout_seconds <= health.interval_seconds
    assert image.labels["org.opencontainers.image.title"] == "fakeorigin"
    assert image.labels["org.opencontainers.image.version"] == __version__
    assert image.labels["org.opencontainers.image.licenses"] == pyproject["project"]["license"]
    assert image.labels["org.opencontainers.image.description"]


def test_every_copy_source_reaches_the_build_context() -> None:
    assert context_problems(read_dockerfile(), ROOT, read_dockerignore()) == []


def test_the_compose_example_runs_this_image_behind_nginx() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    origin, proxy = compose["services"]["fakeorigin"], compose["services"]["nginx"]
    build = origin["build"]
    context = (ROOT / "docker" / build["context"]).resolve()
    _, listen_port = endpoint_port(read_dockerfile().env["FAKEORIGIN_LISTEN"])
    mounts = [volume.split(":") for volume in proxy["volumes"]]
    nginx_conf = (ROOT / "docker" / mounts[0][0]).read_text()

    assert (context, (context / build["dockerfile"]).resolve()) == (ROOT, DOCKERFILE)
    assert "FAKEORIGIN_CONTROL_TOKEN" in origin["environment"]
    assert proxy["depends_on"]["fakeorigin"]["condition"] == "service_healthy"
    assert re.fullmatch(r"nginx:[\d.]+(-\w+)?", proxy["image"])
    assert f"server fakeorigin:{listen_port};" in nginx_conf
    assert all(port.startswith("127.0.0.1:") for s in (origin, proxy) for port in s["ports"])


# -- the checks can fail ---------------------------------------------------------------------

BROKEN = """\
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml missing.txt ./
COPY --from=nowhere /wheels /wheels
FROM python:3.12-slim
RUN --mount=type=bind,from=elsewhere,source=/w,target=/w true
"""


def test_context_problems_name_each_broken_copy() -> None:
    problems = context_problems(
        parse_dockerfile(BROKEN), ROOT, DockerIgnore.parse("*\n!missing.txt\n")
    )

    assert problems == [
        "line 3: COPY pyproject.toml: left out of the build context by .dockerignore",
        "line 3: COPY missing.txt: not in the build context",
        "line 4: no earlier stage named 'nowhere'",
        "line 6: no earlier stage named 'elsewhere'",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM python:3.12-slim\nENTRYPOINT fakeorigin serve\n", "JSON array (exec) form"),
        ("FROM python:3.12-slim\nENV FAKEORIGIN_LISTEN tcp:1\n", "use KEY=VALUE"),
        ("FROM python:${NOPE}-slim\n", "${NOPE} is not defined"),
        ("FROM python:3.12-slim\nADD x /x\n", "ADD is not supported"),
        ('FROM python:3.12-slim\nHEALTHCHECK --interval=5x CMD ["true"]\n', "duration"),
    ],
    ids=["shell-form", "legacy-env", "undefined-arg", "add", "bad-duration"],
)
def test_unsupported_dockerfile_syntax_fails_loudly(text: str, message: str) -> None:
    def read_run_time_settings() -> None:
        image = parse_dockerfile(text)
        _ = (image.command, image.env, image.healthcheck)

    with pytest.raises(DockerfileError, match=re.escape(message)):
        read_run_time_settings()


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        ("*\n!fakeorigin/\n", "fakeorigin/cli.py", False),
        ("*\n!fakeorigin/\n", "tests/test_cli.py", True),
        ("*\n!fakeorigin/\n**/__pycache__\n", "fakeorigin/__pycache__/cli.pyc", True),
        ("*\n!fakeorigin/\n**/*.py[co]\n", "fakeorigin/a/b.pyc", True),
        ("*.md\n!README.md\n", "README.md", False),
        ("*.md\n!README.md\n", "docs/x.md", False),  # * does not cross a /
        ("**/*.md\n", "docs/x.md", True),
    ],
)
def test_dockerignore_matching(patterns: str, path: str, excluded: bool) -> None:
    assert DockerIgnore.parse(patterns).excluded(path) is excluded


def test_remapping_touches_only_the_given_ports_and_volumes() -> None:
    ports = {8080: 41000, 8081: 41001}

    assert remap_ports("tcp:8080:interface=0.0.0.0", ports) == "tcp:41000:interface=0.0.0.0"
    assert remap_ports("'http://127.0.0.1:8081/health'", ports) == "'http://127.0.0.1:41001/health'"
    assert remap_ports("tcp:18080 tcp:80800 tcp:9090", ports) == "tcp:18080 tcp:80800 tcp:9090"
    assert remap_volumes("bundled /profiles /profiles/x /profilesx", {"/profiles": Path("/t")}) == (
        "bundled /t /t/x /profilesx"
    )


# -- running it -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Installed:
    """fakeorigin installed from the image's wheel into a fresh virtualenv."""

    bin: Path
    image: Dockerfile


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build the wheel from the build stage's COPY sources once; install it as the image does."""
    image = read_dockerfile()
    base = tmp_path_factory.mktemp("container")
    context, wheels, venv = base / "context", base / "wheels", base / "venv"
    stage_context(image.stage("build"), ROOT, read_dockerignore(), context)
    version = image.labels["org.opencontainers.image.version"]
    # The runtime stage's install: only the build stage's wheels, the version on the label.
    install = ["install", "--quiet", "--disable-pip-version-check", "--no-index"]
    install += [f"--find-links={wheels}", f"fakeorigin=={version}"]
    steps = [
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels), "."],
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", *install],
    ]
    for step in steps:
        done = subprocess.run(
            step, cwd=context, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, f"{' '.join(step)}\n{done.stdout}\n{done.stderr}"
    return Installed(venv / "bin", image)


@dataclass
class Container:
    """The ENTRYPOINT + CMD running with the image's ENV; ports and volumes rewritten."""

    process: subprocess.Popen[str]
    env: dict[str, str]
    ports: dict[int, int]
    health: list[str]

    def port(self, variable: str) -> int:
        return endpoint_port(self.env[variable])[1]

    def healthcheck(self, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.health,
            env=self.env,
            cwd=self.env["HOME"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def stop(self, signum: int) -> tuple[int, float, str]:
        """Send ``signum``; the exit code, seconds to exit and stderr."""
        start = time.monotonic()
        self.process.send_signal(signum)
        _, err = self.process.communicate(timeout=STOP_SECONDS)
        return self.process.returncode, time.monotonic() - start, err


def image_env(
    installed: Installed, home: Path, volumes: Mapping[str, Path], ports: Mapping[int, int]
) -> dict[str, str]:
    """What the process sees in the container: the base image's PATH and LANG, HOME, ENV."""
    env = {
        "PATH": f"{installed.bin}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(home),
    }
    for key, value in installed.image.env.items():
        env[key] = remap_volumes(remap_ports(value, ports), volumes)
    return env


@contextmanager
def container(
    installed: Installed,
    tmp_path: Path,
    run_env: Mapping[str, str],
    profiles: Mapping[str, str],
    args: list[str] | None = None,
) -> Iterator[Container]:
    """``docker run -e RUN_ENV -v DIR:/profiles IMAGE [ARGS]``, DIR holding ``profiles``; ARGS
    (as a Kubernetes container's ``args``) replace the image's CMD; killed by PID at the end
    whatever happened."""
    image = installed.image
    ports = {port: free_port() for port in image.exposed_ports}
    home = tmp_path / "home"
    home.mkdir()
    volumes = {path: tmp_path / f"volume{n}" for n, path in enumerate(image.volumes)}
    for directory in volumes.values():
        directory.mkdir()
    for name, text in profiles.items():
        (volumes["/profiles"] / name).write_text(text)
    env = image_env(installed, home, volumes, ports)
    for key, value in run_env.items():
        env[key] = remap_volumes(remap_ports(value, ports), volumes)
    health = image.healthcheck
    assert health is not None
    check = [remap_ports(word, ports) for word in health.command]
    command = image.entrypoint + (image.cmd if args is None else args)
    with subprocess.Popen(
        command,
        cwd=home,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            yield Container(process, env, ports, check)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate(timeout=STOP_SECONDS)


def wait_healthy(running: Container, seconds: float, timeout: float) -> None:
    """Run the HEALTHCHECK until it passes; fail after ``seconds`` (the start period)."""
    deadline = time.monotonic() + seconds
    while True:
        assert running.process.poll() is None, running.process.communicate()[1]
        result = running.healthcheck(timeout)
        if result.returncode == 0:
            return
        assert time.monotonic() < deadline, f"not healthy within {seconds} s: {result.stderr}"
        time.sleep(0.2)


def json_messages(stderr: str) -> list[str]:
    """The message of each log line; every line must be a JSON object (the image's default)."""
    return [json.loads(line)["message"] for line in stderr.splitlines()]


def test_the_installed_package_is_the_wheel_not_the_checkout(
    installed: Installed, tmp_path: Path
) -> None:
    env = image_env(installed, tmp_path, {}, {})
    done = subprocess.run(
        ["python", "-c", "import fakeorigin.core.loader as l; print(l.bundled_profiles_dir())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    bundled = Path(done.stdout.strip())

    assert bundled.is_relative_to(installed.bin.parent), bundled
    assert sorted(p.name for p in bundled.iterdir()) == sorted(
        p.name for p in (ROOT / "profiles").iterdir()
    )


def test_the_image_serves_checks_health_and_stops(installed: Installed, tmp_path: Path) -> None:
    health = installed.image.healthcheck
    stopsignal = installed.image.stopsignal
    assert health is not None
    assert stopsignal is not None
    with container(installed, tmp_path, {"FAKEORIGIN_CONTROL_TOKEN": TOKEN}, {}) as running:
        wait_healthy(running, health.start_period_seconds, health.timeout_seconds)
        origin, control = running.port("FAKEORIGIN_LISTEN"), running.port("FAKEORIGIN_CONTROL")
        bound = (listening_hosts(origin), listening_hosts(control))
        served = http_get(f"http://127.0.0.1:{origin}/contract")
        no_token = http_get(f"http://127.0.0.1:{control}/profiles")
        with_token = http_get(
            f"http://127.0.0.1:{control}/profiles", {"Authorization": f"Bearer {TOKEN}"}
        )
        code, took, err = running.stop(signal.Signals[stopsignal])
        after = running.healthcheck(health.timeout_seconds)

    assert sorted(running.ports) == sorted(installed.image.exposed_ports)
    assert sorted((origin, control)) == sorted(running.ports.values())
    assert bound == ({"0.0.0.0"}, {"0.0.0.0"})
    assert served[0] == 200
    assert json.loads(served[1])["target"] == "/contract"
    assert no_token[0] == 401
    assert json.loads(no_token[1])["error"] == "unauthorized"
    assert with_token[0] == 200
    names = {profile["name"] for profile in json.loads(with_token[1])["profiles"]}
    assert names == BUNDLED  # an empty /profiles volume adds nothing and breaks nothing
    assert (code, took < STOP_SECONDS) == (0, True), err
    assert "fakeorigin stopped" in json_messages(err)
    assert after.returncode != 0, "the HEALTHCHECK passed with nothing listening"


def test_tls_in_the_image(installed: Installed, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    run_env = {
        "FAKEORIGIN_CONTROL_TOKEN": TOKEN,
        "FAKEORIGIN_TLS": "1",
        "FAKEORIGIN_TLS_CA": str(certs / "ca.pem"),
    }
    health = installed.image.healthcheck
    assert health is not None
    with container(installed, tmp_path, run_env, {}) as running:
        wait_healthy(running, health.start_period_seconds, health.timeout_seconds)
        origin = running.port("FAKEORIGIN_LISTEN")
        context = ssl.create_default_context(cafile=certs / "ca.pem")
        url = f"https://localhost:{origin}/contract"
        with urllib.request.urlopen(url, context=context, timeout=10) as reply:
            status, body = reply.status, reply.read()
        code, _, err = running.stop(signal.SIGTERM)

    assert status == 200
    assert json.loads(body)["target"] == "/contract"
    assert code == 0, err
    assert (certs / "ca.pem").exists()  # a path the user gave is kept


def test_without_a_token_the_image_refuses_to_start(installed: Installed, tmp_path: Path) -> None:
    with container(installed, tmp_path, {}, {}) as running:
        _, err = running.process.communicate(timeout=REFUSE_SECONDS)

    assert running.process.returncode == 2, err
    refusal = " ".join(json_messages(err))
    for hint in ("--control-token", "FAKEORIGIN_CONTROL_TOKEN", "--control-insecure"):
        assert hint in refusal
    assert f"0.0.0.0:{running.port('FAKEORIGIN_CONTROL')}" in refusal


def test_control_insecure_is_an_explicit_opt_in(installed: Installed, tmp_path: Path) -> None:
    with container(installed, tmp_path, {"FAKEORIGIN_CONTROL_INSECURE": "1"}, {}) as running:
        health = installed.image.healthcheck
        assert health is not None
        wait_healthy(running, health.start_period_seconds, health.timeout_seconds)
        status, _ = http_get(f"http://127.0.0.1:{running.port('FAKEORIGIN_CONTROL')}/profiles")
        code, _, err = running.stop(signal.SIGTERM)

    assert status == 200
    assert code == 0, err


@dataclass(frozen=True, slots=True)
class VolumeCase:
    """``docker run -e RUN_ENV -v DIR:/profiles``: DIR's files, a request, the profiles seen."""

    run_env: dict[str, str]
    files: dict[str, str]
    request_headers: dict[str, str]
    names: frozenset[str]


@pytest.mark.parametrize(
    "case",
    [
        VolumeCase(
            run_env={},
            files={"teapot.yaml": TEAPOT},
            request_headers={"Fakeorigin-Profile": "teapot"},
            names=BUNDLED | {"teapot"},
        ),
        VolumeCase(
            run_env={"FAKEORIGIN_PROFILES": "/profiles"},
            files={"default.yaml": TEAPOT.replace("name: teapot", "name: default")},
            request_headers={},
            names=frozenset({"default"}),
        ),
    ],
    ids=["adds-to-bundled", "replaces-bundled"],
)
def test_the_profiles_volume(installed: Installed, tmp_path: Path, case: VolumeCase) -> None:
    health = installed.image.healthcheck
    assert health is not None
    env = {"FAKEORIGIN_CONTROL_TOKEN": TOKEN, **case.run_env}
    with container(installed, tmp_path, env, case.files) as running:
        wait_healthy(running, health.start_period_seconds, health.timeout_seconds)
        origin = f"http://127.0.0.1:{running.port('FAKEORIGIN_LISTEN')}/"
        served = http_get(origin, case.request_headers)
        _, listing = http_get(
            f"http://127.0.0.1:{running.port('FAKEORIGIN_CONTROL')}/profiles",
            {"Authorization": f"Bearer {TOKEN}"},
        )
        code, _, err = running.stop(signal.SIGTERM)

    assert {profile["name"] for profile in json.loads(listing)["profiles"]} == case.names
    assert served == (418, b"teapot")  # the mounted profile answered
    assert code == 0, err
