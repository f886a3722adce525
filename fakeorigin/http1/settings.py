"""What limits every HTTP/1.1 connection: the timeouts and the linger, from ``serve``'s options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OriginSettings:
    """Per-connection limits.

    Attributes:
        max_duration_seconds: an exchange still running after this long is closed and
            journaled as ``max-duration`` (``hang`` ends here).
        linger_seconds: how long a lingering close drains an unread upload before closing.
        header_timeout_seconds: how long a request head may take to arrive, from its first
            byte (or from the end of the previous exchange, when it began during that one);
            then it is answered 408 (``--header-timeout``).
        idle_timeout_seconds: how long a connection may wait with no request under way (no
            byte of one yet: a new connection, or a kept one after its response); then it is
            closed with a FIN (``--idle-timeout``).
        stall_timeout_seconds: how long the response may wait on a client that reads nothing
            (Twisted's write buffer full, the profile paused); then the exchange is journaled
            ``stalled`` and the connection reset (``--stall-timeout``).
    """

    max_duration_seconds: float = 600.0
    linger_seconds: float = 2.0
    header_timeout_seconds: float = 60.0
    idle_timeout_seconds: float = 300.0
    stall_timeout_seconds: float = 60.0
