"""Build ``docs/profiles.md``, the reference of every profile step, from the profile model.

Each step's entry is its model's docstring (the ``Fields:`` block becomes a table); the table's
name, type, default and constraints are read from pydantic's ``model_fields``, so the reference
cannot drift from the code: a field without a description, or a description of a field that
does not exist, fails the build, and ``tests/test_docs.py`` fails when the committed file
differs from :func:`profiles_reference`. ``make docs`` (``python -m fakeorigin.docgen.reference
docs/profiles.md``) regenerates it.

Pure: no Twisted; the only I/O is reading the bundled profile files.
"""

from __future__ import annotations

import inspect
import re
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from fakeorigin.core.loader import bundled_profiles_dir, load_profile_file, profile_files
from fakeorigin.core.profile import (
    FINAL_KINDS,
    STEP_KINDS,
    TERMINAL_KINDS,
    ConnectionPolicy,
    Headers,
    Profile,
    Step,
    complete_models,
)
from fakeorigin.core.state import DEFAULT_INBAND_HEADER

# The reference reads every field's annotation: resolve and build the models first.
complete_models()


class DocsError(ValueError):
    """A model's docstring and its fields disagree, or a field has a type the docs cannot name."""


@dataclass(frozen=True, slots=True)
class Docstring:
    """A model docstring split for the reference.

    Attributes:
        summary: the first paragraph, as Markdown.
        before: Markdown of the paragraphs before the ``Fields:`` block (or before the first
            example when there is none), summary included.
        after: Markdown after it: usually the YAML example.
        fields: each ``Fields:`` entry, name as written in YAML -> description (Markdown).
        has_fields_block: whether the docstring has a ``Fields:`` block at all.
    """

    summary: str
    before: str
    after: str
    fields: dict[str, str]
    has_fields_block: bool


_DOUBLE_BACKTICKS = re.compile(r"``(.+?)``")
_FIELD_ENTRY = re.compile(r"    ([A-Za-z_][A-Za-z0-9_]*): (.*)")
_FENCE = "```"


def _markdown(text: str) -> str:
    """reST inline literals (two backticks each side) become Markdown code spans (one)."""
    return _DOUBLE_BACKTICKS.sub(r"`\1`", text)


def parse_docstring(model: type[BaseModel]) -> Docstring:
    """Split ``model``'s own docstring (never an inherited one) into summary, prose and fields."""
    raw = model.__dict__.get("__doc__") or ""
    lines = inspect.cleandoc(raw).splitlines()
    before: list[str] = []
    after: list[str] = []
    fields: dict[str, str] = {}
    has_block = False
    target = before
    in_fence = False
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith(_FENCE):
            if not in_fence and not has_block and target is before:
                target = after  # no Fields: block: the table goes before the first example
            in_fence = not in_fence
            target.append(line)
        elif in_fence:
            target.append(line)
        elif line == "Fields:" and not has_block:
            has_block = True
            index += 1
            current: str | None = None
            while index < len(lines) and lines[index].startswith("    "):
                entry = _FIELD_ENTRY.fullmatch(lines[index])
                if entry is not None:
                    current = entry.group(1)
                    if current in fields:
                        raise DocsError(f"{model.__name__}: Fields: describes {current} twice")
                    fields[current] = entry.group(2).strip()
                elif current is not None:
                    fields[current] += " " + lines[index].strip()
                index += 1
            target = after
            continue
        else:
            target.append(_markdown(line))
        index += 1
    summary_lines: list[str] = []
    for line in before:
        if not line.strip():
            break
        summary_lines.append(line)
    return Docstring(
        summary=" ".join(summary_lines),
        before="\n".join(before).strip(),
        after="\n".join(after).strip(),
        fields={name: _markdown(text) for name, text in fields.items()},
        has_fields_block=has_block,
    )


def yaml_name(name: str, field: FieldInfo) -> str:
    """The field's key as written in a profile: its alias (``for``) or its name."""
    return field.alias or name


def doc_model(kind: str) -> type[BaseModel]:
    """The model whose docstring documents step ``kind``.

    The inner model (``Informational`` for ``informational``), or the one-key wrapper itself
    when the step's value is not a model (``SleepStep`` for ``sleep``).
    """
    wrapper = STEP_KINDS[kind]
    value = next(iter(wrapper.model_fields.values())).annotation
    if isinstance(value, type) and issubclass(value, BaseModel):
        return value
    return wrapper


_SCALARS: dict[Any, str] = {int: "integer", float: "number", str: "string", bool: "boolean"}
_HEADERS_TYPE = get_args(Headers)[0]
_STEP_LIST = list[Step]


def type_text(annotation: Any) -> str:
    """A reader's name for a field's type; an unknown type fails rather than print nonsense."""
    if annotation == _HEADERS_TYPE:
        return "[headers](#headers)"
    if annotation == _STEP_LIST:
        return "list of steps"
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        keys = ", ".join(yaml_name(n, f) for n, f in annotation.model_fields.items())
        return f"mapping `{{{keys}}}`"
    origin = get_origin(annotation)
    arguments = get_args(annotation)
    if origin is Annotated:
        return type_text(arguments[0])
    if origin in (Union, types.UnionType):
        kept = [type_text(a) for a in arguments if a is not type(None)]
        return " or ".join(kept)
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in arguments)
    if origin in (list, tuple) and arguments:
        item = arguments[0]
        if get_origin(item) is Literal:
            return "list of " + ", ".join(f"`{value}`" for value in get_args(item))
        return f"list of {type_text(item)}"
    raise DocsError(f"no reference name for the type {annotation!r}: teach type_text")


def _value_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple | list) and not value:
        return "`[]`"
    if value == "":
        return '`""`'
    return f"`{value}`"


def default_text(field: FieldInfo) -> str:
    """``required``, or the default as YAML would spell it."""
    if field.is_required():
        return "required"
    return _value_text(field.get_default(call_default_factory=True))


_BOUNDS: dict[type[Any], tuple[str, str]] = {
    annotated_types.Ge: ("ge", ">="),
    annotated_types.Gt: ("gt", ">"),
    annotated_types.Le: ("le", "<="),
    annotated_types.Lt: ("lt", "<"),
    annotated_types.MultipleOf: ("multiple_of", "multiple of"),
}


def constraints_text(field: FieldInfo) -> str:
    """The declared constraints (``>= 0``, ``at least 1 item``); checks done in validators
    are in the field's description instead."""
    parts = []
    for item in field.metadata:
        if type(item) in _BOUNDS:
            attribute, word = _BOUNDS[type(item)]
            parts.append(f"{word} {getattr(item, attribute)}")
        elif isinstance(item, annotated_types.MinLen):
            parts.append(f"at least {item.min_length} item{'s' if item.min_length != 1 else ''}")
        elif isinstance(item, annotated_types.MaxLen):
            parts.append(f"at most {item.max_length} items")
        elif isinstance(item, annotated_types.BaseMetadata):
            raise DocsError(f"no reference text for the constraint {item!r}: teach this module")
        elif getattr(item, "pattern", None) is not None:
            parts.append(f"matches `{item.pattern}`")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines.extend("| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def check_descriptions(model: type[BaseModel]) -> list[str]:
    """Disagreements between ``model``'s fields and its docstring's ``Fields:`` block."""
    documented = parse_docstring(model).fields
    names = [yaml_name(n, f) for n, f in model.model_fields.items()]
    problems = [
        f"{model.__name__}: field {name!r} has no entry in the docstring's Fields: block"
        for name in names
        if not documented.get(name)
    ]
    problems.extend(
        f"{model.__name__}: the docstring describes {name!r}, which is not a field"
        for name in documented
        if name not in names
    )
    return problems


def fields_table(model: type[BaseModel]) -> str:
    """The field table of ``model``, with a Meaning column when its docstring has ``Fields:``.

    A ``Fields:`` block must describe every field and nothing else (:class:`DocsError`).
    """
    doc = parse_docstring(model)
    if doc.has_fields_block:
        problems = check_descriptions(model)
        if problems:
            raise DocsError("\n".join(problems))
    header = ["Field", "Type", "Default", "Constraints"]
    if doc.has_fields_block:
        header.append("Meaning")
    rows = []
    for name, field in model.model_fields.items():
        key = yaml_name(name, field)
        row = [f"`{key}`", type_text(field.annotation), default_text(field)]
        row.append(constraints_text(field))
        if doc.has_fields_block:
            row.append(doc.fields[key])
        rows.append(row)
    return table(header, rows)


def _nested_models(model: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
    found = []
    for name, field in model.model_fields.items():
        candidates = [field.annotation, *get_args(field.annotation)]
        candidates += [inner for outer in candidates for inner in get_args(outer)]  # list[M]
        for candidate in candidates:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found.append((yaml_name(name, field), candidate))
    return found


def step_section(kind: str) -> str:
    """The reference entry of one step kind: docstring, field table, examples."""
    model = doc_model(kind)
    doc = parse_docstring(model)
    if not doc.summary:
        raise DocsError(f"{model.__name__}: the {kind} step has no docstring")
    parts = [f"### `{kind}`", doc.before]
    if model is STEP_KINDS[kind]:
        # The value is not a mapping (``sleep: 0.5``): describe the value itself.
        field = next(iter(model.model_fields.values()))
        limits = constraints_text(field)
        value = f"**Value:** {type_text(field.annotation)}, {default_text(field)}"
        parts.append(value + (f", {limits}." if limits else "."))
    elif model.model_fields:
        parts.append(fields_table(model))
    else:
        parts.append("No fields: write `{}`.")
    parts.append(doc.after)
    for key, nested in _nested_models(model):
        nested_doc = parse_docstring(nested)
        parts.append(f"#### `{kind}.{key}`")
        parts.append(nested_doc.before)
        parts.append(fields_table(nested))
        parts.append(nested_doc.after)
    return "\n\n".join(part for part in parts if part)


def _kinds(kinds: frozenset[str], last: str) -> str:
    """``a``, ``b`` or ``c``: the kinds in STEP_KINDS order."""
    names = [f"`{kind}`" for kind in STEP_KINDS if kind in kinds]
    return ", ".join(names[:-1]) + f" {last} " + names[-1] if len(names) > 1 else names[0]


_BREAKS = re.compile(r"\b[Bb]reaks RFC")


def _opt_outs() -> list[str]:
    """Fields whose description names the rule they break ("Breaks RFC ...")."""
    found = []
    for kind in STEP_KINDS:
        model = doc_model(kind)
        for name, text in parse_docstring(model).fields.items():
            if _BREAKS.search(text):
                found.append(f"- `{kind}.{name}`: {text}")
    return found


_TITLE = """\
# Profiles reference

<!-- Generated from fakeorigin/core/profile.py by `make docs` (python -m fakeorigin.docgen.reference
docs/profiles.md). Do not edit: change the model's docstrings and regenerate.
tests/test_docs.py fails when this file and the code disagree. -->

A **profile** says what fakeorigin does with one request: a named, ordered list of **steps**,
each of which puts something on the wire (an interim response, the final response, raw bytes)
or waits (for time, for the request body), or ends the connection. Every request is served by
exactly one profile, picked when its head has arrived: by the request header
`{header}: NAME`, else by the first matching rule, else the active profile
(`fakeorigin serve --profile NAME`, default `default`)."""

_FILES = """\
## Profile files

A profile is a YAML file `NAME.yaml` (or `.yml`) in the profiles directory (`fakeorigin serve
--profiles DIR`; the bundled profiles below by default). The file stem is the profile's name:
`name` may be left out, and when it is given it must equal the stem. The same structure arrives
as JSON through the control API.

```yaml
# profiles/hints-then-hello.yaml: its name is hints-then-hello
description: A 103 Early Hints, a pause, then 200 with a short text.
steps:
  - informational: {{status: 103, headers: {{link: "</style.css>; rel=preload; as=style"}}}}
  - sleep: 0.1
  - respond: {{status: 200, headers: {{content-type: text/plain}}, body: "hello\\n"}}
```

The fields of a profile:

{profile_table}

`fakeorigin check [PATH...]` validates files and directories and prints every error with its
file and location, then exits 1:

```text
profiles/x.yaml: steps[2].informational.status: must be 100..199 except 101 (got 200)
```

`fakeorigin check --protocols [PATH...]` also says which protocols each profile runs over (by
ALPN id) and, for the others, which step stops it. Every step is made of messages (an interim
response, a head, data, the end of the body) that any protocol can carry, except `raw` with
bytes, the HTTP/1.1 `violate` entries and `websocket`, which write HTTP/1.1 bytes or upgrade
an HTTP/1.1 connection, and `raw` with `frames` and the HTTP/2 `violate` entries, which write
HTTP/2 frames; a request that selects a profile its connection's protocol cannot carry gets a
501 naming the step, journaled as a note:

```text
$ fakeorigin check --protocols
close-mid-body: http/1.1 (not h2: steps[1]: raw sends HTTP/1.1 bytes as they are)
default: http/1.1, h2
...
```

`fakeorigin profiles` lists the names and descriptions, and `fakeorigin schema` prints the JSON
Schema generated from the same model (for editors and for checking JSON sent to the control
API)."""

_STEPS = """\
## Steps

A step is a mapping with exactly one key, the step's kind; its value holds the step's fields. A
step without fields is written with an empty mapping (`- read_body: {{}}`), and `sleep` takes a
plain number. Steps run in order, one after the other.

{overview}"""

_HEADERS = """\
## Headers

Wherever a step takes headers (`headers`, `trailers`), they can be written as a mapping or as a
list of `[name, value]` pairs. Either way they go on the wire exactly as written: in that order,
with that case, duplicates kept. Use the list form for repeated fields or a precise order:

```yaml
- respond:
    status: 200
    headers:
      - [Set-Cookie, a=1]
      - [Set-Cookie, b=2]
      - [cache-control, no-store]
    body: "ok\\n"
```

A name must be a token (RFC 9110 section 5.1); a value may not contain CR, LF or NUL (RFC 9110
section 5.5) and must be Latin-1. A number is sent as its text (`{{x-count: 3}}` sends
`x-count: 3`); quote a value that YAML would read as something else, such as `"on"`, `"no"` or
`"1.10"` (YAML's `1.10` is the number 1.1). A header that breaks these rules needs a `raw`
step."""

_CONFORMANT = """\
## Conformant by default

Every step follows HTTP unless a field says otherwise: `respond` computes the framing
(Content-Length, or chunked when asked; no content for HEAD, 204 and 304) and adds `Date` and
`Server`; `continue` sends 100 only to a client that is waiting for it; no 1xx goes to an
HTTP/1.0 client. Breaking a rule takes a field whose description names the rule it breaks:

{opt_outs}

Anything else (wrong framing, bad header syntax, a second response) is a `raw` step: bytes
written verbatim, no checks. What fakeorigin decided not to send (a 100 nobody waits for, a 1xx
to HTTP/1.0) is journaled with the reason; see [the journal reference](journal.md)."""

_ENDING = """\
## How a profile ends

The last step must be a final action: {final}. Nothing may follow {terminal}: they end the
connection (or leave it hanging), so a step after them could never run. A `repeat` cannot
contain a final action. A profile that breaks these rules is rejected when it is loaded.

When the steps end with {open_final}, the connection is kept for the next request if the request
body has fully arrived, the request did not ask to close (`Connection: close`; an HTTP/1.0
request always closes) and no `respond` step sent `Connection: close` (fakeorigin does not read
what a `raw` step sends: end with `close` to close after it). Otherwise fakeorigin closes the
connection, with a lingering close when the body has not fully arrived (shut down writing,
drain the upload, then close), so an uploading client reads the response instead of a broken
pipe.

Without a `continue` step fakeorigin never sends `100 Continue`, and without a `read_body` step
it never waits for the request body; the body is still received and journaled."""

_BUNDLED = """\
## Bundled profiles

fakeorigin ships these profiles (`fakeorigin profiles` lists them). Pick one for a single
request with the header `{header}: NAME`, or for every request with
`fakeorigin serve --profile NAME`:

```sh
curl -i -H '{header}: early-hints' http://127.0.0.1:8080/
```

The `violation-<id>` profiles, one per entry of the violation catalogue, are described in
[violations.md](violations.md)."""


def _overview() -> str:
    rows = []
    for kind in STEP_KINDS:
        summary = parse_docstring(doc_model(kind)).summary
        final = "yes" if kind in FINAL_KINDS else ""
        if kind in TERMINAL_KINDS:
            final += ", and always the last step"
        rows.append([f"[`{kind}`](#{kind})", summary, final])
    return table(["Step", "What it does", "Final action"], rows)


def _bundled() -> str:
    parts = [_BUNDLED.format(header=DEFAULT_INBAND_HEADER)]
    for path in profile_files(bundled_profiles_dir()):
        if path.stem.startswith("violation-"):
            continue  # generated from the catalogue; docs/violations.md describes them
        profile = load_profile_file(path)
        text = path.read_text(encoding="utf-8").rstrip("\n")
        parts.append(f"### {profile.name}\n\n{profile.description}\n\n```yaml\n{text}\n```")
    return "\n\n".join(parts)


_CONNECTION_AFTER = """\
The journal shows which connection and which request met the close: the request's record (its
`connection_id` and `index`) ends with `late-request` (why, and that it was not answered) and
then `close` or `reset`; the record of the connection's last answered request ends with a
`close` or a `note` naming `connection.max_requests`. `/health` counts the idle closes in
`connections.idle_closed`. The bundled `keepalive-race` and `keepalive-idle-race` profiles
provoke the race; [reliability.md](reliability.md#the-keep-alive-race) shows how to aim them at
a proxy and what a conformant proxy does."""


def _connection() -> str:
    doc = parse_docstring(ConnectionPolicy)
    return "\n\n".join(
        [
            "## The connection",
            doc.before,
            fields_table(ConnectionPolicy),
            doc.after,
            _CONNECTION_AFTER,
        ]
    )


def profiles_reference() -> str:
    """The Markdown of ``docs/profiles.md``."""
    sections = [
        _TITLE.format(header=DEFAULT_INBAND_HEADER),
        _FILES.format(profile_table=fields_table(Profile)),
        _STEPS.format(overview=_overview()),
        _HEADERS.format(),
        _CONFORMANT.format(opt_outs="\n".join(_opt_outs()) or "- (none yet)"),
        _ENDING.format(
            final=_kinds(FINAL_KINDS, "or"),
            terminal=_kinds(TERMINAL_KINDS, "or"),
            open_final=_kinds(FINAL_KINDS - TERMINAL_KINDS, "or"),
        ),
        _connection(),
        "## Step reference",
        *(step_section(kind) for kind in STEP_KINDS),
        _bundled(),
    ]
    return "\n\n".join(sections) + "\n"


def main(argv: Sequence[str]) -> int:
    """``python -m fakeorigin.docgen.reference [PATH]``: write the reference to PATH or stdout."""
    text = profiles_reference()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8", newline="\n")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
