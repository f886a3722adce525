"""The README's picture of the journal page: ``make screenshot`` (``python -m tests.ui_screenshot
docs/ui.png``). A real server and real requests: a 102 trickle, an Expect upload, early hints,
a reset and a refused request; then the page in headless chromium, and one exchange opened."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.clients import curl
from tests.control_process import serving


def main(path: Path) -> None:
    with serving() as served, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 560})
        page.goto(served.control_url + "/ui")
        page.wait_for_selector("#main:not([hidden])")
        pick = "Fakeorigin-Profile: "
        url = served.origin_url
        upload = path.with_suffix(".upload")
        upload.write_bytes(b"x" * 200_000)
        with ThreadPoolExecutor(2) as pool:
            trickle = pool.submit(curl, "-H", pick + "processing-trickle", f"{url}/report")
            curl("-H", pick + "early-hints", f"{url}/page")
            curl(
                "-H",
                pick + "expect-continue-delayed",
                "-H",
                "Expect: 100-continue",
                "--data-binary",
                f"@{upload}",
                f"{url}/upload",
            )
            curl("-H", pick + "reset-after-headers", f"{url}/flaky")
            curl("-H", "Host:", f"{url}/no-host")
            trickle.result()
        upload.unlink()
        time.sleep(1.0)
        page.screenshot(path=str(path))
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/ui.png"))
