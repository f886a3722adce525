"""``fakeorigin journal``: the journal of a running server, read over its control API.

One line per exchange (:func:`~fakeorigin.control.journal_line.journal_line`), oldest first;
``--json`` prints each record as one JSON object per line instead, and ``--har`` the whole
journal as one HAR 1.2 document (``GET /journal.har``). ``--follow`` then goes on printing each
exchange as it ends, until interrupted: it long-polls ``GET /journal/wait`` while nothing
happens, and reads the journal again when something has (an exchange is printed once, when it
has ended; one that never ends, a ``hang``, holds up none of the others).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import IO, Any

from fakeorigin.control.client import ControlClient, ControlError
from fakeorigin.control.journal_line import journal_line

#: How long one long poll of ``--follow`` waits before it asks again.
POLL_SECONDS = 10.0
#: A pause between two reads of the journal when a poll returned but nothing new had ended
#: (an exchange still running beside ones already printed).
_IDLE_SECONDS = 0.2
#: Records asked for per read (the API's default).
_PAGE = 1000


def _print(record: dict[str, Any], out: IO[str], *, as_json: bool, colour: bool) -> None:
    text = json.dumps(record) if as_json else journal_line(record, colour=colour)
    out.write(text + "\n")
    out.flush()


def _read_all(client: ControlClient, after_id: int) -> list[dict[str, Any]]:
    """Every record after ``after_id``, page by page."""
    records: list[dict[str, Any]] = []
    while True:
        page = client.journal(after_id=after_id, limit=_PAGE)
        records += page
        if len(page) < _PAGE:
            return records
        after_id = page[-1]["id"]


def run_journal(
    client: ControlClient,
    out: IO[str],
    *,
    follow: bool = False,
    as_json: bool = False,
    har: bool = False,
    colour: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print the journal (and follow it); return the exit code."""
    if har:
        out.write(json.dumps(client.request("GET", "/journal.har"), indent=2) + "\n")
        return 0
    printed: set[int] = set()
    floor = 0  # every record up to here is printed (or was evicted)
    while True:
        records = _read_all(client, floor)
        for record in records:
            ended = record["outcome"] != "running"
            if (ended or not follow) and record["id"] not in printed:
                _print(record, out, as_json=as_json, colour=colour)
                printed.add(record["id"])
        if not follow:
            return 0
        running = [r["id"] for r in records if r["outcome"] == "running"]
        newest = max((r["id"] for r in records), default=floor)
        floor = min(running) - 1 if running else newest
        printed = {i for i in printed if i > floor}
        if running:
            sleep(_IDLE_SECONDS)
            continue
        try:
            client.wait_for(count=1, timeout=POLL_SECONDS, after_id=floor, ended=False)
        except ControlError as err:
            if err.status != 408:
                raise
