"""deleteMessage: expunge exactly one message, never another."""

from __future__ import annotations

from connector.sdk.errors import NotFound, Unsupported

from ..wire import commands
from ..wire.session import ImapSession


def delete_message(
    session: ImapSession, mailbox: str, message_index: int, uid_validity: int | None = None
) -> dict:
    uid = message_index
    commands.select(session, mailbox, readonly=False, uid_validity=uid_validity)
    if commands.uid_search(session, [b"UID", b"%d" % uid]) != [uid]:
        raise NotFound(
            f"No message with UID {uid} in {mailbox!r}: check Message UID "
            "(Search / List Mailbox Messages shows the UIDs)."
        )
    if session.has("UIDPLUS"):
        commands.store(session, [uid], b"+FLAGS", ["\\Deleted"])
        commands.run(session, b"EXPUNGE", [b"%d" % uid])
    else:
        # A plain EXPUNGE removes every \Deleted message: only safe when ours is the only one.
        others = [u for u in commands.uid_search(session, [b"DELETED"]) if u != uid]
        if others:
            raise Unsupported(
                f"The server lacks UIDPLUS, so deleting one message would also expunge "
                f"{len(others)} other message(s) marked \\Deleted in {mailbox!r}. Nothing was "
                "changed."
            )
        commands.store(session, [uid], b"+FLAGS", ["\\Deleted"])
        session.client.expunge()
    return {"mailbox": mailbox, "uid": uid, "deleted": True}
