"""What ``watch-status`` shows of a cursor: people read it, so long strings are cut.

Its own module, without temporalio, so the unit tests on every Python can import it.
"""

from __future__ import annotations

# A cursor may carry a few kilobytes of bookkeeping (a trigger's digests of what it handed
# off): a status is read by people, so those strings are cut unless --full asks for them.
CURSOR_TEXT_SHOWN = 80


def abridged(value: object) -> object:
    """``value``, or a string over CURSOR_TEXT_SHOWN characters cut, with its length."""
    if isinstance(value, str) and len(value) > CURSOR_TEXT_SHOWN:
        return f"{value[:CURSOR_TEXT_SHOWN]}... ({len(value):,} characters; --full shows them)"
    return value
