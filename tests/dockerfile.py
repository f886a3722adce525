"""Read a Dockerfile and a .dockerignore the way Docker does, for tests that have no Docker engine.

:func:`parse_dockerfile` splits a Dockerfile into stages of instructions (continuation lines
joined, comments dropped, ``ARG`` values substituted where Docker substitutes them) and gives
the final stage's run-time configuration: ENTRYPOINT, CMD, ENV, LABEL, EXPOSE, VOLUME, USER,
WORKDIR, HEALTHCHECK, STOPSIGNAL. :class:`DockerIgnore` is the ``.dockerignore`` matcher
(last matching pattern wins, ``!`` re-includes, a pattern matching a parent directory matches
everything below it). :func:`context_problems` and :func:`stage_context` replay a stage's
``COPY`` instructions against a build context.

Only the syntax a small Dockerfile needs is understood; anything else (shell-form ENTRYPOINT,
``ADD``, ``ONBUILD``, ``${VAR:-default}``, an escape directive) raises
:class:`DockerfileError` with the line, so a test never runs something Docker would not.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

#: Instructions whose arguments Docker expands ``$VAR`` / ``${VAR}`` in (the rest run in a
#: shell or not at all).
_EXPANDED = frozenset(
    {"COPY", "ENV", "EXPOSE", "FROM", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}
)
_KNOWN = _EXPANDED | {"ARG", "CMD", "ENTRYPOINT", "HEALTHCHECK", "RUN", "SHELL"}
_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DockerfileError(Exception):
    """A Dockerfile these tests cannot read the way Docker would."""


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction: its keyword, its ``--flag=value`` options and the rest.

    Attributes:
        line: where it starts (1-based).
        keyword: upper-case (``COPY``).
        flags: ``(name, value)`` pairs in order (``("from", "build")``); a flag may repeat.
        arguments: the text after the flags, continuation lines joined, variables expanded
            for the instructions Docker expands them in.
    """

    line: int
    keyword: str
    flags: tuple[tuple[str, str], ...]
    arguments: str

    def flag(self, name: str) -> str | None:
        """The last value of ``--name``, or None."""
        values = [value for key, value in self.flags if key == name]
        return values[-1] if values else None

    def exec_form(self) -> list[str]:
        """The JSON array form (``["fakeorigin", "serve"]``); shell form is an error."""
        try:
            value = json.loads(self.arguments)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
            raise DockerfileError(
                f"line {self.line}: {self.keyword} must use the JSON array (exec) form, got "
                f"{self.arguments!r}"
            )
        return value

    def pairs(self) -> dict[str, str]:
        """``KEY=VALUE ...`` (ENV, LABEL), quotes removed as a shell would."""
        result: dict[str, str] = {}
        for word in shlex.split(self.arguments):
            key, equals, value = word.partition("=")
            if not equals or not key:
                raise DockerfileError(
                    f"line {self.line}: {self.keyword} {word!r}: use KEY=VALUE (the legacy "
                    "'KEY VALUE' form is not supported)"
                )
            result[key] = value
        return result


@dataclass(frozen=True, slots=True)
class Stage:
    """One ``FROM`` and the instructions after it."""

    base: str
    name: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        """The instruction that takes effect (Docker keeps the last ENTRYPOINT, CMD, ...)."""
        found = self.all(keyword)
        return found[-1] if found else None


@dataclass(frozen=True, slots=True)
class Healthcheck:
    """``HEALTHCHECK [--option=value ...] CMD [...]``; durations in seconds."""

    command: list[str]
    interval_seconds: float
    timeout_seconds: float
    start_period_seconds: float
    retries: int


@dataclass(frozen=True, slots=True)
class Dockerfile:
    """The stages of a Dockerfile; the properties describe the final stage (the image)."""

    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise DockerfileError(f"no stage named {name!r}")

    @property
    def entrypoint(self) -> list[str]:
        found = self.final.last("ENTRYPOINT")
        return [] if found is None else found.exec_form()

    @property
    def cmd(self) -> list[str]:
        # Setting ENTRYPOINT resets the base image's CMD: no CMD here means no arguments.
        found = self.final.last("CMD")
        return [] if found is None else found.exec_form()

    @property
    def command(self) -> list[str]:
        """What ``docker run IMAGE`` executes: ENTRYPOINT then CMD."""
        return self.entrypoint + self.cmd

    @property
    def env(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for instruction in self.final.all("ENV"):
            result.update(instruction.pairs())
        return result

    @property
    def labels(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for instruction in self.final.all("LABEL"):
            result.update(instruction.pairs())
        return result

    @property
    def exposed_ports(self) -> list[int]:
        ports = []
        for instruction in self.final.all("EXPOSE"):
            for word in instruction.arguments.split():
                number, _, protocol = word.partition("/")
                if protocol not in ("", "tcp"):
                    raise DockerfileError(f"line {instruction.line}: EXPOSE {word}: tcp only")
                ports.append(int(number))
        return ports

    @property
    def volumes(self) -> list[str]:
        result: list[str] = []
        for instruction in self.final.all("VOLUME"):
            if instruction.arguments.startswith("["):
                result.extend(instruction.exec_form())
            else:
                result.extend(instruction.arguments.split())
        return result

    @property
    def user(self) -> str | None:
        found = self.final.last("USER")
        return None if found is None else found.arguments

    @property
    def workdir(self) -> str | None:
        found = self.final.last("WORKDIR")
        return None if found is None else found.arguments

    @property
    def stopsignal(self) -> str | None:
        found = self.final.last("STOPSIGNAL")
        return None if found is None else found.arguments

    @property
    def healthcheck(self) -> Healthcheck | None:
        found = self.final.last("HEALTHCHECK")
        if found is None or found.arguments.upper() == "NONE":
            return None
        keyword, _, rest = found.arguments.partition(" ")
        if keyword.upper() != "CMD":
            raise DockerfileError(f"line {found.line}: HEALTHCHECK needs CMD or NONE")
        command = Instruction(found.line, "HEALTHCHECK CMD", (), rest.strip()).exec_form()
        unknown = {name for name, _ in found.flags} - {
            "interval",
            "timeout",
            "start-period",
            "retries",
        }
        if unknown:
            raise DockerfileError(f"line {found.line}: HEALTHCHECK options {sorted(unknown)}")

        # Docker's defaults: 30 s interval, 30 s timeout, 0 s start period, 3 retries.
        def seconds(name: str, default: float) -> float:
            value = found.flag(name)
            return default if value is None else duration_seconds(value)

        return Healthcheck(
            command=command,
            interval_seconds=seconds("interval", 30.0),
            timeout_seconds=seconds("timeout", 30.0),
            start_period_seconds=seconds("start-period", 0.0),
            retries=int(found.flag("retries") or 3),
        )


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str) -> float:
    """A Go duration as HEALTHCHECK takes it (``10s``, ``1m30s``, ``500ms``) in seconds."""
    parts = _DURATION.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise DockerfileError(f"not a duration: {text!r}")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) per instruction: comments dropped, continuations joined."""
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if re.fullmatch(r"#\s*escape\s*=.*", stripped, flags=re.IGNORECASE) and not pending:
            raise DockerfileError(f"line {number}: the escape directive is not supported")
        if not stripped or stripped.startswith("#"):
            continue  # also inside a continuation, as Docker does
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        yield start, " ".join(part for part in pending if part)
        pending = []
    if pending:
        raise DockerfileError(f"line {start}: the file ends inside a continuation")


def expand(text: str, variables: Mapping[str, str], line: int) -> str:
    """``$NAME`` and ``${NAME}`` replaced; any other form or an unknown name is an error."""

    def replace(found: re.Match[str]) -> str:
        name = found.group("braced") or found.group("bare")
        if not _NAME.fullmatch(name):
            raise DockerfileError(f"line {line}: unsupported substitution {found.group(0)!r}")
        if name not in variables:
            raise DockerfileError(f"line {line}: {found.group(0)} is not defined")
        return variables[name]

    return _VARIABLE.sub(replace, text)


def _split_flags(rest: str) -> tuple[tuple[tuple[str, str], ...], str]:
    flags: list[tuple[str, str]] = []
    while rest.startswith("--"):
        word, _, rest = rest.partition(" ")
        name, _, value = word[2:].partition("=")
        flags.append((name, value))
        rest = rest.lstrip()
    return tuple(flags), rest


def _declare(
    arguments: str, into: dict[str, str], global_args: Mapping[str, str], line: int
) -> None:
    name, equals, default = arguments.partition("=")
    if not _NAME.fullmatch(name):
        raise DockerfileError(f"line {line}: ARG {arguments!r}")
    if equals:
        into[name] = shlex.split(default)[0] if default else ""
    elif name in global_args:  # `ARG NAME` in a stage brings in the global value
        into[name] = global_args[name]


def parse_dockerfile(text: str) -> Dockerfile:
    """The stages of ``text``; ARG defaults substituted where Docker substitutes variables."""
    stages: list[Stage] = []
    global_args: dict[str, str] = {}
    variables: dict[str, str] = {}
    for line, logical in _logical_lines(text):
        keyword, _, rest = logical.partition(" ")
        keyword = keyword.upper()
        if keyword not in _KNOWN:
            raise DockerfileError(f"line {line}: {keyword} is not supported here")
        if keyword == "ARG":
            _declare(rest.strip(), variables if stages else global_args, global_args, line)
            continue
        flags, rest = _split_flags(rest.strip())
        if keyword in _EXPANDED:
            scope = global_args if keyword == "FROM" else variables
            rest = expand(rest, scope, line)
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            if len(words) not in (1, 3) or (len(words) == 3 and name is None):
                raise DockerfileError(f"line {line}: FROM {rest!r}")
            stages.append(Stage(base=words[0], name=name, line=line))
            variables = {}  # each stage starts without the previous stage's ARGs and ENVs
            continue
        if not stages:
            raise DockerfileError(f"line {line}: {keyword} before the first FROM")
        instruction = Instruction(line, keyword, flags, rest)
        if keyword == "ENV":
            variables.update(instruction.pairs())
        stages[-1].instructions.append(instruction)
    if not stages:
        raise DockerfileError("no FROM")
    return Dockerfile(stages)


# -- .dockerignore ---------------------------------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match plus ``**`` (any number of directories), as Docker uses them."""
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
            continue
        if pattern.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.index("]", index + 1)
            body = pattern[index + 1 : end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            index = end
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            out.append(re.escape(pattern[index]))
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out))


@dataclass(frozen=True, slots=True)
class DockerIgnore:
    """The patterns of a ``.dockerignore``: ``(re-include, regex, pattern)`` in order."""

    patterns: tuple[tuple[bool, re.Pattern[str], str], ...]

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        patterns = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            include = line.startswith("!")
            cleaned = str(PurePosixPath(line.removeprefix("!").strip())).lstrip("/")
            patterns.append((include, _pattern_regex(cleaned), line))
        return cls(tuple(patterns))

    def excluded(self, path: str) -> bool:
        """Whether ``path`` (relative to the context, ``/``-separated) is left out."""
        parts = PurePosixPath(path).parts
        candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
        excluded = False
        for include, regex, _ in self.patterns:
            if any(regex.fullmatch(candidate) for candidate in candidates):
                excluded = not include
        return excluded


# -- COPY against a build context -----------------------------------------------------------


def _copy_operands(instruction: Instruction) -> tuple[list[str], str]:
    if instruction.arguments.startswith("["):
        words = instruction.exec_form()
    else:
        words = instruction.arguments.split()
    if len(words) < 2:
        raise DockerfileError(f"line {instruction.line}: COPY needs a source and a destination")
    return words[:-1], words[-1]


def context_files(root: Path, source: str, ignore: DockerIgnore) -> list[str]:
    """The files under ``root/source`` that reach the build context (``/``-separated)."""
    path = root / source
    candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    relative = [p.relative_to(root).as_posix() for p in candidates]
    return [name for name in relative if not ignore.excluded(name)]


def context_problems(dockerfile: Dockerfile, root: Path, ignore: DockerIgnore) -> list[str]:
    """What would break ``docker build`` with context ``root``, per COPY and ``from=``.

    A COPY source must exist and leave at least one file in the context after the
    .dockerignore; a ``--from`` (COPY) or ``from=`` (RUN --mount) must name an earlier stage.
    """
    problems: list[str] = []
    seen: list[str] = []
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            sources: list[str] = []
            if instruction.keyword == "COPY":
                sources, _ = _copy_operands(instruction)
            stage_refs = [instruction.flag("from")] if instruction.keyword == "COPY" else []
            for name, value in instruction.flags:
                if instruction.keyword == "RUN" and name == "mount":
                    options = dict(part.partition("=")[::2] for part in value.split(","))
                    stage_refs.append(options.get("from"))
            for ref in stage_refs:
                if ref is not None and ref not in seen:
                    problems.append(f"line {instruction.line}: no earlier stage named {ref!r}")
            if instruction.keyword != "COPY" or instruction.flag("from") is not None:
                continue
            for source in sources:
                where = f"line {instruction.line}: COPY {source}"
                if any(char in source for char in "*?["):
                    problems.append(f"{where}: wildcards are not supported by this check")
                elif not (root / source).exists():
                    problems.append(f"{where}: not in the build context")
                elif not context_files(root, source, ignore):
                    problems.append(f"{where}: left out of the build context by .dockerignore")
        if stage.name is not None:
            seen.append(stage.name)
    return problems


def stage_context(stage: Stage, root: Path, ignore: DockerIgnore, target: Path) -> None:
    """Lay out ``target`` as ``stage``'s WORKDIR after its COPY instructions from ``root``.

    Only context COPYs into the WORKDIR (relative or absolute under it) are replayed.
    """
    workdir = PurePosixPath("/")
    for instruction in stage.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = workdir / instruction.arguments
        if instruction.keyword != "COPY" or instruction.flag("from") is not None:
            continue
        sources, destination = _copy_operands(instruction)
        into = PurePosixPath(workdir, destination)
        if not into.is_relative_to(workdir):
            raise DockerfileError(f"line {instruction.line}: COPY outside WORKDIR {workdir}")
        base = target / into.relative_to(workdir)
        for source in sources:
            source_path = root / source
            for name in context_files(root, source, ignore):
                if source_path.is_dir():
                    out = base / Path(name).relative_to(source)
                elif destination.endswith("/") or len(sources) > 1:
                    out = base / Path(name).name
                else:
                    out = base
                out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / name, out)
