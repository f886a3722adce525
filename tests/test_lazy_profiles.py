"""``serve`` reads the bundled profiles at their first use (fakeorigin/core/loader.py: Profiles,
profile_entries): the same profiles, the same order and override rules, errors of the user's
directories still at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakeorigin.core.journal import Journal
from fakeorigin.core.loader import ProfileError, Profiles, bundled_profiles_dir, load_profile_dirs
from fakeorigin.core.loader import profile_entries as entries
from fakeorigin.core.profile import Profile
from fakeorigin.core.state import OriginState

BUNDLED = bundled_profiles_dir()
HANG = "name: hang\nsteps:\n  - respond: {status: 299}\n"


def test_nothing_is_read_until_asked_and_each_file_once() -> None:
    read: list[str] = []
    profiles = entries([BUNDLED], lazy=BUNDLED)
    profiles.on_read = lambda profile, path: read.append(path.name)
    assert sorted(profiles.pending()) == sorted(profiles)  # every one is a file still
    first = profiles["violation-100-twice"]
    copy = profiles.copy()
    assert copy["violation-100-twice"] is first  # a copy shares what was read
    assert read == ["violation-100-twice.yaml"]
    assert dict(profiles) == load_profile_dirs([BUNDLED])  # a listing reads them all
    assert profiles.pending() == []


def test_a_later_directory_still_wins_either_way(tmp_path: Path) -> None:
    (tmp_path / "hang.yaml").write_text(HANG)
    mine_last = entries([BUNDLED, tmp_path], lazy=BUNDLED)
    bundled_last = entries([tmp_path, BUNDLED], lazy=BUNDLED)
    assert mine_last["hang"].steps[0].kind == "respond"
    assert bundled_last["hang"].steps[0].kind == "hang"
    assert list(mine_last) == list(load_profile_dirs([BUNDLED, tmp_path]))


def test_the_users_broken_profile_fails_at_start_up(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\nsteps: []\n")
    with pytest.raises(ProfileError, match=r"broken\.yaml"):
        entries([BUNDLED, tmp_path], lazy=BUNDLED)
    with pytest.raises(ProfileError, match="not a directory"):
        entries([BUNDLED, tmp_path / "missing"], lazy=BUNDLED)


def test_state_reset_keeps_the_files_unread_and_the_api_profiles_gone() -> None:
    state = OriginState(entries([BUNDLED], lazy=BUNDLED), "default", Journal(10))
    assert isinstance(state.profiles, Profiles)
    assert "hang" in state.profiles.pending()
    state.put_profile(Profile.model_validate({"name": "mine", "steps": [{"hang": {}}]}))
    assert state.profile("hang").name == "hang"
    state.reset()
    assert "mine" not in state.profiles
    assert state.profile("hang").name == "hang"
