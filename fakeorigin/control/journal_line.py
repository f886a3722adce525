"""One journal record as one line of text, for ``fakeorigin journal`` (a terminal, a CI log).
Pure: a record's JSON form (``ExchangeRecord.to_dict``) in, a line out.

    #3 POST /up expect-continue 100@0.50s body 0.50-0.51s 200@0.51s keep-alive

After the id, method, target and profile, the timeline in order: each interim response sent as
``STATUS@SECONDSs`` (``~STATUS@SECONDSs`` for one fakeorigin decided not to send), the request
body as ``body FIRST-LASTs`` (``FIRST-…`` while it is still arriving), the final response as
``STATUS@SECONDSs``, bytes a ``raw`` step or a catalogue entry wrote as ``raw@SECONDSs``, a
WebSocket upgrade as ``101@SECONDSs`` and its messages as ``ws N in/M out``; then the outcome
(``running`` until it ends) and the error, if any. Seconds count from the request head. With
``colour``, ANSI colours mark interim responses, the final status and the outcome.
"""

from __future__ import annotations

from typing import Any

_RESET = "\x1b[0m"
_CYAN, _GREEN, _YELLOW, _RED, _DIM = "\x1b[36m", "\x1b[32m", "\x1b[33m", "\x1b[31m", "\x1b[2m"
_OUTCOME_COLOURS = {"keep-alive": _GREEN, "upgraded": _GREEN, "closed": _YELLOW, "running": _DIM}


def _paint(text: str, colour: str, on: bool) -> str:
    return f"{colour}{text}{_RESET}" if on else text


def _status_colour(status: int) -> str:
    return _GREEN if status < 400 else _YELLOW if status < 500 else _RED


def journal_line(record: dict[str, Any], *, colour: bool = False) -> str:
    """The record as one line (see the module's docstring)."""
    parts = [f"#{record['id']}", record["method"] or "-", record["target"] or "-"]
    parts.append(record["profile"] or "-")
    first_byte: float | None = None
    for event in record["timeline"]:
        kind, t, status = event["event"], event["t"], event.get("status")
        if kind == "interim-sent":
            parts.append(_paint(f"{status}@{t:.2f}s", _CYAN, colour))
        elif kind == "interim-skipped":
            parts.append(_paint(f"~{status}@{t:.2f}s", _DIM, colour))
        elif kind == "body-first-byte":
            first_byte = t
        elif kind == "body-complete" and first_byte is not None:
            parts.append(f"body {first_byte:.2f}-{t:.2f}s")
            first_byte = None
        elif kind in ("response-started", "upgrade-sent") and status is not None:
            parts.append(_paint(f"{status}@{t:.2f}s", _status_colour(status), colour))
        elif kind == "raw-sent":
            parts.append(f"raw@{t:.2f}s")
    if first_byte is not None:
        parts.append(f"body {first_byte:.2f}-…")
    websocket = record.get("websocket")
    if websocket:
        messages = websocket.get("messages") or []
        received = sum(1 for m in messages if m.get("direction") == "received")
        parts.append(f"ws {received} in/{len(messages) - received} out")
    outcome = record["outcome"]
    parts.append(_paint(outcome, _OUTCOME_COLOURS.get(outcome, _RED), colour))
    if record.get("error"):
        parts.append(f"({record['error']})")
    return " ".join(parts)
