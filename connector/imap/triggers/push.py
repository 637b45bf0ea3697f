"""The new-email trigger's push: IDLE (RFC 2177) until the server reports new mail.

It only says *when* to poll; the poll decides what is new. So a dropped IDLE, a server that
lies, or one without IDLE costs latency, never mail nor duplicates. One connection watches
every mailbox of the trigger where the server has NOTIFY (RFC 5465: Dovecot); elsewhere it
IDLEs on the first mailbox, and the others wait for the next poll.
"""

from __future__ import annotations

import imaplib
import time
from collections.abc import Callable
from typing import Any

from ..actions.mailboxes import list_mailboxes
from ..wire import commands, protocol
from ..wire.session import ImapSession
from .new_emails import _mailboxes, checked_state

# Servers and NATs drop a silent connection after 30 minutes or sooner (RFC 2177 asks
# clients to re-issue IDLE at least every 29): never longer than this in one IDLE.
LONGEST_IDLE = 25 * 60
# What the server sends about new mail in the selected mailbox.
NEW_MAIL = (b"EXISTS", b"RECENT")


def wait_for_mail(session: ImapSession, inputs: dict, timeout: float) -> str:
    """ "change" once a watched mailbox reports new mail, "timeout" after ``timeout``
    seconds (at most 25 minutes), "unsupported" without IDLE. A line that dies raises.

    ``inputs["state"]`` is what the last poll returned: mail that came between that poll
    and this IDLE is seen at once (the mailbox's UIDNEXT is past the poll's cursor)."""
    if not session.has("IDLE"):
        return "unsupported"
    names = _mailboxes(inputs.get("mailbox") or "INBOX", inputs.get("mailboxes"))
    if inputs.get("subscribed"):
        known = {m["path"] for m in list_mailboxes(session) if m["subscribed"]}
        names += sorted(known - set(names))
    cursors = checked_state(inputs.get("state") or {}, names[0])
    if len(names) > 1 and session.has("NOTIFY"):
        try:
            return _notified(session, names, cursors, timeout)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error:  # NOTIFY refused (too many mailboxes...): IDLE below
            pass
    selected = commands.select(session, names[0], readonly=True)
    if moved_since(session, selected, cursors.get(names[0])):
        return "change"
    return _idle(session, timeout, lambda said: len(said) > 1 and said[1] in NEW_MAIL)


def _notified(session: ImapSession, names: list[str], cursors: dict, timeout: float) -> str:
    """Every mailbox on one connection: NOTIFY SET for new mail in them, then IDLE; the
    server reports each change as a STATUS response naming the mailbox."""
    for name in names:
        status = session.client.folder_status(name, [b"UIDNEXT", b"UIDVALIDITY"])
        if _past(cursors.get(name), status.get(b"UIDVALIDITY"), status.get(b"UIDNEXT")):
            return "change"
    watched = {protocol.encode_mailbox(name) for name in names}
    # RFC 5465: MessageNew goes with MessageExpunge (an expunge wakes a poll that finds
    # nothing new: harmless).
    commands.run(
        session,
        b"NOTIFY",
        [
            *(b"SET", b"(", b"MAILBOXES", b"("),
            *(protocol.mailbox_arg(name) for name in names),
            *(b")", b"(", b"MessageNew", b"MessageExpunge", b")", b")"),
        ],
        uid=False,
    )

    def new_mail(said: tuple) -> bool:
        if len(said) > 2 and said[0] == b"STATUS":
            name = said[1]
            return (name if isinstance(name, bytes) else str(name).encode()) in watched
        return False

    return _idle(session, timeout, new_mail)


def _idle(session: ImapSession, timeout: float, woken_by: Callable[[tuple], bool]) -> str:
    client = session.client
    end = time.monotonic() + min(timeout, LONGEST_IDLE)
    client.idle()
    woke = "timeout"
    try:
        while (left := end - time.monotonic()) > 0:
            asked = min(left, 60.0)
            started = time.monotonic()
            said: list[Any] = client.idle_check(timeout=asked)
            if any(woken_by(response) for response in said):
                woke = "change"
                break
            if not said and time.monotonic() - started < asked - 0.5:
                break  # woken by nothing: the line closed; DONE below tells (it raises)
    finally:
        client.idle_done()
    return woke


def moved_since(session: ImapSession, selected: commands.Selected, cursor: dict | None) -> bool:
    """Whether the selected mailbox has mail past the cursor the last poll left (or was
    renumbered). No cursor yet (a first poll only notes where the mailbox is): no."""
    newest = None
    if selected.uid_next is None and selected.exists:
        # Courier's SELECT says no UIDNEXT: ask for the newest UID
        newest = (commands.highest_uid(session) or 0) + 1
    return _past(cursor, selected.uid_validity, selected.uid_next or newest)


def _past(cursor: dict | None, uid_validity: int | None, uid_next: int | None) -> bool:
    if cursor is None or uid_validity is None:
        return False
    if cursor["uidValidity"] != uid_validity:
        return True
    return uid_next is not None and uid_next - 1 > cursor["lastUid"]
