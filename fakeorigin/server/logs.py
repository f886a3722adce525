"""Log output for ``fakeorigin serve``: text lines or one JSON object per line, on stderr.

There is no access-log line per request (that costs twisted.web 30-45% of its throughput):
the journal is the record of requests. The log carries start-up, shutdown and failures.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import IO, Any

from twisted.logger import (
    FileLogObserver,
    ILogObserver,
    LogEvent,
    formatEvent,
    textFileLogObserver,
)


def _json_line(event: LogEvent) -> str:
    record: dict[str, Any] = {
        "time": datetime.fromtimestamp(event.get("log_time", 0), UTC).isoformat(),
        "level": getattr(event.get("log_level"), "name", "info"),
        "namespace": event.get("log_namespace", ""),
        "message": formatEvent(event),
    }
    failure = event.get("log_failure")
    if failure is not None:
        record["traceback"] = failure.getTraceback()
    return json.dumps(record) + "\n"


def log_observer(log_format: str, out: IO[str]) -> ILogObserver:
    """An observer writing ``text`` or ``json`` lines to ``out``."""
    if log_format == "json":
        return FileLogObserver(out, _json_line)
    return textFileLogObserver(out)
