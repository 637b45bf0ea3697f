"""Text rules shared by every part: shortening (one rule, three limits) and what is not
valid Unicode."""

from __future__ import annotations

import json
import re
import sys

# A lone surrogate: text that is not valid Unicode (cannot be written as UTF-8).
SURROGATE = re.compile("[\ud800-\udfff]")

VALUE_CHARS = 40  # a user's value quoted back in an error ("Range '1:x' is not valid")
REMOTE_CHARS = 300  # a remote server's own words inside an error
MESSAGE_CHARS = 1000  # a whole error message in the envelope: the rest is noise to a user


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked by "..."."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
