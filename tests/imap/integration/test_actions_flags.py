"""addFlags, removeFlags, setFlags against every server, read back independently."""

from __future__ import annotations

import pytest

from tests.helpers import append, make_message
from tests.servers.common import bulk_append


def server_flags(imap, mailbox, uids):
    imap.select_folder(mailbox, readonly=True)
    fetched = imap.fetch(uids, ["FLAGS"])
    return {
        uid: sorted(f.decode() for f in fetched[uid][b"FLAGS"] if f != b"\\Recent") for uid in uids
    }


def test_add_remove_set(harness, imap, mailbox):
    uids = [append(imap, mailbox) for _ in range(3)]
    data = harness.ok(
        "addFlags",
        mailbox=mailbox,
        range=f"{uids[0]}:{uids[1]}",
        flags='["\\\\flagged", "\\\\Seen"]',
    )
    assert [m["uid"] for m in data["messages"]] == uids[:2]
    assert server_flags(imap, mailbox, uids) == {
        uids[0]: ["\\Flagged", "\\Seen"],
        uids[1]: ["\\Flagged", "\\Seen"],
        uids[2]: [],
    }
    assert {tuple(sorted(m["flags"])) for m in data["messages"]} == {("\\Flagged", "\\Seen")}
    assert data["uidValidity"] == imap.folder_status(mailbox, [b"UIDVALIDITY"])[b"UIDVALIDITY"]

    data = harness.ok("removeFlags", mailbox=mailbox, range=str(uids[0]), flags=["\\Seen"])
    assert data["messages"] == [{"uid": uids[0], "flags": ["\\Flagged"]}]
    assert server_flags(imap, mailbox, [uids[0]])[uids[0]] == ["\\Flagged"]

    harness.ok("setFlags", mailbox=mailbox, range=",".join(map(str, uids)), flags=["\\Answered"])
    assert set(map(tuple, server_flags(imap, mailbox, uids).values())) == {("\\Answered",)}
    harness.ok("setFlags", mailbox=mailbox, range=f"{uids[0]}:*", flags="[]")
    assert set(map(tuple, server_flags(imap, mailbox, uids).values())) == {()}


def test_keywords(harness, server, imap, mailbox):
    uid = append(imap, mailbox)
    if "KEYWORDS" not in server.capabilities:
        # pymap's PERMANENTFLAGS lack \* (it would drop keywords): refused, nothing changed.
        error = harness.error(
            "addFlags", "UNSUPPORTED", mailbox=mailbox, range=str(uid), flags=["\\Seen", "Work"]
        )
        assert "Work" in error["message"]
        assert error["details"][0]["path"] == "inputs.flags"  # (a form marks Flags)
        assert server_flags(imap, mailbox, [uid])[uid] == []
        return
    harness.ok("addFlags", mailbox=mailbox, range=str(uid), flags=["$Important", "Work"])
    assert server_flags(imap, mailbox, [uid])[uid] == ["$Important", "Work"]


def test_star_addresses_the_newest_only(harness, imap, mailbox):
    uids = [append(imap, mailbox) for _ in range(3)]
    data = harness.ok("addFlags", mailbox=mailbox, range="*", flags=["\\Flagged"])
    assert [m["uid"] for m in data["messages"]] == [uids[-1]]
    assert server_flags(imap, mailbox, uids) == {uids[0]: [], uids[1]: [], uids[2]: ["\\Flagged"]}


def test_n_star_above_the_highest_uid_changes_nothing(harness, imap, mailbox):
    uids = [append(imap, mailbox) for _ in range(2)]
    data = harness.ok("addFlags", mailbox=mailbox, range=f"{uids[-1] + 10}:*", flags=["\\Flagged"])
    assert data["messages"] == []
    assert server_flags(imap, mailbox, uids) == {uids[0]: [], uids[1]: []}


def test_range_matching_nothing_is_not_an_error(harness, imap, mailbox):
    append(imap, mailbox)
    assert (
        harness.ok("addFlags", mailbox=mailbox, range="999999", flags=["\\Seen"])["messages"] == []
    )


@pytest.mark.parametrize(
    "flags",
    [
        '["\\\\Recent"]',
        '["ok", "bad word"]',
        '["x\\r\\nA1 CREATE injected"]',
        '["\\\\Seen", "a)"]',
        "[]",
    ],
)
def test_bad_flags_change_nothing(harness, imap, mailbox, flags):
    uid = append(imap, mailbox)
    error = harness.error("addFlags", "INVALID_INPUT", mailbox=mailbox, range=str(uid), flags=flags)
    assert error["details"][0]["path"].startswith("inputs.flags")
    assert server_flags(imap, mailbox, [uid]) == {uid: []}
    assert not imap.folder_exists("injected")


def test_bad_range_changes_nothing(harness, imap, mailbox):
    uid = append(imap, mailbox)
    for bad in ["1:x", "0", "1 2", f"{uid}\r\nA1 CREATE injected"]:
        error = harness.error(
            "addFlags", "INVALID_INPUT", mailbox=mailbox, range=bad, flags=["\\Seen"]
        )
        assert error["details"][0]["path"] == "inputs.range"
    assert server_flags(imap, mailbox, [uid]) == {uid: []}
    assert not imap.folder_exists("injected")


def test_missing_mailbox_is_not_found(harness, server):
    harness.error(
        "addFlags", "NOT_FOUND", mailbox=server.path("nowhere-x1"), range="1", flags=["\\Seen"]
    )


def test_five_thousand_uids_with_gaps_in_one_action(harness, server, imap, mailbox):
    bulk_append(imap, mailbox, [make_message(f"bulk {i}") for i in range(5000)], server=server)
    imap.select_folder(mailbox)
    all_uids = imap.search(["ALL"])
    doomed = all_uids[::3]  # every third: the rest cannot be written as a few ranges
    imap.add_flags(doomed, [b"\\Deleted"], silent=True)
    imap.expunge()
    first = server.first_uid
    data = harness.ok(
        "addFlags", mailbox=mailbox, range=f"{first}:{first + 4999}", flags=["\\Flagged"]
    )
    kept = sorted(set(all_uids) - set(doomed))
    assert [m["uid"] for m in data["messages"]] == kept
    imap.select_folder(mailbox, readonly=True)
    assert imap.search(["UNFLAGGED"]) == []
    assert len(imap.search(["FLAGGED"])) == len(kept)


def test_messages_whose_flags_do_not_change_are_reported_too(harness, imap, mailbox):
    # Dovecot's STORE replies leave out unchanged messages; the output must not.
    uids = [append(imap, mailbox) for _ in range(3)]
    imap.select_folder(mailbox)
    imap.add_flags([uids[1]], [b"\\Flagged"])
    data = harness.ok(
        "addFlags", mailbox=mailbox, range=f"{uids[0]}:{uids[2]}", flags=["\\Flagged"]
    )
    assert [(m["uid"], m["flags"]) for m in data["messages"]] == [(u, ["\\Flagged"]) for u in uids]
    data = harness.ok("removeFlags", mailbox=mailbox, range=str(uids[0]), flags=["\\Seen"])
    assert data["messages"] == [{"uid": uids[0], "flags": ["\\Flagged"]}]


# --- keywords a server refuses ---------------------------------------------------------------


def keyword_server(permanent: bytes):
    """SELECT answers with ``permanent`` PERMANENTFLAGS; any STORE of a keyword is refused."""
    from tests.servers import fake

    def on_other(conn, tag, command, line, listener):
        if command in (b"SELECT", b"EXAMINE"):
            conn.sendall(
                b"* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 5] ok\r\n"
                b"* OK [PERMANENTFLAGS (" + permanent + b")] ok\r\n" + tag + b" OK done\r\n"
            )
        elif b" STORE " in line.upper():
            conn.sendall(tag + b" BAD Unrecognized flag\r\n")
        elif b" FETCH * " in line.upper():
            conn.sendall(b"* 1 FETCH (UID 4)\r\n" + tag + b" OK done\r\n")
        elif b" SEARCH " in line.upper():
            conn.sendall(b"* SEARCH 4\r\n" + tag + b" OK done\r\n")
        else:
            conn.sendall(tag + b" BAD unknown\r\n")

    return fake.Listener(fake.scripted(fake.accept_login, on_other))


@pytest.mark.parametrize("permanent", [b"\\Seen \\Flagged \\Deleted", b"\\Seen \\*"])
def test_refused_keyword_is_unsupported_naming_it(connector, permanent):
    from connector.sdk.testing import Harness

    listener = keyword_server(permanent)
    try:
        harness = Harness(
            connector,
            {
                "host": "127.0.0.1",
                "port": listener.port,
                "secure": False,
                "startTls": "never",
                "user": "u",
                "pass": "p",
            },
        )
        error = harness.error(
            "addFlags", "UNSUPPORTED", mailbox="INBOX", range="4", flags=["\\Seen", "Work"]
        )
        assert "Work" in error["message"]
        assert error["details"][0]["path"] == "inputs.flags"
        stores = [line for line in bytes(listener.received).split(b"\r\n") if b"STORE" in line]
        # Known from PERMANENTFLAGS: refused before anything is stored.
        assert stores == [] if b"\\*" not in permanent else len(stores) == 1
    finally:
        listener.close()
