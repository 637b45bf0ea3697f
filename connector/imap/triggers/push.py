"""The new-email trigger's push: IDLE (RFC 2177) until the server reports new mail.

It only says *when* to poll; the poll decides what is new. So a dropped IDLE, a server that
lies, or one without IDLE costs latency, never mail nor duplicates. One IDLE watches one
mailbox: with several (``mailboxes``), the first; the others wait for the next poll.
"""

from __future__ import annotations

import time
from typing import Any

from ..wire import commands
from ..wire.session import ImapSession
from .new_emails import _mailboxes, checked_state

# Servers and NATs drop a silent connection after 30 minutes or sooner (RFC 2177 asks
# clients to re-issue IDLE at least every 29): never longer than this in one IDLE.
LONGEST_IDLE = 25 * 60
# What the server sends about new mail in the selected mailbox.
NEW_MAIL = (b"EXISTS", b"RECENT")


def wait_for_mail(session: ImapSession, inputs: dict, timeout: float) -> str:
    """ "change" once the watched mailbox reports new mail, "timeout" after ``timeout``
    seconds (at most 25 minutes), "unsupported" without IDLE. A line that dies raises.

    ``inputs["state"]`` is what the last poll returned: mail that came between that poll
    and this IDLE is seen at once (the mailbox's UIDNEXT is past the poll's cursor)."""
    if not session.has("IDLE"):
        return "unsupported"
    mailbox = _mailboxes(inputs.get("mailbox") or "INBOX", inputs.get("mailboxes"))[0]
    selected = commands.select(session, mailbox, readonly=True)
    if moved_since(
        session, selected, checked_state(inputs.get("state") or {}, mailbox).get(mailbox)
    ):
        return "change"
    client = session.client
    left = min(timeout, LONGEST_IDLE)
    end = time.monotonic() + left
    client.idle()
    woke = "timeout"
    try:
        while (left := end - time.monotonic()) > 0:
            asked = min(left, 60.0)
            started = time.monotonic()
            said: list[Any] = client.idle_check(timeout=asked)
            if any(len(r) > 1 and r[1] in NEW_MAIL for r in said):
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
    if cursor is None:
        return False
    if cursor["uidValidity"] != selected.uid_validity:
        return True
    if selected.uid_next is not None:
        newest = selected.uid_next - 1
    else:  # Courier's SELECT says no UIDNEXT: ask for the newest UID
        newest = (commands.highest_uid(session) if selected.exists else None) or 0
    return newest > cursor["lastUid"]
