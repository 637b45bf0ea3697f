"""copyMessage: UID COPY, with the COPYUID map when the server has UIDPLUS."""
from __future__ import annotations

from .. import commands, protocol
from ..session import ImapSession


def copy_message(session: ImapSession, mailbox: str, range: str, path: str) -> dict:  # noqa: A002
    uid_set = protocol.parse_uid_set(range)
    destination = protocol.mailbox_arg(protocol.check_mailbox(path, "path"))
    commands.select(session, mailbox, readonly=True)  # COPY is allowed from EXAMINE
    uids = commands.resolve(session, uid_set)
    uid_map, uid_validity = commands.copy_or_move(session, b"COPY", uids, destination, path,
                                                    "New Path")
    return {"mailbox": mailbox, "destination": path, "uidValidity": uid_validity,
            "uidMap": uid_map}
