"""What the origin knows between exchanges: profiles, rules, the active profile, the journal.

Selection order for each request (docs/selection.md): (1) the in-band header
(``Fakeorigin-Profile: NAME`` by default), (2) the first rule that matches, (3) the active
profile. Pure Python: the control API (a later layer) changes this state; the protocol reads it
once per request head, so a change never affects an exchange already running.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fakeorigin.journal import Journal
from fakeorigin.profile import Profile
from fakeorigin.wire import RequestHead

DEFAULT_INBAND_HEADER = "Fakeorigin-Profile"


class UnknownProfileError(LookupError):
    """A request or setting named a profile that does not exist."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown profile {name!r}; known profiles: {', '.join(known)}")


@dataclass(slots=True)
class Rule:
    """Route matching requests to a profile.

    Attributes:
        profile: the profile's name.
        method: match this method exactly (e.g. ``"POST"``); None matches any.
        path_prefix: match targets starting with this; None matches any.
        headers: every (name, value) must be present, name case-insensitive, value exact.
        remaining: how many more requests it serves; None for no limit. At 0 it no longer
            matches.
    """

    profile: str
    method: str | None = None
    path_prefix: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    remaining: int | None = None

    def matches(self, request: RequestHead) -> bool:
        """True when this rule applies to ``request`` (and has uses left)."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method is not None and request.method != self.method.encode("latin-1"):
            return False
        if self.path_prefix is not None and not request.target.startswith(
            self.path_prefix.encode("latin-1")
        ):
            return False
        return all(
            value.encode("latin-1") in request.values(name.encode("latin-1"))
            for name, value in self.headers
        )


@dataclass(frozen=True, slots=True)
class Selection:
    """The profile picked for a request and how: ``header``, ``rule`` or ``active``."""

    profile: Profile
    selected_by: str


@dataclass(slots=True)
class OriginState:
    """Profiles by name, rules in order, the active profile's name, the journal.

    Attributes:
        inband_header: the request header that picks a profile, or None when in-band
            selection is off (``--no-inband``).
    """

    profiles: dict[str, Profile]
    active: str
    journal: Journal
    rules: list[Rule] = field(default_factory=list)
    inband_header: str | None = DEFAULT_INBAND_HEADER

    def __post_init__(self) -> None:
        self.profile(self.active)

    def profile(self, name: str) -> Profile:
        """The profile called ``name``; UnknownProfileError names the known ones."""
        try:
            return self.profiles[name]
        except KeyError:
            raise UnknownProfileError(name, sorted(self.profiles)) from None

    def select(self, request: RequestHead) -> Selection:
        """Pick the profile for ``request``; a rule with a count uses one up."""
        if self.inband_header is not None:
            named = request.first(self.inband_header.encode("latin-1"))
            if named is not None:
                return Selection(self.profile(named.decode("latin-1").strip()), "header")
        for rule in self.rules:
            if rule.matches(request):
                if rule.remaining is not None:
                    rule.remaining -= 1
                return Selection(self.profile(rule.profile), "rule")
        return Selection(self.profile(self.active), "active")
