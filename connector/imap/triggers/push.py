"""The new-email trigger's push: IDLE (RFC 2177) until the server reports new mail.

It only says *when* to poll; the poll decides what is new. So a dropped IDLE, a server that
lies, or one without IDLE costs latency, never mail nor duplicates. One connection watches
every mailbox of the trigger where the server has NOTIFY (RFC 5465: Dovecot); elsewhere
each mailbox has an IDLE on a connection of its own, up to MOST_IDLE_LINES (the others
wait for the next poll).
"""

from __future__ import annotations

import imaplib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from connector.sdk.errors import ConnectorError
from connector.sdk.push import PushSessions, PushStopped

from ..actions.mailboxes import list_mailboxes
from ..wire import commands, protocol
from ..wire.session import ImapSession
from .new_emails import _mailboxes, checked_state

# Servers and NATs drop a silent connection after 30 minutes or sooner (RFC 2177 asks
# clients to re-issue IDLE at least every 29): never longer than this in one IDLE.
LONGEST_IDLE = 25 * 60
# An IDLE quiet this long is ended for a NOOP: a line that died without a word (a NAT
# forgetting it) is found within this and the connection's read timeout.
LIVENESS = 5 * 60
# Without NOTIFY, one connection per mailbox: never more than this for one trigger's push,
# as they count toward the account's connections (Dovecot allows 10 per user and address,
# Gmail 15, and steps and polls need theirs).
MOST_IDLE_LINES = 5
# What the server sends about new mail in the selected mailbox.
NEW_MAIL = (b"EXISTS", b"RECENT")


def wait_for_mail(
    session: ImapSession, inputs: dict, timeout: float, sessions: PushSessions | None = None
) -> str:
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
    watched = names[:MOST_IDLE_LINES] if sessions is not None else names[:1]
    if len(watched) > 1 and sessions is not None:
        return _idle_each(sessions, watched, cursors, timeout)
    return _idle_on(session, names[0], cursors.get(names[0]), timeout)


def _idle_on(session: ImapSession, name: str, cursor: dict | None, timeout: float) -> str:
    selected = commands.select(session, name, readonly=True)
    if moved_since(session, selected, cursor):
        return "change"
    return _idle(session, timeout, lambda said: len(said) > 1 and said[1] in NEW_MAIL)


def _idle_each(sessions: PushSessions, names: list[str], cursors: dict, timeout: float) -> str:
    """An IDLE per mailbox, each on a connection of its own: the first to hear of new mail
    wins, and the others are cut. A connection the server refuses (a limit on connections)
    leaves its mailbox and the rest to the poll; a line that dies ends the push (the
    caller reconnects)."""
    lines = [sessions.all[0]]
    for _ in names[1:]:
        try:
            lines.append(sessions.open())
        except PushStopped:
            raise
        except ConnectorError:
            break
    outcomes: queue.Queue = queue.Queue()

    def watch(session: ImapSession, name: str) -> None:
        try:
            outcomes.put(_idle_on(session, name, cursors.get(name), timeout))
        except Exception as exc:  # noqa: BLE001 - handed to the waiting thread
            outcomes.put(exc)

    threads = [
        threading.Thread(target=watch, args=pair, name="push-idle", daemon=True)
        for pair in zip(lines, names, strict=False)
    ]
    for thread in threads:
        thread.start()
    try:
        for _ in threads:
            outcome = outcomes.get()
            if isinstance(outcome, Exception):
                raise outcome
            if outcome == "change":
                return "change"
        return "timeout"
    finally:
        for session in lines:  # (those still idling: their reads fail, their threads end)
            session.interrupt()
        for thread in threads:
            thread.join(5)


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
    """IDLE until ``woken_by`` one of the server's responses, or ``timeout``; a NOOP every
    LIVENESS seconds of quiet (answered within the read timeout, or the line is dead)."""
    end = time.monotonic() + min(timeout, LONGEST_IDLE)
    while True:
        segment = min(end, time.monotonic() + LIVENESS)
        woke = _idle_once(session, segment, woken_by)
        now = time.monotonic()
        if woke != "timeout" or now < segment - 0.5 or end - now < 1:
            return woke  # (a quiet IDLE that ended early: the caller decides, no tight loop)
        if any(woken_by(response) for response in session.client.noop()[1]):
            return "change"


def _idle_once(session: ImapSession, end: float, woken_by: Callable[[tuple], bool]) -> str:
    client = session.client
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
        said = client.idle_done()[1]  # (what came just before DONE counts too)
    return "change" if any(woken_by(response) for response in said) else woke


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
