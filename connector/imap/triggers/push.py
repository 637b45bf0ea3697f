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
from ..wire.transport import IdleRefused, known_server
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
    seconds (at most 25 minutes), "unsupported" without IDLE (not advertised, or answered
    BAD). A line that dies, or any other refusal, raises: the caller tries again later.

    ``inputs["state"]`` is what the last poll returned: mail that came between that poll
    and this IDLE is seen at once (the mailbox's UIDNEXT is past the poll's cursor).
    ``sessions.confirm()`` says when the server has taken the IDLE."""
    if not session.has("IDLE"):
        return "unsupported"
    try:
        return _wait(session, inputs, timeout, sessions)
    except IdleRefused:
        return "unsupported"


def _wait(session: ImapSession, inputs: dict, timeout: float, sessions: PushSessions | None) -> str:
    confirm = sessions.confirm if sessions is not None else _nothing
    names = _mailboxes(inputs.get("mailbox") or "INBOX", inputs.get("mailboxes"))
    if inputs.get("subscribed"):
        known = {m["path"] for m in list_mailboxes(session) if m["subscribed"]}
        names += sorted(known - set(names))
    cursors = checked_state(inputs.get("state") or {}, names[0])
    if len(names) > 1 and session.has("NOTIFY"):
        try:
            return _notified(session, names, cursors, timeout, confirm)
        except (imaplib.IMAP4.abort, IdleRefused):
            raise
        except imaplib.IMAP4.error:  # NOTIFY refused (too many mailboxes...): IDLE below
            pass
    watched = names[:MOST_IDLE_LINES] if sessions is not None else names[:1]
    if len(watched) > 1 and sessions is not None:
        return _idle_each(sessions, watched, cursors, timeout)
    return _idle_on(session, names[0], cursors.get(names[0]), timeout, confirm)


def _nothing() -> None:
    pass


def _idle_on(
    session: ImapSession,
    name: str,
    cursor: dict | None,
    timeout: float,
    confirm: Callable[[], None] = _nothing,
) -> str:
    # A line kept from the last wait may hold what its server said since: the cursor
    # comparison below is what decides, so it is dropped.
    session.client.forget_responses()
    selected = commands.select(session, name, readonly=True)
    if moved_since(session, selected, cursor):
        return "change"
    return _idle(session, timeout, lambda said: len(said) > 1 and said[1] in NEW_MAIL, confirm)


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
    ended: set[int] = set()  # the lines out of IDLE by themselves: fit to be kept

    def watch(line: int, session: ImapSession, name: str) -> None:
        try:
            outcome: str | Exception = _idle_on(
                session, name, cursors.get(name), timeout, sessions.confirm
            )
            ended.add(line)
        except Exception as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome = exc
        outcomes.put(outcome)

    threads = [
        threading.Thread(target=watch, args=(line, *pair), name="push-idle", daemon=True)
        for line, pair in enumerate(zip(lines, names, strict=False))
    ]
    for thread in threads:
        thread.start()
    try:
        for _ in threads:
            outcome = outcomes.get()
            if isinstance(outcome, Exception):
                raise outcome
            if outcome in ("change", "unsupported"):
                return outcome
        return "timeout"
    finally:
        for line, session in enumerate(lines):
            if line not in ended:  # still idling: its read fails, its thread ends
                session.interrupt()
        for thread in threads:
            thread.join(5)


def _notified(
    session: ImapSession,
    names: list[str],
    cursors: dict,
    timeout: float,
    confirm: Callable[[], None] = _nothing,
) -> str:
    """Every mailbox on one connection: NOTIFY SET for new mail in them, then IDLE; the
    server reports each change as a STATUS response naming the mailbox.

    NOTIFY goes first and each mailbox's STATUS after it: mail that came before the SET
    shows in those, mail after it is reported, during the STATUS commands as well (every
    STATUS response they bring is read). A line kept from the last wait still has its
    NOTIFY: what it reported since is dropped, as the STATUS of each mailbox decides."""
    session.client.forget_responses()
    watched = {protocol.encode_mailbox(name): name for name in names}
    if session.notifying:
        # Dovecot 2.3 drops the first mailbox's events when a SET replaces a SET (12 of 12
        # tries; after NONE, none lost): the last wait's is ended first.
        commands.run(session, b"NOTIFY", [b"NONE"], uid=False)
    # RFC 5465: MessageNew goes with MessageExpunge (an expunge wakes a poll that finds
    # nothing new: harmless).
    said = commands.run(
        session,
        b"NOTIFY",
        [
            *(b"SET", b"(", b"MAILBOXES", b"("),
            *(protocol.mailbox_arg(name) for name in names),
            *(b")", b"(", b"MessageNew", b"MessageExpunge", b")", b")"),
        ],
        uid=False,
        response="STATUS",
    )
    session.notifying = True
    for name in names:
        said += commands.run(
            session,
            b"STATUS",
            [protocol.mailbox_arg(name), b"(", b"UIDNEXT", b"UIDVALIDITY", b")"],
            uid=False,
        )
    if any(_moved(status, watched, cursors) for status in commands.statuses(said)):
        return "change"
    return _idle(
        session,
        timeout,
        lambda said: len(said) > 2 and said[0] == b"STATUS" and _moved(said[1:], watched, cursors),
        confirm,
    )


def _moved(status: tuple, watched: dict[bytes, str], cursors: dict) -> bool:
    """Whether a STATUS response (mailbox, items) reports new mail in a watched mailbox:
    UIDNEXT past the last poll's cursor, or no UIDNEXT (a notification that only counts:
    the poll decides)."""
    if len(status) < 2 or not isinstance(status[1], tuple):
        return False
    name = status[0] if isinstance(status[0], bytes) else str(status[0]).encode()
    if name not in watched:
        return False
    pairs = zip(status[1][::2], status[1][1::2], strict=False)
    items = {(k if isinstance(k, bytes) else str(k).encode()).upper(): v for k, v in pairs}
    uid_next = items.get(b"UIDNEXT")
    if not isinstance(uid_next, int):
        return True
    cursor = cursors.get(watched[name])
    validity = items.get(b"UIDVALIDITY", cursor["uidValidity"] if cursor else None)
    return _past(cursor, validity, uid_next)


def _idle(
    session: ImapSession,
    timeout: float,
    woken_by: Callable[[tuple], bool],
    confirm: Callable[[], None] = _nothing,
) -> str:
    """IDLE until ``woken_by`` one of the server's responses, or ``timeout``; a NOOP every
    LIVENESS seconds of quiet (answered within the read timeout, or the line is dead).

    Where the server takes pipelined commands, every IDLE goes out right behind a NOOP
    (its reply not awaited): Dovecot reports mail that came between a command's reply and
    the IDLE only at DONE (an APPEND between EXAMINE and IDLE: 7 of 7 silent for the whole
    IDLE); the NOOP finds it, and is the liveness check too. Elsewhere (Courier loses pipelined
    commands) the NOOP goes alone between IDLEs."""
    known = known_server(session.server_key)
    sync = bool(known and known["pipelines"])
    end = time.monotonic() + min(timeout, LONGEST_IDLE)
    while True:
        segment = min(end, time.monotonic() + LIVENESS)
        woke = _idle_once(session, segment, woken_by, sync, confirm)
        now = time.monotonic()
        if woke != "timeout" or now < segment - 0.5 or end - now < 1:
            return woke  # (a quiet IDLE that ended early: the caller decides, no tight loop)
        if not sync and any(woken_by(response) for response in session.client.noop()[1]):
            return "change"


def _idle_once(
    session: ImapSession,
    end: float,
    woken_by: Callable[[tuple], bool],
    sync: bool,
    confirm: Callable[[], None],
) -> str:
    client = session.client
    early = client.idle(sync_first=sync)  # (what came before the "+" counts, the NOOP's too)
    confirm()  # (the server took the IDLE)
    woke = "change" if any(woken_by(response) for response in early) else "timeout"
    try:
        while woke == "timeout" and (left := end - time.monotonic()) > 0:
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
