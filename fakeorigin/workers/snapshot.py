"""What the parent of ``--workers N`` pushes to every worker after each change: the profiles
the control API put or deleted, the active profile, the rules with their counts.

Pure Python. A snapshot is a JSON-ready dict and is always whole, so a worker started again
gets the same one as the others and nothing depends on the order of earlier pushes. A
profile from the files is named (``None``): every worker read the same files at its start;
a profile from the API travels as its document and is validated again in the worker (each
document once, :class:`Applier` keeps what it parsed).
"""

from __future__ import annotations

import json
import re
from typing import Any

from fakeorigin.core.loader import profile_from_data
from fakeorigin.core.profile import Profile
from fakeorigin.core.state import OriginState, Rule


def take(state: OriginState) -> dict[str, Any]:
    """The parent's state as a snapshot."""
    profiles: dict[str, Any] = {}
    for name in state.profiles:
        if state.sources.get(name) == "api":
            profile = state.profiles[name]
            profiles[name] = profile.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        else:
            profiles[name] = None
    return {
        "profiles": profiles,
        "active": state.active,
        "rules": [
            {
                "id": rule.id,
                "profile": rule.profile,
                "method": rule.method,
                "path_prefix": rule.path_prefix,
                "path_regex": None if rule.path_regex is None else rule.path_regex.pattern,
                "headers": [list(pair) for pair in rule.headers],
                "remaining": rule.remaining,
                "times": rule.times,
            }
            for rule in state.rules
        ],
    }


class Applier:
    """Makes a worker's state what a snapshot says."""

    def __init__(self, state: OriginState) -> None:
        self.state = state
        self._parsed: dict[str, tuple[str, Profile]] = {}

    def apply(self, snapshot: dict[str, Any]) -> None:
        """Profiles first (a rule or the active profile may name a new one), then the rest."""
        state = self.state
        wanted: dict[str, Any] = snapshot["profiles"]
        for name in [n for n in state.profiles if n not in wanted]:
            del state.profiles[name]
            state.sources.pop(name, None)
        for name, document in wanted.items():
            if document is None:
                if state.sources.get(name) != "file" or name not in state.profiles:
                    state.restore_file_profile(name)
                continue
            text = json.dumps(document, sort_keys=True)
            known = self._parsed.get(name)
            if known is None or known[0] != text:
                known = (text, profile_from_data(document, f"profile {name!r}", name=name))
                self._parsed[name] = known
            state.profiles[name] = known[1]
            state.sources[name] = "api"
        state.active = snapshot["active"]
        state.rules[:] = [_rule(data) for data in snapshot["rules"]]


def _rule(data: dict[str, Any]) -> Rule:
    regex = data["path_regex"]
    return Rule(
        profile=data["profile"],
        method=data["method"],
        path_prefix=data["path_prefix"],
        headers=tuple((name, value) for name, value in data["headers"]),
        remaining=data["remaining"],
        path_regex=None if regex is None else re.compile(regex),
        id=data["id"],
        times=data["times"],
    )
