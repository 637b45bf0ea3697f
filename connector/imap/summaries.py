"""Message summaries (the rows of a search or a trigger poll) from fetched ENVELOPEs, with
the one extra FETCH that legacy 8-bit headers need."""

from __future__ import annotations

from .mail import envelope, mime
from .wire import commands
from .wire.session import ImapSession

CHARSET_ITEMS = b"(UID BODY.PEEK[HEADER.FIELDS (CONTENT-TYPE)] BODY.PEEK[1.MIME])"


def fetch_summaries(session: ImapSession, uids: list[int]) -> tuple[dict[int, dict], list[dict]]:
    """FETCH the summaries of ``uids``. Returns what was fetched ({uid: {ITEM: value}})
    and the summaries in ``uids`` order (expunged messages left out).

    Each summary is built as its FETCH response arrives, while the server is still
    writing the next ones (bench W1: part of the building hides behind the reply).
    ENVELOPE carries no charset: for the rare message whose header holds 8-bit bytes
    that are not UTF-8 (legacy mail), its declared charset is fetched (one more command
    for all of them) so "Привет" in KOI8-R is read as KOI8-R, not as windows-1252.
    """
    built: dict[int, dict] = {}
    legacy: set[int] = set()

    def build(uid: int, values: dict) -> None:
        if envelope.has_legacy_bytes(values):
            legacy.add(uid)  # built after the reply, once its charset is known
            built.pop(uid, None)
        else:
            legacy.discard(uid)
            built[uid] = envelope.summary(uid, values)

    fetched = commands.fetch(session, uids, envelope.summary_items(), each=build) if uids else {}
    late = [uid for uid in uids if uid in legacy]
    if late:
        declared = declared_charsets(session, late)
        for uid in late:
            built[uid] = envelope.summary(uid, fetched[uid], declared.get(uid))
    return fetched, [built[uid] for uid in uids if uid in built]


def declared_charsets(session: ImapSession, uids: list[int]) -> dict[int, str | None]:
    """Each message's declared charset (its header's Content-Type, else its first part's)."""
    declared: dict[int, str | None] = {}
    for uid, values in commands.fetch(session, uids, CHARSET_ITEMS).items():
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
    return declared
