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
            if not compiled(schema["pattern"]).search(value):
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


def compiled(pattern: str) -> re.Pattern:
    """An input's pattern as Python's ``re`` runs it, compiled once per process."""
    found = _patterns.get(pattern)
    if found is None:
        found = _patterns[pattern] = re.compile(wide_classes_negated(ecma_anchors(pattern)))
    return found


# A class Python's re compiles slowly: one reaching this far into the BMP above Latin-1 (its
# compiler walks a BMP range code point by code point, in Python: 2.5 ms for \u00a1-\uffff,
# the host pattern's, on every one-step process).
_WIDE = 0x1000
_MAX = 0x10FFFF
_SET_OPERATIONS = ("--", "&&", "~~", "||")
_CLASS_PUNCTUATION = frozenset("\\]-[.^$*+?(){}|/&~#,:;!<>=@%'\"` _")


def wide_classes_negated(pattern: str) -> str:
    r"""``pattern`` with each bracket class that covers much of the BMP above U+00FF written as
    the negation of what it leaves out: ``[A-Z\u00a1-\uffff]`` becomes
    ``[^\u0000-@\u005b-\u00a0\U00010000-\U0010ffff]``, the same code points, compiled in
    microseconds. Only classes of plain characters, ``\uXXXX``, ``\xXX``, escaped
    punctuation and ranges of them are rewritten (as Python reads them); anything else, and
    any pattern with a "(?" group (inline flags: case folding differs for a negated class), is
    left as is."""
    if "[" not in pattern or "(?" in pattern.replace("(?:", ""):
        return pattern
    out: list[str] = []
    index, length = 0, len(pattern)
    while index < length:
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if char != "[":
            out.append(char)
            index += 1
            continue
        parsed = _class(pattern, index + 1)
        if parsed is None:  # (not one of ours: the rest is copied as it is)
            return pattern
        ranges, end = parsed
        out.append(_negated(ranges) if _wide(ranges) else pattern[index:end])
        index = end
    return "".join(out)


def _class(pattern: str, start: int) -> tuple[list[tuple[int, int]], int] | None:
    """The ranges of the plain class starting at ``start`` (after its "["), and the index past
    its "]"; None for a negated, empty or unusual one (or one Python warns of: "--", "&&"...).
    Read as Python's re reads a class: a "]" first is literal, so is a "-" first, last or
    after a range."""
    if pattern.startswith(("^", "]"), start):
        return None
    ranges: list[tuple[int, int]] = []
    index = start
    while True:
        if pattern[index : index + 2] in _SET_OPERATIONS:
            return None  # (Python warns that these may become set operations)
        code, index = _class_item(pattern, index)
        if code is None or pattern.startswith("--", index):
            return None
        if code == -1:  # the closing "]"
            return (ranges, index) if ranges else None
        if pattern.startswith("-", index) and not pattern.startswith("-]", index):
            high, index = _class_item(pattern, index + 1)
            if high is None or high < code:
                return None
            ranges.append((code, high))
        else:
            ranges.append((code, code))


def _class_item(pattern: str, index: int) -> tuple[int | None, int]:
    r"""The code point at ``index`` in a class and the index after it; -1 for the closing "]",
    None for what is not a plain character (a category such as \d, a nested "[")."""
    if index >= len(pattern):
        return None, index
    char = pattern[index]
    if char == "]":
        return -1, index + 1
    if char == "[":
        return None, index  # (Python warns of nested sets; not ours to read)
    if char != "\\":
        return ord(char), index + 1
    escape = pattern[index + 1 : index + 2]
    for letter, digits in (("u", 4), ("x", 2)):
        if escape == letter:
            text = pattern[index + 2 : index + 2 + digits]
            if len(text) == digits and all(c in "0123456789abcdefABCDEF" for c in text):
                return int(text, 16), index + 2 + digits
            return None, index
    if escape in _CLASS_PUNCTUATION:
        return ord(escape), index + 2
    return None, index


def _wide(ranges: list[tuple[int, int]]) -> bool:
    """Whether the class covers enough above U+00FF for its compile to cost milliseconds
    while what it leaves out there is small."""
    inside = sum(max(0, min(high, 0xFFFF) - max(low, 0x100) + 1) for low, high in ranges)
    return inside >= _WIDE and inside > (0xFFFF - 0xFF) - inside


def _negated(ranges: list[tuple[int, int]]) -> str:
    """``[^...]`` of every code point the ranges leave out."""
    gaps, next_free = [], 0
    for low, high in sorted(ranges):
        if low > next_free:
            gaps.append((next_free, low - 1))
        next_free = max(next_free, high + 1)
    if next_free <= _MAX:
        gaps.append((next_free, _MAX))
    if not gaps:
        return "[\\s\\S]"  # (the class held every code point)
    parts = [
        _escape(low) if low == high else f"{_escape(low)}-{_escape(high)}" for low, high in gaps
    ]
    return "[^" + "".join(parts) + "]"


def _escape(code: int) -> str:
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


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
