"""The journal as HAR 1.2 (the HTTP Archive format browsers' developer tools export and import):
``GET /journal.har`` and ``fakeorigin journal --har``. Pure: journal records in their JSON form
(``ExchangeRecord.to_dict``) in, a HAR document out.

One entry per exchange, oldest first, all under one page (``fakeorigin``). The origin sees an
exchange from the other end than a browser does, so the fields mean what the origin saw:

- ``startedDateTime``: when the request head was complete (``started_at``).
- ``request``: method, URL (``http://`` or ``https://`` + Host + target), the header fields
  in arrival order and case, the body's size (``bodySize``: bytes received).
- ``response``: the final status sent (0 when none was, also when a ``raw`` step or a
  catalogue entry wrote the bytes itself), ``statusText`` the registered reason;
  fakeorigin's journal keeps no response headers or body, so ``headers`` is empty and
  ``content.size`` and ``bodySize`` are -1 ("not available", HAR 1.2).
- ``timings`` (milliseconds): ``send`` from the head to the last byte of the request body
  (0 when the response came first), ``wait`` from there to the final response's head,
  ``receive`` from that head to the end of the response; ``blocked``, ``dns``, ``connect`` and
  ``ssl`` are -1 (not seen by an origin). ``time`` is their sum.

What HAR has no field for goes in fields whose names begin with ``_`` (HAR 1.2 allows custom
fields so named): ``_id``, ``_connectionId``, ``_index``, ``_profile``, ``_selectedBy``,
``_interim`` (each 1xx sent: status and milliseconds), ``_interimSkipped``,
``_bodyBytesBeforeContinue``, ``_outcome``, ``_error``, ``_tls``, ``_timeline`` (every journal
event, milliseconds), and ``_websocket`` (the journal's WebSocket object).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fakeorigin import __version__
from fakeorigin.core.wire import reason_phrase

#: The page every entry belongs to.
PAGE_ID = "fakeorigin"


def _ms(seconds: float | None) -> float:
    return -1 if seconds is None else round(seconds * 1000, 3)


def _iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _first(timeline: list[dict[str, Any]], event: str) -> dict[str, Any] | None:
    return next((e for e in timeline if e["event"] == event), None)


def _url(record: dict[str, Any]) -> str:
    host = next((v for n, v in record["headers"] if n.lower() == "host"), "") or "origin"
    scheme = "https" if record.get("tls") else "http"
    target = record["target"] or ""
    return target if "://" in target else f"{scheme}://{host}{target}"


def _query(url: str) -> list[dict[str, str]]:
    _, _, query = url.partition("?")
    pairs = [part.partition("=") for part in query.split("&") if part]
    return [{"name": name, "value": value} for name, _, value in pairs]


def _timings(record: dict[str, Any]) -> dict[str, float]:
    timeline = record["timeline"]
    head = _first(timeline, "response-started")
    done = _first(timeline, "response-complete")
    body = _first(timeline, "body-complete")
    started = head["t"] if head is not None else None
    sent = body["t"] if body is not None and (started is None or body["t"] <= started) else 0.0
    wait = (started - sent) if started is not None else 0.0
    receive = (done["t"] - started) if done is not None and started is not None else 0.0
    return {
        "blocked": -1,
        "dns": -1,
        "connect": -1,
        "ssl": -1,
        "send": _ms(sent),
        "wait": _ms(wait),
        "receive": _ms(receive),
    }


def har_entry(record: dict[str, Any]) -> dict[str, Any]:
    """One journal record (its JSON form) as a HAR 1.2 entry."""
    timeline = record["timeline"]
    head = _first(timeline, "response-started")
    status = head["status"] if head is not None and head.get("status") else 0
    version = f"HTTP/{record['http_version']}" if record["http_version"] else ""
    url = _url(record)
    timings = _timings(record)
    return {
        "pageref": PAGE_ID,
        "startedDateTime": _iso(record["started_at"]),
        "time": round(sum(timings[k] for k in ("send", "wait", "receive")), 3),
        "request": {
            "method": record["method"] or "",
            "url": url,
            "httpVersion": version,
            "cookies": [],
            "headers": [{"name": n, "value": v} for n, v in record["headers"]],
            "queryString": _query(url),
            "headersSize": -1,
            "bodySize": record["body"]["length"],
        },
        "response": {
            "status": status,
            "statusText": reason_phrase(status) if status else "",
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": [],
            "content": {"size": -1, "mimeType": ""},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        },
        "cache": {},
        "timings": timings,
        "serverIPAddress": "",
        "connection": str(record["connection_id"]),
        "_id": record["id"],
        "_connectionId": record["connection_id"],
        "_index": record["index"],
        "_profile": record["profile"],
        "_selectedBy": record["selected_by"],
        "_interim": [
            {"status": e["status"], "time": _ms(e["t"])}
            for e in timeline
            if e["event"] == "interim-sent"
        ],
        "_interimSkipped": [
            {"status": e["status"], "time": _ms(e["t"]), "why": e.get("detail")}
            for e in timeline
            if e["event"] == "interim-skipped"
        ],
        "_bodyBytesBeforeContinue": record["body_bytes_before_continue"],
        "_outcome": record["outcome"],
        "_error": record["error"],
        "_tls": record.get("tls"),
        "_timeline": [{**e, "t": _ms(e["t"])} for e in timeline],
        "_websocket": record.get("websocket"),
    }


def har_document(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The journal records (oldest first) as a HAR 1.2 document."""
    started = records[0]["started_at"] if records else datetime.now(UTC).timestamp()
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "fakeorigin", "version": __version__},
            "pages": [
                {
                    "startedDateTime": _iso(started),
                    "id": PAGE_ID,
                    "title": "fakeorigin journal",
                    "pageTimings": {"onContentLoad": -1, "onLoad": -1},
                }
            ],
            "entries": [har_entry(record) for record in records],
        }
    }
