"""listMailboxes, getStatus, createMailbox, renameMailbox against every server."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import append, raw_client


def test_list_mailboxes_matches_the_server(harness, server, imap, mailbox):
    data = harness.ok("listMailboxes")
    by_path = {m["path"]: m for m in data}
    server_paths = {name for _, _, name in imap.list_folders()}
    assert set(by_path) == server_paths
    assert by_path[mailbox]["name"] == mailbox.rsplit(server.delimiter, 1)[-1]
    assert by_path["INBOX"]["delimiter"] == server.delimiter


def test_list_mailboxes_special_use(harness, server):
    data = {m["path"]: m for m in harness.ok("listMailboxes")}
    if "SPECIAL-USE" in server.capabilities:
        assert data["Sent"]["specialUse"] == "\\Sent"
        # Cyrus says \sent: flags are given in their RFC spelling everywhere.
        assert "\\Sent" in data["Sent"]["flags"]
        assert all(f.lower() != "\\sent" or f == "\\Sent" for f in data["Sent"]["flags"])
        assert data["Trash"]["specialUse"] == "\\Trash"
        assert data["Sent"]["subscribed"] is True
    assert data["INBOX"]["specialUse"] is None


def test_get_status_counts(harness, imap, mailbox):
    uids = [append(imap, mailbox), append(imap, mailbox, flags=[b"\\Seen"])]
    data = harness.ok("getStatus", mailbox=mailbox)
    status = imap.folder_status(mailbox, [b"UIDVALIDITY", b"UIDNEXT"])
    assert data["path"] == mailbox
    assert data["messages"] == 2
    assert data["unseen"] == 1
    assert data["uidValidity"] == status[b"UIDVALIDITY"]
    assert data["uidNext"] == status[b"UIDNEXT"] == uids[-1] + 1


def test_get_status_highest_modseq(harness, server, mailbox):
    data = harness.ok("getStatus", mailbox=mailbox)
    if "CONDSTORE" in server.capabilities:
        assert data["highestModseq"] is not None and data["highestModseq"].isdigit()
    else:
        assert data["highestModseq"] is None


def test_get_status_missing_mailbox(harness, server):
    error = harness.error(
        "getStatus", "NOT_FOUND", mailbox=server.path("no-such-" + uuid.uuid4().hex[:6])
    )
    assert "Mailbox" in error["message"]


def test_create_mailbox_then_again(harness, server, imap):
    name = server.path("c-" + uuid.uuid4().hex[:8])
    assert harness.ok("createMailbox", path=name) == {
        "path": name,
        "created": True,
        "subscribed": True,
    }
    assert imap.folder_exists(name)
    assert harness.ok("createMailbox", path=name)["created"] is False


def test_rename_mailbox(harness, imap, mailbox):
    uid = append(imap, mailbox)
    new = mailbox + "-renamed"
    assert harness.ok("renameMailbox", path=mailbox, newPath=new) == {
        "path": mailbox,
        "newPath": new,
    }
    assert not imap.folder_exists(mailbox)
    imap.select_folder(new, readonly=True)
    assert imap.search(["UID", str(uid)]) == [uid]


def test_rename_onto_existing_is_already_exists(harness, imap, mailbox):
    other = mailbox + "-other"
    imap.create_folder(other)
    error = harness.error("renameMailbox", "ALREADY_EXISTS", path=mailbox, newPath=other)
    assert "New Path" in error["message"]
    assert imap.folder_exists(mailbox)


def test_rename_missing_is_not_found(harness, server):
    # Courier answers OK to this RENAME: the connector lists the name first.
    name = server.path("gone-" + uuid.uuid4().hex[:6])
    harness.error("renameMailbox", "NOT_FOUND", path=name, newPath=name + "x")


@pytest.mark.parametrize("name", ["Données/Été", "Отчёты 2024"])
def test_non_ascii_mailboxes(harness, server, name):
    unique = f"{server.path(*name.split('/'))} {uuid.uuid4().hex[:4]}"
    assert harness.ok("createMailbox", path=unique)["created"] is True
    paths = [m["path"] for m in harness.ok("listMailboxes")]
    assert unique in paths
    assert harness.ok("getStatus", mailbox=unique)["messages"] == 0
    renamed = unique + " ✓"
    harness.ok("renameMailbox", path=unique, newPath=renamed)
    client = raw_client(server)
    try:
        assert client.folder_exists(renamed) and not client.folder_exists(unique)
        client.select_folder(renamed)
    finally:
        client.logout()
