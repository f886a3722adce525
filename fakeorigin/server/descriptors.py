"""How many connections ``fakeorigin serve`` can hold at once: the open-file limit.

Every connection is a file descriptor, so the process's soft ``RLIMIT_NOFILE`` bounds them. As
servers commonly do (Go's runtime since 1.19, Java's, systemd units with ``LimitNOFILE``),
``serve`` raises the soft limit to the hard one at start (where the hard limit is unlimited,
to :data:`UNLIMITED_CAP`, Linux's default ``fs.nr_open``). Without ``--max-connections`` the
limit is what that allows: the soft limit less the descriptors already open and
:data:`HEADROOM` for the listening sockets, the control API's connections, the journal dump and
the log. A load the machine's limit allows is then never reset at accept. An explicit
``--max-connections`` is kept as given, and warned about when the limit cannot hold it.

Pure: the limit functions are passed in, so the tests need no process of their own.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from dataclasses import dataclass

#: Descriptors kept for what is not an origin connection: listening sockets, the control
#: API's connections (a fixture's client, a long poll or two), the journal dump, the log.
HEADROOM = 256
#: The soft limit asked for when the hard limit is unlimited (Linux's default fs.nr_open).
UNLIMITED_CAP = 1 << 20


@dataclass(frozen=True, slots=True)
class ConnectionLimit:
    """What ``serve`` found and chose.

    Attributes:
        max_connections: connections open at once; one more is reset at accept.
        soft: the open-file soft limit after raising it (None: unlimited).
        problem: why ``max_connections`` (given explicitly) may not be reached, or None.
    """

    max_connections: int
    soft: int | None
    problem: str | None = None

    def describe(self) -> str:
        """One line for the start-up log."""
        soft = "unlimited" if self.soft is None else f"{self.soft:,}"
        return f"{self.max_connections:,} connections at once (open-file limit {soft})"


def _limit(value: int) -> int | None:
    return None if value == resource.RLIM_INFINITY else value


def connection_limit(
    requested: int | None,
    open_now: int,
    getrlimit: Callable[[int], tuple[int, int]] = resource.getrlimit,
    setrlimit: Callable[[int, tuple[int, int]], None] = resource.setrlimit,
) -> ConnectionLimit:
    """Raise the soft open-file limit to the hard one, then choose ``--max-connections``:
    ``requested`` if given, else what the limit leaves after ``open_now`` descriptors and
    :data:`HEADROOM`."""
    soft, hard = getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_CAP if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass  # a sandbox may refuse: the soft limit stays
        else:
            soft = target
    usable = None if soft == resource.RLIM_INFINITY else soft - open_now - HEADROOM
    if requested is None:
        chosen = UNLIMITED_CAP if usable is None else max(1, usable)
        return ConnectionLimit(chosen, _limit(soft))
    problem = None
    if usable is not None and requested > usable:
        problem = (
            f"--max-connections {requested:,} needs about {requested + open_now + HEADROOM:,} "
            f"open files, and the limit is {soft:,} (ulimit -n): connections beyond "
            f"{max(0, usable):,} will fail at accept"
        )
    return ConnectionLimit(requested, _limit(soft), problem)


def open_descriptors() -> int:
    """How many descriptors this process has open (0 where /proc/self/fd cannot tell)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0
