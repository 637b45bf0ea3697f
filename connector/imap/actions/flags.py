"""addFlags, removeFlags, setFlags: one STORE per chunk, whose replies carry the new flags."""
from __future__ import annotations

from .. import commands, protocol
from ..envelope import flag_list
from ..session import ImapSession


def change_flags(session: ImapSession, mailbox: str, range: str, flags: list,  # noqa: A002
                 operation: bytes) -> dict:
    # Everything is checked before the first command that changes anything.
    wanted = protocol.normalize_flags(flags)
    uid_set = protocol.parse_uid_set(range)
    selected = commands.select(session, mailbox, readonly=False)
    uids = commands.resolve(session, uid_set)
    after = commands.store_and_read(session, uids, operation, wanted) if uids else {}
    return {"mailbox": mailbox, "uidValidity": selected.uid_validity,
            "messages": [{"uid": uid, "flags": flag_list(after[uid])}
                         for uid in uids if uid in after]}


def add_flags(session: ImapSession, mailbox: str, range: str, flags: list) -> dict:  # noqa: A002
    return change_flags(session, mailbox, range, flags, b"+FLAGS")


def remove_flags(session: ImapSession, mailbox: str, range: str, flags: list) -> dict:  # noqa: A002
    return change_flags(session, mailbox, range, flags, b"-FLAGS")


def set_flags(session: ImapSession, mailbox: str, range: str, flags: list) -> dict:  # noqa: A002
    return change_flags(session, mailbox, range, flags, b"FLAGS")
