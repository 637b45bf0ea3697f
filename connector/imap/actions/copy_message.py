"""copyMessage: UID COPY, never twice for one message (see ``transfer``)."""

from __future__ import annotations

from .. import protocol
from ..session import ImapSession
from ..transfer import transfer


def copy_message(session: ImapSession, mailbox: str, range_: str, path: str) -> dict:
    return transfer(session, mailbox, protocol.parse_uid_set(range_), path, "New Path", move=False)
