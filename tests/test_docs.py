"""The docs cannot go stale: docs/profiles.md is generated from the model and checked here,
its YAML examples validate, and docs/journal.md names every event and outcome."""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from fakeorigin.core.journal import Event, ExchangeRecord, Outcome, TimelineEntry
from fakeorigin.core.loader import profile_from_data
from fakeorigin.core.profile import FINAL_KINDS, STEP_KINDS
from fakeorigin.docgen.reference import (
    check_descriptions,
    doc_model,
    parse_docstring,
    profiles_reference,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"
PROFILES_MD = DOCS / "profiles.md"
JOURNAL_MD = DOCS / "journal.md"

_YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def test_profiles_md_is_generated() -> None:
    committed = PROFILES_MD.read_text(encoding="utf-8")
    generated = profiles_reference()
    if committed != generated:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                generated.splitlines(keepends=True),
                "docs/profiles.md (committed)",
                "profiles_reference() (from the code)",
                n=1,
            )
        )
        pytest.fail(f"docs/profiles.md is out of date: run `make docs`\n{diff[:4000]}")


@pytest.mark.parametrize("kind", list(STEP_KINDS))
def test_every_step_kind_has_a_docstring_and_a_section(kind: str) -> None:
    model = doc_model(kind)
    assert parse_docstring(model).summary, f"{model.__name__} has no docstring"
    headings = PROFILES_MD.read_text(encoding="utf-8").splitlines()
    assert f"### `{kind}`" in headings


def _models_with_fields() -> list[Any]:
    params = []
    for kind in STEP_KINDS:
        model = doc_model(kind)
        if model is STEP_KINDS[kind] or not model.model_fields:
            continue  # sleep's value is a number; continue, close... have no fields
        params.append(pytest.param(model, id=kind))
    return params


@pytest.mark.parametrize("model", _models_with_fields())
def test_every_field_is_described(model: Any) -> None:
    """A step model's Fields: block names each field (as written in YAML) and nothing else."""
    assert parse_docstring(model).has_fields_block, f"{model.__name__} has no Fields: block"
    assert check_descriptions(model) == []


def _yaml_examples() -> list[Any]:
    text = PROFILES_MD.read_text(encoding="utf-8")
    blocks = _YAML_BLOCK.findall(text)
    assert blocks, "docs/profiles.md has no ```yaml blocks"
    return [pytest.param(block, id=f"block{index}") for index, block in enumerate(blocks)]


def _as_profile(data: Any) -> Any:
    """A whole profile as it is; a list of steps wrapped into one that ends with respond."""
    if isinstance(data, dict):
        return {"name": "example", **data}
    assert isinstance(data, list), f"a YAML example is a profile or a list of steps: {data!r}"
    steps = list(data)
    last = steps[-1]
    if not (isinstance(last, dict) and len(last) == 1 and next(iter(last)) in FINAL_KINDS):
        steps.append({"respond": {"status": 200}})
    return {"name": "example", "steps": steps}


@pytest.mark.parametrize("block", _yaml_examples())
def test_yaml_examples_validate(block: str) -> None:
    profile_from_data(_as_profile(yaml.safe_load(block)), "docs/profiles.md")


def test_yaml_examples_cover_every_step_kind() -> None:
    text = PROFILES_MD.read_text(encoding="utf-8")
    examples = "\n".join(_YAML_BLOCK.findall(text))
    missing = [kind for kind in STEP_KINDS if not re.search(rf"\b{kind}:", examples)]
    assert missing == []


@pytest.mark.parametrize("value", [e.value for e in Event] + [o.value for o in Outcome])
def test_journal_md_names_every_event_and_outcome(value: str) -> None:
    assert f"`{value}`" in JOURNAL_MD.read_text(encoding="utf-8")


def test_journal_md_names_every_record_field() -> None:
    record = ExchangeRecord(1, 1, 1, "127.0.0.1:1", 0.0)
    entry = TimelineEntry(0.0, Event.NOTE, 100, "why").to_dict()
    keys = [*record.to_dict(), *record.body.to_dict(), *entry]
    text = JOURNAL_MD.read_text(encoding="utf-8")
    assert [key for key in keys if f"`{key}`" not in text] == []
