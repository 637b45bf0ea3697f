"""A small JSON Schema checker for the keywords input definitions use.

Importing jsonschema costs ~40 ms, most of a one-request process's start; input
schemas need only a handful of keywords. Anything beyond them goes to jsonschema
(``SUPPORTED`` says what stays here).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from .text import VALUE_CHARS, shorten

SUPPORTED = {
    "type",
    "enum",
    "const",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "items",
    "minItems",
    "maxItems",
    "format",
    "description",
    "title",
    "examples",
}
FORMATS = {"date", "date-time"}
_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "integer": int,
    "boolean": bool,
    "array": list,
    "object": dict,
    "number": (int, float),
    "null": type(None),
}
_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
_patterns: dict[str, re.Pattern] = {}


def handles(schema: Any) -> bool:
    """Whether every keyword (recursively through items) is one this module checks."""
    if not isinstance(schema, dict) or not set(schema) <= SUPPORTED:
        return False
    if "format" in schema and schema["format"] not in FORMATS:
        return False
    return "items" not in schema or handles(schema["items"])


def errors(schema: dict, value: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """(path, message) for each way ``value`` breaks ``schema``; messages read like jsonschema's."""
    shown = _Shown(value)  # (the value's repr only for a message: a 45 MB text costs 0.4 s)
    kind = schema.get("type")
    if kind is not None and not _is_type(value, kind):
        yield path, f"{shown} is not of type {kind!r}"
        return
    if "const" in schema and value != schema["const"]:
        yield path, f"{schema['const']!r} was expected"
    if "enum" in schema and value not in schema["enum"]:
        yield path, f"{shown} is not one of {schema['enum']!r}"
    if isinstance(value, (str, list)):
        low, high = (
            ("minLength", "maxLength") if isinstance(value, str) else ("minItems", "maxItems")
        )
        if len(value) < schema.get(low, 0):
            yield (
                path,
                f"{shown} should be non-empty" if schema[low] == 1 else f"{shown} is too short",
            )
        if high in schema and len(value) > schema[high]:
            if isinstance(value, list):
                yield path, f"has {len(value)} items: at most {schema[high]}"
            else:
                yield path, f"{shown} is too long (at most {schema[high]})"
            return  # (nothing more is checked: one message, and no pattern over 10 MB)
    if isinstance(value, str):
        if "pattern" in schema:
            pattern = _patterns.get(schema["pattern"])
            if pattern is None:
                pattern = _patterns[schema["pattern"]] = re.compile(ecma_anchors(schema["pattern"]))
            if not pattern.search(value):
                yield path, f"{shown} does not match {schema['pattern']!r}"
        fmt = schema.get("format")
        if fmt and not _format_ok(fmt, value):
            yield path, f"{shown} is not a {fmt!r}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            yield path, f"{shown} is less than the minimum of {schema['minimum']!r}"
        if "maximum" in schema and value > schema["maximum"]:
            yield path, f"{shown} is greater than the maximum of {schema['maximum']!r}"
    if isinstance(value, list):
        if "items" in schema:
            for index, item in enumerate(value):
                yield from errors(schema["items"], item, (*path, index))


def ecma_anchors(pattern: str) -> str:
    """JSON Schema patterns are ECMA-262: ``$`` ends the input. Python's ``$`` also matches
    before a final newline, so "www.example.com\\n" would pass ``^[a-z.]+$``; ``\\Z`` does not."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        out.append(char)
    return "".join(out)


def _show(value: Any) -> str:
    """A value for a message: a 20 MB input must not come back inside its own error."""
    if isinstance(value, str) and len(value) > 4 * VALUE_CHARS:
        value = value[: 4 * VALUE_CHARS]  # (shortened anyway: no repr of all of it)
    return shorten(repr(value), VALUE_CHARS)


class _Shown:
    """A value as a message shows it, made when a message is (f-strings call __format__)."""

    def __init__(self, value: Any):
        self.value = value

    def __format__(self, spec: str) -> str:
        return _show(self.value)


def _is_type(value: Any, kind: str | list[str]) -> bool:
    if isinstance(kind, list):
        return any(_is_type(value, k) for k in kind)
    if kind in ("integer", "number") and isinstance(value, bool):
        return False
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES[kind])


def _format_ok(fmt: str, value: str) -> bool:
    try:
        if fmt == "date":
            date.fromisoformat(value)
            return len(value) == 10
        if not _DATE_TIME.fullmatch(value):
            return False
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        return True
    except ValueError:
        return False
