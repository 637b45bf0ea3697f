"""FETCH results (ENVELOPE, FLAGS, INTERNALDATE...) -> the JSON of a message summary.

Works on what ``fetch_response.parse`` returns: ENVELOPE as the list RFC 3501
defines (date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to,
message-id), each address as (name, adl, mailbox, host).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, overload

from . import charsets
from .dates import iso
from .flags import canonical_name
from .mime import decode_words, header_date

# What a message summary is built from (``summary``), fetched in one FETCH per chunk.
SUMMARY_ITEMS = b"UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE"


def summary_items(*extra: bytes) -> bytes:
    """The FETCH item list of a summary, plus ``extra`` items (such as BODY.PEEK[])."""
    return b"(" + b" ".join([SUMMARY_ITEMS, *extra]) + b")"


@overload
def _text(value: None) -> None: ...
@overload
def _text(value: str | bytes) -> str: ...
def _text(value: str | bytes | None) -> str | None:
    """A server string (8-bit bytes included) as text, by the rules of ``charsets``."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("ascii") if value.isascii() else charsets.decode(value)
    return charsets.surrogates_to_text(str(value))


def address_list(addresses: object, fallback: str | None = None) -> list[dict]:
    if not isinstance(addresses, (list, tuple)):
        return []
    key = addresses if isinstance(addresses, tuple) else _frozen(addresses)
    # Fresh dicts each time (callers may change what they get) from cached decoded pairs.
    return [{"name": name, "address": address} for name, address in _address_list(key, fallback)]


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


@lru_cache(maxsize=4096)
def _address_list(addresses: tuple, fallback: str | None) -> tuple:
    out = []
    for address in addresses:
        if not isinstance(address, tuple) or len(address) < 4:
            continue
        name, _adl, mailbox, host = address[:4]
        if host is None:  # the start or end of an RFC 2822 group
            continue
        mailbox, host = _text(mailbox) or "", _text(host) or ""
        out.append(
            (
                " ".join((decode_words(name, fallback) or "").split())
                if isinstance(name, bytes)
                else decode_words(_text(name)) or "",
                f"{mailbox}@{host}" if host else mailbox,
            )
        )
    return tuple(out)


EMPTY_ENVELOPE: dict[str, Any] = {
    "date": None,
    "subject": None,
    "from": [],
    "sender": [],
    "replyTo": [],
    "to": [],
    "cc": [],
    "bcc": [],
    "inReplyTo": None,
    "messageId": None,
}


def envelope_json(env: object, fallback: str | None = None) -> dict:
    """ENVELOPE -> JSON; ``fallback`` is the message's charset, for 8-bit bytes not in UTF-8."""
    if not isinstance(env, list) or len(env) < 10:
        return dict(EMPTY_ENVELOPE)
    date, subject, from_, sender, reply_to, to, cc, bcc, in_reply_to, message_id = env[:10]
    return {
        "date": header_date(date),
        "subject": decode_words(
            subject if isinstance(subject, bytes) else _text(subject), fallback
        ),
        "from": address_list(from_, fallback),
        "sender": address_list(sender, fallback),
        "replyTo": address_list(reply_to, fallback),
        "to": address_list(to, fallback),
        "cc": address_list(cc, fallback),
        "bcc": address_list(bcc, fallback),
        "inReplyTo": _text(in_reply_to),
        "messageId": _text(message_id),
    }


def has_legacy_bytes(values: dict) -> bool:
    """Whether a FETCH's ENVELOPE has 8-bit text that is not UTF-8 (its charset is needed)."""
    env = values.get(b"ENVELOPE")
    if not isinstance(env, list) or len(env) < 8:
        return False
    if _legacy(env[1]):
        return True
    for group in env[2:8]:
        if isinstance(group, (list, tuple)):
            for address in group:
                if isinstance(address, (list, tuple)) and address and _legacy(address[0]):
                    return True
    return False


def _legacy(text: object) -> bool:
    if not isinstance(text, bytes) or text.isascii():
        return False
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def flag_list(raw: object) -> list[str]:
    """Flags as strings, without \\Recent (a per-session flag nobody can set)."""
    if type(raw) is tuple:
        try:
            return list(_flags(raw))  # the parsers' shape: straight to the cache
        except TypeError:
            pass  # an unhashable item (a list a hostile server nested): filtered below
    elif not isinstance(raw, (tuple, list)):
        return []
    return list(_flags(tuple(f for f in raw if isinstance(f, (bytes, str)))))


@lru_cache(maxsize=1024)
def _flags(raw: tuple) -> tuple[str, ...]:
    # A mailbox has few distinct flag sets: decode each once.
    texts: list[str] = [_text(flag) for flag in raw if isinstance(flag, (bytes, str))]
    return tuple(canonical_name(text) for text in texts if text.lower() != "\\recent")


def summary(uid: int, values: dict, fallback: str | None = None) -> dict:
    size = values.get(b"RFC822.SIZE")
    return {
        "uid": uid,
        "flags": flag_list(values.get(b"FLAGS")),
        "size": size if isinstance(size, int) else 0,
        "internalDate": iso(values.get(b"INTERNALDATE")),
        "envelope": envelope_json(values.get(b"ENVELOPE"), fallback),
    }
