"""Profile selection: in-band header, then rules in order, then the active profile."""

from __future__ import annotations

import pytest

from fakeorigin.core.journal import Journal
from fakeorigin.core.loader import bundled_profiles_dir, load_profile_dir
from fakeorigin.core.state import OriginState, Rule, UnknownProfileError
from fakeorigin.core.wire import RequestHead


@pytest.fixture
def state() -> OriginState:
    return OriginState(load_profile_dir(bundled_profiles_dir()), "default", Journal(10))


def request(
    method: bytes = b"GET", target: bytes = b"/", *headers: tuple[bytes, bytes]
) -> RequestHead:
    return RequestHead(method, target, b"1.1", tuple(headers))


def test_active_profile_by_default(state: OriginState) -> None:
    chosen = state.select(request())
    assert (chosen.profile.name, chosen.selected_by) == ("default", "active")


def test_a_replaced_profile_is_the_one_chosen_next(state: OriginState) -> None:
    # A selection is made once per profile object and kept: a new object is a new selection.
    before = state.select(request()).profile
    assert state.select(request()).profile is before
    state.put_profile(before.model_copy())
    after = state.select(request())
    assert after.profile is state.profiles["default"] is not before
    assert after.selected_by == "active"


def test_inband_header_wins_over_rules(state: OriginState) -> None:
    state.rules.append(Rule("hang"))
    chosen = state.select(request(b"GET", b"/", (b"fakeorigin-profile", b" early-hints ")))
    assert (chosen.profile.name, chosen.selected_by) == ("early-hints", "header")


def test_unknown_inband_name_lists_the_known_ones(state: OriginState) -> None:
    with pytest.raises(UnknownProfileError) as caught:
        state.select(request(b"GET", b"/", (b"Fakeorigin-Profile", b"nope")))
    assert caught.value.name == "nope"
    assert caught.value.known == sorted(state.profiles)


def test_inband_selection_can_be_switched_off(state: OriginState) -> None:
    state.inband_header = None
    chosen = state.select(request(b"GET", b"/", (b"Fakeorigin-Profile", b"nope")))
    assert chosen.selected_by == "active"


def test_inband_header_name_is_configurable(state: OriginState) -> None:
    state.inband_header = "X-Origin-Profile"
    chosen = state.select(request(b"GET", b"/", (b"x-origin-profile", b"hang")))
    assert chosen.profile.name == "hang"


@pytest.mark.parametrize(
    ("rule", "matching", "other"),
    [
        (Rule("hang", method="POST"), request(b"POST"), request(b"GET")),
        (Rule("hang", path_prefix="/slow"), request(b"GET", b"/slow/1"), request(b"GET", b"/x")),
        (
            Rule("hang", headers=(("X-Case", "7"),)),
            request(b"GET", b"/", (b"x-case", b"7")),
            request(b"GET", b"/", (b"x-case", b"8")),
        ),
    ],
    ids=["method", "path-prefix", "header"],
)
def test_rule_matching(
    state: OriginState, rule: Rule, matching: RequestHead, other: RequestHead
) -> None:
    state.rules.append(rule)
    assert state.select(matching).selected_by == "rule"
    assert state.select(other).selected_by == "active"


def test_first_matching_rule_wins_and_counts_down(state: OriginState) -> None:
    state.rules.extend([Rule("early-hints", remaining=2), Rule("hang")])
    picked = [state.select(request()).profile.name for _ in range(4)]
    assert picked == ["early-hints", "early-hints", "hang", "hang"]
    assert state.rules[0].remaining == 0


def test_unknown_active_profile_is_refused() -> None:
    with pytest.raises(UnknownProfileError):
        OriginState(load_profile_dir(bundled_profiles_dir()), "nope", Journal(1))
