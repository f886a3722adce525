"""A real browser acts on a 103 Early Hints over TLS + HTTP/2, and not over HTTP/1.1.

Debian's chromium, headless, driven by Playwright (no browser download), loads a page from
fakeorigin over TLS. The page's profile sends ``103`` with ``Link: </style.css>; rel=preload;
as=style``, holds its final response for a second, then sends the page, which links the same
stylesheet. Over HTTP/2 the browser must ask for /style.css while the page is still held (the
journal's clocks show it) and report ``initiatorType`` ``early-hints`` for it; with HTTP/2
turned off (``--disable-http2``: HTTP/1.1 over the same TLS port) Chromium ignores the 103, so
/style.css comes only after the page arrived. Chromium trusts the run's certificate through
``--ignore-certificate-errors-spki-list`` (its key's hash): a certificate error would keep the
preload out of its cache. The stylesheet says ``Cache-Control: max-age=60``: an Early Hints
preload is reused only from the HTTP cache.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.control_process import Served, serving

pytestmark = pytest.mark.realsocket

HOLD_SECONDS = 1.0
PAGE = (
    '<!doctype html><html><head><link rel="stylesheet" href="/style.css"></head>'
    '<body><p id="x">hi</p></body></html>'
)


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail("make test installs chromium (Debian's package): run make test-tools")
    with serving("--tls") as running:
        client = running.client()
        client.put_profile(
            "page",
            {
                "steps": [
                    {
                        "informational": {
                            "status": 103,
                            "headers": {"Link": "</style.css>; rel=preload; as=style"},
                        }
                    },
                    {"sleep": HOLD_SECONDS},
                    {
                        "respond": {
                            "status": 200,
                            "headers": {"content-type": "text/html"},
                            "body": PAGE,
                        }
                    },
                ]
            },
        )
        client.put_profile(
            "css",
            {
                "steps": [
                    {
                        "respond": {
                            "status": 200,
                            "headers": {
                                "content-type": "text/css",
                                "cache-control": "max-age=60",
                            },
                            "body": "p { color: rgb(255, 0, 0); }",
                        }
                    }
                ]
            },
        )
        client.add_rule(profile="page", path_prefix="/page")
        client.add_rule(profile="css", path_prefix="/style.css")
        yield running


def spki_pin(served: Served) -> str:
    """The base64 SHA-256 of the origin certificate's public key, as Chromium takes it."""
    pem = ssl.get_server_certificate(("127.0.0.1", served.origin_port))
    key = x509.load_pem_x509_certificate(pem.encode()).public_key()
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def load(served: Served, *extra: str) -> dict[str, Any]:
    """Load /page in a fresh headless chromium; what the page says of its resources."""
    served.client().clear_journal()
    args = [*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={spki_pin(served)}", *extra]
    url = served.origin_url.replace("127.0.0.1", "localhost") + "/page"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_load_state("load")
            resources: dict[str, Any] = page.evaluate(
                """() => ({
                    navigation: performance.getEntriesByType('navigation')[0].nextHopProtocol,
                    css: performance.getEntriesByType('resource')
                        .filter(e => e.name.endsWith('/style.css'))
                        .map(e => e.initiatorType),
                    color: getComputedStyle(document.getElementById('x')).color,
                })"""
            )
        finally:
            browser.close()
    return resources


def when(served: Served) -> tuple[float, float, list[dict[str, Any]]]:
    """When the page's final response started (epoch seconds), and the stylesheet's records."""
    records = served.client().journal()
    [page] = [r for r in records if r["target"] == "/page"]
    started = next(e["t"] for e in page["timeline"] if e["event"] == "response-started")
    return (
        page["started_at"],
        page["started_at"] + started,
        [r for r in records if r["target"] == "/style.css"],
    )


#: Loads of the page in fresh browsers before the test gives up on a preload. Chromium 156
#: here ignores the 103 now and then (about one cold start in 20 on a quiet machine, one in
#: three with a test suite beside it: no request for /style.css until the page came, then
#: initiatorType "link"), with the same bytes from fakeorigin each time (the journal's
#: timelines differ in nothing else); a browser that never acts on it still fails.
ATTEMPTS = 4


def test_over_http2_the_browser_preloads_while_the_page_is_held(served: Served) -> None:
    for _ in range(ATTEMPTS):
        seen = load(served)
        if seen["css"] == ["early-hints"]:
            break
    assert seen["navigation"] == "h2"
    assert seen["css"] == ["early-hints"]
    assert seen["color"] == "rgb(255, 0, 0)"  # the preloaded stylesheet is the one applied
    opened, page_sent, css = when(served)
    assert len(css) == 1, css  # one request: the preload, reused
    assert css[0]["http_version"] == "2"
    assert opened < css[0]["started_at"] < page_sent  # asked for while the page was held
    assert page_sent - css[0]["started_at"] > HOLD_SECONDS / 2


def test_over_http11_the_103_is_ignored(served: Served) -> None:
    seen = load(served, "--disable-http2")
    assert seen["navigation"] == "http/1.1"
    assert seen["css"] == ["link"]
    opened, page_sent, css = when(served)
    assert [r["http_version"] for r in css] == ["1.1"]
    assert css[0]["started_at"] >= page_sent  # only once the page came
    assert page_sent - opened >= HOLD_SECONDS - 0.05
