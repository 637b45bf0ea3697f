"""searchMailbox: UID SEARCH, then one FETCH of summaries for the page."""

from __future__ import annotations

from .. import search
from ..summaries import fetch_summaries
from ..wire import commands
from ..wire.session import ImapSession


def search_mailbox(
    session: ImapSession,
    mailbox: str,
    read_unread: str,
    filter_options: dict | None,
    limit: int,
    order: str,
    from_: str | None = None,
    to: str | None = None,
) -> dict:
    # EXAMINE (it changes nothing) travels with the SEARCH where the session pipelines
    # (with the login or a pooled session's UNSELECT too): then two flights in all, the
    # SEARCH and the FETCH of the page. Elsewhere EXAMINE goes first, and with it the login,
    # after which the capabilities the criteria depend on are known.
    ahead = commands.examine_ahead(session, mailbox)
    if ahead is None:
        selected = commands.select(session, mailbox, readonly=True)
    criteria = search.build(
        session.capabilities,
        sender=from_,
        recipient=to,
        read_unread=read_unread,
        filters=filter_options,
    )
    if ahead is not None:
        with ahead.carried():
            uids = commands.search_set(session, criteria.keys, charset=criteria.utf8)
        selected = ahead.selected
    else:
        uids = commands.search_set(session, criteria.keys, charset=criteria.utf8)
    # Only the page is expanded: the server's set may name millions (counted, in "total").
    page = uids.last(limit)[::-1] if order == "newest" else uids.first(limit)
    _, messages = fetch_summaries(session, page)
    return {
        "mailbox": mailbox,
        "uidValidity": selected.uid_validity,
        "total": len(uids),
        "messages": messages,
    }
