"""What every profile model is made of: header fields as exact byte pairs (RFC 9110 section 5),
located validation errors, and the frozen base model. No Twisted, no I/O."""

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

#: RFC 9110 section 5.1: a field name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: RFC 9110 section 5.5: CR, LF and NUL are never valid in a field value.
_FORBIDDEN_IN_VALUE = re.compile(r"[\x00\r\n]")
#: A profile name is its file stem and its control-API path segment.
_PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")

#: Largest generated body (``body_size``): 1 GiB.
MAX_BODY_SIZE = 1 << 30


def _error(error_type: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(error_type, message, context)


def payload_bytes(text: str | None, hex_text: str | None, base64_text: str | None) -> bytes:
    """The bytes a ``text`` (UTF-8), ``hex`` (spaces allowed) or ``base64`` field gives (the
    first given; none: empty); raises ValueError or binascii.Error when it does not decode."""
    if text is not None:
        return text.encode("utf-8")
    if hex_text is not None:
        return bytes.fromhex(hex_text)
    return base64.b64decode(base64_text or "", validate=True)


def _base64_or_none(text: str | None) -> str | None:
    if text is not None:
        try:
            base64.b64decode(text, validate=True)
        except binascii.Error as err:
            raise _error("base64", "not valid base64 ({why})", why=str(err)) from None
    return text


def _to_header_pairs(value: Any) -> tuple[tuple[bytes, bytes], ...]:
    """Accept a mapping or a list of ``[name, value]`` pairs; keep order, case and duplicates."""
    if isinstance(value, tuple) and all(isinstance(pair, tuple) for pair in value):
        return value  # already validated (model_copy, re-validation)
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list):
        items = []
        for index, pair in enumerate(value):
            if not (isinstance(pair, list | tuple) and len(pair) == 2):
                raise _error(
                    "header_pair",
                    "item {index} must be a [name, value] pair (got {got})",
                    index=index,
                    got=repr(pair),
                )
            items.append((pair[0], pair[1]))
    else:
        raise _error(
            "headers_type",
            "must be a mapping or a list of [name, value] pairs (got {got})",
            got=type(value).__name__,
        )
    pairs = []
    for name, raw_value in items:
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise _error(
                "header_name",
                "invalid field name {got} (RFC 9110 section 5.1: a field name is a token)",
                got=repr(name),
            )
        if isinstance(raw_value, bool) or not isinstance(raw_value, str | int | float):
            raise _error(
                "header_value_type",
                "value of {name} must be a string (got {got})",
                name=name,
                got=type(raw_value).__name__,
            )
        text = str(raw_value)
        if _FORBIDDEN_IN_VALUE.search(text):
            raise _error(
                "header_value",
                "value of {name} contains CR, LF or NUL "
                "(RFC 9110 section 5.5: never valid in a field value)",
                name=name,
            )
        try:
            pairs.append((name.encode("ascii"), text.encode("latin-1")))
        except UnicodeEncodeError:
            raise _error(
                "header_value_charset",
                "value of {name} has characters outside Latin-1",
                name=name,
            ) from None
    return tuple(pairs)


def _header_pairs_out(pairs: tuple[tuple[bytes, bytes], ...]) -> list[list[str]]:
    return [[name.decode("latin-1"), value.decode("latin-1")] for name, value in pairs]


_HEADER_VALUE_SCHEMA: dict[str, Any] = {"type": ["string", "integer", "number"]}
_PAIR_SCHEMA: dict[str, Any] = {
    "type": "array",
    "prefixItems": [{"type": "string", "pattern": f"^{_TOKEN.pattern}$"}, _HEADER_VALUE_SCHEMA],
    "minItems": 2,
    "maxItems": 2,
}

#: Header fields, order, case and duplicates kept; YAML/JSON give a mapping or a pair list,
#: and they are written back as a list of ``[name, value]`` pairs.
Headers = Annotated[
    tuple[tuple[bytes, bytes], ...],
    BeforeValidator(_to_header_pairs),
    PlainSerializer(_header_pairs_out, return_type=list[list[str]]),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "object", "additionalProperties": _HEADER_VALUE_SCHEMA},
                {"type": "array", "items": _PAIR_SCHEMA},
            ],
            "description": "a mapping, or a list of [name, value] pairs (order, case and "
            "duplicates kept)",
        },
        mode="validation",
    ),
    WithJsonSchema(
        {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        mode="serialization",
    ),
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
