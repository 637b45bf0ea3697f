"""addFlags, removeFlags, setFlags: one silent STORE per chunk, then the flags read back."""
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
    if uids:
        commands.store(session, uids, operation, wanted)
    return {"mailbox": mailbox, "uidValidity": selected.uid_validity,
            "messages": read_flags(session, uids)}


def read_flags(session: ImapSession, uids: list[int]) -> list[dict]:
    if not uids:
        return []
    fetched = commands.fetch(session, uids, b"(UID FLAGS)")
    return [{"uid": uid, "flags": flag_list(fetched[uid].get(b"FLAGS", ()))}
            for uid in uids if uid in fetched]


def add_flags(session: ImapSession, mailbox: str, range: str, flags: list) -> dict:  # noqa: A002
    return change_flags(session, mailbox, range, flags, b"+FLAGS")


def remove_flags(session: ImapSession, mailbox: str, range: str, flags: list) -> dict:  # noqa: A002
    return change_flags(session, mailbox, range, flags, b"-FLAGS")


def set_flags(session: ImapSession, mailbox: str, range: str, flags: list) -> dict:  # noqa: A002
    return change_flags(session, mailbox, range, flags, b"FLAGS")
