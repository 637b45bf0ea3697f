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
    commands.pop_response_code(session, "APPENDUID")
    try:
        with commands.refusals(target, "Path"):
            reply = session.client.append(target, data, flags=wanted, msg_time=when)
    except (TimeoutError, imaplib.IMAP4.abort, OSError):
        # The message may be stored already: a blind retry would store it twice.
        raise ConnectionFailed(
            "The connection was lost during APPEND: the message may or may not have been stored. "
            "Search the mailbox for its Message-ID before trying again.", retryable=False) from None
    match = re.search(rb"\[APPENDUID (\d+) (\d+)\]", reply or b"")
    if match:
        return {"mailbox": target, "uid": int(match.group(2)), "uidValidity": int(match.group(1))}
    return {"mailbox": target, "uid": None, "uidValidity": None}
