"""A fast reader for FETCH responses, as imaplib hands them over.

IMAPClient's generic parser spends ~0.5 ms per ENVELOPE (most of a search's
time: see the field notes); this one tokenises each line with one compiled
regex and builds plain lists. It knows only what FETCH replies contain:
atoms, NIL, numbers, quoted strings, literals and parenthesised lists.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

# One token per match; the group that matched says which kind (m.lastindex).
_TOKEN = re.compile(
    rb'[ \t\r\n]*(?:'
    rb'(\()'                                   # 1 open list
    rb'|(\))'                                  # 2 close list
    rb'|"((?:[^"\\]|\\.)*)"'                   # 3 quoted string
    rb'|\{(\d+)\+?\}[ \t\r\n]*$'               # 4 literal marker (its bytes come separately)
    rb'|((?:[^\s()"\[]|\[[^\]]*\])+)'          # 5 atom, incl. BODY[HEADER.FIELDS (A B)]<0>
    rb')')
_ESCAPE = re.compile(rb"\\(.)")
NUMERIC = {b"UID", b"RFC822.SIZE", b"MODSEQ"}


def parse(data: list) -> dict[int, dict[bytes, object]]:
    """imaplib's FETCH data -> {uid (or sequence number when UID is absent): {ITEM: value}}.

    Values: UID, RFC822.SIZE as int; FLAGS as a tuple of bytes; INTERNALDATE,
    BODY[...] and other strings as bytes; ENVELOPE and BODYSTRUCTURE as nested
    lists with None for NIL. A FETCH without the UID item is keyed by its
    sequence number under ``b"SEQ"`` too.
    """
    out: dict[int, dict] = {}
    top: list = []
    current = top
    stack: list[list] = []
    for entry in data:
        if entry is None:
            continue
        if isinstance(entry, tuple):
            text, literal = entry[0], entry[1]
        else:
            text, literal = entry, None
        for match in _TOKEN.finditer(text):
            kind = match.lastindex
            if kind == 1:
                new: list = []
                current.append(new)
                stack.append(current)
                current = new
            elif kind == 2:
                current = stack.pop()
                if not stack:  # the message's list closed: one FETCH response complete
                    _finish(top, out)
                    top = []
                    current = top
            elif kind == 3:
                value = match.group(3)
                current.append(_ESCAPE.sub(rb"\1", value) if b"\\" in value else value)
            elif kind == 4:
                current.append(literal)
            elif kind == 5:
                atom = match.group(5)
                current.append(None if atom == b"NIL" else atom)
    return out


def _finish(top: list, out: dict) -> None:
    if len(top) < 2 or not isinstance(top[-1], list):
        return
    items = top[-1]
    values: dict[bytes, object] = {}
    for i in range(0, len(items) - 1, 2):
        key = items[i]
        if not isinstance(key, bytes):
            continue
        key = key.upper()
        value = items[i + 1]
        if key in NUMERIC and isinstance(value, bytes):
            value = int(value)
        elif key == b"FLAGS" and isinstance(value, list):
            value = tuple(value)
        elif key == b"MODSEQ" and isinstance(value, list) and value:
            value = int(value[0])
        values[key] = value
    try:
        seq = int(top[0])
    except (TypeError, ValueError):
        seq = None
    values[b"SEQ"] = seq
    key = values.get(b"UID", seq)
    if key is not None:
        out.setdefault(key, {}).update(values)


_MONTHS = {m: i for i, m in enumerate((b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN", b"JUL",
                                       b"AUG", b"SEP", b"OCT", b"NOV", b"DEC"), start=1)}
_INTERNALDATE = re.compile(rb" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")


def internal_date(value) -> datetime | None:
    """``25-Nov-2026 18:42:15 +0000`` -> an aware datetime (None when malformed)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, bytes):
        return None
    match = _INTERNALDATE.fullmatch(value)
    if not match:
        return None
    day, month, year, hh, mm, ss, sign, oh, om = match.groups()
    offset = timedelta(hours=int(oh), minutes=int(om))
    try:
        return datetime(int(year), _MONTHS[month.upper()], int(day), int(hh), int(mm), int(ss),
                        tzinfo=timezone(-offset if sign == b"-" else offset))
    except (KeyError, ValueError):
        return None
