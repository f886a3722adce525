"""The ``fakeorigin`` command: serve, check, profiles, journal, probe, schema, catalogue.

:func:`main` takes argv, the environment and the output streams and returns the exit code, so
it is tested as a table of argv/env -> result. Exit codes: 0 ok, 1 invalid profiles, a failure
to listen or an unreachable control API (``journal``), 2 bad usage. Every ``serve`` option can
also come from an environment variable ``FAKEORIGIN_<OPTION>`` (``--max-duration`` ->
``FAKEORIGIN_MAX_DURATION``); the command line wins. Twisted is imported only by ``serve``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from fakeorigin import __version__
from fakeorigin.core.admission import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_HEADER_BYTES,
)
from fakeorigin.core.durations import duration_problem
from fakeorigin.core.loader import (
    ProfileError,
    bundled_profiles_dir,
    load_profile_dir,
    load_profile_dirs,
    load_profile_file,
    profile_sources,
)
from fakeorigin.core.profile import Profile, cannot_carry
from fakeorigin.core.protocols import PROTOCOLS

DEFAULT_LISTEN = "tcp:8080:interface=127.0.0.1"
DEFAULT_CONTROL = "tcp:8081:interface=127.0.0.1"
DEFAULT_CONTROL_URL = "http://127.0.0.1:8081"


class UsageError(Exception):
    """Bad command line or environment: exit code 2."""


@dataclass(frozen=True, slots=True)
class _Option:
    flag: str
    parse: Callable[[str], Any]
    help: str
    default: Any = None
    repeatable: bool = False
    switch: bool = False

    @property
    def dest(self) -> str:
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def env(self) -> str:
        return "FAKEORIGIN_" + self.dest.upper()


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"must be > 0 (got {text})")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be >= 1 (got {text})")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"must be >= 0 (got {text})")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(f"must be >= 0 (got {text})")
    return value


def _log_format(text: str) -> str:
    if text not in ("text", "json"):
        raise ValueError(f"must be text or json (got {text})")
    return text


def _profiles_dir(text: str) -> Path:
    return bundled_profiles_dir() if text == "bundled" else Path(text)


def _workers(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    return _positive_int(text)


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"must be 1/0, true/false, yes/no or on/off (got {text})")


#: ``serve`` options; each also reads ``FAKEORIGIN_<OPTION>`` (a list option: space-separated).
SERVE_OPTIONS = (
    _Option(
        "--listen",
        str,
        f"Twisted endpoint string; repeatable (default {DEFAULT_LISTEN})",
        repeatable=True,
    ),
    _Option(
        "--profiles",
        _profiles_dir,
        "directory of profile files, repeatable; 'bundled' names the bundled ones; a later "
        "directory's profile replaces one of the same name (default: bundled)",
        repeatable=True,
    ),
    _Option("--profile", str, "the active profile (default: default)", default="default"),
    _Option(
        "--tls",
        _flag,
        "serve every --listen endpoint over TLS with a certificate from a CA made at start "
        "(its file: --tls-ca, announced as ca)",
        default=False,
        switch=True,
    ),
    _Option(
        "--tls-name",
        str,
        "with --tls, another name the certificate is valid for (always localhost, 127.0.0.1 "
        "and ::1); repeatable",
        repeatable=True,
    ),
    _Option(
        "--tls-ca",
        Path,
        "with --tls, where to write the CA certificate (default: a new temporary directory, "
        "removed at exit)",
    ),
    _Option(
        "--max-duration",
        _positive_float,
        "seconds an exchange may run before it is closed (default 600)",
        default=600.0,
    ),
    _Option(
        "--max-header-bytes",
        _positive_int,
        "largest request head (request line and fields); a larger one gets 431 (default 16384)",
        default=DEFAULT_MAX_HEADER_BYTES,
    ),
    _Option(
        "--max-body-bytes",
        _non_negative_int,
        "largest request body; a larger one gets 413 (default 1073741824, 1 GiB)",
        default=DEFAULT_MAX_BODY_BYTES,
    ),
    _Option(
        "--header-timeout",
        _positive_float,
        "seconds a request head may take from its first byte; then 408 (default 60)",
        default=60.0,
    ),
    _Option(
        "--idle-timeout",
        _positive_float,
        "seconds a connection may wait with no request under way (a new one, or a kept one "
        "after its response); then it is closed (default 300)",
        default=300.0,
    ),
    _Option(
        "--stall-timeout",
        _positive_float,
        "seconds a response may wait on a client that reads nothing (Twisted's write buffer "
        "full); then the exchange ends with a reset, journaled stalled (default 60)",
        default=60.0,
    ),
    _Option(
        "--max-connections",
        _positive_int,
        "connections open at once; more are reset at accept and counted (default: what the "
        "open-file limit allows, raised to the hard limit at start, less 256)",
    ),
    _Option(
        "--workers",
        _workers,
        "worker processes that serve the origin's ports, one control API for all (auto: "
        "one per CPU this process may use; default 1: one process, no workers)",
        default=1,
    ),
    _Option(
        "--shutdown-grace",
        _non_negative_float,
        "on SIGTERM/SIGINT, seconds running exchanges get to finish before the rest are "
        "closed (default 5)",
        default=5.0,
    ),
    _Option(
        "--journal-size",
        _positive_int,
        "exchanges the journal keeps (default 10000)",
        default=10_000,
    ),
    _Option("--log-format", _log_format, "text or json (default text)", default="text"),
    _Option(
        "--inband-header",
        str,
        "request header that picks a profile (default Fakeorigin-Profile)",
        default="Fakeorigin-Profile",
    ),
    _Option("--no-inband", _flag, "ignore the in-band profile header", default=False, switch=True),
    _Option("--backlog", _positive_int, "listen backlog (default 1024)", default=1024),
    _Option(
        "--journal-dump",
        Path,
        "at exit, write every journal entry to this file as JSON lines (CI evidence)",
    ),
    _Option(
        "--control",
        str,
        f"control API endpoint string, or none (default {DEFAULT_CONTROL})",
        default=DEFAULT_CONTROL,
    ),
    _Option(
        "--control-token",
        str,
        "require Authorization: Bearer TOKEN on the control API (all but /health)",
    ),
    _Option(
        "--control-insecure",
        _flag,
        "allow the control API on a non-loopback address without a token",
        default=False,
        switch=True,
    ),
    _Option(
        "--announce",
        _flag,
        "once listening, print one JSON line with the bound URLs to stdout",
        default=False,
        switch=True,
    ),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits; we return exit code 2 instead
        raise UsageError(f"{self.prog}: {message}")


def _parser() -> _Parser:
    parser = _Parser(prog="fakeorigin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", action="version", version=f"fakeorigin {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    serve = commands.add_parser("serve", help="run the origin")
    for option in SERVE_OPTIONS:
        kwargs: dict[str, Any] = {"help": f"{option.help} [env {option.env}]"}
        if option.switch:
            serve.add_argument(option.flag, action="store_true", default=None, **kwargs)
        elif option.repeatable:
            serve.add_argument(option.flag, action="append", type=option.parse, **kwargs)
        else:
            serve.add_argument(option.flag, type=option.parse, **kwargs)
    check = commands.add_parser("check", help="validate profile files; exit 1 on any error")
    check.add_argument(
        "paths", nargs="*", type=Path, help="files or directories (default: the bundled profiles)"
    )
    check.add_argument(
        "--max-duration",
        type=_positive_float,
        help="also fail a profile whose steps take this many seconds or more (serve refuses it)",
    )
    check.add_argument(
        "--protocols",
        action="store_true",
        help="also list, for each profile, the protocols it runs over and why not the others",
    )
    listing = commands.add_parser("profiles", help="list profiles: name and description")
    listing.add_argument(
        "--profiles",
        type=_profiles_dir,
        action="append",
        help="directory, repeatable; 'bundled' for the bundled ones (default)",
    )
    journal = commands.add_parser(
        "journal", help="print a running server's journal, one line per exchange"
    )
    journal.add_argument(
        "--control",
        metavar="URL",
        help=f"the control API (default {DEFAULT_CONTROL_URL}) [env FAKEORIGIN_CONTROL_URL]",
    )
    journal.add_argument(
        "--token", help="its bearer token, if it has one [env FAKEORIGIN_CONTROL_TOKEN]"
    )
    journal.add_argument(
        "--follow", "-f", action="store_true", help="go on printing exchanges as they end"
    )
    shape = journal.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="each record as one JSON line")
    shape.add_argument("--har", action="store_true", help="the journal as one HAR 1.2 document")
    probe = commands.add_parser(
        "probe", help="run the 1xx, Expect and framing scenarios through a proxy"
    )
    probe.add_argument("--proxy", required=True, metavar="URL", help="the proxy: http://HOST:PORT")
    origin = probe.add_mutually_exclusive_group(required=True)
    origin.add_argument(
        "--control", metavar="URL", help="the control API of the fakeorigin the proxy forwards to"
    )
    origin.add_argument(
        "--origin-listen",
        metavar="ENDPOINT",
        help="start a fakeorigin listening here (the proxy's upstream), stop it at the end",
    )
    probe.add_argument(
        "--token", help="the control API's bearer token [env FAKEORIGIN_CONTROL_TOKEN]"
    )
    probe.add_argument(
        "--only", action="append", default=[], metavar="ID|GROUP", help="run only these"
    )
    probe.add_argument("--skip", action="append", default=[], metavar="ID|GROUP")
    probe.add_argument("--json", action="store_true", help="the results as one JSON document")
    probe.add_argument("--junit-xml", type=Path, metavar="PATH", help="also write JUnit XML")
    probe.add_argument("--markdown", type=Path, metavar="PATH", help="also write a Markdown table")
    probe.add_argument(
        "--proxy-timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="the proxy's upstream read timeout, for the scenarios that test it (else n/a)",
    )
    probe.add_argument(
        "--fail-on",
        choices=["violation", "deviation"],
        default="violation",
        help="exit 1 on a violation (default), or on a deviation too",
    )
    commands.add_parser("schema", help="print the profile JSON Schema")
    catalogue = commands.add_parser("catalogue", help="list the deliberate HTTP violations")
    catalogue.add_argument("--json", action="store_true", help="the whole catalogue as JSON")
    return parser


def serve_settings(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    """The ``serve`` options: command line, else ``FAKEORIGIN_*``, else the default."""
    settings: dict[str, Any] = {}
    for option in SERVE_OPTIONS:
        value = getattr(args, option.dest)
        if value is None and option.env in env:
            raw = env[option.env]
            try:
                value = (
                    [option.parse(part) for part in raw.split()]
                    if option.repeatable
                    else option.parse(raw)
                )
            except ValueError as err:
                raise UsageError(f"fakeorigin: {option.env}={raw!r}: {err}") from None
        settings[option.dest] = option.default if value is None else value
    settings["listen"] = settings["listen"] or [DEFAULT_LISTEN]
    settings["profiles"] = settings["profiles"] or [bundled_profiles_dir()]
    settings["tls_name"] = settings["tls_name"] or []
    if settings["tls"]:
        own = [d for d in settings["listen"] if d.split(":", 1)[0].lower() == "ssl"]
        if own:
            raise UsageError(
                f"fakeorigin: --tls serves every --listen over TLS already: {own[0]} brings its "
                "own certificate (give tcp: endpoints with --tls, or ssl: ones without it)"
            )
    elif settings["tls_name"] or settings["tls_ca"] is not None:
        raise UsageError("fakeorigin: --tls-name and --tls-ca need --tls")
    return settings


def _protocols_line(profile: Profile) -> str:
    """``name: http/1.1, h2`` or ``name: http/1.1 (not h2: steps[0]: raw sends ...)``."""
    runs = [p for p in PROTOCOLS if p in profile.protocols]
    nots = [f"not {p}: {cannot_carry(profile.steps, p)}" for p in PROTOCOLS if p not in runs]
    return f"{profile.name}: {', '.join(runs)}" + (f" ({'; '.join(nots)})" if nots else "")


def _check(
    paths: list[Path], max_duration: float | None, out: IO[str], *, protocols: bool = False
) -> int:
    problems: list[str] = []
    lines: list[str] = []
    count = 0
    for path in paths or [bundled_profiles_dir()]:
        try:
            if path.is_dir():
                loaded = load_profile_dir(path)
                sources = profile_sources([path])
            else:
                profile = load_profile_file(path)
                loaded, sources = {profile.name: profile}, {profile.name: path}
        except ProfileError as err:
            problems.extend(err.problems)
            continue
        count += len(loaded)
        for name, profile in loaded.items():
            late = (
                None
                if max_duration is None
                else duration_problem(profile, max_duration, str(sources[name]))
            )
            if late is not None:
                problems.append(str(late))
            if protocols:
                lines.append(_protocols_line(profile))
    if problems:
        out.write("\n".join(problems) + "\n")
        return 1
    out.write("".join(line + "\n" for line in lines))
    out.write(f"ok: {count} profile{'s' if count != 1 else ''}\n")
    return 0


def _list(directories: list[Path] | None, out: IO[str]) -> int:
    profiles = load_profile_dirs(directories or [bundled_profiles_dir()])
    width = max(len(name) for name in profiles)
    for name in sorted(profiles):
        out.write(f"{name:<{width}}  {profiles[name].description}\n")
    return 0


def _journal(args: argparse.Namespace, env: Mapping[str, str], out: IO[str], err: IO[str]) -> int:
    from fakeorigin.control.client import ControlClient, ControlError  # noqa: PLC0415
    from fakeorigin.control.journal_command import run_journal  # noqa: PLC0415

    url = args.control or env.get("FAKEORIGIN_CONTROL_URL") or DEFAULT_CONTROL_URL
    token = args.token or env.get("FAKEORIGIN_CONTROL_TOKEN") or None
    colour = out.isatty() and "NO_COLOR" not in env
    try:
        return run_journal(
            ControlClient(url, token=token),
            out,
            follow=args.follow,
            as_json=args.json,
            har=args.har,
            colour=colour,
        )
    except ControlError as problem:
        err.write(f"fakeorigin journal: {url}: {problem}\n")
        return 1
    except KeyboardInterrupt:
        return 0


def _probe(args: argparse.Namespace, env: Mapping[str, str], out: IO[str], err: IO[str]) -> int:
    from fakeorigin.control.client import ControlClient, ControlError  # noqa: PLC0415
    from fakeorigin.probe.command import run_probe, select, started_origin  # noqa: PLC0415
    from fakeorigin.probe.scenarios import Kind  # noqa: PLC0415

    token = args.token or env.get("FAKEORIGIN_CONTROL_TOKEN") or None
    try:
        scenarios = select(args.only, args.skip)
        with contextlib.ExitStack() as stack:
            url = args.control or stack.enter_context(started_origin(args.origin_listen, token))
            client = ControlClient(url, token=token)
            client.health()
            return run_probe(
                args.proxy,
                client,
                scenarios,
                out,
                as_json=args.json,
                fail_on=Kind(args.fail_on),
                junit_path=args.junit_xml,
                markdown_path=args.markdown,
                proxy_timeout=args.proxy_timeout,
            )
    except ValueError as problem:
        raise UsageError(f"fakeorigin probe: {problem}") from None
    except ControlError as problem:
        err.write(f"fakeorigin probe: the origin's control API: {problem}\n")
        return 1


def main(argv: Sequence[str], env: Mapping[str, str], out: IO[str], err: IO[str]) -> int:
    """Run the command in ``argv``; return the exit code."""
    try:
        with contextlib.redirect_stdout(out):  # --version and --help print with print()
            args = _parser().parse_args(list(argv))
    except UsageError as usage:
        err.write(f"{usage}\n")
        return 2
    except SystemExit as done:  # --version and --help print and exit 0
        return int(done.code or 0)
    try:
        if args.command == "check":
            return _check(args.paths, args.max_duration, out, protocols=args.protocols)
        if args.command == "profiles":
            return _list(args.profiles, out)
        if args.command == "catalogue":
            from fakeorigin.core.catalogue import catalogue_document, catalogue_table  # noqa: PLC0415

            text = json.dumps(catalogue_document(), indent=2) + "\n"
            out.write(text if args.json else catalogue_table())
            return 0
        if args.command == "journal":
            return _journal(args, env, out, err)
        if args.command == "probe":
            return _probe(args, env, out, err)
        if args.command == "schema":
            schema = Profile.model_json_schema(by_alias=True)
            out.write(json.dumps(schema, indent=2) + "\n")
            return 0
        settings = serve_settings(args, env)
    except UsageError as usage:
        err.write(f"{usage}\n")
        return 2
    except ProfileError as problem:
        err.write(f"{problem}\n")
        return 1
    from fakeorigin.server.serve import serve, worker_count  # noqa: PLC0415 (Twisted only for serve)

    count = worker_count(settings["workers"])
    if count > 1:
        from fakeorigin.workers.parent import serve_workers  # noqa: PLC0415 (workers only)

        return serve_workers(settings, count, out, err)
    return serve(settings, out, err)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main(sys.argv[1:], os.environ, sys.stdout, sys.stderr))
