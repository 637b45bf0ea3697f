"""Is a handler's result plain JSON, and valid text? Checked without serialising it. And what
to say of a JSON number too long to read."""

from __future__ import annotations

import json
import sys
from typing import Any

from .text import SURROGATE

_SCALARS = {int, bool, type(None)}
INVALID_TEXT = "a string that is not valid Unicode (a lone surrogate)"


def json_problem(value: Any) -> str | None:
    """Where ``value`` is not plain JSON, or None.

    A walk, not json.dumps: serialising a 20 MB download only to check it would hold a
    third copy of the message in memory. The fast loop only says yes; the slow one says where.
    Strings must be valid Unicode: a lone surrogate cannot be written as UTF-8, so the
    envelope would not be valid JSON text (``INVALID_TEXT`` is returned for it).
    """
    stack = [value]
    invalid_text = False
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is str:
            # isascii() is O(1) in CPython: only non-ASCII strings are searched.
            if not item.isascii() and _has_surrogate(item):
                invalid_text = True
            continue
        if kind is dict:
            # The keys at C speed: join() refuses a key that is not a str, and the joined
            # text is searched only when it is not ASCII (a key holding a lone surrogate).
            try:
                keys = "".join(item)
            except TypeError:
                return _where(value)
            if not keys.isascii() and _has_surrogate(keys):
                invalid_text = True
            stack.extend(item.values())
        elif kind is list:
            # A list of ASCII strings (flags, addresses) in one C call; any other item
            # (TypeError) or a non-ASCII string sends the list through the walk.
            try:
                if all(map(str.isascii, item)):
                    continue
            except TypeError:
                pass
            stack.extend(item)
        elif kind is not float or item != item or item in (float("inf"), float("-inf")):
            return _where(value)
    return INVALID_TEXT if invalid_text else None


def _has_surrogate(text: str) -> bool:
    """A lone surrogate in ``text``: a short string is encoded (3x faster than the regular
    expression), a long one searched (no transient copy of a large body)."""
    if len(text) > 65536:
        return SURROGATE.search(text) is not None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def valid_text(value: Any) -> tuple[Any, int]:
    """``value`` with every lone surrogate replaced by U+FFFD, and how many strings changed."""
    if isinstance(value, str):
        fixed = SURROGATE.sub("\ufffd", value)
        return fixed, int(fixed != value)
    if isinstance(value, list):
        pairs = [valid_text(v) for v in value]
        return [v for v, _ in pairs], sum(n for _, n in pairs)
    if isinstance(value, dict):
        out, count = {}, 0
        for key, item in value.items():
            key, n_key = valid_text(key)
            out[key], n = valid_text(item)
            count += n + n_key
        return out, count
    return value, 0


def _where(value: Any, path: str = "$") -> str | None:
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if value == value and abs(value) != float("inf") else f"{path} is {value}"
    if isinstance(value, list):
        return next(filter(None, (_where(v, f"{path}[{i}]") for i, v in enumerate(value))), None)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has a key that is not text: {key!r}"
            found = _where(item, f"{path}.{key}")
            if found:
                return found
        return None
    return f"{path} is a {type(value).__name__}"


def number_too_long(exc: ValueError) -> str | None:
    """What to say when ``exc`` is Python's limit on converting digits to an integer (4,300
    by default: a JSON number or a text of more digits), else None. Without this, such a
    number read as "not valid JSON" or "not a JSON object", which it is."""
    if isinstance(exc, json.JSONDecodeError) or "integer string conversion" not in str(exc):
        return None
    return (
        f"a number has more than {sys.get_int_max_str_digits()} digits, too long to read: "
        "send a shorter number (or text, in quotes)"
    )
