"""Message summaries (the rows of a search or a trigger poll) from fetched ENVELOPEs, with
the one extra FETCH that legacy 8-bit headers need."""

from __future__ import annotations

from .mail import envelope, mime
from .wire import commands
from .wire.session import ImapSession

CHARSET_ITEMS = b"(UID BODY.PEEK[HEADER.FIELDS (CONTENT-TYPE)] BODY.PEEK[1.MIME])"


def summaries(session: ImapSession, uids: list[int], fetched: dict[int, dict]) -> list[dict]:
    """Summaries of fetched messages, in ``uids`` order (expunged ones left out).

    ENVELOPE carries no charset: for the rare message whose header holds 8-bit bytes
    that are not UTF-8 (legacy mail), its declared charset is fetched (one more command
    for all of them) so "Привет" in KOI8-R is read as KOI8-R, not as windows-1252.
    """
    legacy = [uid for uid in uids if uid in fetched and envelope.has_legacy_bytes(fetched[uid])]
    declared: dict[int, str | None] = {}
    if legacy:
        for uid, values in commands.fetch(session, legacy, CHARSET_ITEMS).items():
            heads = [values.get(b"BODY[HEADER.FIELDS (CONTENT-TYPE)]"), values.get(b"BODY[1.MIME]")]
            declared[uid] = next(
                (
                    found
                    for found in (
                        mime.message_charset(mime.parse(bytes(h) + b"\r\n"))
                        for h in heads
                        if isinstance(h, bytes)
                    )
                    if found
                ),
                None,
            )
    return [
        envelope.summary(uid, fetched[uid], declared.get(uid)) for uid in uids if uid in fetched
    ]
