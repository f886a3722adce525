from __future__ import annotations

import subprocess

import pytest_twisted
from twisted.internet.threads import deferToThread

from tests.conftest import RunningOrigin


@pytest_twisted.ensureDeferred
async def test_curl_get_default(origin: RunningOrigin) -> None:
    result = await deferToThread(
        subprocess.run, ["curl", "-s", "-i", origin.url + "/x"], capture_output=True, timeout=10
    )
    assert result.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
    await origin.settle()
    assert [r.target for r in origin.records()] == ["/x"]
