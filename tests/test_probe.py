"""``fakeorigin probe``: the scenarios run against fakeorigin alone (the path where nothing is in
between, which fixes what each scenario's origin side does), and through real proxies from
Debian's packages, asserting what their documentation states: nginx answers an Expect upload's
100 itself and does not pass ``Expect`` upstream, and answers 502 when its upstream closes
without a response; HAProxy forwards interim responses (a 103 with its fields) and the Expect.
Verdicts are computed from what happened; none is written per proxy.

The client's lenient reading of responses is tested on exact bytes first.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest

from fakeorigin.probe.client import parse
from fakeorigin.probe.command import run_probe, select
from fakeorigin.probe.runner import Runner
from fakeorigin.probe.scenarios import SCENARIOS, Kind, Verdict
from tests.control_process import FAKEORIGIN, Served, child_env, serving
from tests.proxies import free_port, haproxy, nginx

pytestmark = pytest.mark.realsocket


# -- reading what the client received ------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "closed", "statuses", "body", "complete"),
    [
        pytest.param(
            b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            False,
            [103, 200],
            b"ok",
            True,
            id="an interim, then a framed final",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n1\r\n!\r\n0\r\n\r\n",
            False,
            [200],
            b"ok!",
            True,
            id="chunked",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 50,
            True,
            [200],
            b"x" * 50,
            False,
            id="shorter than its Content-Length",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
            False,
            [200],
            b"until the end",
            False,
            id="until the close, not closed yet",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\n\r\nuntil the end",
            True,
            [200],
            b"until the end",
            True,
            id="until the close, closed",
        ),
        pytest.param(b"HTTP/1.1 102 Processing\r\n", False, [], b"", False, id="a partial head"),
    ],
)
def test_parse(data: bytes, closed: bool, statuses: list[int], body: bytes, complete: bool) -> None:
    for pieces in ([data], [data[:1], data[1:]], [bytes([b]) for b in data]):
        chunks = [(float(i), piece) for i, piece in enumerate(pieces)]
        exchange = parse(chunks, closed=closed)
        assert [r.status for r in exchange.responses] == statuses
        final = exchange.final
        if final is not None:
            assert (final.body, final.complete) == (body, complete)


def test_parse_times_each_response_by_its_first_byte() -> None:
    chunks = [(0.5, b"HTTP/1.1 100 Continue\r\n\r\n"), (1.25, b"HTTP/1.1 200 OK\r\n\r\n")]
    assert [r.at for r in parse(chunks, closed=True).responses] == [0.5, 1.25]


def test_every_scenario_is_documented() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "probe.md").read_text()
    for scenario_id in SCENARIOS:
        assert f"| `{scenario_id}` |" in text, scenario_id


def test_select() -> None:
    assert [s.id for s in select(["expect"], ["expect-delayed-100"])] == [
        "expect-upload",
        "expect-417-relayed",
        "expect-413-relayed",
        "expect-http10-client",
        "expect-417-then-reuse",
    ]
    assert "1xx-102-forwarded" not in [s.id for s in select([], ["1xx-102-forwarded"])]
    with pytest.raises(ValueError, match="unknown scenario or group nope"):
        select(["nope"], [])


# -- against fakeorigin, then through real proxies -------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving() as server:
        yield server


def verdicts(
    proxy_url: str, served: Served, proxy_timeout: float | None = None
) -> dict[str, Verdict]:
    runner = Runner(proxy_url, served.client(), proxy_timeout=proxy_timeout)
    try:
        return {s.id: runner.run(s).verdict for s in SCENARIOS.values()}
    finally:
        runner.close()


#: With nothing in between, the client talks to the origin itself: each scenario's origin
#: side is what it says, and only the gateway's own duties (a 502) are missing.
ALONE = {
    "1xx-103-forwarded": Kind.CONFORMANT,
    "1xx-102-forwarded": Kind.CONFORMANT,
    "1xx-unregistered-with-fields": Kind.CONFORMANT,
    "1xx-five-in-a-row": Kind.CONFORMANT,
    "1xx-eleven-in-a-row": Kind.CONFORMANT,
    "1xx-to-http10-client": Kind.NOT_APPLICABLE,  # the origin sends no 1xx to HTTP/1.0
    "version-upstream": Kind.CONFORMANT,
    "expect-upload": Kind.CONFORMANT,
    "expect-417-relayed": Kind.CONFORMANT,
    "faults-close-before-response": Kind.DEVIATION,  # no gateway: nobody answers 502
    "framing-content-length-too-long": Kind.CONFORMANT,
    "1xx-to-head": Kind.CONFORMANT,
    "1xx-after-the-body": Kind.CONFORMANT,
    "version-upstream-for-http10": Kind.DEVIATION,  # the client's own HTTP/1.0, unchanged
    "expect-413-relayed": Kind.CONFORMANT,
    "expect-delayed-100": Kind.CONFORMANT,
    "expect-http10-client": Kind.CONFORMANT,
    # the origin's own broken framing, with no proxy to refuse it
    "framing-two-content-lengths": Kind.VIOLATION,
    "framing-length-and-chunked": Kind.VIOLATION,
    "framing-bad-chunk-size": Kind.CONFORMANT,  # the client sees it cut short and closed
    "framing-missing-last-chunk": Kind.CONFORMANT,
    "faults-reset-mid-body": Kind.CONFORMANT,
    # about a proxy's read timeout: n/a without --proxy-timeout
    "timeout-102-holds-off": Kind.NOT_APPLICABLE,
    "timeout-silence-after-102": Kind.NOT_APPLICABLE,
    "faults-hang": Kind.NOT_APPLICABLE,
    "websocket-upgrade": Kind.CONFORMANT,
    "websocket-refused-with-200": Kind.CONFORMANT,
    "websocket-bad-accept": Kind.CONFORMANT,
    "websocket-unsolicited-101": Kind.VIOLATION,  # the origin's own, with no proxy to refuse
    "expect-417-then-reuse": Kind.CONFORMANT,
}


def test_every_scenario_against_fakeorigin_alone(served: Served) -> None:
    assert set(ALONE) == set(SCENARIOS)
    got = verdicts(served.origin_url, served)
    assert {k: v.kind for k, v in got.items()} == ALONE, got
    assert got["expect-upload"].observation.startswith(
        "Expect was passed upstream; the client got 100 (the origin's)"
    )
    assert "no response" not in got["1xx-103-forwarded"].observation
    assert served.client().profiles()  # and the probe's profiles are gone again
    assert not [p for p in served.client().profiles() if p["name"].startswith("probe-")]


def test_through_nginx(served: Served, tmp_path: Path) -> None:
    with nginx(served.origin_port, tmp_path, "proxy_read_timeout 3s;") as proxy:
        got = verdicts(proxy.url, served, proxy_timeout=3.0)
    expect = got["expect-upload"]
    assert expect.kind is Kind.DEVIATION
    assert "Expect was not passed upstream" in expect.observation
    assert "the client got 100 (the proxy's own)" in expect.observation
    assert got["version-upstream"].kind is Kind.CONFORMANT  # proxy_http_version 1.1
    assert got["faults-close-before-response"].kind is Kind.CONFORMANT
    assert "the client saw 502" in got["faults-close-before-response"].observation
    assert got["framing-content-length-too-long"].kind is Kind.CONFORMANT
    # nginx's manual: proxy_read_timeout expired -> 504 Gateway Time-out
    assert got["faults-hang"].kind is Kind.CONFORMANT
    assert "the client saw 504 at 3." in got["faults-hang"].observation
    # nginx's manual (WebSocket proxying): Upgrade and Connection are hop-by-hop and not
    # passed unless configured: the upgrade never reaches the origin ...
    assert got["websocket-upgrade"].kind is Kind.DEVIATION
    assert got["websocket-bad-accept"].kind is Kind.NOT_APPLICABLE


def test_through_nginx_configured_for_websocket(served: Served, tmp_path: Path) -> None:
    """... and with the two directives its manual gives, it passes."""
    websocket = 'proxy_set_header Upgrade $http_upgrade;\nproxy_set_header Connection "upgrade";'
    with nginx(served.origin_port, tmp_path, websocket) as proxy:
        runner = Runner(proxy.url, served.client())
        try:
            verdict = runner.run(SCENARIOS["websocket-upgrade"]).verdict
        finally:
            runner.close()
    assert verdict.kind is Kind.CONFORMANT, verdict


def test_through_haproxy(served: Served, tmp_path: Path) -> None:
    with haproxy(served.origin_port, tmp_path, "timeout server 3s") as proxy:
        got = verdicts(proxy.url, served, proxy_timeout=3.0)
    for scenario in ("1xx-103-forwarded", "1xx-unregistered-with-fields", "1xx-eleven-in-a-row"):
        assert got[scenario].kind is Kind.CONFORMANT, got[scenario]
    assert got["expect-upload"].kind is Kind.CONFORMANT
    assert "the client got 100 (the origin's)" in got["expect-upload"].observation
    assert got["faults-close-before-response"].kind is Kind.CONFORMANT
    # HAProxy's manual: a response with different Content-Length values is refused (502)
    # unless option accept-invalid-http-response (here unset).
    assert got["framing-two-content-lengths"].kind is Kind.CONFORMANT
    assert "the client saw 502" in got["framing-two-content-lengths"].observation
    # HAProxy's manual: timeout server is an inactivity timeout (reset by each byte from the
    # server): 102s every second hold it off; silence after a 102 ends in 504.
    assert got["timeout-102-holds-off"].kind is Kind.CONFORMANT
    assert got["timeout-silence-after-102"].kind is Kind.CONFORMANT
    assert "102, 504 at 3." in got["timeout-silence-after-102"].observation
    # HAProxy's manual: WebSocket is supported natively (the upgrade and the tunnel)
    assert got["websocket-upgrade"].kind is Kind.CONFORMANT


# -- the command ---------------------------------------------------------------------------


def test_probe_command_json(served: Served) -> None:
    done = subprocess.run(
        [
            str(FAKEORIGIN),
            "probe",
            "--proxy",
            served.origin_url,
            "--control",
            served.control_url,
            "--only",
            "1xx",
            "--skip",
            "1xx-eleven-in-a-row",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["proxy"] == served.origin_url
    ids = [r["id"] for r in document["results"]]
    assert ids == [s.id for s in select(["1xx"], ["1xx-eleven-in-a-row"])]
    assert {r["verdict"] for r in document["results"]} <= {"conformant", "n/a"}


def test_probe_starts_its_own_origin_and_fails_on_deviation() -> None:
    port = free_port()
    done = subprocess.run(
        [
            str(FAKEORIGIN),
            "probe",
            "--proxy",
            f"http://127.0.0.1:{port}",
            "--origin-listen",
            f"tcp:{port}:interface=127.0.0.1",
            "--only",
            "faults",
            "--fail-on",
            "deviation",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
        check=False,
    )
    # the origin alone: no gateway answers 502 for the close, a deviation
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("deviation  faults-close-before-response: ")


def test_probe_writes_junit_xml_and_markdown(served: Served, tmp_path: Path) -> None:
    junit, table = tmp_path / "probe.xml", tmp_path / "probe.md"
    only = ["framing-two-content-lengths", "1xx-103-forwarded", "faults-hang"]
    code = run_probe(
        served.origin_url,
        served.client(),
        select(only, []),
        io.StringIO(),
        junit_path=junit,
        markdown_path=table,
    )
    assert code == 1
    suite = ElementTree.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["framing-two-content-lengths"].find("failure") is not None
    assert cases["faults-hang"].find("skipped") is not None
    assert cases["1xx-103-forwarded"].find("failure") is None
    rows = table.read_text().splitlines()
    assert rows[2:4] == ["| scenario | verdict | observation |", "|---|---|---|"]
    assert rows[4].startswith("| `1xx-103-forwarded` | conformant | the origin sent 103")


def test_probe_usage_errors() -> None:
    done = subprocess.run(
        [
            str(FAKEORIGIN),
            "probe",
            "--proxy",
            "http://127.0.0.1:1",
            "--control",
            "http://127.0.0.1:1",
            "--only",
            "nope",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        check=False,
    )
    assert done.returncode == 2
    assert "unknown scenario or group nope" in done.stderr


def test_run_probe_exits_1_on_a_violation(served: Served) -> None:
    out = io.StringIO()
    only = ["framing-two-content-lengths"]  # the origin alone: nobody answers the 502
    assert run_probe(served.origin_url, served.client(), select(only, []), out) == 1
    assert out.getvalue().startswith("violation  framing-two-content-lengths: ")
    assert "RFC 9112 section 6.3: If this is a response message received by a proxy" in (
        out.getvalue()
    )


def test_run_probe_exit_code_follows_the_verdicts(served: Served) -> None:
    out = io.StringIO()
    only = ["framing-content-length-too-long"]
    code = run_probe(served.origin_url, served.client(), select(only, []), out)
    assert code == 0
    assert out.getvalue().startswith("conformant framing-content-length-too-long: ")
    assert "connection closed" in out.getvalue()
