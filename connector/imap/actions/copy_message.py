"""copyMessage: UID COPY, never twice for one message (see ``transfer``)."""

from __future__ import annotations

from ..transfer import transfer
from ..wire import protocol
from ..wire.session import ImapSession


def copy_message(session: ImapSession, mailbox: str, range_: str, path: str) -> dict:
    return transfer(session, mailbox, protocol.parse_uid_set(range_), path, "New Path", move=False)
