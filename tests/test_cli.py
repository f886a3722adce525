"""``fakeorigin`` commands as a table of argv/env -> exit code and output (no subprocess)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from fakeorigin import __version__
from fakeorigin.cli import DEFAULT_LISTEN, UsageError, _parser, main, serve_settings
from fakeorigin.core.loader import bundled_profiles_dir


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env or {}, out, err)
    return code, out.getvalue(), err.getvalue()


def test_version() -> None:
    code, out, _ = run(["--version"])
    assert (code, out) == (0, f"fakeorigin {__version__}\n")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: command"),
        (["fly"], "invalid choice: 'fly'"),
        (["serve", "--max-duration", "0"], "argument --max-duration: invalid _positive_float"),
        (["serve", "--journal-size", "x"], "argument --journal-size: invalid _positive_int"),
        (["serve", "--log-format", "xml"], "argument --log-format: invalid _log_format"),
        (["serve", "--bogus"], "unrecognized arguments: --bogus"),
        (["serve", "--max-header-bytes", "0"], "argument --max-header-bytes: invalid"),
        (["serve", "--max-body-bytes", "-1"], "argument --max-body-bytes: invalid"),
        (["serve", "--header-timeout", "0"], "argument --header-timeout: invalid"),
        (["serve", "--max-connections", "0"], "argument --max-connections: invalid"),
        (["serve", "--shutdown-grace", "-1"], "argument --shutdown-grace: invalid"),
        (["check", "--max-duration", "0"], "argument --max-duration: invalid"),
    ],
)
def test_bad_usage_exits_2(argv: list[str], message: str) -> None:
    code, _, err = run(argv)
    assert code == 2
    assert message in err


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAKEORIGIN_MAX_DURATION": "-1"}, "FAKEORIGIN_MAX_DURATION='-1': must be > 0"),
        ({"FAKEORIGIN_JOURNAL_SIZE": "ten"}, "FAKEORIGIN_JOURNAL_SIZE='ten': invalid literal"),
        ({"FAKEORIGIN_ANNOUNCE": "maybe"}, "FAKEORIGIN_ANNOUNCE='maybe': must be 1/0"),
        ({"FAKEORIGIN_LOG_FORMAT": "xml"}, "FAKEORIGIN_LOG_FORMAT='xml': must be text or json"),
        ({"FAKEORIGIN_MAX_CONNECTIONS": "0"}, "FAKEORIGIN_MAX_CONNECTIONS='0': must be >= 1"),
        ({"FAKEORIGIN_SHUTDOWN_GRACE": "-2"}, "FAKEORIGIN_SHUTDOWN_GRACE='-2': must be >= 0"),
        ({"FAKEORIGIN_MAX_BODY_BYTES": "-1"}, "FAKEORIGIN_MAX_BODY_BYTES='-1': must be >= 0"),
        ({"FAKEORIGIN_HEADER_TIMEOUT": "soon"}, "FAKEORIGIN_HEADER_TIMEOUT='soon': could not"),
    ],
)
def test_bad_environment_exits_2(env: dict[str, str], message: str) -> None:
    code, _, err = run(["serve"], env)
    assert code == 2
    assert message in err


def settings(argv: list[str], env: dict[str, str]) -> dict[str, object]:
    return serve_settings(_parser().parse_args(["serve", *argv]), env)


def test_serve_defaults() -> None:
    assert settings([], {}) == {
        "listen": [DEFAULT_LISTEN],
        "profiles": [bundled_profiles_dir()],
        "profile": "default",
        "tls": False,
        "tls_name": [],
        "tls_ca": None,
        "max_duration": 600.0,
        "max_header_bytes": 16384,
        "max_body_bytes": 1 << 30,
        "header_timeout": 60.0,
        "idle_timeout": 300.0,
        "stall_timeout": 60.0,
        "max_connections": None,
        "workers": 1,
        "shutdown_grace": 5.0,
        "journal_size": 10_000,
        "log_format": "text",
        "inband_header": "Fakeorigin-Profile",
        "no_inband": False,
        "backlog": 1024,
        "announce": False,
        "journal_dump": None,
        "control": "tcp:8081:interface=127.0.0.1",
        "control_token": None,
        "control_insecure": False,
    }


def test_environment_fills_in_and_command_line_wins() -> None:
    env = {
        "FAKEORIGIN_LISTEN": "tcp:0 tcp6:0:interface=\\:\\:1",
        "FAKEORIGIN_PROFILE": "hang",
        "FAKEORIGIN_MAX_DURATION": "5",
        "FAKEORIGIN_ANNOUNCE": "1",
        "FAKEORIGIN_NO_INBAND": "true",
        "FAKEORIGIN_PROFILES": "bundled /srv/profiles",
    }
    got = settings(["--profile", "early-hints"], env)
    assert got["listen"] == ["tcp:0", "tcp6:0:interface=\\:\\:1"]
    assert got["profile"] == "early-hints"
    assert got["max_duration"] == 5.0
    assert got["announce"] is True
    assert got["no_inband"] is True
    assert got["profiles"] == [bundled_profiles_dir(), Path("/srv/profiles")]


def test_limits_from_the_environment_and_the_command_line() -> None:
    env = {
        "FAKEORIGIN_MAX_HEADER_BYTES": "8192",
        "FAKEORIGIN_MAX_BODY_BYTES": "0",
        "FAKEORIGIN_HEADER_TIMEOUT": "2.5",
        "FAKEORIGIN_MAX_CONNECTIONS": "50",
        "FAKEORIGIN_SHUTDOWN_GRACE": "0",
    }
    got = settings(["--max-connections", "60"], env)
    assert (got["max_header_bytes"], got["max_body_bytes"]) == (8192, 0)
    assert (got["header_timeout"], got["shutdown_grace"]) == (2.5, 0.0)
    assert got["max_connections"] == 60


def test_listen_is_repeatable() -> None:
    assert settings(["--listen", "tcp:1", "--listen", "unix:/tmp/x"], {})["listen"] == [
        "tcp:1",
        "unix:/tmp/x",
    ]


def test_check_bundled_profiles() -> None:
    code, out, _ = run(["check"])
    count = len(list(bundled_profiles_dir().glob("*.yaml")))
    assert (code, out) == (0, f"ok: {count} profiles\n")


def test_check_protocols_says_which_protocols_each_profile_runs_over(tmp_path: Path) -> None:
    (tmp_path / "plain.yaml").write_text("steps:\n  - respond: {status: 200}\n")
    (tmp_path / "raw.yaml").write_text("steps:\n  - raw: {text: x}\n")
    code, out, _ = run(["check", "--protocols", str(tmp_path)])
    assert (code, out) == (
        0,
        "plain: http/1.1, h2\n"
        "raw: http/1.1 (not h2: steps[0]: raw sends HTTP/1.1 bytes as they are)\n"
        "ok: 2 profiles\n",
    )


def test_check_reports_located_errors_and_exits_1(tmp_path: Path) -> None:
    broken = tmp_path / "x.yaml"
    broken.write_text(
        "name: x\nsteps:\n  - sleep: 1\n  - informational: {status: 200}\n"
        "  - respond: {status: 200}\n"
    )
    good = tmp_path / "y.yaml"
    good.write_text("steps:\n  - respond: {status: 200}\n")
    code, out, _ = run(["check", str(good), str(broken)])
    assert code == 1
    assert (
        out == f"{broken}: steps[1].informational.status: must be 100..199 except 101 (got 200)\n"
    )


def test_profiles_lists_name_and_description() -> None:
    code, out, _ = run(["profiles"])
    assert code == 0
    lines = out.splitlines()
    assert any(line.startswith("early-hints ") and "103 Early Hints" in line for line in lines)
    assert [line.split()[0] for line in lines] == sorted(line.split()[0] for line in lines)


def test_schema_is_the_profile_json_schema() -> None:
    code, out, _ = run(["schema"])
    schema = json.loads(out)
    assert code == 0
    assert schema["title"] == "Profile"
    assert schema["required"] == ["name", "steps"]


def test_serve_with_broken_profiles_exits_1(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("steps:\n  - sleep: 1\n")
    code, _, err = run(["serve", "--profiles", str(tmp_path)])
    assert code == 1
    assert "x.yaml: steps: the last step is sleep" in err


def test_profiles_from_several_directories_later_ones_win(tmp_path: Path) -> None:
    (tmp_path / "hang.yaml").write_text("description: mine\nsteps:\n  - close: {}\n")
    (tmp_path / "extra.yaml").write_text("description: added\nsteps:\n  - close: {}\n")
    code, out, _ = run(["profiles", "--profiles", "bundled", "--profiles", str(tmp_path)])
    assert code == 0
    lines = {line.split()[0]: line.split(None, 1)[1] for line in out.splitlines()}
    assert lines["hang"] == "mine"
    assert lines["extra"] == "added"
    assert "early-hints" in lines


def test_an_empty_extra_directory_is_fine_but_nothing_at_all_is_not(tmp_path: Path) -> None:
    code, _, _ = run(["profiles", "--profiles", "bundled", "--profiles", str(tmp_path)])
    assert code == 0
    code, _, err = run(["serve", "--profiles", str(tmp_path)])
    assert code == 1
    assert f"{tmp_path}: no profile files (*.yaml, *.yml)" in err


def test_serve_with_unknown_active_profile_exits_2() -> None:
    code, _, err = run(["serve", "--profile", "nope"])
    assert code == 2
    assert "--profile: unknown profile 'nope'; known profiles: close-mid-body, default" in err


def test_catalogue_lists_every_entry_with_its_rule() -> None:
    from fakeorigin.core.violations import CATALOGUE  # noqa: PLC0415

    code, out, _ = run(["catalogue"])
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    for entry in CATALOGUE.values():
        assert entry.id in rows
        assert entry.rule in rows[entry.id]
    assert out.rstrip().endswith(f"{len(CATALOGUE)} entries")


def test_catalogue_json_carries_rule_parameters_bytes_and_outcomes() -> None:
    from fakeorigin.core.violations import CATALOGUE  # noqa: PLC0415

    code, out, _ = run(["catalogue", "--json"])
    document = json.loads(out)
    assert code == 0
    assert [e["id"] for e in document["entries"]] == list(CATALOGUE)
    for entry in document["entries"]:
        assert entry["rule"].startswith("RFC 91")
        assert all(entry[key] for key in ("requirement", "proxy", "client"))
        assert entry["parameters"]["type"] == "object"
        source = CATALOGUE[entry["id"]]
        assert entry["example"]["text"].encode("latin-1") == source.example_bytes()
        assert entry["protocols"] == sorted(source.protocols)
        # An HTTP/2 entry's frames, one line each; an HTTP/1.1 entry has bytes only.
        assert bool(entry["frames"]) == ("h2" in source.protocols)


def test_tls_options() -> None:
    on = settings(["--tls", "--tls-name", "a.test", "--tls-name", "b.test"], {})
    assert (on["tls"], on["tls_name"]) == (True, ["a.test", "b.test"])
    assert settings([], {"FAKEORIGIN_TLS": "1", "FAKEORIGIN_TLS_CA": "/tmp/ca.pem"})["tls"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tls", "--listen", "ssl:8443:privateKey=k.pem"], "brings its own certificate"),
        (["--tls-name", "a.test"], "--tls-name and --tls-ca need --tls"),
        (["--tls-ca", "/tmp/ca.pem"], "--tls-name and --tls-ca need --tls"),
    ],
)
def test_tls_options_that_cannot_work_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        settings(argv, {})
