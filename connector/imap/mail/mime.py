"""MIME -> JSON with the standard library's email package (policy.default).

Hostile input must not crash the parse, and every string that comes out is real
text: raw 8-bit header bytes, encoded words and parameters are decoded by the
rules of ``charsets`` (declared charset, UTF-8, the message's charset, then
windows-1252), addresses by ``addresses`` (RFC 5322, leniently). Where the standard
library is strict and mail clients are not (unquoted parameter values with spaces
or ``=``, such as ``name=This is a test.txt`` or ``boundary=a=b``), we read them as
the clients do.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import re
from collections.abc import Iterator
from email.message import EmailMessage, Message
from typing import Any, overload

from . import addresses as address_parser
from . import charsets, dates


class LenientMessage(EmailMessage):
    """An EmailMessage whose boundary is read like mail clients read it (``boundary=a=b``)."""

    def get_boundary(self, failobj: Any = None) -> Any:
        value = raw_value(self, "Content-Type")
        boundary = _raw_params(value).get("boundary") if value else None
        return boundary.rstrip() if boundary else failobj


POLICY = email.policy.default.clone(message_factory=LenientMessage)
_WIRE_POLICY = POLICY.clone(linesep="\r\n")


_OBSOLETE_FIELD_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.M)


def parse(raw: bytes) -> Message:
    # RFC 5322's obsolete syntax allows blanks before the colon ("Subject  : x"); the
    # email package would take that line for the body and lose every header.
    head_end = raw.find(b"\r\n\r\n")
    head = raw[:head_end] if head_end >= 0 else raw
    if _OBSOLETE_FIELD_NAME.search(head):
        raw = _OBSOLETE_FIELD_NAME.sub(rb"\1:", head) + raw[len(head) :]
    return email.message_from_bytes(raw, policy=POLICY)


def content(data: bytes) -> dict:
    """Bytes for JSON: as text when they are UTF-8, else base64."""
    try:
        return {"encoding": "utf-8", "content": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"encoding": "base64", "content": base64.b64encode(data).decode("ascii")}


_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(?:\r\n[ \t]+)?(<[^<>\s\"]+>)", re.I | re.M)


def message_id(raw: bytes) -> str | None:
    """The Message-ID of a raw message (or its header section), if it has a plain one."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    match = _MESSAGE_ID.search(head)
    return match.group(1).decode("ascii", "replace") if match else None


# --- header text -----------------------------------------------------------------------

_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(rb"(\?=)[ \t\r\n]+(?==\?)")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


@overload
def decode_words(value: None, fallback: str | None = None) -> None: ...
@overload
def decode_words(value: str | bytes, fallback: str | None = None) -> str: ...
def decode_words(value: str | bytes | None, fallback: str | None = None) -> str | None:
    """A header value (bytes, or str as the email package keeps 8-bit bytes) -> text.

    RFC 2047 encoded words are decoded in their charset, even with raw 8-bit bytes
    inside them (``=?iso-8859-1?Q?Fr\xf6sche?=``); the text around them by
    ``charsets.decode`` (UTF-8, then ``fallback``, then windows-1252). A small decoder
    of our own: email.header costs ~25 us a value, and search summaries decode thousands.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value.isascii() and "=?" not in value:
            return value
        try:
            data = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate that stands for no byte
            return charsets.surrogates_to_text(value)
    else:
        if value.isascii() and b"=?" not in value:  # the common case, as cheap as it gets
            return value.decode("ascii")
        data = bytes(value)
    if b"=?" not in data:
        return charsets.decode(data, None, fallback)
    # Whitespace between two adjacent encoded words is not part of the text (RFC 2047 6.2).
    data = _BETWEEN_WORDS.sub(rb"\1", data)
    out, position = [], 0
    for match in _ENCODED_WORD.finditer(data):
        if match.start() > position:
            out.append(charsets.decode(data[position : match.start()], None, fallback))
        out.append(_decode_word(match, fallback))
        position = match.end()
    if position < len(data):
        out.append(charsets.decode(data[position:], None, fallback))
    return "".join(out)


def _decode_word(match: re.Match, fallback: str | None) -> str:
    charset, encoding, text = match.groups()
    try:
        if encoding in b"bB":
            data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
        elif text.endswith(b"=") or b"==" in text:  # where a2b_qp reads "=" otherwise
            data = _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), text.replace(b"_", b" "))
        else:  # (the word holds no whitespace: no soft line breaks for a2b_qp to take)
            data = binascii.a2b_qp(text, header=True)
    except (ValueError, binascii.Error):
        return charsets.decode(match.group(0), None, fallback)
    return charsets.decode(data, charset.decode("ascii", "replace"), fallback)


def raw_header(msg: Message, name: str) -> list[str]:
    """A header's values as they came (encoded words not decoded, 8-bit bytes as escapes)."""
    return [str(v) for k, v in msg.raw_items() if k.lower() == name.lower()]


def raw_value(msg: Message, name: str) -> str | None:
    """The first value of a header as it came, unfolded."""
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            return _unfold(str(value))
    return None


def _unfold(value: str) -> str:
    return value.replace("\r\n", "").replace("\n", "") if "\n" in value else value


def header(msg: Message, name: str, fallback: str | None = None) -> str | None:
    values = raw_header(msg, name)
    return decode_words(" ".join(values[0].split()), fallback) if values else None


def addresses(msg: Message, name: str, fallback: str | None = None) -> list[dict]:
    """Every address of every ``name`` header, parsed by RFC 5322 (see ``addresses``)."""
    out = []
    for value in raw_header(msg, name):
        for display, address in address_parser.parse(
            _unfold(value), lambda text: decode_words(text, fallback)
        ):
            if display or address:
                out.append(
                    {"name": display, "address": charsets.surrogates_to_text(address, fallback)}
                )
    return out


def message_charset(msg: Message) -> str | None:
    """The charset a message declares (its own, or its first text part's): the header fallback."""
    for part in (msg, *(p for p in msg.walk() if p.get_content_maintype() == "text")):
        charset = params(part, "Content-Type").get("charset")
        if charset and charsets.codec(charset) not in (None, "utf_8"):
            return charset
    return None


# --- parameters (Content-Type, Content-Disposition) ---------------------------------------

_PARAM_NAME = re.compile(r"\s*([^\s=;]+)\s*=\s*")
_SECTION_NAME = re.compile(r"(.+?)\*([0-9]+)?(\*)?$")


def _raw_params(value: str) -> dict[str, str]:
    """``type/sub; a=1; b="x y"; c=This is a test.txt`` -> {a: 1, b: x y, c: This is...}.

    Lenient where RFC 2045 is strict, as mail clients are: an unquoted value runs to
    the next ``;`` (spaces and ``=`` included). Names are lower case; RFC 2231 section
    names (``name*0*``) are kept for ``params`` to join.
    """
    out: dict[str, str] = {}
    i = value.find(";")
    end = len(value)
    while 0 <= i < end:
        match = _PARAM_NAME.match(value, i + 1)
        if not match:
            i = value.find(";", i + 1)
            continue
        name, i = match.group(1).lower(), match.end()
        if i < end and value[i] == '"':
            chars = []
            i += 1
            while i < end and value[i] != '"':
                if value[i] == "\\" and i + 1 < end:
                    i += 1
                chars.append(value[i])
                i += 1
            text = "".join(chars)
            i = value.find(";", i)
        else:
            stop = value.find(";", i)
            text = value[i : stop if stop >= 0 else end].strip()
            i = stop
        out.setdefault(name, text)
    return out


def params(part: Message, name: str, fallback: str | None = None) -> dict[str, str]:
    """A header's parameters, decoded: RFC 2231 sections and charsets, encoded words, 8-bit."""
    value = raw_value(part, name)
    if not value:
        return {}
    joined: dict[str, list] = {}
    plain: dict[str, str] = {}
    for key, text in _raw_params(value).items():
        match = _SECTION_NAME.match(key) if "*" in key else None
        if match:
            base, number, encoded = match.groups()
            # "name*=" (no section number) is encoded; "name*0=" is not, "name*0*=" is.
            joined.setdefault(base, []).append(
                (int(number or 0), bool(encoded) or number is None, text)
            )
        else:
            plain[key] = text
    out = {key: decode_words(text, fallback) or "" for key, text in plain.items()}
    for base, sections in joined.items():
        out[base] = _rfc2231(sorted(sections, key=lambda s: s[0]), fallback)
    return out


def _rfc2231(sections: list, fallback: str | None) -> str:
    """RFC 2231 ``name*0*=utf-8''a%20b; name*1*=c`` -> the joined, decoded value."""
    charset = None
    data = bytearray()
    for index, (_number, encoded, text) in enumerate(sections):
        raw = text.encode("utf-8", "surrogateescape")
        if encoded:
            if index == 0 and raw.count(b"'") >= 2:
                charset_bytes, _language, raw = raw.split(b"'", 2)
                charset = charset_bytes.decode("ascii", "replace") or None
            raw = re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)
        data += raw
    return charsets.decode(bytes(data), charset, fallback)


def header_date(value: str | bytes | None) -> str | None:
    """An RFC 2822 Date header (raw or decoded) -> ISO 8601 (None when it cannot be read)."""
    text = decode_words(value) if isinstance(value, bytes) else value
    if not text or not isinstance(text, str):
        return None
    return dates.header_date_iso(text)


def part_bytes(part: Message) -> bytes:
    """A leaf part's body, decoded from its transfer encoding."""
    if part.get_content_type() == "message/rfc822" or part.is_multipart():
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else payload
        if isinstance(inner, Message):
            return inner.as_bytes(policy=_WIRE_POLICY)
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def part_text(part: Message, fallback: str | None = None) -> str:
    """A text part's body as text: its declared charset, else UTF-8, else ``fallback``..."""
    return charsets.decode(part_bytes(part), params(part, "Content-Type").get("charset"), fallback)


def find_part(msg: Message, spec: str) -> Message | None:
    """The part a numeric IMAP part spec (``2``, ``1.2``) names, or None."""
    node: Any = msg  # a Message; get_payload() is typed loosely
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


def filename(part: Message, fallback: str | None = None) -> str | None:
    """Content-Disposition's filename, else Content-Type's name, read leniently."""
    name = params(part, "Content-Disposition", fallback).get("filename") or params(
        part, "Content-Type", fallback
    ).get("name")
    return " ".join(name.split()) if name and name.strip() else None


def disposition(part: Message) -> str | None:
    value = raw_value(part, "Content-Disposition")
    kind = value.split(";", 1)[0].strip().lower() if value else ""
    return kind or None


def to_json(msg: Message) -> dict:
    """A parsed message as JSON.

    Body rule (as mail clients show it): the first text/plain and the first text/html
    part not marked ``attachment`` are ``text`` and ``html``, even when they carry a
    file name; every other leaf is an attachment.
    """
    fallback = message_charset(msg)
    text = html = None
    attachments = []
    for number, part in _leaves(msg):
        ctype = part.get_content_type()
        kind = disposition(part)
        if kind != "attachment":
            if ctype == "text/plain" and text is None:
                text = part_text(part, fallback)
                continue
            if ctype == "text/html" and html is None:
                html = part_text(part, fallback)
                continue
        data = part_bytes(part)
        content_id = raw_value(part, "Content-ID")
        attachments.append(
            {
                "partId": number,
                "filename": filename(part, fallback),
                "contentType": ctype,
                "size": len(data),
                "contentId": decode_words(content_id.strip()) if content_id else None,
                "disposition": kind,
                "content": content(data),
            }
        )
    return {
        "subject": header(msg, "Subject", fallback),
        "from": addresses(msg, "From", fallback),
        "sender": addresses(msg, "Sender", fallback),
        "replyTo": addresses(msg, "Reply-To", fallback),
        "to": addresses(msg, "To", fallback),
        "cc": addresses(msg, "Cc", fallback),
        "bcc": addresses(msg, "Bcc", fallback),
        "date": header_date(header(msg, "Date", fallback)),
        "messageId": header(msg, "Message-ID", fallback),
        "inReplyTo": header(msg, "In-Reply-To", fallback),
        "references": (header(msg, "References", fallback) or "").split(),
        "headers": [
            {"name": decode_words(k) or "", "value": decode_words(str(v), fallback) or ""}
            for k, v in msg.raw_items()
        ],
        "text": text,
        "html": html,
        "attachments": attachments,
    }


def _leaves(msg: Message) -> Iterator[tuple[str, Message]]:
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
