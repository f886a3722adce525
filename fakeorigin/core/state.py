"""What the origin knows between exchanges: profiles, rules, the active profile, the journal.

Selection order for each request (docs/architecture.md): (1) the in-band header
(``Fakeorigin-Profile: NAME`` by default), (2) the first rule that matches, (3) the active
profile. Pure Python: the control API (a later layer) changes this state; the protocol reads it
once per request head, so a change never affects an exchange already running.
"""

from __future__ import annotations

import functools
import re
from collections.abc import MutableMapping
from dataclasses import dataclass, field

from fakeorigin.core.identity_cache import PerObject
from fakeorigin.core.journal import Journal
from fakeorigin.core.loader import Profiles
from fakeorigin.core.profile import Profile
from fakeorigin.core.wire import RequestHead

DEFAULT_INBAND_HEADER = "Fakeorigin-Profile"


@functools.cache
def _latin1(name: str) -> bytes:
    """A header name as bytes, encoded once (the in-band header is read per request)."""
    return name.encode("latin-1")


class UnknownProfileError(LookupError):
    """A request or setting named a profile that does not exist."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(f"unknown profile {name!r}; known profiles: {', '.join(known)}")


class ProfileInUseError(Exception):
    """A profile cannot be deleted while it is active or a rule names it."""

    def __init__(self, name: str, why: str) -> None:
        self.name = name
        super().__init__(f"profile {name!r} is {why}")


class UnknownRuleError(LookupError):
    """No rule has this id."""

    def __init__(self, rule_id: int) -> None:
        self.rule_id = rule_id
        super().__init__(f"no rule with id {rule_id}")


@dataclass(slots=True)
class Rule:
    """Route matching requests to a profile.

    Attributes:
        profile: the profile's name.
        method: match this method exactly (e.g. ``"POST"``); None matches any.
        path_prefix: match request targets starting with this; None matches any.
        headers: every (name, value) must be present, name case-insensitive, value exact.
        remaining: how many more requests it serves; None for no limit. At 0 it no longer
            matches, and stays listed (with 0 left) until deleted or reset.
        path_regex: match request targets in which this regular expression is found
            (``re.search``); None matches any.
        id: given when the rule is added to the state.
        times: the count the rule was created with (None for no limit).
    """

    profile: str
    method: str | None = None
    path_prefix: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    remaining: int | None = None
    path_regex: re.Pattern[str] | None = None
    id: int = 0
    times: int | None = None

    def matches(self, request: RequestHead) -> bool:
        """True when this rule applies to ``request`` (and has uses left)."""
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method is not None and request.method != self.method.encode("latin-1"):
            return False
        target = request.target.decode("latin-1")
        if self.path_prefix is not None and not target.startswith(self.path_prefix):
            return False
        if self.path_regex is not None and not self.path_regex.search(target):
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


#: Each profile's selection by how it was chosen (``header``, ``rule``, ``active``): the
#: same few for every request, made once.
_SELECTIONS: PerObject[Profile, str, Selection] = PerObject(Selection)


@dataclass(frozen=True, slots=True)
class Claim:
    """A rule with a count matched in a worker of ``--workers N``: the count lives in the
    parent, which must grant one of its uses (:meth:`OriginState.claimed`) before the rule's
    profile is served, so that K uses are K across every worker."""

    rule: Rule


@dataclass(slots=True)
class OriginState:
    """Profiles by name, rules in order, the active profile's name, the journal.

    Attributes:
        inband_header: the request header that picks a profile, or None when in-band
            selection is off (``--no-inband``).
        sources: where each profile came from: ``file`` or ``api``.
        claims: a worker's state (``--workers N``): a rule with a count is not counted down
            here; :meth:`select` answers a :class:`Claim` for it instead.
    """

    profiles: MutableMapping[str, Profile]
    active: str
    journal: Journal
    rules: list[Rule] = field(default_factory=list)
    inband_header: str | None = DEFAULT_INBAND_HEADER
    sources: dict[str, str] = field(default_factory=dict)
    claims: bool = False
    _startup: tuple[Profiles, str] = field(init=False, repr=False)
    _next_rule_id: int = field(default=1, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.profiles, Profiles):
            self.profiles = Profiles(self.profiles)
        self.profile(self.active)
        for name in self.profiles:
            self.sources.setdefault(name, "file")
        self._startup = (self.profiles.copy(), self.active)

    def profile(self, name: str) -> Profile:
        """The profile called ``name``; UnknownProfileError names the known ones."""
        try:
            return self.profiles[name]
        except KeyError:
            raise UnknownProfileError(name, sorted(self.profiles)) from None

    def select(self, request: RequestHead) -> Selection:
        """Pick the profile for ``request``; a rule with a count uses one up."""
        chosen = self.choose(request)
        if isinstance(chosen, Claim):
            raise RuntimeError("a worker's state: use choose() and claimed()")
        return chosen

    def choose(self, request: RequestHead) -> Selection | Claim:
        """:meth:`select`; in a worker's state, a :class:`Claim` for a rule with a count."""
        if self.inband_header is not None:
            named = request.first(_latin1(self.inband_header))
            if named is not None:
                return _SELECTIONS.get(self.profile(named.decode("latin-1").strip()), "header")
        for rule in self.rules:
            if rule.matches(request):
                if rule.remaining is not None:
                    if self.claims:
                        return Claim(rule)
                    rule.remaining -= 1
                return _SELECTIONS.get(self.profile(rule.profile), "rule")
        return _SELECTIONS.get(self.profile(self.active), "active")

    def claimed(self, request: RequestHead, claim: Claim, granted: bool) -> Selection | Claim:
        """The parent's answer to ``claim``: granted, the rule's profile; refused (its uses
        are gone, through another worker), the rule stops matching here and the next choice
        is made."""
        rule = claim.rule
        if granted:
            rule.remaining = max(0, (rule.remaining or 1) - 1)
            return _SELECTIONS.get(self.profile(rule.profile), "rule")
        rule.remaining = 0
        return self.choose(request)

    def grant(self, rule_id: int) -> bool:
        """In the parent of ``--workers N``: use one of the rule's uses for a worker's
        :class:`Claim`; False when it has none left (or is gone)."""
        for rule in self.rules:
            if rule.id == rule_id:
                if rule.remaining is None:
                    return True
                if rule.remaining > 0:
                    rule.remaining -= 1
                    return True
                return False
        return False

    # -- changes (the control API); each is atomic: it validates, then changes --------------

    def put_profile(self, profile: Profile) -> bool:
        """Add or replace a profile (source ``api``); True when it is new.

        Exchanges already running keep the profile object they started with.
        """
        created = profile.name not in self.profiles
        self.profiles[profile.name] = profile
        self.sources[profile.name] = "api"
        return created

    def delete_profile(self, name: str) -> None:
        """Remove a profile; refused while it is active or a rule names it."""
        self.profile(name)
        if name == self.active:
            raise ProfileInUseError(name, "the active profile")
        users = [rule.id for rule in self.rules if rule.profile == name]
        if users:
            raise ProfileInUseError(name, f"used by rule {', '.join(map(str, users))}")
        del self.profiles[name]
        del self.sources[name]

    def set_active(self, name: str) -> None:
        """Make ``name`` the active profile for requests that arrive from now on."""
        self.profile(name)
        self.active = name

    def add_rule(self, rule: Rule) -> Rule:
        """Append ``rule`` (its profile must exist) and give it the next id."""
        self.profile(rule.profile)
        rule.id = self._next_rule_id
        self._next_rule_id += 1
        rule.times = rule.remaining
        self.rules.append(rule)
        return rule

    def delete_rule(self, rule_id: int) -> None:
        """Remove the rule with ``rule_id``."""
        for index, rule in enumerate(self.rules):
            if rule.id == rule_id:
                del self.rules[index]
                return
        raise UnknownRuleError(rule_id)

    def restore_file_profile(self, name: str) -> None:
        """Serve the profile ``name`` from the files again (source ``file``), as at start."""
        self.profiles[name] = self._startup[0][name]
        self.sources[name] = "file"

    def reset(self) -> None:
        """Back to the start-up state: file profiles only, no rules, the start-up active
        profile, an empty journal."""
        profiles, active = self._startup
        self.profiles = profiles.copy()
        self.sources = dict.fromkeys(profiles, "file")
        self.active = active
        self.rules.clear()
        self.journal.clear()
