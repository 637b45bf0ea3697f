"""FETCH results (ENVELOPE, FLAGS, INTERNALDATE...) -> the JSON of a message summary."""
from __future__ import annotations

from datetime import datetime

from .mime import decode_words

def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

def address_list(addresses) -> list[dict]:
    out = []
    for address in addresses or ():
        if address.host is None:  # the start or end of an RFC 2822 group
            continue
        mailbox, host = _text(address.mailbox) or "", _text(address.host) or ""
        out.append({"name": decode_words(_text(address.name)) or "",
                    "address": f"{mailbox}@{host}" if host else mailbox})
    return out

def iso(value) -> str | None:
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.astimezone()
    return value.isoformat()

def envelope_json(env) -> dict:
    if env is None:
        return {"date": None, "subject": None, "from": [], "sender": [], "replyTo": [], "to": [],
                "cc": [], "bcc": [], "inReplyTo": None, "messageId": None}
    return {"date": iso(env.date), "subject": decode_words(_text(env.subject)),
            "from": address_list(env.from_), "sender": address_list(env.sender),
            "replyTo": address_list(env.reply_to), "to": address_list(env.to),
            "cc": address_list(env.cc), "bcc": address_list(env.bcc),
            "inReplyTo": _text(env.in_reply_to), "messageId": _text(env.message_id)}

def flag_list(raw) -> list[str]:
    """Flags as strings, without \\Recent (a per-session flag nobody can set)."""
    out = []
    for flag in raw or ():
        text = _text(flag)
        if text.lower() != "\\recent":
            out.append(text)
    return out

def summary(uid: int, values: dict) -> dict:
    return {"uid": uid, "flags": flag_list(values.get(b"FLAGS")),
            "size": int(values.get(b"RFC822.SIZE") or 0),
            "internalDate": iso(values.get(b"INTERNALDATE")),
            "envelope": envelope_json(values.get(b"ENVELOPE"))}
