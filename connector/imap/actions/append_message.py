"""appendMessage: store a raw RFC 822 message, once."""

from __future__ import annotations

import base64
import binascii
import imaplib
import re
from datetime import datetime

from connector.sdk.errors import ConnectionFailed, InvalidInput

from ..mail import mime
from ..wire import commands, protocol
from ..wire.session import ImapSession

_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_BARE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")
# An mbox separator ("From alice@example.com Wed May  1 09:29:41 2024"), as .eml exports
# and mbox files carry before the first header.
_MBOX_FROM = re.compile(rb"From [^ \t\r\n:]+[ \t][^\r\n]*\r\n")  # not "From  : x" (obsolete header)


def message_bytes(content: str, encoding: str) -> tuple[bytes, bool]:
    """The message to store, and whether a leading mbox ``From`` line was removed.

    Bare LF and bare CR line ends become CRLF (RFC 5322 has no other; servers convert
    them anyway, and a retry must compare what the server keeps).
    """
    if encoding == "base64":
        try:
            data = base64.b64decode(content.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            raise InvalidInput(
                "Message Content is not valid base64: give the base64 text, or set "
                "Content Encoding to utf-8.",
                path="inputs.content",
            ) from None
    else:
        data = content.encode("utf-8")
    data = _BARE_LINE_END.sub(b"\r\n", data)
    separator = _MBOX_FROM.match(data)
    if separator:
        data = data[separator.end() :]
    if not _HEADER_LINE.match(data):
        raise InvalidInput(
            "Message Content must be a whole RFC 822 message: header lines such as "
            "'Subject: Hello', a blank line, then the body.",
            path="inputs.content",
        )
    return data, separator is not None


def append_message(
    session: ImapSession,
    path: str,
    content: str,
    content_encoding: str,
    flags: list,
    internal_date: str | None,
) -> dict:
    protocol.check_mailbox(path, "path")
    data, removed_separator = message_bytes(content, content_encoding)
    wanted = protocol.normalize_flags(flags or [])
    when = None
    if internal_date:
        try:
            when = datetime.fromisoformat(internal_date.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is None or when.tzinfo is None:
            raise InvalidInput(
                "Internal Date must be an ISO 8601 date and time with an offset, "
                "such as 2024-05-01T09:30:00+02:00.",
                path="inputs.internalDate",
            )
    if b"\0" in data and not session.has("BINARY"):
        raise InvalidInput(
            "The message contains NUL bytes, which only servers with BINARY "
            "(RFC 3516) can store, and this server lacks it: remove the NUL bytes.",
            path="inputs.content",
        )
    message_id = mime.message_id(data)
    result = {
        "mailbox": path,
        "uid": None,
        "uidValidity": None,
        "alreadyPresent": False,
        "mboxSeparatorRemoved": removed_separator,
    }
    if message_id:
        # A retried step (the reply to an earlier APPEND was lost) must not store it twice;
        # another message that merely shares the Message-ID must still be stored.
        selected = commands.select(session, path, readonly=True)
        present = find_identical(session, data, message_id)
        if present is not None:
            return {
                **result,
                "uid": present,
                "uidValidity": selected.uid_validity,
                "alreadyPresent": True,
            }
        commands.leave_read_only(session, path)  # Courier refuses APPEND to it otherwise
    try:
        with commands.refusals(path, "Path", session):
            uid_validity, uid = commands.append(session, path, data, wanted, when)
    except (TimeoutError, imaplib.IMAP4.abort, OSError):
        # The message may be stored already. With a Message-ID, a retry finds it (above);
        # without one, a blind retry would store it twice.
        raise ConnectionFailed(
            "The connection was lost during APPEND: the message may or may not have been stored."
            + (
                " Trying again is safe: a stored copy is found by its Message-ID."
                if message_id
                else " It has no Message-ID: check the mailbox before trying again."
            ),
            retryable=bool(message_id),
        ) from None
    return {**result, "uid": uid, "uidValidity": uid_validity}


def find_identical(session: ImapSession, data: bytes, message_id: str) -> int | None:
    """The UID of a message in the selected mailbox with exactly these bytes, if any.

    Candidates share the Message-ID (one SEARCH); only those of the same size are
    fetched and compared. A NUL byte cannot travel in an IMAP literal, and servers
    store it as something else (Dovecot: 0x80), so NUL matches that byte.
    """
    criteria = [b"HEADER", b'"Message-ID"', protocol.search_string(message_id, "content")[0]]
    candidates = commands.uid_search(session, criteria)
    if not candidates:
        return None
    sizes = commands.fetch(session, candidates, b"(UID RFC822.SIZE)")
    same_size = [uid for uid in candidates if sizes.get(uid, {}).get(b"RFC822.SIZE") == len(data)]
    if not same_size:
        return None
    wanted = data.replace(b"\0", b"\x80")
    bodies = commands.fetch(session, same_size, b"(UID BODY.PEEK[])")
    for uid in same_size:
        stored = bodies.get(uid, {}).get(b"BODY[]")
        if stored is not None and bytes(stored).replace(b"\0", b"\x80") == wanted:
            return uid
    return None
