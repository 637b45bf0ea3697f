"""FETCH results (ENVELOPE, FLAGS, INTERNALDATE...) -> the JSON of a message summary.

Works on what ``fetch_response.parse`` returns: ENVELOPE as the list RFC 3501
defines (date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to,
message-id), each address as (name, adl, mailbox, host).
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from . import charsets
from .fetch_response import internal_date_iso
from .mime import decode_words, header_date


def _text(value) -> str | None:
    """A server string (8-bit bytes included) as text, by the rules of ``charsets``."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("ascii") if value.isascii() else charsets.decode(value)
    return charsets.surrogates_to_text(str(value))


def address_list(addresses) -> list[dict]:
    if not isinstance(addresses, (list, tuple)):
        return []
    key = addresses if isinstance(addresses, tuple) else _frozen(addresses)
    # Fresh dicts each time (callers may change what they get) from cached decoded pairs.
    return [{"name": name, "address": address} for name, address in _address_list(key)]


def _frozen(value):
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


@lru_cache(maxsize=4096)
def _address_list(addresses: tuple) -> tuple:
    out = []
    for address in addresses:
        if not isinstance(address, tuple) or len(address) < 4:
            continue
        name, _adl, mailbox, host = address[:4]
        if host is None:  # the start or end of an RFC 2822 group
            continue
        mailbox, host = _text(mailbox) or "", _text(host) or ""
        out.append((" ".join((decode_words(name) or "").split()) if isinstance(name, bytes)
                    else decode_words(_text(name)) or "",
                    f"{mailbox}@{host}" if host else mailbox))
    return tuple(out)


def iso(value) -> str | None:
    """An INTERNALDATE (bytes as FETCH gave it, or a datetime) as ISO 8601."""
    if isinstance(value, bytes):
        return internal_date_iso(value)
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.astimezone()
    return value.isoformat()


EMPTY_ENVELOPE = {"date": None, "subject": None, "from": [], "sender": [], "replyTo": [], "to": [],
                  "cc": [], "bcc": [], "inReplyTo": None, "messageId": None}


def envelope_json(env) -> dict:
    if not isinstance(env, list) or len(env) < 10:
        return dict(EMPTY_ENVELOPE)
    date, subject, from_, sender, reply_to, to, cc, bcc, in_reply_to, message_id = env[:10]
    return {"date": header_date(date),
            "subject": decode_words(subject if isinstance(subject, bytes) else _text(subject)),
            "from": address_list(from_), "sender": address_list(sender),
            "replyTo": address_list(reply_to), "to": address_list(to),
            "cc": address_list(cc), "bcc": address_list(bcc),
            "inReplyTo": _text(in_reply_to), "messageId": _text(message_id)}


def flag_list(raw) -> list[str]:
    """Flags as strings, without \\Recent (a per-session flag nobody can set)."""
    if not isinstance(raw, (tuple, list)):
        return []
    return list(_flags(tuple(f for f in raw if isinstance(f, (bytes, str)))))


@lru_cache(maxsize=1024)
def _flags(raw: tuple) -> tuple[str, ...]:
    # A mailbox has few distinct flag sets: decode each once.
    return tuple(text for text in map(_text, raw) if text.lower() != "\\recent")


def summary(uid: int, values: dict) -> dict:
    size = values.get(b"RFC822.SIZE")
    return {"uid": uid, "flags": flag_list(values.get(b"FLAGS")),
            "size": size if isinstance(size, int) else 0,
            "internalDate": iso(values.get(b"INTERNALDATE")),
            "envelope": envelope_json(values.get(b"ENVELOPE"))}
