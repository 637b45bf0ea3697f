"""Every date format mail carries, in one place: INTERNALDATE (``25-Nov-2026 18:42:15
+0000``), RFC 2822 ``Date:`` headers, and IMAP SEARCH dates (``31-Jan-2024``).

One month table serves them all; nothing here touches the network.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Month name (any case) -> 1..12, for text and for the bytes of a FETCH reply.
_MONTH_NUMBER: dict[str | bytes, int] = {
    **{name.lower(): number for number, name in enumerate(MONTHS, start=1)},
    **{name.lower().encode("ascii"): number for number, name in enumerate(MONTHS, start=1)},
}


_MONTH_AS_WRITTEN = {name: number for number, name in enumerate(MONTHS, start=1)}


def month_number(name: str | bytes) -> int | None:
    """``Jan``/``JAN``/``b"jan"`` -> 1; None for anything else."""
    found = _MONTH_AS_WRITTEN.get(name) if isinstance(name, str) else None
    return found or _MONTH_NUMBER.get(name.lower())


# --- INTERNALDATE: the server's own fixed format ------------------------------------------

_INTERNALDATE_FORM = r" ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"
_INTERNALDATE = re.compile(_INTERNALDATE_FORM.encode("ascii"))
_INTERNALDATE_TEXT = re.compile(_INTERNALDATE_FORM, re.ASCII)


def internal_date_iso(value: bytes) -> str | None:
    """``25-Nov-2026 18:42:15 +0000`` -> ``2026-11-25T18:42:15+00:00`` without a datetime.

    INTERNALDATE is the server's own fixed format; checking each field's range is enough.
    (Matched as text: one decode, not one per field; latin-1 maps each byte to itself.)
    """
    match = _INTERNALDATE_TEXT.fullmatch(value.decode("latin-1"))
    if not match:
        return None
    day, month, year, hh, mm, ss, sign, oh, om = match.groups()
    number = month_number(month)
    # (two ASCII digits each: compared as text)
    if number is None or hh > "23" or mm > "59" or ss > "60" or not 1 <= (d := int(day)) <= 31:
        return None
    return f"{year}-{number:02d}-{d:02d}T{hh}:{mm}:{ss}{sign}{oh}:{om}"


def internal_date(value: object) -> datetime | None:
    """``25-Nov-2026 18:42:15 +0000`` (or a datetime) -> an aware datetime; None when malformed."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, bytes):
        return None
    match = _INTERNALDATE.fullmatch(value)
    if not match:
        return None
    day, month, year, hh, mm, ss, sign, oh, om = match.groups()
    number = month_number(month)
    if number is None:
        return None
    offset = timedelta(hours=int(oh), minutes=int(om))
    try:
        return datetime(
            int(year),
            number,
            int(day),
            int(hh),
            int(mm),
            int(ss),
            tzinfo=timezone(-offset if sign == b"-" else offset),
        )
    except ValueError:
        return None


def iso(value: object) -> str | None:
    """An INTERNALDATE (bytes as FETCH gave it, or a datetime) as ISO 8601."""
    if isinstance(value, bytes):
        return internal_date_iso(value)
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.astimezone()
    return value.isoformat()


# --- RFC 2822 Date: headers ---------------------------------------------------------------

_COMMENT = re.compile(r"\([^()]*\)")
_RFC2822 = re.compile(
    r"(?:\w{3}, )?(\d{1,2}) (\w{3}) (\d{4}) (\d\d):(\d\d)(?::(\d\d))? ([+-])(\d\d)(\d\d)"
)


def header_date_iso(text: str) -> str | None:
    """An RFC 2822 Date header's (decoded) text -> ISO 8601; None when it cannot be read.

    Comments are dropped (``00:19:00 (EDT) -0400``); obsolete zone names count
    (EDT is -0400); an unknown zone or ``-0000`` (RFC 5322: "no zone information")
    reads as UTC.
    """
    text = text.strip()
    match = _RFC2822.match(text)
    if not match and "(" in text:
        while "(" in text and _COMMENT.search(text):
            text = _COMMENT.sub(" ", text)
        text = " ".join(text.split())
        match = _RFC2822.match(text)
    if match:  # the common form, without email.utils' general (slower) parser
        day, month, year, hh, mm, ss, sign, oh, om = match.groups()
        number = month_number(month)
        if (  # plainly valid (any month has a 28th): written out as isoformat() would
            number is not None
            and 1 <= int(day) <= 28
            and hh <= "23"
            and mm <= "59"
            and (ss or "00") <= "59"
            and oh <= "23"
            and om <= "59"
            and year != "0000"
            and match.group(0).isascii()
        ):
            sign = "+" if oh == om == "00" else sign
            return f"{year}-{number:02d}-{int(day):02d}T{hh}:{mm}:{ss or '00'}{sign}{oh}:{om}"
        offset = timedelta(hours=int(oh), minutes=int(om))
        if number is not None:
            try:
                return datetime(
                    int(year),
                    number,
                    int(day),
                    int(hh),
                    int(mm),
                    int(ss or 0),
                    tzinfo=timezone(-offset if sign == "-" else offset),
                ).isoformat()
            except (ValueError, OverflowError):
                pass
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.isoformat()


# --- IMAP SEARCH dates --------------------------------------------------------------------


def search_date(day: date) -> bytes:
    """2024-01-31 -> ``31-Jan-2024`` (RFC 3501 date: no time, English month names)."""
    return f"{day.day}-{MONTHS[day.month - 1]}-{day.year}".encode("ascii")
