"""searchMailbox: UID SEARCH, then one FETCH of summaries for the page."""

from __future__ import annotations

from .. import commands, search
from ..envelope import summaries
from ..session import ImapSession

SUMMARY_ITEMS = b"(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE)"


def search_mailbox(
    session: ImapSession,
    mailbox: str,
    readUnread: str,  # noqa: N803
    filterOptions: dict | None,
    limit: int,
    order: str,
    **filters,
) -> dict:
    # EXAMINE first (it changes nothing): with pipelining it travels with the login, and the
    # capabilities the criteria depend on are known after it.
    selected = commands.select(session, mailbox, readonly=True)
    # "from" and "to" are Python keywords-in-spirit; they arrive through **filters.
    criteria = search.build(
        session.capabilities,
        sender=filters.get("from"),
        recipient=filters.get("to"),
        read_unread=readUnread,
        filters=filterOptions,
    )
    uids = commands.uid_search(session, criteria.keys, charset=criteria.utf8)
    page = uids[-limit:][::-1] if order == "newest" else uids[:limit]
    fetched = commands.fetch(session, page, SUMMARY_ITEMS) if page else {}
    return {
        "mailbox": mailbox,
        "uidValidity": selected.uid_validity,
        "total": len(uids),
        "messages": summaries(session, page, fetched),
    }
