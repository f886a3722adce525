"""``--tls``: a CA made at start, every --listen over TLS, ALPN http/1.1, the TLS facts in the
journal. Real servers (``fakeorigin serve``), real clients: curl ``--cacert``, Python's ssl and
the ``websockets`` library over wss://, whose decrypted bytes must equal what the same profile
sends in cleartext: every bundled profile, the endings included (a clean close is close_notify
then FIN, read as the end of the stream; a reset reads as one)."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from fakeorigin.core.durations import scheduled_seconds
from fakeorigin.core.loader import bundled_profiles_dir, load_profile_dir
from tests.clients import curl
from tests.control_process import Served, serving

pytestmark = pytest.mark.realsocket

_DATE = re.compile(rb"Date: [^\r]+\r\n")


@pytest.fixture(scope="module")
def tls_server() -> Iterator[Served]:
    with serving("--tls", "--tls-name", "origin.test") as served:
        yield served


@pytest.fixture(scope="module")
def clear_server() -> Iterator[Served]:
    with serving() as served:
        yield served


def _context(ca: str, alpn: list[str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca)
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    return context


def _exchange(
    served: Served, request: bytes, *, tls: bool, sni: str = "localhost", seconds: float = 3.0
) -> bytes:
    """Send ``request`` and read until the server ends the connection (FIN or reset), for
    ``seconds`` at most (then ``<open>`` ends what came)."""
    raw = socket.create_connection(("127.0.0.1", served.origin_port), timeout=10)
    sock: Any = raw
    if tls:
        # A close sends close_notify first, so the end of a clean close reads as b"" even with
        # ragged EOFs not suppressed; Python's ssl reports an RST under it as SSLEOFError.
        context = _context(served.announce["ca"], ["http/1.1"])
        sock = context.wrap_socket(raw, server_hostname=sni, suppress_ragged_eofs=False)
    received = b""
    deadline = time.monotonic() + seconds  # a profile that never ends: what came by then
    with sock:
        sock.sendall(request)
        try:
            while time.monotonic() < deadline:
                sock.settimeout(max(deadline - time.monotonic(), 0.01))
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except (ConnectionResetError, ssl.SSLEOFError):
            received += b"<reset>"
        except TimeoutError:
            received += b"<open>"
    return received


def _request(profile: str, *, body: bytes = b"", expect: bool = False) -> bytes:
    head = f"POST /x HTTP/1.1\r\nHost: localhost\r\nFakeorigin-Profile: {profile}\r\n"
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n"
    head += "Expect: 100-continue\r\n" if expect else ""
    return head.encode() + b"\r\n" + body


def _events(served: Served) -> list[str]:
    """The events of the newest record."""
    newest = served.client().journal(limit=10_000)[-1]
    return [entry["event"] for entry in newest["timeline"]]


def test_announce_health_and_curl_trust_the_ca(tls_server: Served) -> None:
    ca = tls_server.announce["ca"]
    assert Path(ca).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert tls_server.origin_url.startswith("https://127.0.0.1:")
    assert tls_server.client().health()["ca"] == ca
    port = tls_server.origin_port
    for host in ("localhost", "127.0.0.1", "origin.test"):
        resolve = ["--resolve", f"origin.test:{port}:127.0.0.1"]
        result = curl("--cacert", ca, *resolve, "-i", f"https://{host}:{port}/hello")
        assert (result.exit_code, result.http_code) == (0, 200), result.stderr
    [by_name] = [r for r in tls_server.client().journal() if r["tls"]["sni"] == "origin.test"]
    assert by_name["tls"]["alpn"] == "h2"  # curl offers h2 first, and the TLS port takes it
    assert by_name["http_version"] == "2"
    http11 = curl("--cacert", ca, "--http1.1", f"https://localhost:{port}/hello")
    assert http11.http_code == 200
    assert tls_server.client().journal()[-1]["tls"]["alpn"] == "http/1.1"
    assert by_name["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    by_address = [r for r in tls_server.client().journal() if r["tls"]["sni"] is None]
    assert by_address  # a client asks no SNI for an IP address (RFC 6066 section 3)


def test_an_untrusted_client_is_refused_and_the_server_serves_on(tls_server: Served) -> None:
    result = curl(f"https://localhost:{tls_server.origin_port}/")  # no --cacert
    assert result.exit_code == 60  # curl: the peer's certificate is not trusted
    assert curl("--cacert", tls_server.announce["ca"], f"{tls_server.origin_url}/").http_code == 200


def test_a_client_without_alpn_gets_http11(tls_server: Served) -> None:
    raw = socket.create_connection(("127.0.0.1", tls_server.origin_port), timeout=10)
    context = _context(tls_server.announce["ca"])  # no ALPN offered
    with context.wrap_socket(raw, server_hostname="localhost") as sock:
        assert sock.selected_alpn_protocol() is None
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")


def test_plain_http_to_the_tls_port_is_closed_and_the_server_serves_on(tls_server: Served) -> None:
    with socket.create_connection(("127.0.0.1", tls_server.origin_port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            answer = sock.recv(65536)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"HTTP/")  # never an HTTP response in cleartext
    result = curl("--cacert", tls_server.announce["ca"], f"{tls_server.origin_url}/")
    assert result.http_code == 200
    tls_server.assert_running()
    failed = [r for r in tls_server.client().journal() if r["method"] is None]
    assert failed
    assert failed[-1]["outcome"] == "bad-request"
    assert failed[-1]["error"].startswith("the TLS handshake failed: ")


def test_a_handshake_that_never_completes_is_closed_at_the_header_timeout() -> None:
    with serving("--tls", "--header-timeout", "0.5") as served:
        with socket.create_connection(("127.0.0.1", served.origin_port), timeout=5) as sock:
            sock.sendall(b"\x16\x03\x01\x00\xc8\x01")  # the first bytes of a ClientHello
            started = time.monotonic()
            assert sock.recv(65536) == b""  # a FIN, nothing written
            assert 0.4 <= time.monotonic() - started <= 2.0
        [record] = served.client().journal()
        assert (record["outcome"], record["method"]) == ("bad-request", None)
        assert record["error"] == (
            "the TLS handshake was not complete within 0.5 s (--header-timeout)"
        )
        result = curl("--cacert", served.announce["ca"], f"{served.origin_url}/")
        assert result.http_code == 200


def _quick_profiles() -> list[str]:
    """Every bundled HTTP profile whose own steps take at most a second (hang, the 6 s
    trickle and the WebSocket ones are left to their own tests)."""
    bundled = load_profile_dir(bundled_profiles_dir())
    return sorted(
        name
        for name, profile in bundled.items()
        if not name.startswith("websocket-")
        and profile.steps[-1].kind != "hang"
        and scheduled_seconds(profile) <= 1.0
    )


@pytest.mark.parametrize("profile", _quick_profiles())
def test_same_bytes_and_timeline_as_cleartext(
    tls_server: Served, clear_server: Served, profile: str
) -> None:
    expect = profile.startswith("expect-")
    request = _request(profile, body=b"body" if expect else b"abc", expect=expect)
    clear = _DATE.sub(b"Date: -\r\n", _exchange(clear_server, request, tls=False))
    secure = _DATE.sub(b"Date: -\r\n", _exchange(tls_server, request, tls=True))
    if clear.endswith(b"<open>"):  # it never ends (violation-102-forever): the same start
        assert secure.endswith(b"<open>")
        shorter = min(len(clear), len(secure)) - len(b"<open>")
        assert secure[:shorter] == clear[:shorter]
        return
    assert secure == clear
    assert _events(tls_server) == _events(clear_server)


@pytest.mark.parametrize("profile", _quick_profiles())
def test_curl_sees_the_same_over_tls(
    tls_server: Served, clear_server: Served, profile: str
) -> None:
    # curl --cacert --http1.1: the same exit code (a reset is 56, a cut body 18, a bad status
    # line 8), status and content over TLS as in cleartext (an echo names its own port).
    pick = ["-H", f"Fakeorigin-Profile: {profile}", "-m", "3", "--http1.1"]
    clear = curl(*pick, f"{clear_server.origin_url}/c")
    secure = curl("--cacert", tls_server.announce["ca"], *pick, f"{tls_server.origin_url}/c")
    assert secure.exit_code == clear.exit_code, (secure.stderr, clear.stderr)
    if clear.exit_code == 56:  # reset: whether curl had read the head before is timing
        return
    assert secure.http_code == clear.http_code
    port = str(tls_server.origin_port).encode()
    assert secure.output.replace(port, b"PORT") == clear.output.replace(
        str(clear_server.origin_port).encode(), b"PORT"
    )


def _both(
    tls_server: Served, clear_server: Served, request: bytes, seconds: float = 3.0
) -> tuple[bytes, bytes]:
    """The same request over TLS and in cleartext at once (each reads for ``seconds``), the
    Date lines blanked."""
    with ThreadPoolExecutor(2) as pool:
        secure = pool.submit(_exchange, tls_server, request, tls=True, seconds=seconds)
        clear = pool.submit(_exchange, clear_server, request, tls=False, seconds=seconds)
        return (
            _DATE.sub(b"Date: -\r\n", secure.result()),
            _DATE.sub(b"Date: -\r\n", clear.result()),
        )


def test_the_long_trickle_is_the_same_over_tls(tls_server: Served, clear_server: Served) -> None:
    """processing-trickle: five 102s a second apart, then 200, the same bytes and timeline."""
    secure, clear = _both(tls_server, clear_server, _request("processing-trickle"), 8.0)
    assert secure == clear
    assert secure.count(b"HTTP/1.1 102 Processing\r\n\r\n") == 5
    assert secure.endswith(b"Connection: close\r\n\r\ndone\n")
    assert _events(tls_server) == _events(clear_server)


def test_hang_is_the_same_over_tls(tls_server: Served, clear_server: Served) -> None:
    """hang: nothing at all is sent, and the connection stays open, over TLS as in cleartext."""
    secure, clear = _both(tls_server, clear_server, _request("hang"), 1.0)
    assert secure == clear == b"<open>"


#: A WebSocket opening handshake (RFC 6455 section 4.1) with a fixed key, so that the 101's
#: Sec-WebSocket-Accept is the same over TLS and in cleartext.
def _upgrade(profile: str) -> bytes:
    return (
        f"GET /ws HTTP/1.1\r\nHost: localhost\r\nFakeorigin-Profile: {profile}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    "profile",
    sorted(p.stem for p in bundled_profiles_dir().glob("websocket-*.yaml")),
)
def test_websocket_profiles_send_the_same_over_tls(
    tls_server: Served, clear_server: Served, profile: str
) -> None:
    """The 101 (or the refusal, or the broken handshake) and the frames that follow it are the
    same bytes after decryption; a session that waits for the client stays open in both."""
    secure, clear = _both(tls_server, clear_server, _upgrade(profile), 1.0)
    assert secure == clear
    assert secure.startswith(b"HTTP/1.1 ")
    assert _events(tls_server) == _events(clear_server)


def test_a_websockets_client_echoes_over_wss(tls_server: Served) -> None:
    """The ``websockets`` library over wss:// trusting the CA: the echo profile answers."""

    async def talk() -> tuple[str | bytes, str | None]:
        context = _context(tls_server.announce["ca"])
        url = f"wss://localhost:{tls_server.origin_port}/ws"
        headers = {"Fakeorigin-Profile": "websocket-echo"}
        async with connect(url, ssl=context, additional_headers=headers) as ws:
            await ws.send("over tls")
            return await asyncio.wait_for(ws.recv(), 5), ws.subprotocol

    echoed, _ = asyncio.run(talk())
    assert echoed == "over tls"
    record = tls_server.client().journal()[-1]
    # The websockets library offers no ALPN: the TLS port serves it HTTP/1.1 all the same.
    assert (record["tls"]["sni"], record["tls"]["alpn"]) == ("localhost", None)
    assert record["outcome"] in ("upgraded", "running")
