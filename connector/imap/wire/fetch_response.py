"""A fast reader for FETCH responses, as imaplib hands them over.

IMAPClient's generic parser spends ~0.5 ms per ENVELOPE (measured: most of a
1,000-message search, bench W1); this one tokenises each line with one compiled
regex and builds plain lists. It knows only what FETCH replies contain:
atoms, NIL, numbers, quoted strings, literals and parenthesised lists.

What it takes from a reply is checked where it is taken: a list closed that was never
opened (or never closed), a UID that is not a number, FLAGS that are not a list of flags
raise ``MalformedReply`` (SERVER_ERROR). Nothing here catches an exception to call it the
server's fault: any other exception is a bug of ours (INTERNAL_ERROR).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from .malformed import MalformedReply, number

WHAT = "FETCH reply"  # (what errors call it)
# One token per match; the group that matched says which kind (m.lastindex).
_TOKEN = re.compile(
    rb"[ \t\r\n]*(?:"
    rb"(\()"  # 1 open list
    rb"|(\))"  # 2 close list
    rb'|"([^"\\]*(?:\\.[^"\\]*)*)"'  # 3 quoted string
    rb"|~?\{(\d+)\+?\}[ \t\r\n]*$"  # 4 literal marker, ~{n}: RFC 3516 literal8
    rb'|((?:[^\s()"\[]|\[[^\]]*\])+)'  # 5 atom, incl. BODY[HEADER.FIELDS (A B)]<0>
    rb")"
)
_ESCAPE = re.compile(rb"\\(.)")
NUMERIC = {b"UID", b"RFC822.SIZE", b"MODSEQ"}
# Items whose value is a string (bytes), or NIL (None) where ``_NSTRING`` says so.
_STRINGS = {b"INTERNALDATE"}
_NSTRINGS = {b"RFC822", b"RFC822.HEADER", b"RFC822.TEXT"}
_SECTIONS = (b"BODY[", b"BINARY[")  # BODY[...]<origin>: an nstring

# The fast path: a whole FETCH line of the usual items, matched by the regex engine in
# one pass (a summary is ~60 tokens; a Python loop per token would dominate a search).
# Quoted strings as an "unrolled loop" (runs of plain bytes, then escapes): several times
# faster in Python's re than an alternation per byte.
_STRING = rb'(?:"[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*"|NIL|\x00\d+\x00)'  # \0k\0: the k-th literal
_ADDRESS = rb"\((" + _STRING + rb") (" + _STRING + rb") (" + _STRING + rb") (" + _STRING + rb")\)"
_ADDRESSES = (
    rb"(NIL|\((?:\(" + _STRING + rb" " + _STRING + rb" " + _STRING + rb" " + _STRING + rb"\))+\))"
)
_ENVELOPE = (
    rb"\(("
    + _STRING
    + rb") ("
    + _STRING
    + rb") "
    + (_ADDRESSES + rb" ") * 6
    + rb"("
    + _STRING
    + rb") ("
    + _STRING
    + rb")\)"
)
_ITEM = re.compile(
    rb" ?(?:(UID|RFC822\.SIZE) (\d{1,20})|FLAGS \(([^()\"]*)\)|"
    rb"INTERNALDATE \"([^\"]*)\"|ENVELOPE " + _ENVELOPE + rb")"
)
_LINE = re.compile(rb"(\d{1,20}) \((.*)\)[ \t\r\n]*", re.S)
# A summary's items in the order asked (most servers answer in that order): one match.
_SUMMARY_LINE = re.compile(
    rb"(\d{1,20}) \(UID (\d{1,20}) FLAGS \(([^()\"]*)\) RFC822\.SIZE (\d{1,20}) "
    rb"INTERNALDATE \"([^\"]*)\" ENVELOPE " + _ENVELOPE + rb"\)[ \t\r\n]*"
)
_ADDRESS_RE = re.compile(_ADDRESS)
_LITERAL_MARKER = re.compile(rb"~?\{\d+\+?\}[ \t\r\n]*$")


def parse(data: list) -> dict[int, dict[bytes, Any]]:
    """imaplib's FETCH data -> {uid (or sequence number when UID is absent): {ITEM: value}}.

    Values: UID, RFC822.SIZE as int; FLAGS as a tuple of bytes; INTERNALDATE,
    BODY[...] and other strings as bytes; ENVELOPE and BODYSTRUCTURE as nested
    lists (or tuples) with None for NIL; each response's sequence number under ``b"SEQ"``.
    A FETCH without the UID item (an unsolicited update) is keyed by its sequence number,
    or left out where a response naming a UID holds that key.
    """
    fast = _flags_only(data)
    return fast if fast is not None else _read_all(data)


def _read_all(data: list) -> dict[int, dict[bytes, Any]]:
    """Every response in ``data`` through a ``FetchStream`` (no flags-only fast path)."""
    stream = FetchStream()
    for entry in data:
        stream.append(entry)
    return stream.result()


class FetchStream:
    """FETCH responses read one by one as they arrive: ``read_fetch`` appends each entry
    (as to a list), and each complete response is parsed at once, while the server is still
    writing the next ones: the parsing hides behind the server's work instead of following it.

    Responses are merged as ``parse`` says (``_keep``); ``each(key, values)``, if given, is
    called whenever a response naming a UID completes, with that message's merged values.
    Nothing raised here may stop the reading midway (the session would be left inside a
    reply): the first error is kept and raised by ``result()``, once the reply is read.
    """

    def __init__(self, each: Callable[[int, dict], None] | None = None):
        self.out: dict[int, dict[bytes, Any]] = {}
        self.each = each
        self.error: Exception | None = None
        self._parts: list = []  # the (text, literal) entries of a response not yet complete

    def append(self, entry: bytes | tuple | None) -> None:
        if entry is None:
            return
        if type(entry) is tuple:
            self._parts.append(entry)
            return
        if self._parts:
            entries, self._parts = [*self._parts, entry], []
        else:
            entries = [entry]
        self._take(entries)

    def _take(self, entries: list) -> None:
        if self.error is not None:
            return
        try:
            values = _fast_values(entries)
            for found in [values] if values is not None else _token_values(entries):
                key = _keep(self.out, found)
                if key is not None and self.each is not None:
                    self.each(key, self.out[key])
        except Exception as exc:  # noqa: BLE001 - raised by result(), after the reply
            self.error = exc

    def result(self) -> dict[int, dict[bytes, Any]]:
        """What was read, {key: values}; or the first error met, raised now."""
        if self._parts:  # a reply that ended inside a response
            entries, self._parts = self._parts, []
            self._take(entries)
        if self.error is not None:
            raise self.error
        return self.out


_FLAGS_LINE = re.compile(  # (one line each: anchored at both ends)
    rb"^(\d{1,20}) \((?:UID (\d{1,20}) FLAGS \(([^()]*)\)|FLAGS \(([^()]*)\) UID (\d{1,20}))\)$",
    re.M,
)


def _flags_only(data: list) -> dict | None:
    """A reply of nothing but ``(UID FLAGS)`` (a flag read-back): one regex pass over it all."""
    found = _flag_lines(data)
    if found is None:
        return None
    flags = _shared_flags()
    out: dict[int, dict] = {}
    for seq, uid_a, flags_a, flags_b, uid_b in found:
        uid = int(uid_a or uid_b)
        out[uid] = {b"SEQ": int(seq), b"UID": uid, b"FLAGS": flags(flags_a or flags_b)}
    return out


def uid_flags(data: list) -> dict[int, tuple]:
    """A flag read-back (a STORE's replies) as {uid: FLAGS}. A reply of nothing but UID
    and FLAGS is read without a dict per message: half the cost of ``parse``."""
    found = _flag_lines(data)
    if found is None:  # other items too: the general reader. Replies without a UID are
        # left out: a bare sequence number is not a UID.
        return {
            uid: values[b"FLAGS"]
            for uid, values in _read_all(data).items()
            if b"UID" in values and b"FLAGS" in values
        }
    flags = _shared_flags()
    return {
        int(uid_a or uid_b): flags(text_a or text_b) for _, uid_a, text_a, text_b, uid_b in found
    }


def _flag_lines(data: list) -> list | None:
    if not data or not all(type(entry) is bytes for entry in data):
        return None
    found = _FLAGS_LINE.findall(b"\n".join(data))
    return found if len(found) == len(data) else None


def _shared_flags() -> Callable[[bytes], tuple]:
    """FLAGS text -> a tuple, one per distinct text: the caches after this one then hit."""
    seen: dict[bytes, tuple] = {}

    def flags(text: bytes) -> tuple:
        found = seen.get(text)
        if found is None:
            found = seen[text] = tuple(text.split())
        return found

    return flags


def parse_tokens(data: list) -> dict[int, dict[bytes, Any]]:
    """The general reader: any FETCH response, one token at a time."""
    out: dict[int, dict] = {}
    for values in _token_values(data):
        _keep(out, values)
    return out


def _token_values(data: list) -> Iterator[dict[bytes, Any]]:
    """Each FETCH response in ``data`` as {ITEM: value}, read token by token."""
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
                if not stack:
                    raise MalformedReply(WHAT, "a list closed that was never opened")
                current = stack.pop()
                if not stack:  # the message's list closed: one FETCH response complete
                    values = _values(top)
                    if values is not None:
                        yield values
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
    if stack:
        raise MalformedReply(WHAT, "a list that is never closed")


def _fast_values(entries: list) -> dict[bytes, Any] | None:
    """One response of the usual items (a summary's), in one pass; None for anything else
    (then the general reader takes it).

    imaplib splits a response at each literal: (text ending in {n}, literal bytes)
    tuples, then the rest of the line as bytes. The literals are put back as \\0k\\0
    placeholders: NUL never occurs in IMAP text, so they cannot collide with the server's.
    """
    literals: list[bytes] = []
    if len(entries) == 1:
        line = entries[0]
        if b"\x00" in line:
            return None
    else:
        parts = []
        for entry in entries:
            text = entry[0] if type(entry) is tuple else entry
            if b"\x00" in text:
                return None
            if text is entry:
                parts.append(text)
            else:
                parts.append(_LITERAL_MARKER.sub(b"", text) + b"\x00%d\x00" % len(literals))
                literals.append(entry[1])
        line = b"".join(parts)
    summary = _SUMMARY_LINE.fullmatch(line)
    if summary is not None:
        g = summary.groups()
        env = _envelope(g[5:], literals)
        return {
            b"SEQ": int(g[0]),
            b"UID": int(g[1]),
            b"FLAGS": tuple(g[2].split()),
            b"RFC822.SIZE": int(g[3]),
            b"INTERNALDATE": g[4],
            b"ENVELOPE": env,
        }
    whole = _LINE.fullmatch(line)
    if whole is None:
        return None
    body, pos, end = whole.group(2), 0, len(whole.group(2))
    values: dict[bytes, Any] = {b"SEQ": int(whole.group(1))}
    while pos < end:
        item = _ITEM.match(body, pos)
        if item is None:
            return None
        pos = item.end()
        if item.group(1):
            values[item.group(1)] = int(item.group(2))
        elif item.group(3) is not None:
            values[b"FLAGS"] = tuple(item.group(3).split())
        elif item.group(4) is not None:
            values[b"INTERNALDATE"] = item.group(4)
        else:
            values[b"ENVELOPE"] = _envelope(item.groups()[4:], literals)
    return values


def _envelope(g: tuple, literals: list[bytes]) -> list:
    """ENVELOPE's ten fields, as the regex matched them, as RFC 3501 lists them. (Each
    placeholder \\0k\\0 was put in for a literal that came: the line itself has no NUL.)"""
    return [
        _unquote(g[0], literals),
        _unquote(g[1], literals),
        _addresses(g[2], literals),
        _addresses(g[3], literals),
        _addresses(g[4], literals),
        _addresses(g[5], literals),
        _addresses(g[6], literals),
        _addresses(g[7], literals),
        _unquote(g[8], literals),
        _unquote(g[9], literals),
    ]


def _unquote(token: bytes, literals: list[bytes]) -> bytes | None:
    if token == b"NIL":
        return None
    if token[0] == 0:
        return literals[int(token[1:-1])]
    token = token[1:-1]
    return _ESCAPE.sub(rb"\1", token) if b"\\" in token else token


def _addresses(token: bytes, literals: list[bytes]) -> tuple | None:
    if token == b"NIL":
        return None
    if b"\x00" in token:
        return tuple(
            tuple(_unquote(part, literals) for part in found)
            for found in _ADDRESS_RE.findall(token)
        )
    return _plain_addresses(token)


@lru_cache(maxsize=4096)
def _plain_addresses(token: bytes) -> tuple:
    """Address lists repeat (the owner in To, frequent senders): parse each distinct one once."""
    return tuple(
        tuple(_unquote(part, []) for part in found) for found in _ADDRESS_RE.findall(token)
    )


def _values(top: list) -> dict[bytes, Any] | None:
    """One response's tokens (``seq (ITEM value ...)``) -> {ITEM: value, b"SEQ": seq}; None
    for what is no FETCH response at all. The items whose values the connector computes
    with are checked: UID, RFC822.SIZE and MODSEQ numbers, FLAGS a list of flags,
    INTERNALDATE, BODY[...] and the like strings."""
    if len(top) < 2 or not isinstance(top[-1], list):
        return None
    items = top[-1]
    values: dict[bytes, Any] = {}
    for i in range(0, len(items) - 1, 2):
        key = items[i]
        if not isinstance(key, bytes):
            continue
        key = key.upper()
        value = items[i + 1]
        if key == b"MODSEQ" and type(value) is list and len(value) == 1:
            value = value[0]  # (RFC 7162: MODSEQ (n))
        if key in NUMERIC:
            value = number(value, WHAT, key.decode("ascii"))
        elif key == b"FLAGS":
            value = _flag_tuple(value)
        elif key in _STRINGS or key in _NSTRINGS or key.startswith(_SECTIONS):
            if type(value) is not bytes and (value is not None or key in _STRINGS):
                raise MalformedReply(WHAT, f"{_item_name(key)} is not a string")
        values[key] = value
    values[b"SEQ"] = number(top[0], WHAT, "a message number")
    return values


def _item_name(key: bytes) -> str:
    """An item's name for an error: ours to name (BODY[...] without the server's section)."""
    return key.split(b"[", 1)[0].decode("ascii", "replace") + ("[...]" if b"[" in key else "")


def _flag_tuple(value: object) -> tuple:
    """FLAGS (a b c) as a tuple of bytes. (NIL in the list is the keyword "NIL": an atom.)"""
    if type(value) is not list:
        raise MalformedReply(WHAT, "FLAGS is not a list")
    flags = tuple(b"NIL" if flag is None else flag for flag in value)
    if not all(type(flag) is bytes for flag in flags):
        raise MalformedReply(WHAT, "FLAGS holds a list, not flags")
    return flags


def _keep(out: dict, values: dict) -> int | None:
    """One FETCH response into ``out``: by its UID, or (an unsolicited update without one)
    by its sequence number, never merged into another message's record: sequence number 3
    and UID 3 are seldom the same message, and a UID the reply names wins over it.
    Returns the UID whose record it went into (None for an update without one)."""
    uid = values.get(b"UID")
    if uid is None:
        seq = values[b"SEQ"]
        if b"UID" in out.get(seq, {}):
            return None
        out.setdefault(seq, {}).update(values)
        return None
    held = out.get(uid)
    if held is not None and b"UID" not in held:
        del out[uid]  # an update without a UID about whichever message was at that number
    out.setdefault(uid, {}).update(values)
    return uid
