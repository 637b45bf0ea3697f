"""MIME -> JSON with the standard library's email package (policy.default).

Hostile input must not crash the parse: unknown or broken charsets fall back
to a lossy decode, broken encoded words are kept as they came.
"""
from __future__ import annotations

import base64
import email
import email.policy
from email.header import decode_header, make_header
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


def decode_words(value) -> str | None:
    """A header value with RFC 2047 encoded words decoded, whatever their charset."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    value = str(value)
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError, AssertionError):
        out = []
        for chunk, charset in decode_header(value):
            if isinstance(chunk, bytes):
                out.append(_lossy(chunk, charset))
            else:
                out.append(chunk)
        return "".join(out)


def _lossy(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", "replace")
    except LookupError:
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


def iso_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
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
        "date": iso_date(header(msg, "Date")),
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
