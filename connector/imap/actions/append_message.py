"""appendMessage: store a raw RFC 822 message, once."""
from __future__ import annotations

import base64
import binascii
import imaplib
import re
from datetime import datetime

from connector.sdk.errors import ConnectionFailed, InvalidInput

from .. import commands, protocol
from ..session import ImapSession

_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_BARE_LF = re.compile(rb"(?<!\r)\n")


def message_bytes(content: str, encoding: str) -> bytes:
    if encoding == "base64":
        try:
            data = base64.b64decode(content.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise InvalidInput("Message Content is not valid base64: give the base64 text, or set "
                               "Content Encoding to utf-8.", path="inputs.content") from None
    else:
        data = content.encode("utf-8")
    data = _BARE_LF.sub(b"\r\n", data)
    if not _HEADER_LINE.match(data):
        raise InvalidInput("Message Content must be a whole RFC 822 message: header lines such as "
                           "'Subject: Hello', a blank line, then the body.", path="inputs.content")
    return data


def append_message(session: ImapSession, path: str | None, mailbox: str | None, content: str,
                   contentEncoding: str, flags: list, internalDate: str | None) -> dict:  # noqa: N803
    target = path or mailbox
    if not target:
        raise InvalidInput("Path is required: the mailbox to store the message in.",
                           path="inputs.path")
    if path and mailbox and path != mailbox:
        raise InvalidInput(f"Path ({path!r}) and Mailbox ({mailbox!r}) name different mailboxes: "
                           "give only Path.", path="inputs.mailbox")
    protocol.check_mailbox(target, "path" if path else "mailbox")
    data = message_bytes(content, contentEncoding)
    wanted = protocol.normalize_flags(flags or [])
    when = None
    if internalDate:
        try:
            when = datetime.fromisoformat(internalDate.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            raise InvalidInput("Internal Date must be an ISO 8601 date and time with an offset, "
                               "such as 2024-05-01T09:30:00+02:00.",
                               path="inputs.internalDate")
    message_id = find_message_id(data)
    if message_id:
        # A retried step (the reply to an earlier APPEND was lost) must not store it twice.
        selected = commands.select(session, target, readonly=True)
        criteria = [b"HEADER", b'"Message-ID"', protocol.search_string(message_id, "content")[0]]
        present = commands.uid_search(session, criteria)
        if present:
            return {"mailbox": target, "uid": present[-1], "uidValidity": selected.uid_validity,
                    "alreadyPresent": True}
    commands.pop_response_code(session, "APPENDUID")
    try:
        with commands.refusals(target, "Path"):
            reply = session.client.append(target, data, flags=wanted, msg_time=when)
    except (TimeoutError, imaplib.IMAP4.abort, OSError):
        # The message may be stored already. With a Message-ID, a retry finds it (above);
        # without one, a blind retry would store it twice.
        raise ConnectionFailed(
            "The connection was lost during APPEND: the message may or may not have been stored."
            + (" Trying again is safe: a stored copy is found by its Message-ID." if message_id
               else " It has no Message-ID: check the mailbox before trying again."),
            retryable=bool(message_id)) from None
    match = re.search(rb"\[APPENDUID (\d+) (\d+)\]", reply or b"")
    if match:
        return {"mailbox": target, "uid": int(match.group(2)), "uidValidity": int(match.group(1)),
                "alreadyPresent": False}
    return {"mailbox": target, "uid": None, "uidValidity": None, "alreadyPresent": False}


_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(?:\r\n[ \t]+)?(<[^<>\s\"]+>)", re.I | re.M)


def find_message_id(data: bytes) -> str | None:
    """The Message-ID of a raw message (header section only), if it has a plain one."""
    head = data.split(b"\r\n\r\n", 1)[0]
    match = _MESSAGE_ID.search(head)
    return match.group(1).decode("ascii", "replace") if match else None
