"""moveMessage: MOVE when the server has it; else COPY, then expunge exactly those UIDs.

Both are safe to repeat after a lost reply (see ``transfer``).
"""

from __future__ import annotations

from connector.sdk.errors import InvalidInput, NotFound, Unsupported

from ..transfer import transfer
from ..wire import protocol
from ..wire.session import ImapSession
from .mailboxes import find_special_use


def move_message(
    session: ImapSession,
    mailbox: str,
    range_: str,
    path: str | None,
    special_use: str | None,
    uid_validity: int | None = None,
) -> dict:
    uid_set = protocol.parse_uid_set(range_)
    if path and special_use:
        raise InvalidInput("Give either Path or Special Use, not both.", path="inputs.specialUse")
    if not session.has("MOVE") and not session.has("UIDPLUS"):
        raise Unsupported(
            "The server has neither MOVE nor UIDPLUS, so moving would expunge other "
            "messages marked \\Deleted. Nothing was changed."
        )
    if special_use:
        path = find_special_use(session, special_use)
        if path is None:
            raise NotFound(f"No mailbox on this server is marked {special_use}: give Path instead.")
    elif not path:
        raise InvalidInput(
            "Path is required (or Special Use): the mailbox to move to.", path="inputs.path"
        )
    return transfer(session, mailbox, uid_set, path, "Path", move=True, uid_validity=uid_validity)
