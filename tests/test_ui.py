"""The journal page (``GET /ui``) in a real browser: Debian's chromium, headless, driven by
Playwright (its Python package, pointed at /usr/bin/chromium: no browser download), against a
real ``fakeorigin serve`` that curl sends requests to.

The page loads under its Content-Security-Policy without a console error; an exchange appears
within a second with its timeline; the active profile switched from the page serves the next
request; a request whose header holds markup executes nothing and shows as text; a control API
with a token shows nothing until the page is given it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.clients import curl
from tests.control_process import Served, serving

pytestmark = pytest.mark.realsocket

TOKEN = "s3cret-token-for-the-page"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail("make test installs chromium (Debian's package): run make test-tools")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page and what it said: console messages, errors and dialogs (alert, confirm...)."""

    page: Page
    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [text for text in self.console if text.startswith(("error:", "pageerror:"))]


def open_page(browser: Browser, served: Served) -> Watched:
    page = browser.new_page(viewport={"width": 1300, "height": 800})
    watched = Watched(page)

    def on_console(message: ConsoleMessage) -> None:
        watched.console.append(f"{message.type}: {message.text}")

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.console.append(f"pageerror: {error}"))
    page.on("dialog", on_dialog)
    page.goto(served.control_url + "/ui")
    return watched


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serving() as server:
        yield server


@pytest.fixture
def watched(browser: Browser, served: Served) -> Iterator[Watched]:
    served.client().reset()
    opened = open_page(browser, served)
    opened.page.wait_for_selector("#main:not([hidden])", timeout=5000)
    yield opened
    opened.page.close()


def row(watched: Watched, target: str) -> str:
    return f"tr.exchange:has(.target:text-is('{target}'))"


def test_the_page_loads_under_its_policy(browser: Browser, served: Served) -> None:
    page = browser.new_page()
    response = page.goto(served.control_url + "/ui")
    assert response is not None
    assert response.status == 200
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert "'unsafe-inline'" not in policy
    assert page.title() == "fakeorigin journal"
    page.wait_for_selector("#main:not([hidden])", timeout=5000)
    assert page.locator("#active option").count() == len(served.client().profiles())
    page.close()


def test_a_request_appears_within_a_second_with_its_timeline(
    watched: Watched, served: Served
) -> None:
    result = curl("-H", "Fakeorigin-Profile: early-hints", f"{served.origin_url}/hints")
    assert result.http_code == 200
    sent = time.monotonic()
    watched.page.wait_for_selector(row(watched, "/hints"), timeout=1000)
    assert time.monotonic() - sent < 1.0
    [record] = served.client().journal()
    markers = watched.page.locator(row(watched, "/hints") + " svg circle.marker")
    markers.first.wait_for(timeout=1000)
    # the row shows the ended exchange: one marker per event of its timeline
    watched.page.wait_for_function(
        "n => document.querySelectorAll('tr.exchange svg circle.marker').length === n",
        arg=len(record["timeline"]),
        timeout=2000,
    )
    assert watched.page.locator(row(watched, "/hints") + " svg circle.interim").count() == 2
    titles = markers.evaluate_all("nodes => nodes.map(n => n.textContent)")
    assert [title.split(" at ")[0] for title in titles] == [e["event"] for e in record["timeline"]]
    assert watched.page.locator(row(watched, "/hints") + " .outcome").text_content() == (
        "keep-alive"
    )
    assert watched.errors == []


def test_switching_the_active_profile_from_the_page(watched: Watched, served: Served) -> None:
    page = watched.page
    page.select_option("#active", "early-hints")
    page.click("#activate")
    page.wait_for_selector("#active-note:text-is('now: early-hints')", timeout=2000)
    assert served.client().active() == "early-hints"
    curl(f"{served.origin_url}/next")  # no header, no rule: the active profile
    [record] = served.client().wait_for(count=1)
    assert (record["profile"], record["selected_by"]) == ("early-hints", "active")
    page.wait_for_selector(row(watched, "/next") + " .profile:has-text('early-hints')")


def test_markup_a_client_sent_shows_as_text_and_runs_nothing(
    watched: Watched, served: Served
) -> None:
    hostile = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    curl("-H", f"X-Evil: {hostile}", "-H", "X-Svg: <svg onload=alert(3)>", f"{served.origin_url}/x")
    page = watched.page
    page.wait_for_selector(row(watched, "/x"), timeout=2000)
    page.click(row(watched, "/x"))
    cell = page.locator("#detail td", has_text="onerror")
    cell.wait_for(timeout=2000)
    assert cell.text_content() == hostile
    page.fill("#filter-text", "onerror")  # the filter matches header values too, as text
    assert page.locator("tr.exchange").count() == 1
    time.sleep(0.3)  # time for anything that would run to run
    assert page.locator("#detail img, #detail script, #exchanges img").count() == 0
    assert watched.dialogs == []
    assert watched.errors == []


def test_a_token_guards_the_page_data(browser: Browser) -> None:
    with serving("--control-token", TOKEN) as served:
        curl(f"{served.origin_url}/secret")
        watched = open_page(browser, served)
        page = watched.page
        page.wait_for_selector("#token-form:not([hidden])", timeout=5000)
        assert page.locator("#main").is_hidden()
        assert page.locator("tr.exchange").count() == 0
        page.fill("#token", "wrong")
        page.click("#token-form button")
        page.wait_for_selector("#token-error:text-is('That token was refused.')", timeout=3000)
        page.fill("#token", TOKEN)
        page.click("#token-form button")
        page.wait_for_selector(row(watched, "/secret"), timeout=3000)
        assert TOKEN not in page.url
        assert TOKEN not in served.log()
        assert watched.dialogs == []
        page.close()
