"""Mailbox actions: listMailboxes, getStatus, createMailbox, renameMailbox."""

from __future__ import annotations

from connector.sdk.errors import AlreadyExists, InvalidInput, NotFound

from ..mail.flags import canonical_name
from ..wire import commands, protocol
from ..wire.commands import is_already_exists, refusals
from ..wire.errors import refusal
from ..wire.malformed import MalformedReply
from ..wire.session import ImapSession

SPECIAL_USE = {
    f.lower(): f
    for f in (
        "\\All",
        "\\Archive",
        "\\Drafts",
        "\\Flagged",
        "\\Junk",
        "\\Sent",
        "\\Trash",
        "\\Important",
    )
}


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def list_mailboxes(session: ImapSession) -> list[dict]:
    client = session.client
    if session.has("LIST-EXTENDED"):
        # One round trip for mailboxes and subscriptions (RFC 5258).
        options = b"(SUBSCRIBED SPECIAL-USE)" if session.has("SPECIAL-USE") else b"(SUBSCRIBED)"
        data = commands.run(session, b"LIST", [b'""', b'"*"', b"RETURN", options], uid=False)
        folders = client.parse_folder_list(data)
        subscribed = {
            name
            for flags, _, name in folders
            if any(_text(f).lower() == "\\subscribed" for f in flags)
        }
    else:
        folders = client.list_folders()
        subscribed = {name for _, _, name in client.list_sub_folders()}
    result = []
    for raw_flags, delimiter, name in folders:
        flags = [canonical_name(_text(f)) for f in raw_flags if _text(f).lower() != "\\subscribed"]
        special = next((SPECIAL_USE[f.lower()] for f in flags if f.lower() in SPECIAL_USE), None)
        delim = _text(delimiter) if delimiter else None
        path = protocol.decode_mailbox(name)
        result.append(
            {
                "path": path,
                "name": path.rsplit(delim, 1)[-1] if delim else path,
                "delimiter": delim,
                "flags": flags,
                "specialUse": special,
                "subscribed": name in subscribed,
            }
        )
    return result


def get_status(session: ImapSession, mailbox: str) -> dict:
    protocol.check_mailbox(mailbox, "mailbox")
    items = [b"MESSAGES", b"RECENT", b"UNSEEN", b"UIDNEXT", b"UIDVALIDITY"]
    if session.has("CONDSTORE"):
        items.append(b"HIGHESTMODSEQ")
    with refusals(mailbox, "Mailbox", session):
        status = commands.status(session, mailbox, items)
    missing = [i.decode() for i in (b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY") if i not in status]
    if missing:
        raise MalformedReply("STATUS reply", f"{', '.join(missing)} missing")
    modseq = status.get(b"HIGHESTMODSEQ")
    return {
        "path": mailbox,
        "messages": status[b"MESSAGES"],
        "recent": status.get(b"RECENT", 0),
        "unseen": status.get(b"UNSEEN", 0),
        "uidNext": status[b"UIDNEXT"],
        "uidValidity": status[b"UIDVALIDITY"],
        "highestModseq": str(modseq) if modseq is not None else None,
    }


def create_mailbox(session: ImapSession, path: str) -> dict:
    protocol.check_mailbox(path, "path")
    with refusal() as refused:
        session.client.create_folder(path)
    if refused.error is not None:
        # An existing mailbox is what the user wanted: not an error. Servers without
        # [ALREADYEXISTS] (Courier: "Cannot create this folder.") are asked by LIST.
        if not (is_already_exists(refused.error) or commands.mailbox_exists(session, path)):
            raise commands.mailbox_error(refused.error, path, "Path")
    with refusal() as unsubscribable:
        session.client.subscribe_folder(path)
    return {
        "path": path,
        "created": refused.error is None,
        "subscribed": unsubscribable.error is None,
    }


def rename_mailbox(session: ImapSession, path: str, new_path: str) -> dict:
    protocol.check_mailbox(path, "path")
    protocol.check_mailbox(new_path, "newPath")
    if path.upper() == "INBOX":  # INBOX is case-insensitive (RFC 3501 5.1)
        # Legal IMAP (RFC 3501 6.3.5), but it empties INBOX rather than renaming it.
        raise InvalidInput(
            "INBOX cannot be renamed: renaming it moves all its messages into a new mailbox "
            "and leaves INBOX empty. To move the messages, use Move Message (Range 1:*) into "
            "an existing mailbox; to keep them in both, Create Mailbox and Copy Message.",
            path="inputs.path",
        )
    if path == new_path:
        raise InvalidInput(
            "Path and New Path are the same: give the new name in New Path.", path="inputs.newPath"
        )
    # Listed first: Courier answers OK to renaming a mailbox that does not exist.
    if not commands.mailbox_exists(session, path):
        moved = (
            f" A mailbox named {new_path!r} exists: an earlier attempt may have renamed it already."
            if commands.mailbox_exists(session, new_path)
            else ""
        )
        raise NotFound(
            f"The mailbox {path!r} does not exist: check Path (List Mailboxes "
            f"shows the existing paths).{moved}"
        )
    commands.leave_mailbox(session)
    with refusal() as refused:
        session.client.rename_folder(path, new_path)
    if refused.error is not None:
        # Decided by listing, not by the server's words (Courier: "File exists").
        if is_already_exists(refused.error) or commands.mailbox_exists(session, new_path):
            raise AlreadyExists(
                f"A mailbox named {new_path!r} already exists: choose another New Path."
            )
        raise commands.mailbox_error(refused.error, path, "Path", session)
    return {"path": path, "newPath": new_path}


def delete_mailbox(session: ImapSession, path: str) -> dict:
    protocol.check_mailbox(path, "path")
    if path.upper() == "INBOX":
        raise InvalidInput("INBOX cannot be deleted: give another Path.", path="inputs.path")
    commands.leave_mailbox(session)
    with refusals(path, "Path", session):
        session.client.delete_folder(path)
    with refusal():  # a subscription to a deleted mailbox is only clutter in mail clients
        session.client.unsubscribe_folder(path)
    return {"path": path, "deleted": True}


def find_special_use(session: ImapSession, role: str) -> str | None:
    """The path of the mailbox the server marks with ``role`` (\\Trash...), if any."""
    for mailbox in list_mailboxes(session):
        if mailbox["specialUse"] == role:
            return mailbox["path"]
    return None


def mailbox_picklist(session: ImapSession) -> list[dict]:
    """The listMailboxes data source: a picklist for the mailbox inputs."""
    return [{"key": m["path"], "label": m["path"]} for m in list_mailboxes(session)]
