"""Running scenarios: each one's profile put on the origin through its control API, the
client's request sent through the proxy with the profile named in-band (``Fakeorigin-Profile``,
which a proxy forwards like any header), then both ends read: the client's exchange and the
origin's journal record of the request (found by a target unique to the run)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from fakeorigin.control.client import ControlClient
from fakeorigin.probe.client import send
from fakeorigin.probe.scenarios import Kind, Scenario, Seen, Verdict

#: Where the probe's requests go on the origin: ``/fakeorigin-probe/RUN/SCENARIO``.
PREFIX = "/fakeorigin-probe"


@dataclass(frozen=True, slots=True)
class Result:
    """One scenario's outcome."""

    scenario: Scenario
    verdict: Verdict
    seconds: float


def profile_name(scenario: Scenario) -> str:
    return "probe-" + scenario.id


def request_bytes(scenario: Scenario, host: str, target: str) -> tuple[bytes, bytes]:
    """The request head and body, exactly as sent."""
    lines = [f"{scenario.method} {target} HTTP/{scenario.http_version}", f"Host: {host}"]
    lines.append(f"Fakeorigin-Profile: {profile_name(scenario)}")
    lines += [f"{name}: {value}" for name, value in scenario.headers]
    if scenario.body:
        lines.append(f"Content-Length: {len(scenario.body)}")
    if scenario.http_version == "1.0":
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head, scenario.body


class Runner:
    """Runs scenarios through the proxy at ``proxy_url`` to the origin whose control API is
    ``control``."""

    def __init__(
        self, proxy_url: str, control: ControlClient, *, proxy_timeout: float | None = None
    ) -> None:
        parts = urlsplit(proxy_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"--proxy {proxy_url}: give http://HOST:PORT")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.authority = parts.netloc
        self.control = control
        self.proxy_timeout = proxy_timeout
        self.run_id = secrets.token_hex(4)

    def run(self, scenario: Scenario) -> Result:
        started = time.monotonic()
        steps, read_seconds = scenario.steps, scenario.read_seconds
        if scenario.timed is not None:
            if self.proxy_timeout is None:
                why = (
                    "needs the proxy's upstream read timeout (fakeorigin probe --proxy-timeout, "
                    "pytest --fakeorigin-probe-timeout)"
                )
                return Result(scenario, Verdict(Kind.NOT_APPLICABLE, why), 0.0)
            steps, read_seconds = scenario.timed(self.proxy_timeout)
        elif self.proxy_timeout is not None:
            # Long enough to see what the proxy does when its own timeout ends the wait (a
            # proxy holding a 1xx sends something, or nothing, then).
            read_seconds = max(read_seconds, self.proxy_timeout + 2)
        self.control.put_profile(
            profile_name(scenario), {"steps": steps, "description": scenario.title}
        )
        target = f"{PREFIX}/{self.run_id}/{scenario.id}"
        head, body = request_bytes(scenario, self.authority, target)
        try:
            exchange = send(
                self.host,
                self.port,
                head,
                body,
                body_after_100=scenario.body_after_100,
                read_seconds=read_seconds,
                head_request=scenario.method == "HEAD",
                then=scenario.then,
            )
        except OSError as err:
            verdict = Verdict(Kind.NOT_APPLICABLE, f"could not talk to the proxy: {err}")
            return Result(scenario, verdict, time.monotonic() - started)
        record = self._record(target)
        verdict = scenario.verdict(Seen(exchange, record, self.proxy_timeout))
        return Result(scenario, verdict, time.monotonic() - started)

    def _record(self, target: str) -> dict[str, object] | None:
        """The origin's record of ``target``, once it has ended (a second at most: a proxy
        may still be talking to the origin when the client has its answer)."""
        deadline = time.monotonic() + 1.0
        while True:
            found = self.control.journal(path_prefix=target)
            ended = [r for r in found if r["outcome"] != "running"]
            if ended or (found and time.monotonic() >= deadline):
                return (ended or found)[-1]
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def close(self) -> None:
        """Remove the scenarios' profiles from the origin."""
        for profile in self.control.profiles():
            if profile["name"].startswith("probe-"):
                self.control.delete_profile(profile["name"])
