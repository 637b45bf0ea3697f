"""Copying and moving messages so that a retried step never duplicates mail.

A platform repeats a step whose reply was lost. MOVE is safe by itself (moved messages
are gone from the source, so a repeat finds nothing to move). COPY is not: before
copying, the destination is searched for each message's Message-ID, and a message of
the same Message-ID and size that is already there counts as copied
(``alreadyInDestination``). A message without a Message-ID cannot be recognised: if
the connection drops while copying one, the error says that trying again may copy
it twice (``retryable: false``).

The move fallback (no MOVE, UIDPLUS present) is COPY as above, then ``\\Deleted`` and
UID EXPUNGE of exactly the moved UIDs; a repeat after a drop at any point completes it.
"""

from __future__ import annotations

import imaplib

from connector.sdk.errors import ConnectionFailed

from .mail import mime
from .wire import commands, malformed, protocol, server_sets
from .wire.session import ImapSession

IDENTITY_ITEMS = b"(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
SEARCH_BATCH = 20  # Message-IDs per UID SEARCH (OR-ed)


def transfer(
    session: ImapSession,
    mailbox: str,
    uid_set: protocol.UidSet,
    path: str,
    label: str,
    *,
    move: bool,
    uid_validity: int | None = None,
) -> dict:
    """copyMessage / moveMessage: the output both share."""
    destination = protocol.mailbox_arg(protocol.check_mailbox(path, "path"))
    source = commands.select(session, mailbox, readonly=not move, uid_validity=uid_validity)
    uids = commands.resolve(session, uid_set)
    result = {
        "mailbox": mailbox,
        "destination": path,
        "uidValidity": source.uid_validity,
        "destinationUidValidity": None,
        "uidMap": [],
        "alreadyInDestination": [],
    }
    if not uids:
        return result
    use_move = move and session.has("MOVE")
    found: dict[int, int] = {}
    identities: dict[int, tuple | None] = {}
    if not use_move:
        identities = _identities(session, uids)
        if any(identities.values()):  # nothing to recognise: no visit to the destination
            found, result["destinationUidValidity"] = _already_there(
                session, identities, path, label
            )
            commands.select(session, mailbox, readonly=not move)
    to_send = [uid for uid in uids if uid not in found]
    sent, validity = _send(
        session,
        b"MOVE" if use_move else b"COPY",
        to_send,
        destination,
        path,
        label,
        unknown=[u for u in to_send if not identities.get(u)] if not use_move else [],
    )
    result["destinationUidValidity"] = validity or result["destinationUidValidity"]
    if move and not use_move:
        # UIDPLUS: UID EXPUNGE removes exactly these, never another \Deleted message.
        commands.store(session, uids, b"+FLAGS", ["\\Deleted"])
        for chunk in protocol.uid_sets(uids):
            commands.run(session, b"EXPUNGE", [chunk])
    result["uidMap"] = [
        {"uid": uid, "destinationUid": found.get(uid, sent.get(uid))} for uid in uids
    ]
    result["alreadyInDestination"] = [uid for uid in uids if uid in found]
    return result


def _identities(session: ImapSession, uids: list[int]) -> dict[int, tuple | None]:
    """{uid: (Message-ID, size)} of the source messages (None without a Message-ID)."""
    out: dict[int, tuple | None] = {}
    for uid, values in commands.fetch(session, uids, IDENTITY_ITEMS).items():
        head = values.get(b"BODY[HEADER.FIELDS (MESSAGE-ID)]")
        found = mime.message_id(bytes(head)) if isinstance(head, bytes) else None
        out[uid] = (found, values.get(b"RFC822.SIZE")) if found else None
    return out


def _already_there(
    session: ImapSession, identities: dict, path: str, label: str
) -> tuple[dict[int, int], int | None]:
    """Source UIDs whose message (same Message-ID and size) the destination already holds."""
    wanted = sorted({ident[0] for ident in identities.values() if ident})
    target = commands.select(session, path, readonly=True, label=label)
    if not wanted or not target.exists:
        return {}, target.uid_validity
    candidates: list[int] = []
    for start in range(0, len(wanted), SEARCH_BATCH):
        batch = wanted[start : start + SEARCH_BATCH]
        keys: list[bytes] = [b"OR"] * (len(batch) - 1)
        for message_id in batch:
            keys += [b"HEADER", b'"Message-ID"', protocol.search_string(message_id, "range")[0]]
        candidates += commands.uid_search(session, keys)
    pool: dict[tuple, list[int]] = {}
    for uid, ident in sorted(_identities(session, sorted(set(candidates))).items()):
        if ident:
            pool.setdefault(ident, []).append(uid)
    found = {}
    for uid, ident in sorted(identities.items()):
        if ident and pool.get(ident):
            found[uid] = pool[ident].pop(0)  # each stored copy answers for one source message
    return found, target.uid_validity


def _send(
    session: ImapSession,
    command: bytes,
    uids: list[int],
    destination: bytes,
    path: str,
    label: str,
    unknown: list[int],
) -> tuple[dict[int, int], int | None]:
    """UID COPY/MOVE in chunks; returns ({uid: destination uid}, destination UIDVALIDITY)."""
    mapping: dict[int, int] = {}
    uid_validity = None
    for chunk in protocol.uid_sets(uids):
        commands.pop_response_code(session, "COPYUID")
        try:
            with commands.refusals(path, label, session):
                commands.run(session, command, [chunk, destination], response="OK")
        except (imaplib.IMAP4.abort, OSError) as exc:
            if not unknown:
                raise
            raise ConnectionFailed(
                f"The connection was lost during {command.decode()}: {len(unknown)} message(s) "
                "without a Message-ID may or may not have been copied, and a repeat could copy "
                "them twice. Check the destination before trying again.",
                retryable=False,
            ) from exc
        sent = len(server_sets.ServerSet.parse(chunk))  # (our own set: its UIDs, counted)
        for parts in commands.response_code_values(session, "COPYUID"):
            if len(parts) == 3:
                uid_validity = malformed.number(parts[0], "COPYUID", "its UIDVALIDITY")
                # Counted first: a COPYUID naming more UIDs than this chunk sent is the
                # server's lie (``1:4294967295`` was a MemoryError), never expanded.
                source, copies = (
                    server_sets.ServerSet.parse(parts[1]),
                    server_sets.ServerSet.parse(parts[2]),
                )
                mapping.update(zip(source.expand(sent), copies.expand(sent), strict=False))
    return mapping, uid_validity
