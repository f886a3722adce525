"""The violation catalogue as a document: for ``fakeorigin catalogue`` and ``GET /catalogue``.

The entries live in :mod:`fakeorigin.core.violations`; this module only presents them.
"""

from __future__ import annotations

import base64
from typing import Any

from fakeorigin.core.violations import CATALOGUE, CATALOGUE_VERSION, Violation


def entry_document(entry: Violation) -> dict[str, Any]:
    """One entry, JSON-ready: its rule, parameters (JSON Schema with defaults), bytes (and for
    an HTTP/2 entry its frames, one line each), outcomes, the protocols that carry it."""
    example = entry.example_bytes()
    return {
        "id": entry.id,
        "summary": entry.summary,
        "legal": entry.legal,
        "rule": entry.rule,
        "requirement": entry.requirement,
        "parameters": entry.parameters.model_json_schema(),
        "ending": entry.ending.value,
        "example": {
            "text": example.decode("latin-1"),
            "base64": base64.b64encode(example).decode("ascii"),
        },
        "proxy": entry.proxy,
        "client": entry.client,
        "verdicts": dict(entry.verdicts),
        "evidence": dict(entry.evidence),
        "probe": {
            "method": entry.probe.method,
            "http_version": entry.probe.http_version,
            "headers": [list(pair) for pair in entry.probe.headers],
            "body": entry.probe.body.decode("latin-1"),
            "requests": entry.probe.requests,
        },
        "on_accept": entry.on_accept,
        "protocols": sorted(entry.protocols),
        "frames": entry.example_frames(),
    }


def catalogue_document() -> dict[str, Any]:
    """Every entry, in catalogue order, with the catalogue's version."""
    return {
        "version": CATALOGUE_VERSION,
        "entries": [entry_document(entry) for entry in CATALOGUE.values()],
    }


def catalogue_table() -> str:
    """A plain-text table: id, the rule, the summary (legal-but-unusual entries marked)."""
    rows = [
        (entry.id, entry.rule, ("(legal) " if entry.legal else "") + entry.summary)
        for entry in CATALOGUE.values()
    ]
    id_width = max(len(row[0]) for row in rows)
    rule_width = max(len(row[1]) for row in rows)
    lines = [f"{'id':<{id_width}}  {'rule':<{rule_width}}  summary"]
    lines += [f"{i:<{id_width}}  {r:<{rule_width}}  {s}" for i, r, s in rows]
    lines.append(f"\ncatalogue version {CATALOGUE_VERSION}: {len(rows)} entries")
    return "\n".join(lines) + "\n"
