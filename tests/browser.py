"""Debian's chromium for the browser tests (tests/test_ui.py, tests/test_early_hints_browser.py),
driven by Playwright: where it is and how it is started."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
#: As root in a container, without a network: no sandbox, and none of Chromium's own
#: connections to Google's hosts (refused here, one console error each).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
