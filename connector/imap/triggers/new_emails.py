"""newEmailsPollingTrigger: each new message exactly once, oldest first, never the * trap,
in one mailbox or several, filtered by the server, within a payload budget.

State (plain JSON the platform keeps between polls), one cursor per mailbox:
  {"mailboxes": {PATH: {
      uidValidity       the mailbox's UIDVALIDITY when the cursor was set
      lastUid           every message with a UID above this is new
      lastInternalDate  the newest INTERNALDATE the cursor has covered (for a resync)
      seen              "digest:time digest:time ..." (INTERNALDATE as Unix time) of the
                        messages handed off within RESYNC_OVERLAP of that, SEEN_MOST at most
                        (the newest): what a resync must not hand off again
                        (``seen_digest``). One string, not a list: a state's JSON elements
                        stay one per cursor field, under the service's element budget
                        whatever the traffic (100 mailboxes x SEEN_MOST as lists: ~90,000)
      since             while catching up (look-back or resync): skip messages received before
      resyncFrom        while catching up after a resync: the UIDVALIDITY before it
  }}}
The single-mailbox state of earlier versions ({uidValidity, lastUid, ...}) is read as the
cursor of the ``mailbox`` input, and their ``recentIds`` (the Message-IDs of the last poll)
as what was seen.

After a UIDVALIDITY change (a mailbox recreated, renumbered, restored from a backup) the old
UIDs mean nothing: the trigger re-reads what arrived since RESYNC_OVERLAP before the newest
message it had covered, and skips every message it handed off already (by Message-ID, or a
digest of its envelope when it has none); the records it emits then say ``resync: true`` and
the ``previousUidValidity``.

Each record is a message summary with its ``mailbox`` and ``uidValidity`` (and ``message``
with Fetch Content), and the poll's ``followUps`` say which action to run on it once the
workflow handled it (``afterSuccess``) or failed (``afterFailure``). Reading never sets
\\Seen (BODY.PEEK); only Mark As Read does, at poll time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connector.sdk.errors import InvalidInput

from .. import search
from ..actions.mailboxes import list_mailboxes
from ..mail import budget, mime
from ..mail.dates import internal_date, iso, search_date
from ..summaries import fetch_summaries
from ..wire import commands, protocol
from ..wire.server_sets import ServerSet
from ..wire.session import ImapSession

# Messages received this long before the newest one we had seen are re-examined after a
# UIDVALIDITY change: clocks and delivery order are not exact.
RESYNC_OVERLAP = timedelta(minutes=10)
# What a cursor remembers of the messages handed off in that window, per mailbox (a burst
# beyond it, renumbered within ten minutes, could see its oldest messages again): ~30 bytes
# each, so a state of 100 mailboxes stays under 1 MB.
SEEN_MOST = 300
SEEN_DIGEST_CHARS = 12
SEEN_ENTRY_CHARS = SEEN_DIGEST_CHARS + 13  # "digest:1700000000 "
# What one poll carries, whatever the inputs: its records' JSON (Temporal refuses a payload
# over 2 MB and warns from 256 KB of one record), and the message bytes it downloads.
POLL_BYTES = 1024 * 1024
FETCH_BYTES = 48 * 1024 * 1024


@dataclass(frozen=True)
class Options:
    fetch_content: bool
    mark_as_read: bool
    limit: int
    max_inline_bytes: int
    filters: dict | None
    follow_ups: dict[str, dict | None]  # "success"/"failure" -> {"action", "inputs"} template


def new_emails(
    session: ImapSession,
    state: dict,
    mailbox: str,
    fetch_content: bool,
    mark_as_read: bool,
    max_per_poll: int,
    look_back_date: str | None,
    mailboxes: list | None = None,
    subscribed: bool = False,
    filter_options: dict | None = None,
    after_success: str = "none",
    after_success_flag: str | None = None,
    after_success_mailbox: str | None = None,
    after_failure: str = "none",
    after_failure_flag: str | None = None,
    after_failure_mailbox: str | None = None,
    max_inline_bytes: int = 262144,
) -> dict:
    cursors = checked_state(state, mailbox)
    listed = _mailboxes(mailbox, mailboxes)
    options = Options(
        fetch_content=fetch_content,
        mark_as_read=mark_as_read,
        limit=max_per_poll,
        max_inline_bytes=max_inline_bytes,
        filters=filter_options,
        follow_ups={
            "success": follow_up(
                "afterSuccess", after_success, after_success_flag, after_success_mailbox
            ),
            "failure": follow_up(
                "afterFailure", after_failure, after_failure_flag, after_failure_mailbox
            ),
        },
    )
    since = look_back(look_back_date) if look_back_date else None
    if subscribed:
        known = {m["path"] for m in list_mailboxes(session) if m["subscribed"]}
        listed += sorted(known - set(listed))
    poll = Poll(session, options, label="Mailboxes" if mailboxes else "Mailbox")
    new_cursors: dict[str, dict] = {}
    for name in listed:
        if poll.room <= 0:  # this poll is full: the mailboxes left keep their cursors
            poll.more = True
            if name in cursors:
                new_cursors[name] = cursors[name]
            continue
        new_cursors[name] = poll.mailbox(name, cursors.get(name), since)
    return {
        "records": poll.records,
        "hasMore": poll.more,
        "state": {"mailboxes": new_cursors},
        "followUps": poll.follow_ups,
        # (an IDLE on a mailbox deleted and created again hears nothing of the new one:
        # Dovecot keeps it until it drops the session, minutes later)
        "sourceChanged": poll.source_changed,
    }


def _mailboxes(mailbox: str, mailboxes: list | None) -> list[str]:
    if not mailboxes:
        return [protocol.check_mailbox(mailbox, "mailbox")]
    out: list[str] = []
    for index, name in enumerate(mailboxes):
        if not isinstance(name, str) or not name:
            raise InvalidInput(
                'Mailboxes must be a list of mailbox paths, such as ["INBOX", "Work"].',
                path=f"inputs.mailboxes.{index}",
            )
        protocol.check_mailbox(name, f"mailboxes.{index}")
        if name not in out:
            out.append(name)
    return out


def follow_up(key: str, choice: str, flag: str | None, target: str | None) -> dict[str, Any] | None:
    """The action to run on a record after its workflow (as a template: the record fills
    mailbox, uidValidity and the UID)."""
    if choice == "none":
        return None
    if choice == "markRead":
        return {"action": "addFlags", "inputs": {"flags": ["\\Seen"]}}
    if choice == "addFlag":
        if not flag:
            raise InvalidInput(f"{key} addFlag needs {key}Flag.", path=f"inputs.{key}Flag")
        return {
            "action": "addFlags",
            "inputs": {"flags": protocol.normalize_flags([flag], f"{key}Flag")},
        }
    if choice == "move":
        if not target:
            raise InvalidInput(f"{key} move needs {key}Mailbox.", path=f"inputs.{key}Mailbox")
        protocol.check_mailbox(target, f"{key}Mailbox")
        return {"action": "moveMessage", "inputs": {"path": target}}
    return {"action": "deleteMessage", "inputs": {}}  # "delete" (the manifest's choices)


class Poll:
    """One poll over the mailboxes: the records, their follow-ups, and what room is left."""

    def __init__(self, session: ImapSession, options: Options, label: str = "Mailbox"):
        self.session, self.options, self.label = session, options, label
        self.records: list[dict] = []
        self.follow_ups: list[dict] = []
        self.more = False
        self.source_changed = False  # a mailbox was renumbered: push lines on it are stale
        self.json_bytes = 0
        self.fetched_bytes = 0

    @property
    def room(self) -> int:
        return self.options.limit - len(self.records)

    def mailbox(self, name: str, cursor: dict | None, since: datetime | None) -> dict:
        """Poll one mailbox; its new cursor."""
        selected = commands.select(
            self.session, name, readonly=not self.options.mark_as_read, label=self.label
        )
        criteria = search.build(
            self.session.capabilities,
            sender=None,
            recipient=None,
            read_unread="all",
            filters=self.options.filters,
        )
        filters = [] if criteria.keys == [b"ALL"] else criteria.keys
        if cursor is None:
            if since is None:
                return self.baseline(selected)
            found = self.search(filters, criteria.utf8, since=since)
            return self.emit(selected, found, since=since, previous={})
        if cursor["uidValidity"] != selected.uid_validity:
            # The mailbox was recreated or renumbered: old UIDs mean nothing. Take what was
            # received since the last poll (with an overlap), minus what was handed off.
            self.source_changed = True
            newest = _parse_time(cursor.get("lastInternalDate")) or datetime.now(UTC)
            since = newest - RESYNC_OVERLAP
            return self.emit(
                selected,
                self.search(filters, criteria.utf8, since=since),
                since=since,
                previous={**cursor, "lastUid": 0},
                resync_from=cursor["uidValidity"],
            )
        catching_up = _parse_time(cursor.get("since"))
        keys = [b"UID", b"%d:%d" % (cursor["lastUid"] + 1, protocol.MAX_UID), *filters]
        if catching_up is not None:
            keys += [b"SINCE", _search_day(catching_up)]
        ceiling = None
        if filters and selected.uid_next is None:
            # (Courier's SELECT says no UIDNEXT.) What the filters leave out is passed over up
            # to the newest UID known *before* the search: a message arriving meanwhile is
            # above it, so it is never skipped.
            ceiling = commands.highest_uid(self.session)
        found = commands.search_set(self.session, keys, charset=criteria.utf8)
        resync_from = cursor.get("resyncFrom") if catching_up is not None else None
        return self.emit(
            selected,
            found,
            since=catching_up,
            previous=cursor,
            ceiling=ceiling,
            resync_from=resync_from if isinstance(resync_from, int) else None,
        )

    def search(self, filters: list[bytes], utf8: bool, *, since: datetime) -> ServerSet:
        keys = [b"SINCE", _search_day(since), *filters]
        return commands.search_set(self.session, keys, charset=utf8)

    def baseline(self, selected: commands.Selected) -> dict:
        """A mailbox's first poll: remember where it is; emit nothing."""
        top = commands.highest_uid(self.session) if selected.exists else None
        highest = [top] if top is not None else []
        newest = None
        if highest:
            values = commands.fetch(self.session, highest, b"(UID INTERNALDATE)").get(
                highest[0], {}
            )
            newest = iso(values.get(b"INTERNALDATE"))
        last = max([*highest, (selected.uid_next or 1) - 1])
        return cursor_of(selected, last, newest or _now_iso(), "", None, None)

    def emit(
        self,
        selected: commands.Selected,
        candidates: ServerSet,
        *,
        since: datetime | None,
        previous: dict,
        resync_from: int | None = None,
        ceiling: int | None = None,
    ) -> dict:
        """The records of ``candidates`` (UIDs, oldest first) that fit this poll; the
        mailbox's new cursor. ``resync_from``: re-reading after a UIDVALIDITY change (from
        that one): what the cursor saw is not emitted again."""
        page = candidates.first(self.room)  # (only the page: the set may name millions)
        seen = seen_of(previous)
        exclude = {digest for digest, _ in seen} if resync_from is not None else set()
        fetched, rows = fetch_summaries(self.session, page)
        if self.options.fetch_content:
            page = self.within_download_budget(page, fetched)
        records: list[dict] = []
        newest = _parse_time(previous.get("lastInternalDate"))
        summary_of = {r["uid"]: r for r in rows}
        bodies = self.bodies(page)
        emitted = 0  # how far into the page this poll got (the cursor's new place)
        where = {"mailbox": selected.mailbox, "uidValidity": selected.uid_validity}
        for uid in page:
            values = fetched.get(uid)
            if values is None:  # expunged between SEARCH and FETCH
                emitted += 1
                continue
            record = {**where, **summary_of[uid]}
            if self.options.fetch_content:
                message = mime.to_json(mime.parse(bodies.get(uid) or b""))
                record["message"] = budget.apply(
                    message,
                    where={**where, "uid": uid},
                    budget=self.options.max_inline_bytes,
                )
            if resync_from is not None:
                record.update(resync=True, previousUidValidity=resync_from)
            received = internal_date(values.get(b"INTERNALDATE"))
            digest = seen_digest(record)
            skip = (
                since is not None and received is not None and _aware(received) < since
            ) or digest in exclude
            if not skip:
                size = len(json.dumps(record, ensure_ascii=False))
                if (self.records or records) and self.json_bytes + size > POLL_BYTES:
                    break  # the poll is full: this message starts the next one
                self.json_bytes += size
                records.append(record)
                when = _aware(received) if received is not None else datetime.now(UTC)
                seen.append((digest, int(when.timestamp())))
            if received is not None:
                newest = max(filter(None, [newest, _aware(received)]))
            emitted += 1
        self.mark_read(records)
        self.records += records
        self.follow_ups += [self.follow_up(r) for r in records]
        more = emitted < len(page) or len(candidates) > len(page)
        self.more = self.more or more
        last = page[emitted - 1] if emitted else previous.get("lastUid", 0)
        if not more:
            # Everything up to UIDNEXT was seen (also what the filters left out): the
            # cursor moves past it, so non-matching mail is never searched again.
            known = selected.uid_next - 1 if selected.uid_next is not None else ceiling
            last = max(last, known or 0)
        return cursor_of(
            selected,
            last,
            newest.isoformat() if newest else previous.get("lastInternalDate") or _now_iso(),
            recent(seen, newest),
            since if more else None,
            resync_from if more else None,
        )

    def within_download_budget(self, page: list[int], fetched: dict[int, dict]) -> list[int]:
        """The first messages of the page whose bytes fit this poll's download (at least
        one message per poll, whatever its size)."""
        kept: list[int] = []
        for uid in page:
            size = fetched.get(uid, {}).get(b"RFC822.SIZE")
            size = size if isinstance(size, int) else 0
            if (kept or self.records) and self.fetched_bytes + size > FETCH_BYTES:
                break
            self.fetched_bytes += size
            kept.append(uid)
        return kept

    def bodies(self, page: list[int]) -> dict[int, bytes]:
        if not (self.options.fetch_content and page):
            return {}
        fetched = commands.fetch(self.session, page, b"(UID BODY.PEEK[])")
        return {uid: bytes(v.get(b"BODY[]") or b"") for uid, v in fetched.items()}

    def mark_read(self, records: list[dict]) -> None:
        if not (self.options.mark_as_read and records):
            return
        # Exactly the emitted UIDs: a range could catch a message that arrived meanwhile.
        commands.store(self.session, [r["uid"] for r in records], b"+FLAGS", ["\\Seen"])
        for record in records:
            if "\\Seen" not in record["flags"]:
                record["flags"].append("\\Seen")

    def follow_up(self, record: dict) -> dict:
        """The record's follow-up steps, with its mailbox, UIDVALIDITY and UID filled in."""
        out: dict[str, dict | None] = {}
        for outcome, template in self.options.follow_ups.items():
            if template is None:
                out[outcome] = None
                continue
            inputs = dict(template["inputs"])
            inputs.update(mailbox=record["mailbox"], uidValidity=record["uidValidity"])
            if template["action"] == "deleteMessage":
                inputs["messageIndex"] = record["uid"]
            else:
                inputs["range"] = str(record["uid"])
            out[outcome] = {"action": template["action"], "inputs": inputs}
        return out


def cursor_of(
    selected: commands.Selected,
    last_uid: int,
    newest: str,
    seen: str,
    since: datetime | None,
    resync_from: int | None,
) -> dict:
    cursor: dict[str, Any] = {
        "uidValidity": selected.uid_validity,
        "lastUid": last_uid,
        "lastInternalDate": newest,
        "seen": seen,
    }
    if since is not None:
        cursor["since"] = since.isoformat()
        if resync_from is not None:
            cursor["resyncFrom"] = resync_from
    return cursor


def seen_digest(record: dict) -> str:
    """What identifies a message across a renumbering: its Message-ID, or (without one) a
    digest of its envelope and size."""
    envelope = record.get("envelope") or {}
    message_id = envelope.get("messageId")
    if isinstance(message_id, str) and message_id.strip():
        basis = "id:" + message_id.strip()
    else:
        keys = ("date", "subject", "from", "sender", "to", "cc", "inReplyTo")
        headers = {key: envelope.get(key) for key in keys}
        basis = "envelope:" + json.dumps([headers, record.get("size")], sort_keys=True)
    digest = hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:SEEN_DIGEST_CHARS]


def seen_of(cursor: dict) -> list[tuple[str, int]]:
    """The cursor's ``seen`` (or, from an earlier version's state, its ``recentIds``)."""
    text = cursor.get("seen")
    # (the newest are last; a caller's longer string is read no further than they reach)
    tail = text[-SEEN_MOST * SEEN_ENTRY_CHARS :] if isinstance(text, str) else ""
    seen: list[tuple[str, int]] = []
    for entry in tail.split()[-SEEN_MOST:]:
        digest, _, unix_time = entry.partition(":")
        if digest and unix_time.isdigit():
            seen.append((digest, int(unix_time)))
    if not seen and cursor.get("recentIds"):
        when = _parse_time(cursor.get("lastInternalDate")) or datetime.now(UTC)
        seen = [
            (seen_digest({"envelope": {"messageId": message_id}}), int(when.timestamp()))
            for message_id in cursor["recentIds"]
            if isinstance(message_id, str)
        ]
    return seen


def recent(seen: list[tuple[str, int]], newest: datetime | None) -> str:
    """What a resync could re-read: received within RESYNC_OVERLAP of the newest, at most
    SEEN_MOST (the newest of them), as the cursor's ``seen`` string."""
    if newest is not None:
        floor = (newest - RESYNC_OVERLAP).timestamp()
        seen = [entry for entry in seen if entry[1] >= floor]
    first: dict[str, int] = {}
    for digest, when in seen:
        first.setdefault(digest, when)
    # Among messages of one second, those remembered first stay: a re-read appends what it
    # hands off again, and must not push out, on a tie, what it has yet to check (a restore of
    # 320 messages of one second re-delivered 44, not 20, when the newest entries won ties).
    ranked = sorted(enumerate(first.items()), key=lambda e: (e[1][1], -e[0]))[-SEEN_MOST:]
    kept = sorted(ranked, key=lambda e: (e[1][1], e[0]))
    return " ".join(f"{digest}:{when}" for _, (digest, when) in kept)


def _search_day(since: datetime) -> bytes:
    """SEARCH SINCE compares dates in the server's time zone: start a day early, so no
    message is missed; the exact INTERNALDATE filter in ``emit`` does the rest."""
    return search_date((since - timedelta(days=1)).date())


def look_back(value: str) -> datetime:
    """The look_back_date input as midnight UTC; a date IMAP SEARCH cannot express is refused."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or not date(1970, 1, 2) <= day <= date(9999, 12, 30):
        raise InvalidInput(
            "Look Back Date must be a date from 1970-01-02 to 9999-12-30 (YYYY-MM-DD).",
            path="inputs.lookBackDate",
        )
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC)


def checked_state(state: dict, mailbox: str) -> dict[str, dict]:
    """The cursors of the previous poll (mailbox -> cursor); {} for a first poll; the
    single-mailbox state of earlier versions as the cursor of ``mailbox``."""
    if not state:
        return {}
    if "mailboxes" not in state and "uidValidity" in state:
        state = {"mailboxes": {mailbox: state}}
    cursors = state.get("mailboxes")
    if not isinstance(cursors, dict):
        raise InvalidInput(
            "The trigger state is not one this trigger wrote: it has no mailboxes. Pass {} "
            "to start over.",
            path="state",
        )
    for name, cursor in cursors.items():
        problems = _cursor_problems(cursor)
        if problems:
            raise InvalidInput(
                f"The trigger state is not one this trigger wrote ({name!r:.60}): "
                + "; ".join(problems)
                + ". Pass {} to start over.",
                path="state",
            )
    return cursors


def _cursor_problems(cursor: object) -> list[str]:
    if not isinstance(cursor, dict):
        return ["each mailbox's cursor must be an object"]
    problems = []
    if not isinstance(cursor.get("uidValidity"), int):
        problems.append("uidValidity must be a number")
    last = cursor.get("lastUid")
    if not isinstance(last, int) or isinstance(last, bool) or not 0 <= last < protocol.MAX_UID:
        problems.append(f"lastUid must be a number from 0 to {protocol.MAX_UID - 1}")
    if not isinstance(cursor.get("recentIds", []), list):
        problems.append("recentIds must be a list")
    if not isinstance(cursor.get("seen", ""), str):
        problems.append('seen must be a string ("digest:time ...")')
    for key in ("lastInternalDate", "since"):
        if cursor.get(key) is not None and _parse_time(cursor[key]) is None:
            problems.append(f"{key} must be an ISO date-time")
    return problems


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()
