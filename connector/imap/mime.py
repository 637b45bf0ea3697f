"""MIME -> JSON with the standard library's email package (policy.default).

Hostile input must not crash the parse: unknown or broken charsets fall back
to a lossy decode, broken encoded words are kept as they came.
"""
from __future__ import annotations

import base64
import binascii
import email
import email.policy
import re
from datetime import datetime, timedelta, timezone
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

POLICY = email.policy.default


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=POLICY)


def content(data: bytes) -> dict:
    """Bytes for JSON: as text when they are UTF-8, else base64."""
    try:
        return {"encoding": "utf-8", "content": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"encoding": "base64", "content": base64.b64encode(data).decode("ascii")}


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(?==\?)")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def decode_words(value) -> str | None:
    """A header value with RFC 2047 encoded words decoded, whatever their charset.

    A small decoder of our own: email.header costs ~25 us a value, and search
    summaries decode thousands. Unknown charsets and broken words degrade to a
    lossy decode instead of an exception.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if "=?" not in value:
        return value
    # Whitespace between two adjacent encoded words is not part of the text (RFC 2047 6.2).
    value = _BETWEEN_WORDS.sub(r"\1", value)
    return _ENCODED_WORD.sub(_decode_word, value)


def _decode_word(match: re.Match) -> str:
    charset, encoding, text = match.groups()
    charset = charset.split("*", 1)[0]  # RFC 2231 language suffix
    raw = text.encode("ascii", "replace")
    try:
        if encoding in "bB":
            data = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
        else:
            data = _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw.replace(b"_", b" "))
    except (ValueError, binascii.Error):
        return match.group(0)
    return _lossy(data, charset)


def _lossy(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", "replace")
    except (LookupError, ValueError):
        return data.decode("utf-8", "replace")


def raw_header(msg: Message, name: str) -> list[str]:
    """A header's values as they came (encoded words not decoded)."""
    return [str(v) for k, v in msg.raw_items() if k.lower() == name.lower()]


def header(msg: Message, name: str) -> str | None:
    values = raw_header(msg, name)
    return decode_words(" ".join(values[0].split())) if values else None


def addresses(msg: Message, name: str) -> list[dict]:
    # Split first, decode after: a decoded name may contain commas.
    out = []
    for display, address in getaddresses(raw_header(msg, name)):
        if display or address:
            out.append({"name": decode_words(display) or "", "address": address})
    return out


_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug",
                                       "sep", "oct", "nov", "dec"), start=1)}
_RFC2822 = re.compile(r"(?:\w{3}, )?(\d{1,2}) (\w{3}) (\d{4}) (\d\d):(\d\d)(?::(\d\d))? ([+-])(\d\d)(\d\d)")


def header_date(value) -> str | None:
    """An RFC 2822 Date header -> ISO 8601 (None when it cannot be read)."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if not text or not isinstance(text, str):
        return None
    match = _RFC2822.match(text.strip())
    if match:  # the common form, without email.utils' general (slower) parser
        day, month, year, hh, mm, ss, sign, oh, om = match.groups()
        offset = timedelta(hours=int(oh), minutes=int(om))
        try:
            return datetime(int(year), _MONTHS[month.lower()], int(day), int(hh), int(mm),
                            int(ss or 0), tzinfo=timezone(-offset if sign == "-" else offset)
                            ).isoformat()
        except (KeyError, ValueError):
            pass
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed.isoformat() if parsed.tzinfo else None



def part_bytes(part: Message) -> bytes:
    """A leaf part's body, decoded from its transfer encoding."""
    if part.get_content_type() == "message/rfc822" or part.is_multipart():
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else payload
        if isinstance(inner, Message):
            return inner.as_bytes(policy=POLICY.clone(linesep="\r\n"))
    data = part.get_payload(decode=True)
    return data if data is not None else b""


def part_text(part: Message) -> str:
    data = part_bytes(part)
    return _lossy(data, part.get_content_charset() or "utf-8")


def find_part(msg: Message, spec: str) -> Message | None:
    """The part a numeric IMAP part spec (``2``, ``1.2``) names, or None."""
    node = msg
    for depth, token in enumerate(spec.split(".")):
        number = int(token)
        if depth > 0 and node.get_content_type() == "message/rfc822":
            inner = node.get_payload()
            node = inner[0] if isinstance(inner, list) and inner else inner
            if not isinstance(node, Message):
                return None
        if node.is_multipart():
            children = node.get_payload()
            if not 1 <= number <= len(children):
                return None
            node = children[number - 1]
        elif number != 1:
            return None
    return node


def filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        name = None
    return decode_words(name) if name else None


def to_json(msg: Message) -> dict:
    text = html = None
    attachments = []
    for number, part in _leaves(msg):
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        name = filename(part)
        is_body = disposition != "attachment" and name is None
        if is_body and ctype == "text/plain" and text is None:
            text = part_text(part)
            continue
        if is_body and ctype == "text/html" and html is None:
            html = part_text(part)
            continue
        data = part_bytes(part)
        attachments.append({"partId": number, "filename": name, "contentType": ctype,
                            "size": len(data), "contentId": part.get("Content-ID"),
                            "disposition": disposition, "content": content(data)})
    return {
        "subject": header(msg, "Subject"),
        "from": addresses(msg, "From"), "sender": addresses(msg, "Sender"),
        "replyTo": addresses(msg, "Reply-To"), "to": addresses(msg, "To"),
        "cc": addresses(msg, "Cc"), "bcc": addresses(msg, "Bcc"),
        "date": header_date(header(msg, "Date")),
        "messageId": header(msg, "Message-ID"),
        "inReplyTo": header(msg, "In-Reply-To"),
        "references": (header(msg, "References") or "").split(),
        "headers": [{"name": k, "value": decode_words(str(v)) or ""} for k, v in msg.raw_items()],
        "text": text, "html": html, "attachments": attachments,
    }


def _leaves(msg: Message):
    """Parts that carry content: leaves, and message/rfc822 parts as a whole (not descended)."""
    if not msg.is_multipart():
        yield "1", msg
        return
    stack = [(str(i), child) for i, child in enumerate(msg.get_payload(), start=1)]
    stack.reverse()
    while stack:
        number, part = stack.pop()
        if part.get_content_type() == "message/rfc822":
            yield number, part
        elif part.is_multipart():
            children = [(f"{number}.{i}", c) for i, c in enumerate(part.get_payload(), start=1)]
            stack.extend(reversed(children))
        else:
            yield number, part
