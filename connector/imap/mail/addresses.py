"""Address headers (From, To, Cc...) -> [(name, address)], per RFC 5322 and leniently.

RFC 5322 syntax, obsolete forms included: comments are dropped (also the old
``pete@x (Pete)`` form, as the standard library reads it), quoted names keep their
text, groups give their members, source routes in ``<@a,@b:x@y>`` are dropped.
Broken headers get the reading mail clients give: ``a@x b@y`` (a missing comma) is
two addresses, ``Name@x <real@y>`` is one named address, an unclosed quote or
bracket ends at the end of the header. Encoded words in names are decoded by the
caller's ``decode_words``.

email.utils.getaddresses keeps comments in names; email.headerregistry drops every
address after a defect it cannot place. Neither is what a mail client shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Tokens: (kind, text, space_before). Kinds: word, quoted, comment, angle, "," ";" ":".
_SPECIALS = '()<>,;:"'
_WORD = re.compile(r'[^\s()<>,;:"]+')
_WS = re.compile(r"\s+")


def _match(pattern: re.Pattern[str], text: str, at: int) -> re.Match[str]:
    """A match of a pattern that matches at least one character wherever it is used."""
    found = pattern.match(text, at)
    if found is None:  # unreachable: the caller checked the first character
        raise ValueError(f"no token at {at}")
    return found


def _scan_delimited(text: str, start: int, close: str, nest: str | None = None) -> tuple[str, int]:
    """Text from ``start`` (after the opening char) to its ``close``; backslash escapes one char."""
    out = []
    depth = 0
    i, end = start, len(text)
    while i < end:
        char = text[i]
        if char == "\\" and i + 1 < end:
            out.append(text[i + 1])
            i += 2
            continue
        if nest and char == nest:
            depth += 1
        elif char == close:
            if depth == 0:
                return "".join(out), i + 1
            depth -= 1
        out.append(char)
        i += 1
    return "".join(out), end  # unclosed: to the end of the header


def _tokens(text: str) -> list[tuple[str, str, bool]]:
    tokens: list[tuple[str, str, bool]] = []
    i, end = 0, len(text)
    space = False
    while i < end:
        char = text[i]
        if char.isspace():
            i = _match(_WS, text, i).end()
            space = True
            continue
        if char == "(":
            value, i = _scan_delimited(text, i + 1, ")", nest="(")
            tokens.append(("comment", value, space))
        elif char == '"':
            value, i = _scan_delimited(text, i + 1, '"')
            tokens.append(("quoted", value, space))
        elif char == "<":
            close = text.find(">", i + 1)
            close = end if close < 0 else close
            tokens.append(("angle", text[i + 1 : close], space))
            i = close + 1
        elif char in ",;:":
            tokens.append((char, char, space))
            i += 1
        elif char in ")>":  # a stray closing bracket: noise
            i += 1
        else:
            match = _match(_WORD, text, i)
            tokens.append(("word", match.group(), space))
            i = match.end()
        space = False
    return tokens


def _addr_spec(text: str) -> str:
    """The inside of ``<...>``: comments and whitespace dropped, a source route removed."""
    parts = []
    for kind, value, _ in _tokens(text):
        if kind == "comment":
            continue
        parts.append(f'"{value}"' if kind == "quoted" else value)
    spec = "".join(parts)
    if spec.startswith("@") and ":" in spec:  # obsolete route: <@a.test,@b.test:joe@c.test>
        spec = spec.rsplit(":", 1)[1]
    return spec


def _entries(tokens: list) -> list[list]:
    """Split at top-level commas and at group syntax (``name: a, b;``)."""
    entries: list[list] = [[]]
    for token in tokens:
        kind = token[0]
        if kind in (",", ";"):
            entries.append([])
        elif kind == ":":
            current = entries[-1]
            if any(t[0] == "angle" for t in current):
                continue  # a colon after an address: noise
            if not any("@" in t[1] for t in current if t[0] == "word"):
                entries[-1] = []  # "Group name:" names the group, not an address
            else:
                entries.append([])
        else:
            entries[-1].append(token)
    return [e for e in entries if e]


def _join_words(tokens: list) -> list[str]:
    """Adjacent words (and quoted local parts) glued into addr-specs where they touch ``@``/``.``.

    ``pete(c)@silly.test`` arrives as word, comment, word; ``"john doe"@x`` as quoted, word.
    """
    pieces: list[str] = []
    for kind, value, space in tokens:
        if kind == "comment":
            continue
        text = f'"{value}"' if kind == "quoted" else value
        if pieces and (
            text[:1] in "@."
            or pieces[-1][-1:] in "@."
            or (not space and kind == "word" and pieces[-1][-1:] == '"')
        ):
            pieces[-1] += text
        else:
            pieces.append(text)
    return pieces


def _phrase(tokens: list, decode_words: Callable[[str], str]) -> str:
    words = []
    for kind, value, _ in tokens:
        if kind == "word":
            words.append(value)
        elif kind == "quoted":
            words.append(value)
    return _clean(decode_words(" ".join(words))) if words else ""


def _clean(text: str) -> str:
    return " ".join(text.split())


def parse(header: str | None, decode_words: Callable[[str], str] = str) -> list[tuple[str, str]]:
    """An address header's text -> [(display name, address)], in order."""
    if not header:
        return []
    out: list[tuple[str, str]] = []
    for entry in _entries(_tokens(header)):
        if any(t[0] == "angle" for t in entry):
            before: list = []
            for token in entry:
                if token[0] == "angle":
                    out.append((_phrase(before, decode_words), _addr_spec(token[1])))
                    before = []
                else:
                    before.append(token)
            continue
        pieces = _join_words(entry)
        addresses = [p for p in pieces if "@" in p]
        if not addresses:
            # No address at all (a bare local name such as "root"): keep the text.
            text = " ".join(pieces)
            if text:
                out.append(("", text))
            continue
        if len(addresses) == 1:
            others = [p for p in pieces if "@" not in p]
            # "John Smith john@x" (no brackets): the words before the address are its name.
            out.append((_clean(decode_words(" ".join(others)).strip('"')), addresses[0]))
        else:
            out.extend(("", address) for address in addresses)  # "a@x b@y": a missing comma
    return out
