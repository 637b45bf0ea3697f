"""moveMessage: MOVE when the server has it; else COPY, then expunge exactly those UIDs."""
from __future__ import annotations

from connector.sdk.errors import InvalidInput, NotFound, Unsupported

from .. import commands, protocol
from ..session import ImapSession
from .mailboxes import find_special_use


def move_message(session: ImapSession, mailbox: str, range: str, path: str | None,  # noqa: A002
                 specialUse: str | None) -> dict:  # noqa: N803
    uid_set = protocol.parse_uid_set(range)
    if path and specialUse:
        raise InvalidInput("Give either Path or Special Use, not both.", path="inputs.specialUse")
    if not session.has("MOVE") and not session.has("UIDPLUS"):
        raise Unsupported("The server has neither MOVE nor UIDPLUS, so moving would expunge other "
                          "messages marked \\Deleted. Nothing was changed.")
    if specialUse:
        path = find_special_use(session, specialUse)
        if path is None:
            raise NotFound(f"No mailbox on this server is marked {specialUse}: give Path instead.")
    elif not path:
        raise InvalidInput("Path is required (or Special Use): the mailbox to move to.",
                           path="inputs.path")
    destination = protocol.mailbox_arg(protocol.check_mailbox(path, "path"))
    commands.select(session, mailbox, readonly=False)
    uids = commands.resolve(session, uid_set)
    command = b"MOVE" if session.has("MOVE") else b"COPY"
    uid_map, uid_validity = commands.copy_or_move(session, command, uids, destination, path, "Path")
    if command == b"COPY" and uids:
        # UIDPLUS: UID EXPUNGE removes exactly these, never another \Deleted message.
        commands.store(session, uids, b"+FLAGS", ["\\Deleted"])
        for chunk in protocol.uid_sets(uids):
            commands.run(session, b"EXPUNGE", [chunk])
    return {"mailbox": mailbox, "destination": path, "uidValidity": uid_validity,
            "uidMap": uid_map}
