"""downloadMessage: one message (parsed or raw) or one body part; never sets \\Seen."""

from __future__ import annotations

from connector.sdk.errors import NotFound

from ..mail import budget, mime
from ..mail.dates import iso
from ..mail.envelope import flag_list
from ..wire import commands, protocol
from ..wire.session import ImapSession

SECTION_TYPES = {
    "HEADER": "text/rfc822-headers",
    "MIME": "text/rfc822-headers",
    "TEXT": "text/plain",
}


def download_message(
    session: ImapSession,
    mailbox: str,
    message_index: int,
    by: str,
    part: str | None,
    format_: str,
    attachments: str = budget.INLINE,
    max_inline_bytes: int | None = None,
) -> dict:
    part = protocol.body_section(part)
    # Numeric parts are cut from the whole message here, so their transfer encoding
    # and type are known; HEADER/TEXT sections are asked of the server as they are.
    section = part if part and not protocol.NUMERIC_PART.fullmatch(part) else ""
    items = b"(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[%s])" % section.encode("ascii")
    # By UID, EXAMINE travels with the FETCH (one flight); by index its count comes first.
    ahead = commands.examine_ahead(session, mailbox) if by != "index" else None
    uid: int | None
    if ahead is not None:
        with ahead.carried():
            values = commands.fetch(session, [message_index], items).get(message_index)
        selected, uid = ahead.selected, message_index
    elif by == "index":
        selected = commands.select(session, mailbox, readonly=True)
        if message_index > selected.exists:
            raise NotFound(
                f"{mailbox!r} has {selected.exists} message(s); there is no message "
                f"number {message_index}: check Message Index or ID."
            )
        data = commands.read_fetch(session, [b"%d" % message_index, items], uid=False)
        # That number's response: not an update about another message the server sent too.
        values = next(
            (v for v in commands.parse_fetch(data).values() if v.get(b"SEQ") == message_index),
            None,
        )
        uid = int(values[b"UID"]) if values and b"UID" in values else None
    else:
        selected = commands.select(session, mailbox, readonly=True)
        values = commands.fetch(session, [message_index], items).get(message_index)
        uid = message_index
    if not values or uid is None:
        raise NotFound(
            f"No message with UID {message_index} in {mailbox!r}: check Message Index "
            "or ID (Search / List Mailbox Messages shows the UIDs)."
        )
    body = values.get(b"BODY[%s]" % section.encode("ascii")) or b""
    out = {
        "mailbox": mailbox,
        "uid": uid,
        "uidValidity": selected.uid_validity,
        "size": int(values.get(b"RFC822.SIZE") or 0),
        "flags": flag_list(values.get(b"FLAGS")),
        "internalDate": iso(values.get(b"INTERNALDATE")),
    }
    if section:
        out["part"] = {
            "partId": part,
            "contentType": SECTION_TYPES[section.rsplit(".", 1)[-1]],
            "filename": None,
            "size": len(body),
            "content": mime.content(body),
        }
    elif part:
        out["part"] = numbered_part(body, part)
    elif format_ == "raw":
        out["raw"] = mime.content(body)
    else:
        out["message"] = budget.apply(
            mime.to_json(mime.parse(body)),
            where={"mailbox": mailbox, "uidValidity": selected.uid_validity, "uid": uid},
            budget=max_inline_bytes,
            attachments=attachments,
        )
    return out


def numbered_part(raw: bytes, part: str) -> dict:
    found = mime.find_part(mime.parse(raw), part)
    if found is None:
        raise NotFound(f"The message has no body part {part}: check Part (1 is the first part).")
    data = mime.part_bytes(found)
    return {
        "partId": part,
        "contentType": found.get_content_type(),
        "filename": mime.filename(found),
        "size": len(data),
        "content": mime.content(data),
    }
