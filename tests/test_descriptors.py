"""The connection limit (fakeorigin/server/descriptors.py): the open-file limit raised to the hard
one, and ``--max-connections`` chosen from it, with fake limit functions; then a real ``serve``
under a low hard limit."""

from __future__ import annotations

import resource
import subprocess
import sys
from typing import NamedTuple

import pytest

from fakeorigin.server.descriptors import HEADROOM, UNLIMITED_CAP, ConnectionLimit, connection_limit

INFINITY = resource.RLIM_INFINITY


class Limits:
    """getrlimit/setrlimit over a (soft, hard) pair; ``refuse`` makes setrlimit fail."""

    def __init__(self, soft: int, hard: int, *, refuse: bool = False) -> None:
        self.soft, self.hard, self.refuse = soft, hard, refuse

    def get(self, which: int) -> tuple[int, int]:
        assert which == resource.RLIMIT_NOFILE
        return self.soft, self.hard

    def set(self, which: int, pair: tuple[int, int]) -> None:
        if self.refuse:
            raise ValueError("not allowed")
        self.soft, self.hard = pair


class Case(NamedTuple):
    soft: int
    hard: int
    requested: int | None
    refuse: bool
    expected: int
    soft_after: int


CASES = {
    # The default: the soft limit raised to the hard one, less what is open and the headroom.
    "raised to the hard limit": Case(1024, 20_000, None, False, 20_000 - 10 - HEADROOM, 20_000),
    "soft is hard": Case(1024, 1024, None, False, 1024 - 10 - HEADROOM, 1024),
    "hard unlimited": Case(
        1024, INFINITY, None, False, UNLIMITED_CAP - 10 - HEADROOM, UNLIMITED_CAP
    ),
    "both unlimited": Case(INFINITY, INFINITY, None, False, UNLIMITED_CAP, INFINITY),
    # A sandbox that refuses to raise it: what the soft limit allows.
    "raising refused": Case(1024, 20_000, None, True, 1024 - 10 - HEADROOM, 1024),
    # A limit too low for any headroom still allows one connection.
    "tiny": Case(64, 64, None, False, 1, 64),
    # Given explicitly: kept as given.
    "explicit, fits": Case(1024, 20_000, 5_000, False, 5_000, 20_000),
    "explicit, too many": Case(1024, 1024, 5_000, False, 5_000, 1024),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_limit_is_raised_and_the_default_follows_it(case: Case) -> None:
    limits = Limits(case.soft, case.hard, refuse=case.refuse)
    chosen = connection_limit(case.requested, 10, limits.get, limits.set)
    assert chosen.max_connections == case.expected
    assert limits.soft == case.soft_after
    fits = case.requested is None or case.requested <= case.soft_after - 10 - HEADROOM
    assert (chosen.problem is None) == fits


def test_an_explicit_limit_the_hard_limit_cannot_hold_is_explained() -> None:
    limits = Limits(1024, 1024)
    chosen = connection_limit(5_000, 10, limits.get, limits.set)
    assert chosen == ConnectionLimit(
        5_000,
        1024,
        "--max-connections 5,000 needs about 5,266 open files, and the limit is 1,024 "
        "(ulimit -n): connections beyond 758 will fail at accept",
    )
    assert chosen.describe() == "5,000 connections at once (open-file limit 1,024)"


def _lowered(hard: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))


@pytest.mark.realsocket
def test_serve_takes_its_default_from_the_limit_and_says_so() -> None:
    """A hard limit of 2,000 and a soft one of 256: ``serve`` raises the soft one and holds
    about 1,700 connections, and its start-up line says how many."""
    process = subprocess.Popen(
        [
            sys.executable,
            *("-m", "fakeorigin", "serve", "--listen", "tcp:0:interface=127.0.0.1"),
            *("--control", "none", "--shutdown-grace", "0", "--announce"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: _lowered(2_000),  # noqa: PLW1509 (only the limit)
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()  # the announce line: listening
    finally:
        process.terminate()
        _, log = process.communicate(timeout=30)
    [line] = [line for line in log.splitlines() if "connections at once" in line]
    count = int(line.split(" connections at once")[0].rsplit(" ", 1)[1].replace(",", ""))
    assert 2_000 - HEADROOM - 64 < count <= 2_000 - HEADROOM
    assert "(open-file limit 2,000)" in line
