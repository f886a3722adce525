"""The violation catalogue, proven entry by entry.

For every entry: (a) its exact bytes (``example_bytes`` against a literal), and the same bytes,
with a live Date, on a real port, followed by the ending the entry declares; (b) what two
strict parsers no one here wrote make of it on a real port: h11's client raises
RemoteProtocolError or not, and Node.js's http client (llhttp) reports an error or not, in its
strict mode and with ``insecureHTTPParser``; each must equal the entry's recorded ``verdicts``.
Conversely, every conformant bundled profile parses cleanly in both. docs/violations.md and the
``violation-<id>`` profiles are generated from the catalogue and must not be stale.

One node process serves the whole module (tests/node_client.js, JSON lines); its tests skip,
saying why, where node is not installed.
"""

from __future__ import annotations

import base64
import difflib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from fakeorigin import __version__
from fakeorigin.core.actions import Ending
from fakeorigin.core.loader import (
    ProfileError,
    bundled_profiles_dir,
    load_profile_dir,
    profile_from_data,
)
from fakeorigin.core.protocols import HTTP1
from fakeorigin.core.state import DEFAULT_INBAND_HEADER
from fakeorigin.core.violations import (
    CATALOGUE,
    Context,
    Probe,
    Verdict,
    Violation,
    accept_bytes,
)
from fakeorigin.docgen.catalogue_doc import (
    generated_profiles,
    profile_text,
    violations_markdown,
)
from tests.clients import Ended, H11Client, RawReader, RawResult, connect
from tests.conftest import RunningOrigin
from tests.witnesses import (
    NodeWitness,
    Observation,
    Seen,
    abort_on_close,
    h11_reads,
    node_binary,
    node_observation,
    node_raw_case,
)

#: The HTTP/1.1 entries (the HTTP/2 ones: tests/test_h2_violations.py).
ENTRIES = [entry for entry in CATALOGUE.values() if HTTP1 in entry.protocols]
ROOT = Path(__file__).resolve().parent.parent
VIOLATIONS_MD = ROOT / "docs" / "violations.md"
#: The bundled profiles: the violation-<id> ones and the conformant ones.
BUNDLED = load_profile_dir(bundled_profiles_dir())

#: Every id issue 5 asks for by name.
REQUIRED_IDS = (
    "informational-to-http10",
    "1xx-missing-blank-line",
    "1xx-with-body",
    "1xx-after-final",
    "100-unsolicited",
    "100-after-body-complete",
    "100-twice",
    "101-without-upgrade-request",
    "101-missing-upgrade-header",
    "1xx-flood",
    "informational-invalid-code",
    "102-forever",
    "bad-status-line",
    "http-version-mismatch",
    "lf-only-line-endings",
    "obs-fold-header",
    "header-space-before-colon",
    "header-nul-byte",
    "header-invalid-name",
    "oversized-header",
    "content-length-too-long",
    "content-length-too-short",
    "duplicate-content-length-differing",
    "content-length-with-chunked",
    "chunked-bad-size",
    "chunked-missing-last-chunk",
    "chunked-extension-garbage",
    "body-on-204",
    "body-on-304",
    "body-on-head",
    "empty-response",
    "reset-mid-body",
    "respond-before-request",
    "garbage-after-response",
)

#: The entries the RFCs allow: each names the rule that allows it.
LEGAL_IDS = {
    "100-unsolicited",
    "100-twice",
    "1xx-flood",
    "1xx-with-headers",
    "several-103",
    "oversized-header",
    "empty-reason-phrase",
}

#: Bundled profiles that break the connection on purpose: not expected to parse cleanly.
CONNECTION_FAULTS = {"hang", "reset-after-headers", "close-mid-body"}


def entry_params() -> list[Any]:
    return [pytest.param(entry, id=entry.id) for entry in ENTRIES]


def profile_name(entry: Violation) -> str:
    return f"violation-{entry.id}"


def selecting(entry: Violation) -> list[tuple[str, str]]:
    """The in-band field that selects the entry's profile."""
    return [(DEFAULT_INBAND_HEADER, profile_name(entry))]


def prepare(origin: RunningOrigin, entry: Violation) -> None:
    """An entry that writes on accept must be the active profile: no request picks it."""
    if entry.on_accept:
        origin.state.set_active(profile_name(entry))


# -- the catalogue ----------------------------------------------------------------------------


def test_the_catalogue_has_every_required_entry_and_more_than_30() -> None:
    assert len(CATALOGUE) >= 30
    missing = [name for name in REQUIRED_IDS if name not in CATALOGUE]
    assert not missing


def test_legal_but_unusual_entries_are_exactly_these() -> None:
    assert {entry.id for entry in ENTRIES if entry.legal} == LEGAL_IDS


_RULE = re.compile(r"RFC 911[02] section \d+(\.\d+)*")
_QUOTED = re.compile(r"“[^”]+”")


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_every_entry_is_named_cited_and_complete(entry: Violation) -> None:
    assert re.fullmatch(r"[0-9a-z]+(-[0-9a-z]+)*", entry.id)
    assert entry.summary.endswith(".")
    assert "\n" not in entry.summary
    assert _RULE.fullmatch(entry.rule), entry.rule
    # Quoted verbatim between “ and ”, or said to be a paraphrase.
    assert _QUOTED.search(entry.requirement) or "paraphrased" in entry.requirement
    assert entry.proxy
    assert entry.client
    assert set(entry.verdicts) == {"h11", "llhttp"}
    assert entry.verdicts["h11"] in ("rejects", "accepts")  # h11 has no lenient mode
    # What a parser said is recorded exactly where it refused the bytes.
    refused = {parser for parser, verdict in entry.verdicts.items() if verdict != "accepts"}
    assert set(entry.evidence) == refused
    for name, info in entry.parameters.model_fields.items():
        assert info.description, f"{entry.id}: parameter {name} has no description"
        assert not info.is_required(), f"{entry.id}: parameter {name} has no default"
    assert entry.probe.requests >= 1


# -- (a) the exact bytes ----------------------------------------------------------------------

DATE = b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
SERVER = b"Server: fakeorigin/" + __version__.encode("ascii") + b"\r\n"
#: Date, Server and Content-Type, as every entry's response has them (at epoch 0).
FIELDS = DATE + SERVER + b"Content-Type: text/plain\r\n"
OK_200 = b"HTTP/1.1 200 OK\r\n" + FIELDS + b"Content-Length: 3\r\n\r\nok\n"
CHUNKED_200 = b"HTTP/1.1 200 OK\r\n" + FIELDS + b"Transfer-Encoding: chunked\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
PROCESSING = b"HTTP/1.1 102 Processing\r\n\r\n"


def with_field(line: bytes) -> bytes:
    """A 200 with one extra header line after Content-Type."""
    return b"HTTP/1.1 200 OK\r\n" + FIELDS + line + b"\r\nContent-Length: 3\r\n\r\nok\n"


EXAMPLES: dict[str, bytes] = {
    "informational-to-http10": PROCESSING + OK_200,
    "1xx-missing-blank-line": b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n"
    + OK_200,
    "1xx-with-body": b"HTTP/1.1 103 Early Hints\r\nContent-Length: 6\r\n\r\nhello\n" + OK_200,
    "1xx-after-final": OK_200 + PROCESSING,
    "100-unsolicited": CONTINUE + OK_200,
    "100-after-body-complete": CONTINUE + OK_200,
    "100-twice": CONTINUE + CONTINUE + OK_200,
    "101-without-upgrade-request": b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "101-missing-upgrade-header": b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Connection: Upgrade\r\n\r\n",
    "1xx-flood": PROCESSING * 1000 + OK_200,
    "informational-invalid-code": b"HTTP/1.1 1XX Informational\r\n\r\n" + OK_200,
    "102-forever": PROCESSING * 3,
    "1xx-with-headers": b"HTTP/1.1 103 Early Hints\r\n"
    b"Link: </style.css>; rel=preload; as=style\r\n"
    b"Link: </app.js>; rel=preload; as=script\r\n"
    b"X-Early: yes\r\n\r\n" + OK_200,
    "several-103": b"".join(
        b"HTTP/1.1 103 Early Hints\r\nLink: </asset-%d.js>; rel=preload; as=script\r\n\r\n" % i
        for i in range(3)
    )
    + OK_200,
    "bad-status-line": b"HTTP/1.1 OK\r\n" + FIELDS + b"Content-Length: 3\r\n\r\nok\n",
    "http-version-mismatch": b"HTTP/2.0 200 OK\r\n" + FIELDS + b"Content-Length: 3\r\n\r\nok\n",
    "lf-only-line-endings": OK_200.replace(b"\r\n", b"\n"),
    "obs-fold-header": with_field(b"X-Folded: first\r\n second"),
    "header-space-before-colon": with_field(b"X-Spaced : value"),
    "header-nul-byte": with_field(b"X-Nul: a\x00b"),
    "header-bare-cr": with_field(b"X-Bare-CR: a\rb"),
    "header-invalid-name": with_field(b"X-Bad(Name): value"),
    "whitespace-before-first-header": b"HTTP/1.1 200 OK\r\n X-Indented: value\r\n"
    + FIELDS
    + b"Content-Length: 3\r\n\r\nok\n",
    "oversized-header": with_field(b"X-Large: " + b"a" * 65536),
    "missing-space-after-status": b"HTTP/1.1 200\r\n" + FIELDS + b"Content-Length: 3\r\n\r\nok\n",
    "empty-reason-phrase": b"HTTP/1.1 200 \r\n" + FIELDS + b"Content-Length: 3\r\n\r\nok\n",
    "status-code-out-of-range": b"HTTP/1.1 600 Invalid\r\n"
    + FIELDS
    + b"Content-Length: 3\r\n\r\nok\n",
    "content-length-too-long": b"HTTP/1.1 200 OK\r\n"
    + FIELDS
    + b"Content-Length: 16\r\n\r\nhello\n",
    "content-length-too-short": b"HTTP/1.1 200 OK\r\n"
    + FIELDS
    + b"Content-Length: 3\r\n\r\nhello\n",
    "duplicate-content-length-differing": b"HTTP/1.1 200 OK\r\n"
    + FIELDS
    + b"Content-Length: 6\r\nContent-Length: 7\r\n\r\nhello\n",
    "duplicate-content-length-identical": b"HTTP/1.1 200 OK\r\n"
    + FIELDS
    + b"Content-Length: 6\r\nContent-Length: 6\r\n\r\nhello\n",
    "content-length-with-chunked": CHUNKED_200
    + b"Content-Length: 6\r\n\r\n6\r\nhello\n\r\n0\r\n\r\n",
    "chunked-bad-size": CHUNKED_200 + b"\r\nzz\r\nhello\n\r\n0\r\n\r\n",
    "chunked-missing-last-chunk": CHUNKED_200 + b"\r\n6\r\nhello\n\r\n",
    "chunked-extension-garbage": CHUNKED_200 + b'\r\n6;="unterminated\r\nhello\n\r\n0\r\n\r\n',
    "chunked-to-http10": CHUNKED_200 + b"\r\n6\r\nhello\n\r\n0\r\n\r\n",
    "body-on-204": b"HTTP/1.1 204 No Content\r\n" + DATE + SERVER + b"\r\nhello\n",
    "body-on-304": b"HTTP/1.1 304 Not Modified\r\n"
    + DATE
    + SERVER
    + b"Content-Length: 6\r\n\r\nhello\n",
    "body-on-head": b"HTTP/1.1 200 OK\r\n" + FIELDS + b"Content-Length: 6\r\n\r\nhello\n",
    "empty-response": b"",
    "reset-mid-body": b"HTTP/1.1 200 OK\r\n"
    + FIELDS
    + b"Content-Length: 100\r\n\r\n"
    + b"0123456789" * 5,
    "respond-before-request": OK_200,
    "garbage-after-response": OK_200 + b"oops\r\n",
}


def test_every_entry_has_its_bytes_here() -> None:
    assert sorted(EXAMPLES) == sorted(entry.id for entry in ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_example_bytes_are_exact(entry: Violation) -> None:
    assert entry.example_bytes() == EXAMPLES[entry.id]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            {"id": "oversized-header", "size": 3}, with_field(b"X-Large: aaa"), id="oversized"
        ),
        pytest.param(
            {"id": "1xx-flood", "count": 2, "status": 103},
            b"HTTP/1.1 103 Early Hints\r\n\r\n" * 2 + OK_200,
            id="flood",
        ),
        pytest.param(
            {"id": "informational-invalid-code", "code": "1000"},
            b"HTTP/1.1 1000 Informational\r\n\r\n" + OK_200,
            id="invalid-code",
        ),
        pytest.param(
            {"id": "content-length-too-long", "body": "abc", "missing": 1},
            b"HTTP/1.1 200 OK\r\n" + FIELDS + b"Content-Length: 4\r\n\r\nabc",
            id="too-long",
        ),
        pytest.param(
            {"id": "http-version-mismatch", "version": "1.0"},
            b"HTTP/1.0 200 OK\r\n" + FIELDS + b"Content-Length: 3\r\n\r\nok\n",
            id="version",
        ),
    ],
)
def test_parameters_from_a_profile_change_the_bytes(data: dict[str, Any], expected: bytes) -> None:
    profile = profile_from_data({"name": "p", "steps": [{"violate": data}]}, "test")
    step = profile.steps[0].value
    entry = CATALOGUE[step.id]
    actions = entry.actions(step.parameters, Context(entry.probe.head(), 0.0))
    written = b"".join(getattr(action, "data", b"") for action in actions)
    assert written == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"id": "1xx-flood", "count": 0}, "1xx-flood parameters: count: Input should be"),
        ({"id": "oversized-header", "bytes": 5}, "oversized-header parameters: bytes: Extra"),
        ({"id": "informational-invalid-code", "code": "1 0"}, "code: String should match"),
        ({"id": "no-such-entry"}, "unknown violation 'no-such-entry'"),
    ],
)
def test_bad_parameters_are_refused_where_they_are(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        profile_from_data({"name": "p", "steps": [{"violate": data}]}, "test.yaml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("test.yaml: steps[0].violate")


def test_only_on_accept_entries_write_on_accept() -> None:
    for entry in ENTRIES:
        step = BUNDLED[profile_name(entry)].steps[0].value
        written = accept_bytes(step, 0.0)
        assert written == (EXAMPLES[entry.id] if entry.on_accept else b""), entry.id


# -- (a) the same bytes on a real port, and the ending ------------------------------------------

IMF_FIXDATE = (
    rb"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
    rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT"
)


def live(example: bytes) -> re.Pattern[bytes]:
    """``example`` with any IMF-fixdate where it has epoch 0 (the length is the same)."""
    epoch = re.escape(b"Thu, 01 Jan 1970 00:00:00 GMT")
    return re.compile(re.escape(example).replace(epoch, IMF_FIXDATE), re.DOTALL)


_ENDED = {Ending.CLOSE: Ended.EOF, Ending.RESET: Ended.RESET}


def read_exchange(port: int, entry: Violation) -> RawResult:
    """Send the probe's request once (on accept: first read for a moment); read what comes."""
    expected = len(entry.example_bytes())
    with connect(port) as sock:
        reader = RawReader(sock, time.monotonic())
        if entry.on_accept:
            reader.read(0.3)  # before any request: the bytes on accept
        sock.sendall(entry.probe.encode(f"127.0.0.1:{port}", selecting(entry)))
        if entry.ending is Ending.HANG:
            result = reader.read(entry.probe.patience_seconds)
            abort_on_close(sock)
            return result
        deadline = time.monotonic() + 5.0
        while len(reader.result.data) < expected and reader.result.ended is Ended.OPEN:
            assert time.monotonic() < deadline, f"only {reader.result.data!r}"
            reader.read(0.05)
        reader.read(0.2 if entry.ending is Ending.KEEP_ALIVE else 5.0)
        return reader.result


@pytest.mark.realsocket
@pytest.mark.parametrize("entry", entry_params())
@pytest_twisted.ensureDeferred
async def test_the_bytes_on_the_wire_and_the_ending(
    origin: RunningOrigin, entry: Violation
) -> None:
    prepare(origin, entry)
    result = await deferToThread(read_exchange, origin.port_number, entry)

    example = entry.example_bytes()
    if entry.ending is Ending.HANG:
        # It never ends: the first interim response came, then nothing else before patience.
        first = example[: example.index(b"\r\n\r\n") + 4]
        assert result.data == first
        assert result.ended is Ended.OPEN
        return
    assert live(example).fullmatch(result.data), f"\n  {example!r}\n  {result.data!r}"
    assert result.ended is _ENDED.get(entry.ending, Ended.OPEN)
    if entry.on_accept:
        assert result.time_of(example[-3:]) < 0.3, "the response came before the request"


# -- (b) what strict parsers no one here wrote make of it ---------------------------------------


@pytest.fixture(scope="module")
def node() -> Iterator[NodeWitness | None]:
    """One node process for the module, or None where node is not installed."""
    binary = node_binary()
    if binary is None:
        yield None
        return
    witness = NodeWitness(binary)
    yield witness
    witness.close()


def need(node: NodeWitness | None) -> NodeWitness:
    if node is None:
        pytest.skip("node is not installed: Node.js's http client (llhttp) cannot be asked")
    return node


def llhttp_verdict(strict: Observation, lenient: Observation) -> Verdict:
    if not strict.rejected:
        return "accepts"
    return "rejects" if lenient.rejected else "accepts-lenient-only"


@pytest.mark.realsocket
@pytest.mark.parametrize("entry", entry_params())
@pytest_twisted.ensureDeferred
async def test_h11_verdict(origin: RunningOrigin, entry: Violation) -> None:
    prepare(origin, entry)
    seen = await deferToThread(h11_reads, origin.port_number, entry.probe, selecting(entry))

    verdict = "rejects" if seen.rejected else "accepts"
    assert verdict == entry.verdicts["h11"], seen
    # What it said, when it refused: the start of its message, as recorded.
    said = (seen.error or "").removeprefix("RemoteProtocolError: ")
    assert said.startswith(entry.evidence["h11"]) if seen.rejected else "h11" not in entry.evidence


@pytest.mark.realsocket
@pytest.mark.parametrize("entry", entry_params())
@pytest_twisted.ensureDeferred
async def test_llhttp_verdict(
    origin: RunningOrigin, node: NodeWitness | None, entry: Violation
) -> None:
    witness = need(node)
    prepare(origin, entry)
    port, extra = origin.port_number, selecting(entry)
    cases = [node_raw_case(port, entry.probe, extra, lenient=mode) for mode in (False, True)]
    answers = await deferToThread(witness.run, cases)

    strict, lenient = (node_observation(answer) for answer in answers)
    assert llhttp_verdict(strict, lenient) == entry.verdicts["llhttp"], (strict, lenient)
    assert strict.error == entry.evidence.get("llhttp"), answers[0]["message"]


# -- the converse: conformant profiles parse cleanly ---------------------------------------------


def conformant_profiles() -> list[str]:
    return sorted(
        name
        for name in BUNDLED
        if not name.startswith("violation-") and name not in CONNECTION_FAULTS
    )


#: What each conformant profile answers; profiles about Expect get an upload that waits for 100.
FINAL_STATUS = {"expect-final-early": 413, "expect-reject": 417}
UPLOAD = b"0123456789" * 100
#: A WebSocket opening handshake (RFC 6455 section 4.1), for the profiles that upgrade.
HANDSHAKE = Probe(
    headers=(
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Protocol", "chat.v1"),
    )
)


def expects_continue(name: str) -> bool:
    return name.startswith("expect-")


def upgrades(name: str) -> bool:
    return BUNDLED[name].steps[0].kind == "websocket"


def h11_conformant(port: int, name: str) -> Observation:
    """h11's client sends the profile's request: an upload waiting for 100 for expect-*, an
    opening handshake for a WebSocket profile, a GET otherwise."""
    if upgrades(name):
        return h11_reads(port, HANDSHAKE, [(DEFAULT_INBAND_HEADER, name)])
    observation = Observation()
    with H11Client(port) as client:
        headers = [(DEFAULT_INBAND_HEADER, name)]
        if expects_continue(name):
            headers.append(("Expect", "100-continue"))
            response = client.request(
                "POST", "/", headers, UPLOAD, wait_for_continue=name != "expect-ignore"
            )
        else:
            response = client.request("GET", "/", headers)
    information = tuple(event.status_code for _, event in response.informational)
    observation.responses.append(Seen(information, response.status, True))
    return observation


def node_conformant_case(port: int, name: str) -> dict[str, Any]:
    """Node's own request (native mode; raw for the handshake), as for h11."""
    if upgrades(name):
        return node_raw_case(port, HANDSHAKE, [(DEFAULT_INBAND_HEADER, name)], lenient=False)
    case: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "lenient": False,
        "timeout_ms": 10_000,
        "method": "GET",
        "path": "/",
        "headers": {DEFAULT_INBAND_HEADER: name},
    }
    if expects_continue(name):
        case |= {"method": "POST", "expect_continue": True, "body": _b64(UPLOAD)}
    return case


def assert_clean(seen: Observation, name: str) -> None:
    """No error; a complete final response of the expected status, or an accepted 101."""
    assert seen.error is None, seen
    assert not seen.timed_out, seen
    if upgrades(name):
        assert (seen.switched, seen.responses[0].status) == (True, 101), seen
    else:
        assert seen.responses[0].status == FINAL_STATUS.get(name, 200), seen
        assert seen.responses[0].complete, seen


@pytest.mark.realsocket
@pytest.mark.parametrize("name", conformant_profiles())
@pytest_twisted.ensureDeferred
async def test_conformant_profile_parses_cleanly_in_both(
    origin: RunningOrigin, node: NodeWitness | None, name: str
) -> None:
    port = origin.port_number
    # Both at once: processing-trickle alone takes 5 s.
    node_seen = deferToThread(node.run, [node_conformant_case(port, name)]) if node else None
    assert_clean(await deferToThread(h11_conformant, port, name), name)
    if node_seen is None:
        pytest.skip("h11 parsed it cleanly; node is not installed, so llhttp was not asked")
    (answer,) = await node_seen
    assert_clean(node_observation(answer), name)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.mark.realsocket
@pytest_twisted.ensureDeferred
async def test_both_witnesses_can_say_no(origin: RunningOrigin, node: NodeWitness | None) -> None:
    """The witnesses are not blind: a response that is plainly broken fails in both."""
    entry = CATALOGUE["bad-status-line"]
    seen = await deferToThread(h11_reads, origin.port_number, entry.probe, selecting(entry))
    assert seen.error is not None
    assert seen.error.startswith("RemoteProtocolError")
    witness = need(node)
    case = node_raw_case(origin.port_number, entry.probe, selecting(entry), lenient=False)
    (answer,) = await deferToThread(witness.run, [case])
    assert str(answer["error"]).startswith("HPE_"), answer


# -- generated files ----------------------------------------------------------------------------


def _stale(path: Path, generated: str, command: str) -> str:
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(keepends=True),
            generated.splitlines(keepends=True),
            f"{path.name} (committed)",
            f"{path.name} (from the catalogue)",
            n=1,
        )
    )
    return f"{path} is out of date: run `{command}`\n{diff[:4000]}"


REGENERATE = "python -m fakeorigin.docgen.catalogue_doc docs/violations.md"


def test_violations_md_is_generated() -> None:
    generated = violations_markdown()
    committed = VIOLATIONS_MD.read_text(encoding="utf-8") if VIOLATIONS_MD.exists() else ""
    assert committed == generated, _stale(VIOLATIONS_MD, generated, REGENERATE)


def test_violation_profiles_are_generated() -> None:
    directory = bundled_profiles_dir()
    expected = generated_profiles()
    present = {path.name for path in directory.glob("violation-*.yaml")}
    assert present == set(expected), f"stale or missing violation profiles: run `{REGENERATE}`"
    for filename, text in expected.items():
        path = directory / filename
        assert path.read_text(encoding="utf-8") == text, _stale(path, text, REGENERATE)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_each_violation_profile_selects_its_entry_with_defaults(entry: Violation) -> None:
    profile = BUNDLED[profile_name(entry)]
    assert [step.kind for step in profile.steps] == ["violate"]
    step = profile.steps[0].value
    assert step.id == entry.id
    assert step.parameters == entry.parameters()
    assert profile_text(entry).startswith("#")


def test_probe_requests_are_what_the_entries_need() -> None:
    assert CATALOGUE["informational-to-http10"].probe.http_version == "1.0"
    assert CATALOGUE["body-on-head"].probe.method == "HEAD"
    assert not any(n.lower() == "expect" for n, _ in CATALOGUE["100-unsolicited"].probe.headers)
    assert Probe(body=b"ab").encode("h", [("X", "y")]) == (
        b"GET / HTTP/1.1\r\nHost: h\r\nX: y\r\nContent-Length: 2\r\n\r\nab"
    )
