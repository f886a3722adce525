"""Real reverse proxies from Debian's packages in front of a test's origin: nginx and HAProxy,
each run in the foreground from a temporary directory as a normal process, on 127.0.0.1, and
stopped by its PID when the test is done. ``make test-tools`` installs them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Where Debian puts the proxies' binaries (not on a normal user's PATH).
_SBIN = "/usr/sbin"

NGINX_CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log stderr info;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  upstream origin {{ server 127.0.0.1:{origin}; keepalive 8; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
{location}
    }}
  }}
}}
"""

HAPROXY_CONF = """\
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind 127.0.0.1:{port}
  default_backend be
backend be
{backend}
  server origin 127.0.0.1:{origin}
"""


@dataclass(frozen=True)
class Proxy:
    """A running proxy: its port on 127.0.0.1 and its log (stderr and stdout)."""

    name: str
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def binary(name: str) -> str:
    """The proxy's executable; a clear failure when it is not installed."""
    found = shutil.which(name) or shutil.which(name, path=_SBIN)
    assert found is not None, f"these tests need {name}: make test-tools installs it"
    return found


def free_port() -> int:
    """A port nothing listens on now (the proxies cannot listen on port 0 and say which)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the proxy exited: {log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"the proxy did not listen on {port}: {log.read_text(errors='replace')}")


@contextmanager
def _running(name: str, argv: list[str], directory: Path, port: int) -> Iterator[Proxy]:
    log = directory / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=directory)
    try:
        _wait_listening(process, port, log)
        yield Proxy(name, port, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def nginx(origin_port: int, directory: Path, location: str = "") -> Iterator[Proxy]:
    """nginx with an upstream ``keepalive`` pool: upstream connections are reused;
    ``location`` adds directives to its ``location /``."""
    port = free_port()
    config = directory / "nginx.conf"
    lines = "\n".join(f"      {line}" for line in location.splitlines())
    config.write_text(
        NGINX_CONF.format(dir=directory, origin=origin_port, port=port, location=lines)
    )
    argv = [binary("nginx"), "-e", "stderr", "-p", f"{directory}/", "-c", str(config)]
    with _running("nginx", [*argv, "-g", "daemon off;"], directory, port) as proxy:
        yield proxy


@contextmanager
def haproxy(origin_port: int, directory: Path, backend: str = "") -> Iterator[Proxy]:
    """HAProxy in the foreground (``-db``); ``backend`` adds lines to its backend section."""
    port = free_port()
    config = directory / "haproxy.cfg"
    lines = "\n".join(f"  {line}" for line in backend.splitlines())
    config.write_text(HAPROXY_CONF.format(port=port, origin=origin_port, backend=lines))
    with _running("haproxy", [binary("haproxy"), "-db", "-f", str(config)], directory, port) as p:
        yield p
