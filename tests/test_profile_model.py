"""The profile model and loader: valid shapes load, every invalid one gets a located error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeorigin.core.loader import (
    ProfileError,
    bundled_profiles_dir,
    format_location,
    load_profile_dir,
    load_profile_file,
    profile_from_data,
    profile_from_yaml,
)
from fakeorigin.core.profile import STEP_KINDS, Profile, Respond

RESPOND = "  - respond: {status: 200}\n"

# (id, steps as YAML, the one expected error after "profiles/x.yaml: ")
BAD_STEPS = [
    (
        "interim-200",
        "  - informational: {status: 200}\n" + RESPOND,
        "steps[0].informational.status: must be 100..199 except 101 (got 200)",
    ),
    (
        "interim-101",
        "  - informational: {status: 101}\n" + RESPOND,
        "steps[0].informational.status: must be 100..199 except 101 (got 101)",
    ),
    (
        "unknown-step",
        "  - teapot: {}\n" + RESPOND,
        "steps[0]: a step is a mapping with exactly one key, one of: continue, informational, "
        "sleep, repeat, read_body, respond, raw, violate, close, reset, hang, websocket "
        "(got {'teapot': {}})",
    ),
    (
        "two-keys",
        "  - {sleep: 1, close: {}}\n" + RESPOND,
        "steps[0]: a step is a mapping with exactly one key, one of: continue, informational, "
        "sleep, repeat, read_body, respond, raw, violate, close, reset, hang, websocket "
        "(got {'sleep': 1, 'close': {}})",
    ),
    (
        "negative-sleep",
        "  - sleep: -1\n" + RESPOND,
        "steps[0].sleep: Input should be greater than or equal to 0",
    ),
    (
        "extra-field",
        "  - continue: {now: true}\n" + RESPOND,
        "steps[0].continue.now: Extra inputs are not permitted",
    ),
    (
        "no-final",
        "  - continue: {}\n  - sleep: 1\n",
        "steps: the last step is sleep: a profile must end with one of close, hang, raw, reset, "
        "respond, violate, websocket",
    ),
    (
        "after-close",
        "  - close: {}\n" + RESPOND,
        "steps: steps[1] can never run: it follows a close step",
    ),
    (
        "final-status-1xx",
        "  - respond: {status: 102}\n",
        "steps[0].respond.status: must be 200..599 (got 102); send a 1xx with informational",
    ),
    (
        "framing-header",
        "  - respond: {status: 200, headers: {Content-Length: 3}}\n",
        "steps[0].respond.headers: Content-Length is computed by fakeorigin; use a raw step to "
        "send your own framing",
    ),
    (
        "header-name",
        "  - respond: {status: 200, headers: [['bad name', x]]}\n",
        "steps[0].respond.headers: invalid field name 'bad name' (RFC 9110 section 5.1: a field "
        "name is a token)",
    ),
    (
        "header-crlf",
        '  - respond: {status: 200, headers: {x-a: "1\\r\\nx-b: 2"}}\n',
        "steps[0].respond.headers: value of x-a contains CR, LF or NUL (RFC 9110 section 5.5: "
        "never valid in a field value)",
    ),
    (
        "header-pair",
        "  - respond: {status: 200, headers: [[a]]}\n",
        "steps[0].respond.headers: item 0 must be a [name, value] pair (got ['a'])",
    ),
    (
        "two-bodies",
        "  - respond: {status: 200, body: a, body_size: 3}\n",
        "steps[0].respond: at most one of body, body_base64, body_size, echo (got body, body_size)",
    ),
    (
        "body-on-204",
        "  - respond: {status: 204, body: a}\n",
        "steps[0].respond: a 204 response has no content (RFC 9110 section 15.3.5)",
    ),
    (
        "body-on-304",
        "  - respond: {status: 304, chunked: true}\n",
        "steps[0].respond: a 304 response has no content (RFC 9110 section 15.4.5)",
    ),
    (
        "trailers-unchunked",
        "  - respond: {status: 200, trailers: {x: y}}\n",
        "steps[0].respond: trailers need chunked: true",
    ),
    (
        "bad-base64",
        "  - respond: {status: 200, body_base64: '***'}\n",
        "steps[0].respond.body_base64: not valid base64 (Only base64 data is allowed)",
    ),
    (
        "omit-unknown",
        "  - respond: {status: 200, omit: [etag]}\n",
        "steps[0].respond.omit[0]: Input should be 'date' or 'server'",
    ),
    (
        "raw-two-sources",
        "  - raw: {text: a, hex: '00'}\n",
        "steps[0].raw: needs exactly one of text, hex, base64, frames (got text, hex)",
    ),
    (
        "raw-bad-hex",
        "  - raw: {hex: zz}\n",
        "steps[0].raw: hex does not decode (non-hexadecimal number found in fromhex() arg at "
        "position 0)",
    ),
    (
        "repeat-unbounded",
        "  - repeat: {every: 1, steps: [{sleep: 1}]}\n" + RESPOND,
        "steps[0].repeat: needs times or for (got neither)",
    ),
    (
        "repeat-final",
        "  - repeat: {every: 1, times: 2, steps: [{close: {}}]}\n" + RESPOND,
        "steps[0].repeat: steps[0] is a close step: a final action cannot repeat",
    ),
    (
        "repeat-nested-error",
        "  - repeat: {every: 1, times: 2, steps: [{informational: {status: 99}}]}\n" + RESPOND,
        "steps[0].repeat.steps[0].informational.status: must be 100..199 except 101 (got 99)",
    ),
    (
        "second-respond",
        "  - respond: {status: 200}\n  - respond: {status: 200}\n",
        "steps: steps[1] sends a response after respond (RFC 9110 section 15: the final response "
        "ends the exchange); use raw to send one on purpose",
    ),
    (
        "interim-after-final",
        "  - respond: {status: 200}\n"
        "  - repeat: {every: 1, times: 2, steps: [{informational: {status: 102}}]}\n"
        "  - close: {}\n",
        "steps: steps[1] sends a response after respond (RFC 9110 section 15: the final response "
        "ends the exchange); use raw to send one on purpose",
    ),
    (
        "repeat-every-zero",
        "  - repeat: {every: 0, times: 2, steps: [{sleep: 1}]}\n" + RESPOND,
        "steps[0].repeat.every: Input should be greater than 0",
    ),
]


@pytest.mark.parametrize(
    ("steps", "expected"), [c[1:] for c in BAD_STEPS], ids=[c[0] for c in BAD_STEPS]
)
def test_bad_profile_gets_one_located_error(steps: str, expected: str) -> None:
    with pytest.raises(ProfileError) as caught:
        profile_from_yaml(f"name: x\nsteps:\n{steps}", "profiles/x.yaml", name="x")
    assert caught.value.problems == [f"profiles/x.yaml: {expected}"]


def test_after_respond_body_reading_raw_and_endings_are_fine() -> None:
    text = "name: x\nsteps:\n  - respond: {status: 200}\n  - read_body: {}\n  - sleep: 1\n"
    text += "  - raw: {text: junk}\n  - close: {}\n"
    assert [s.kind for s in profile_from_yaml(text, "p.yaml").steps][-1] == "close"


def test_every_error_of_a_profile_is_reported() -> None:
    text = "name: x\nsteps:\n  - informational: {status: 200}\n  - sleep: -2\n" + RESPOND
    with pytest.raises(ProfileError) as caught:
        profile_from_yaml(text, "p.yaml")
    assert caught.value.problems == [
        "p.yaml: steps[0].informational.status: must be 100..199 except 101 (got 200)",
        "p.yaml: steps[1].sleep: Input should be greater than or equal to 0",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nsteps: [", "p.yaml:2:9: invalid YAML: expected the node content, but found"),
        ("- 1\n- 2\n", "p.yaml: a profile is a mapping (got list)"),
        (
            "name: Bad Name\nsteps:\n" + RESPOND,
            "p.yaml: name: must be lower case letters, digits, '.', '_' or '-' (got 'Bad Name')",
        ),
        ("name: x\n", "p.yaml: steps: Field required"),
        (
            "name: x\nsteps: []\n",
            "p.yaml: steps: List should have at least 1 item after validation, not 0",
        ),
        (
            "name: x\ncolour: red\nsteps:\n" + RESPOND,
            "p.yaml: colour: Extra inputs are not permitted",
        ),
    ],
)
def test_document_level_errors(text: str, expected: str) -> None:
    with pytest.raises(ProfileError) as caught:
        profile_from_yaml(text, "p.yaml")
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(expected)


def test_file_name_and_profile_name_must_agree(tmp_path: Path) -> None:
    path = tmp_path / "alpha.yaml"
    path.write_text("name: beta\nsteps:\n" + RESPOND)
    with pytest.raises(ProfileError) as caught:
        load_profile_file(path)
    assert caught.value.problems == [
        f"{path}: name: 'beta' does not match the file or path name 'alpha'"
    ]


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "gamma.yml"
    path.write_text("steps:\n" + RESPOND)
    assert load_profile_file(path).name == "gamma"


def test_a_directory_reports_every_broken_file_and_loads_nothing(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text("steps:\n" + RESPOND)
    (tmp_path / "bad1.yaml").write_text("steps:\n  - sleep: x\n" + RESPOND)
    (tmp_path / "bad2.yaml").write_text("steps:\n  - hang: {}\n  - hang: {}\n")
    (tmp_path / "notes.txt").write_text("not a profile")
    with pytest.raises(ProfileError) as caught:
        load_profile_dir(tmp_path)
    assert caught.value.problems == [
        f"{tmp_path / 'bad1.yaml'}: steps[0].sleep: Input should be a valid number, unable to "
        "parse string as a number",
        f"{tmp_path / 'bad2.yaml'}: steps: steps[1] can never run: it follows a hang step",
    ]


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="no profile files"):
        load_profile_dir(tmp_path)


def test_headers_keep_order_case_and_duplicates() -> None:
    profile = profile_from_yaml(
        "name: x\nsteps:\n  - respond:\n      status: 200\n      headers:\n"
        "        - [Set-Cookie, a=1]\n        - [set-cookie, b=2]\n        - [X-Num, 5]\n",
        "p.yaml",
    )
    respond = profile.steps[0].value
    assert isinstance(respond, Respond)
    assert respond.headers == ((b"Set-Cookie", b"a=1"), (b"set-cookie", b"b=2"), (b"X-Num", b"5"))


def test_mapping_headers_keep_yaml_order() -> None:
    profile = profile_from_yaml(
        "name: x\nsteps:\n  - respond: {status: 200, headers: {Zeta: 1, alpha: 2}}\n", "p.yaml"
    )
    assert profile.steps[0].value.headers == ((b"Zeta", b"1"), (b"alpha", b"2"))


def test_json_and_yaml_give_the_same_profile() -> None:
    text = (
        "name: x\nsteps:\n  - repeat: {times: 2, every: 1, steps: [{informational: "
        "{status: 102}}]}\n  - respond: {status: 200, body: hi}\n"
    )
    from_yaml = profile_from_yaml(text, "p.yaml")
    dumped = json.loads(from_yaml.model_dump_json(by_alias=True))
    assert profile_from_data(dumped, "api") == from_yaml


def test_bundled_profiles_load_and_are_described() -> None:
    profiles = load_profile_dir(bundled_profiles_dir())
    assert set(profiles) >= {
        "default",
        "expect-continue",
        "expect-continue-delayed",
        "expect-ignore",
        "expect-reject",
        "expect-final-early",
        "processing-trickle",
        "early-hints",
        "slow-body",
        "hang",
        "reset-after-headers",
        "close-mid-body",
    }
    assert all(profile.description for profile in profiles.values())


def test_every_step_kind_appears_in_the_schema() -> None:
    schema = json.dumps(Profile.model_json_schema(by_alias=True))
    for kind in STEP_KINDS:
        assert f'"{kind}"' in schema


def test_format_location_drops_the_union_tag() -> None:
    loc = ("steps", 2, "repeat", "repeat", "steps", 0, "informational", "informational", "status")
    assert format_location(loc) == "steps[2].repeat.steps[0].informational.status"
