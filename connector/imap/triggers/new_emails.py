"""newEmailsPollingTrigger: each new message exactly once, oldest first, never the * trap.

State (plain JSON the platform keeps between polls):
  uidValidity       the mailbox's UIDVALIDITY when the cursor was set
  lastUid           every message with a UID above this is new
  lastInternalDate  the newest INTERNALDATE the cursor has covered (for a resync)
  recentIds         Message-IDs the previous poll emitted (deduplication after a resync)
  since             while catching up (look-back or resync): skip messages received before this
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from connector.sdk.errors import InvalidInput

from ..mail import mime
from ..mail.dates import internal_date, iso, search_date
from ..mail.envelope import summary_items
from ..summaries import summaries
from ..wire import commands, protocol
from ..wire.session import ImapSession

# Messages received this long before the newest one we had seen are re-examined after a
# UIDVALIDITY change: clocks and delivery order are not exact.
RESYNC_OVERLAP = timedelta(minutes=10)


def new_emails(
    session: ImapSession,
    state: dict,
    mailbox: str,
    fetch_content: bool,
    mark_as_read: bool,
    max_per_poll: int,
    look_back_date: str | None,
) -> dict:
    state = checked_state(state)
    since = look_back(look_back_date) if look_back_date and not state else None
    selected = commands.select(session, mailbox, readonly=not mark_as_read)
    poll = Poll(
        session,
        selected,
        fetch_content=fetch_content,
        mark_as_read=mark_as_read,
        limit=max_per_poll,
    )
    if not state:
        if since is not None:
            return poll.emit(poll.search_since(since), since=since, previous={})
        return poll.baseline()
    if state["uidValidity"] != selected.uid_validity:
        # The mailbox was recreated or renumbered: old UIDs mean nothing. Take what was
        # received since the last poll (with an overlap), minus what that poll emitted.
        newest = _parse_time(state.get("lastInternalDate")) or datetime.now(UTC)
        since = newest - RESYNC_OVERLAP
        return poll.emit(
            poll.search_since(since),
            since=since,
            previous=state,
            resync=True,
            exclude=set(state.get("recentIds", [])),
        )
    since = _parse_time(state.get("since"))
    keys = [b"UID", b"%d:%d" % (state["lastUid"] + 1, protocol.MAX_UID)]
    if since is not None:
        keys += [b"SINCE", _search_day(since)]
    return poll.emit(commands.uid_search(session, keys), since=since, previous=state)


class Poll:
    def __init__(
        self,
        session: ImapSession,
        selected: commands.Selected,
        *,
        fetch_content: bool,
        mark_as_read: bool,
        limit: int,
    ):
        self.session, self.selected = session, selected
        self.fetch_content, self.mark_as_read, self.limit = fetch_content, mark_as_read, limit

    def search_since(self, since: datetime) -> list[int]:
        return commands.uid_search(self.session, [b"SINCE", _search_day(since)])

    def baseline(self) -> dict:
        """First poll: remember where the mailbox is; emit nothing."""
        top = commands.highest_uid(self.session) if self.selected.exists else None
        highest = [top] if top is not None else []
        newest = None
        if highest:
            values = commands.fetch(self.session, highest, b"(UID INTERNALDATE)").get(
                highest[0], {}
            )
            newest = iso(values.get(b"INTERNALDATE"))
        last = max([*highest, (self.selected.uid_next or 1) - 1])
        return {
            "records": [],
            "hasMore": False,
            "state": self.state(last, newest or _now_iso(), [], None),
        }

    def emit(
        self,
        candidates: list[int],
        *,
        since: datetime | None,
        previous: dict,
        resync: bool = False,
        exclude: set | None = None,
    ) -> dict:
        page, more = candidates[: self.limit], len(candidates) > self.limit
        items = summary_items(b"BODY.PEEK[]") if self.fetch_content else summary_items()
        fetched = commands.fetch(self.session, page, items) if page else {}
        records, newest = [], _parse_time(previous.get("lastInternalDate"))
        summary_of = {record["uid"]: record for record in summaries(self.session, page, fetched)}
        for uid in page:
            values = fetched.get(uid)
            if values is None:  # expunged between SEARCH and FETCH
                continue
            received = internal_date(values.get(b"INTERNALDATE"))
            if received is not None:
                newest = max(filter(None, [newest, _aware(received)]))
                if since is not None and _aware(received) < since:
                    continue  # catching up: received before the look-back / resync point
            record = summary_of[uid]
            if exclude and record["envelope"]["messageId"] in exclude:
                continue  # the previous poll emitted it before the mailbox was renumbered
            if self.fetch_content:
                record["message"] = mime.to_json(mime.parse(values.get(b"BODY[]") or b""))
            if resync:
                record["resync"] = True
            records.append(record)
        if self.mark_as_read and records:
            # Exactly the emitted UIDs: a range could catch a message that arrived meanwhile.
            commands.store(self.session, [r["uid"] for r in records], b"+FLAGS", ["\\Seen"])
            for record in records:
                if "\\Seen" not in record["flags"]:
                    record["flags"].append("\\Seen")
        last = page[-1] if page else previous.get("lastUid", 0)
        if (resync or not previous) and not more:
            last = max(last, (self.selected.uid_next or 1) - 1)
        keep_since = since if more else None
        return {
            "records": records,
            "hasMore": more,
            "state": self.state(
                last,
                newest.isoformat() if newest else previous.get("lastInternalDate") or _now_iso(),
                [r["envelope"]["messageId"] for r in records if r["envelope"]["messageId"]],
                keep_since,
            ),
        }

    def state(
        self, last_uid: int, newest: str, recent_ids: list[str], since: datetime | None
    ) -> dict:
        state = {
            "uidValidity": self.selected.uid_validity,
            "lastUid": last_uid,
            "lastInternalDate": newest,
            "recentIds": recent_ids,
        }
        if since is not None:
            state["since"] = since.isoformat()
        return state


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


def checked_state(state: dict) -> dict:
    """The previous poll's state, or {} for a first poll; anything else is refused."""
    if not state:
        return {}
    problems = []
    if not isinstance(state.get("uidValidity"), int):
        problems.append("uidValidity must be a number")
    last = state.get("lastUid")
    if not isinstance(last, int) or isinstance(last, bool) or not 0 <= last < protocol.MAX_UID:
        problems.append(f"lastUid must be a number from 0 to {protocol.MAX_UID - 1}")
    if not isinstance(state.get("recentIds", []), list):
        problems.append("recentIds must be a list")
    for key in ("lastInternalDate", "since"):
        if state.get(key) is not None and _parse_time(state[key]) is None:
            problems.append(f"{key} must be an ISO date-time")
    if problems:
        raise InvalidInput(
            "The trigger state is not one this trigger wrote: "
            + "; ".join(problems)
            + ". Pass {} to start over.",
            path="state",
        )
    return state


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
