"""The new-email trigger's push: lines that hear of new mail (IMAP IDLE, RFC 2177), held by
the process's push hub (connector.sdk._pushhub) for as long as someone watches.

It only says *when* to poll; the poll decides what is new. So a dropped IDLE, a server that
lies, or one without IDLE costs latency, never mail nor duplicates. One connection watches
every mailbox of the trigger where the server has NOTIFY (RFC 5465: Dovecot); elsewhere
each mailbox has an IDLE on a connection of its own, up to MOST_IDLE_LINES (the others
wait for the next poll).

A line stays in IDLE while it reports new mail (the watcher polls on another connection):
the hub reads what the server says when it says it (``on_readable``, never blocking), and
every LIVENESS seconds of quiet ends the IDLE for a NOOP and starts it again (``renew``),
which proves the line alive (a NAT that forgot it is found within the read timeout) and
re-issues IDLE long before the 29 minutes RFC 2177 allows.
"""

from __future__ import annotations

import imaplib

from connector.sdk.errors import ConnectorError, Unsupported
from connector.sdk.push import PushSessions
from connector.sdk.session import PushLine

from ..actions.mailboxes import list_mailboxes
from ..wire import commands, protocol
from ..wire.session import ImapSession
from ..wire.transport import IdleRefused, known_server
from .new_emails import _mailboxes, checked_state

# A quiet IDLE is ended for a NOOP and started again after this long (the hub jitters it):
# a line that died without a word (a NAT forgetting it) is found within this and the
# connection's read timeout; and IDLE is re-issued well within RFC 2177's 29 minutes.
LIVENESS = 5 * 60
# Without NOTIFY, one connection per mailbox: never more than this for one trigger's push,
# as they count toward the account's connections (Dovecot allows 10 per user and address,
# Gmail 15, and steps and polls need theirs).
MOST_IDLE_LINES = 5
# What the server sends about new mail in the selected mailbox.
NEW_MAIL = (b"EXISTS", b"RECENT")
REFUSED = (
    "The server refuses IDLE (it answered BAD): new mail is seen at each poll. Turn push "
    "off for this connection, or ask its administrator to allow IDLE."
)


def open_lines(session: ImapSession, inputs: dict, sessions: PushSessions) -> list[PushLine]:
    """The trigger's push (the manifest's ``push``): the lines that hear of new mail in its
    mailboxes, not yet started (the hub starts them). ``inputs["state"]`` is what the last
    poll returned: mail that came since is reported as soon as a line starts."""
    if not session.has("IDLE"):
        raise Unsupported(
            "The server does not offer IDLE: new mail is seen at each poll. Turn push off "
            "for this connection."
        )
    names = _mailboxes(inputs.get("mailbox") or "INBOX", inputs.get("mailboxes"))
    if inputs.get("subscribed"):
        known = {m["path"] for m in list_mailboxes(session) if m["subscribed"]}
        names += sorted(known - set(names))
    cursors = checked_state(inputs.get("state") or {}, names[0])
    if len(names) > 1 and session.has("NOTIFY"):
        notified = NotifyLine(session, names, cursors)
        if notified.set():
            return [notified]
    lines: list[PushLine] = [IdleLine(session, names[0], cursors.get(names[0]))]
    for name in names[1:MOST_IDLE_LINES]:
        try:
            more = sessions.open()
        except ConnectorError:  # (a limit on connections, the host's room): the next poll
            break
        lines.append(IdleLine(more, name, cursors.get(name)))  # type: ignore[arg-type]
    return lines


class IdleLine(PushLine):
    """One mailbox EXAMINEd, then IDLE on its own connection; new mail is its EXISTS."""

    def __init__(self, session: ImapSession, mailbox: str, cursor: dict | None):
        self.session, self.mailbox, self.cursor = session, mailbox, cursor
        self.renew_every = float(LIVENESS)
        # Where the server takes pipelined commands, every IDLE goes out right behind a
        # NOOP (its reply not awaited): Dovecot reports mail that came between a command's
        # reply and the IDLE only at DONE (an APPEND between EXAMINE and IDLE: 7 of 7 silent
        # for the whole IDLE); the NOOP finds it. Elsewhere (Courier loses pipelined
        # commands) the NOOP goes alone, before the IDLE.
        known = known_server(session.server_key)
        self.sync = bool(known and known["pipelines"])

    def fileno(self) -> int:
        return self.session.client.socket().fileno()

    def start(self) -> bool:
        self.session.client.forget_responses()
        selected = commands.select(self.session, self.mailbox, readonly=True)
        changed = moved_since(self.session, selected, self.cursor)
        return self._idle() or changed

    def on_readable(self) -> bool:
        return self._woken(self.session.client.idle_read())

    def renew(self) -> bool:
        client = self.session.client
        said = client.idle_settle()
        said += client.idle_done()[1]  # (what came just before DONE counts too)
        changed = self._woken(said)
        if not self.sync:
            changed = self._woken(client.noop()[1]) or changed
        return self._idle() or changed

    def _idle(self) -> bool:
        """IDLE until the server's "+"; whether what it said before, or with it, is news."""
        client = self.session.client
        try:
            early = client.idle(sync_first=self.sync)
        except IdleRefused:
            raise Unsupported(REFUSED) from None
        early += client.idle_check(timeout=0)  # (what came with the "+": the hub reads on)
        return self._woken(early)

    def _woken(self, responses: list) -> bool:
        woke = False
        for response in responses:
            if response is None:
                woke = True  # (unreadable: the poll decides)
            elif response[0] == b"BYE":
                raise imaplib.IMAP4.abort("the server ended the session (BYE)")
            elif self.reports_mail(response):
                woke = True
        return woke

    def reports_mail(self, response: tuple) -> bool:
        return len(response) > 1 and response[1] in NEW_MAIL

    def interrupt(self) -> None:
        self.session.interrupt()

    def close(self) -> None:
        try:
            self.session.client.send_done()  # (LOGOUT follows, not awaited either)
        except Exception:  # noqa: BLE001,S110 - a line already dead: close it all the same
            pass
        self.session.close()


class NotifyLine(IdleLine):
    """Every mailbox on one connection: NOTIFY SET for new mail in them, then IDLE; the
    server reports each change as a STATUS response naming the mailbox.

    NOTIFY goes first and each mailbox's STATUS after it: mail that came before the SET
    shows in those, mail after it is reported, during the STATUS commands as well (every
    STATUS response they bring is read)."""

    def __init__(self, session: ImapSession, names: list[str], cursors: dict):
        super().__init__(session, names[0], None)
        self.names = names
        self.cursors = dict(cursors)
        self.watched = {protocol.encode_mailbox(name): name for name in names}
        self.said: list = []

    def set(self) -> bool:
        """NOTIFY SET; False when the server refuses it (too many mailboxes...): an IDLE
        per mailbox then. A line that dies raises."""
        self.session.client.forget_responses()
        try:
            # RFC 5465: MessageNew goes with MessageExpunge (an expunge wakes a poll that
            # finds nothing new: harmless).
            self.said = commands.run(
                self.session,
                b"NOTIFY",
                [
                    *(b"SET", b"(", b"MAILBOXES", b"("),
                    *(protocol.mailbox_arg(name) for name in self.names),
                    *(b")", b"(", b"MessageNew", b"MessageExpunge", b")", b")"),
                ],
                uid=False,
                response="STATUS",
            )
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error:
            return False
        return True

    def start(self) -> bool:
        said = list(self.said)
        for name in self.names:
            said += commands.run(
                self.session,
                b"STATUS",
                [protocol.mailbox_arg(name), b"(", b"UIDNEXT", b"UIDVALIDITY", b")"],
                uid=False,
            )
        changed = False
        for status in commands.statuses(said):
            changed = self._moved(status, baseline=True) or changed
        return self._idle() or changed

    def reports_mail(self, response: tuple) -> bool:
        return len(response) > 2 and response[0] == b"STATUS" and self._moved(response[1:])

    def _moved(self, status: tuple, baseline: bool = False) -> bool:
        """Whether a STATUS response (mailbox, items) reports new mail in a watched mailbox:
        UIDNEXT past the cursor, or no UIDNEXT (a notification that only counts: the poll
        decides). The cursor then moves to it, so an expunge's STATUS after is no news; a
        mailbox without a cursor (no poll yet) takes the first STATUS it sees as one
        (``baseline``)."""
        if len(status) < 2 or not isinstance(status[1], tuple):
            return False
        name = status[0] if isinstance(status[0], bytes) else str(status[0]).encode()
        if name not in self.watched:
            return False
        pairs = zip(status[1][::2], status[1][1::2], strict=False)
        items = {(k if isinstance(k, bytes) else str(k).encode()).upper(): v for k, v in pairs}
        uid_next = items.get(b"UIDNEXT")
        if not isinstance(uid_next, int):
            return True
        mailbox = self.watched[name]
        cursor = self.cursors.get(mailbox)
        validity = items.get(b"UIDVALIDITY", cursor["uidValidity"] if cursor else None)
        if cursor is None and not baseline:
            cursor = {"uidValidity": validity, "lastUid": 0}
        moved = _past(cursor, validity, uid_next)
        if isinstance(validity, int) and (moved or cursor is None):
            self.cursors[mailbox] = {"uidValidity": validity, "lastUid": uid_next - 1}
        return moved


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
