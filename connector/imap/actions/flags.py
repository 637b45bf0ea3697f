"""addFlags, removeFlags, setFlags: one STORE per chunk, whose replies carry the new flags."""

from __future__ import annotations

from connector.sdk.errors import Unsupported

from ..mail.envelope import flag_list
from ..wire import commands, protocol
from ..wire.errors import refusal, server_text
from ..wire.session import ImapSession


def change_flags(
    session: ImapSession,
    mailbox: str,
    range_: str,
    flags: list,
    operation: bytes,
    uid_validity: int | None = None,
) -> dict:
    # Everything is checked before the first command that changes anything.
    wanted = protocol.normalize_flags(flags)
    uid_set = protocol.parse_uid_set(range_)
    selected = commands.select(session, mailbox, readonly=False, uid_validity=uid_validity)
    keywords = [f for f in wanted if not f.startswith("\\")]
    if operation != b"-FLAGS":
        refused = unstorable(keywords, selected.permanent_flags)
        if refused:
            said = (
                f"{mailbox!r} cannot keep the keyword(s) {', '.join(refused)}: the "
                "server stores only system flags (\\Seen, \\Flagged...) and the "
                "keywords it lists. Nothing was changed."
            )
            raise Unsupported(said, details=[{"path": "inputs.flags", "message": said}])
    uids = commands.resolve(session, uid_set)
    after: dict = {}
    with refusal() as store:
        after = commands.store_and_read(session, uids, operation, wanted) if uids else {}
    if store.error is not None:
        if keywords and "FLAG" in str(store.error).upper():  # "BAD Unrecognized flag"
            said = (
                f"The server refused the keyword(s) {', '.join(keywords)} "
                f"({server_text(store.error)})."
            )
            raise Unsupported(said, details=[{"path": "inputs.flags", "message": said}])
        raise store.error
    return {
        "mailbox": mailbox,
        "uidValidity": selected.uid_validity,
        "messages": [{"uid": uid, "flags": flag_list(after[uid])} for uid in uids if uid in after],
    }


def unstorable(keywords: list[str], permanent: tuple[str, ...] | None) -> list[str]:
    """The keywords a mailbox's PERMANENTFLAGS say it cannot keep (none without \\*)."""
    if permanent is None or "\\*" in permanent:
        return []
    allowed = {f.lower() for f in permanent}
    return [k for k in keywords if k.lower() not in allowed]


def add_flags(
    session: ImapSession,
    mailbox: str,
    range_: str,
    flags: list,
    uid_validity: int | None = None,
) -> dict:
    return change_flags(session, mailbox, range_, flags, b"+FLAGS", uid_validity)


def remove_flags(
    session: ImapSession,
    mailbox: str,
    range_: str,
    flags: list,
    uid_validity: int | None = None,
) -> dict:
    return change_flags(session, mailbox, range_, flags, b"-FLAGS", uid_validity)


def set_flags(
    session: ImapSession,
    mailbox: str,
    range_: str,
    flags: list,
    uid_validity: int | None = None,
) -> dict:
    return change_flags(session, mailbox, range_, flags, b"FLAGS", uid_validity)
