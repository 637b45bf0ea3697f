"""Flag and attribute names as the RFCs spell them.

Servers vary the case of backslash names (Cyrus sends ``\\sent``); outputs use the RFC
spelling, keywords keep theirs. Both the wire encoder (wire/protocol.py) and the summary
builder (mail/envelope.py) read this table.
"""

from __future__ import annotations

SYSTEM_FLAGS = {f.lower(): f for f in ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")}
# Every backslash name a server may send, in its RFC spelling: system flags (RFC 3501),
# special-use (RFC 6154) and LIST attributes (RFC 3501, 5258). Servers vary the case
# (Cyrus: \sent); outputs use these spellings, keywords keep theirs.
CANONICAL_NAMES = {
    f.lower(): f
    for f in (
        *SYSTEM_FLAGS.values(),
        "\\Recent",
        "\\All",
        "\\Archive",
        "\\Drafts",
        "\\Junk",
        "\\Sent",
        "\\Trash",
        "\\Important",
        "\\Noinferiors",
        "\\Noselect",
        "\\Marked",
        "\\Unmarked",
        "\\HasChildren",
        "\\HasNoChildren",
        "\\NonExistent",
        "\\Subscribed",
        "\\Remote",
    )
}


def canonical_name(flag: str) -> str:
    """A flag or attribute from a server in its RFC spelling (keywords as they are)."""
    return CANONICAL_NAMES.get(flag.lower(), flag) if flag.startswith("\\") else flag
