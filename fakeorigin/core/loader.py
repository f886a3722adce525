"""Read profiles from YAML (safe loader) or from parsed data, with located errors.

Every error names its source and the location inside it, e.g.
``profiles/x.yaml: steps[2].informational.status: must be 100..199 except 101 (got 200)``.
Loading is all or nothing: a directory with one broken file loads nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from fakeorigin.core.profile import Profile

PROFILE_SUFFIXES = (".yaml", ".yml")
#: libyaml's safe loader when PyYAML was built with it (its wheels are): the same documents,
#: many times faster than the pure-Python loader, whose parsing of the bundled profiles was the
#: largest part of start-up after the imports.
_FAST_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_FAST_SAFE_LOADER)
    except yaml.YAMLError:
        # libyaml words its errors differently: the pure loader's messages and marks are the
        # documented ones, so a broken document is parsed again (errors are rare).
        return yaml.safe_load(text)


@dataclass(frozen=True, slots=True)
class Problem:
    """One error: the source (a file, an API request), where in it, and what is wrong."""

    source: str
    location: str
    message: str

    def __str__(self) -> str:
        where = self.location
        if where.startswith(":"):  # a YAML line:column belongs to the source
            return f"{self.source}{where}: {self.message}"
        return (
            f"{self.source}: {where}: {self.message}" if where else f"{self.source}: {self.message}"
        )


class ProfileError(Exception):
    """One or more profiles are invalid.

    Attributes:
        located: one :class:`Problem` per error.
        problems: the same as lines, e.g. ``profiles/x.yaml: steps[0].sleep: ...``.
    """

    def __init__(self, located: Sequence[Problem]) -> None:
        self.located = list(located)
        self.problems = [str(problem) for problem in self.located]
        super().__init__("\n".join(self.problems))


def bundled_profiles_dir() -> Path:
    """The directory of the profiles shipped with fakeorigin.

    In a wheel they sit inside the package (``fakeorigin/bundled_profiles``); in a checkout or
    an editable install they are the repository's top-level ``profiles/``.
    """
    package = Path(__file__).resolve().parent.parent  # fakeorigin/, from fakeorigin/core/
    inside = package / "bundled_profiles"
    return inside if inside.is_dir() else package.parent / "profiles"


def format_location(loc: Iterable[int | str]) -> str:
    """A pydantic error location as a path: ``steps[2].informational.status``.

    pydantic repeats a step's key once as the union tag and once as the field name: the
    repetition is dropped.
    """
    text = ""
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != previous:
            text += f".{part}" if text else part
        previous = part
    return text


def validation_problems(source: str, err: ValidationError) -> list[Problem]:
    """One located Problem per pydantic error."""
    found = []
    for detail in err.errors(include_url=False):
        message = detail["msg"]
        if detail["type"] == "step_kind":
            message += f" (got {_short(detail['input'])})"
        found.append(Problem(source, format_location(detail["loc"]), message))
    return found


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def profile_from_data(data: Any, source: str, *, name: str | None = None) -> Profile:
    """Validate parsed YAML/JSON ``data`` into a Profile; ``name`` fills in or must match."""
    if not isinstance(data, dict):
        raise ProfileError(
            [Problem(source, "", f"a profile is a mapping (got {type(data).__name__})")]
        )
    if name is not None:
        given = data.get("name", name)
        if given != name:
            raise ProfileError(
                [
                    Problem(
                        source, "name", f"{given!r} does not match the file or path name {name!r}"
                    )
                ]
            )
        data = {**data, "name": name}
    try:
        return Profile.model_validate(data)
    except ValidationError as err:
        raise ProfileError(validation_problems(source, err)) from err


def profile_from_yaml(text: str, source: str, *, name: str | None = None) -> Profile:
    """Parse YAML ``text`` with the safe loader and validate it; errors carry line:column."""
    try:
        data = _parse_yaml(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise ProfileError([Problem(source, where, f"invalid YAML: {err.problem}")]) from err
    except yaml.YAMLError as err:
        raise ProfileError([Problem(source, "", f"invalid YAML: {err}")]) from err
    return profile_from_data(data, source, name=name)


def load_profile_file(path: Path) -> Profile:
    """Read one profile file; its ``name`` must equal the file stem (or is taken from it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError([Problem(str(path), "", f"cannot read: {err}")]) from err
    return profile_from_yaml(text, str(path), name=path.stem)


def profile_files(directory: Path) -> list[Path]:
    """The profile files of ``directory``, sorted by name."""
    return sorted(p for p in directory.iterdir() if p.suffix in PROFILE_SUFFIXES)


def load_profile_dir(directory: Path) -> dict[str, Profile]:
    """Every profile of ``directory`` by name; all files' errors are reported together."""
    return load_profile_dirs([directory])


def load_profile_dirs(directories: Sequence[Path]) -> dict[str, Profile]:
    """Every profile of every directory by name; a later directory's profile replaces an
    earlier one of the same name (so ``bundled /profiles`` adds to the bundled set). A
    directory may be empty as long as one profile is found in all."""
    return dict(profile_entries(directories))


def _load_into(profiles: dict[str, Profile], directory: Path) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for path in profile_files(directory):
        try:
            profile = load_profile_file(path)
        except ProfileError as err:
            problems.extend(err.located)
            continue
        if profile.name in seen:
            problems.append(Problem(str(path), "name", f"{profile.name!r} is defined twice"))
        seen.add(profile.name)
        profiles[profile.name] = profile
    return problems


class Profiles(MutableMapping[str, Profile]):
    """Profiles by name, some of them files read at their first use.

    ``serve`` reads the bundled profiles this way: they ship with fakeorigin and its tests
    validate each one, so at start-up it only lists their files, and a bundled profile is read
    and validated when a request, a rule or the control API first asks for it (a listing asks
    for all). Start-up then validates only the user's profiles and the active one, and imports
    the violation catalogue only if one of those uses it: about 20 ms of ``serve``'s start.

    Copies (:meth:`copy`, for the control API's reset) share what has been read.

    Attributes:
        on_read: called with each profile read from a pending file, and the file.
    """

    def __init__(
        self,
        entries: Mapping[str, Profile | Path] | None = None,
        on_read: Callable[[Profile, Path], None] | None = None,
        *,
        _read: dict[Path, Profile] | None = None,
    ) -> None:
        self._entries: dict[str, Profile | Path] = dict(entries or {})
        self._read = {} if _read is None else _read
        self.on_read = on_read

    def __getitem__(self, name: str) -> Profile:
        entry = self._entries[name]
        if isinstance(entry, Profile):
            return entry
        profile = self._read.get(entry)
        if profile is None:
            profile = self._read[entry] = load_profile_file(entry)
            if self.on_read is not None:
                self.on_read(profile, entry)
        self._entries[name] = profile
        return profile

    def __setitem__(self, name: str, profile: Profile) -> None:
        self._entries[name] = profile

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def pending(self) -> list[str]:
        """The names whose files have not been read yet."""
        return [name for name, entry in self._entries.items() if isinstance(entry, Path)]

    def copy(self) -> Profiles:
        """The same entries, sharing what has been read."""
        return Profiles(self._entries, self.on_read, _read=self._read)


def profile_entries(directories: Sequence[Path], *, lazy: Path | None = None) -> Profiles:
    """:func:`load_profile_dirs`, but the files of the ``lazy`` directory are listed, not
    read; every other directory's errors are reported together."""
    entries: dict[str, Profile | Path] = {}
    problems: list[Problem] = []
    for directory in directories:
        if not directory.is_dir():
            problems.append(Problem(str(directory), "", "not a directory"))
        elif directory == lazy:
            entries.update((path.stem, path) for path in profile_files(directory))
        else:
            loaded: dict[str, Profile] = {}
            problems.extend(_load_into(loaded, directory))
            entries.update(loaded)
    if problems:
        raise ProfileError(problems)
    if not entries:
        where = " ".join(str(d) for d in directories)
        raise ProfileError([Problem(where, "", "no profile files (*.yaml, *.yml)")])
    return Profiles(entries)


def profile_sources(directories: Sequence[Path]) -> dict[str, Path]:
    """The file each profile of ``directories`` comes from: a later directory's wins, as in
    :func:`load_profile_dirs` (a profile's name is its file stem)."""
    sources: dict[str, Path] = {}
    for directory in directories:
        for path in profile_files(directory):
            sources[path.stem] = path
    return sources
