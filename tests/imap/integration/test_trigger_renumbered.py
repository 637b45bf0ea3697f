"""Issue 37: a mailbox renumbered with the same messages (COPY out, DELETE, CREATE, COPY
back: a new UIDVALIDITY) hands off only what is new, on Dovecot and Cyrus; messages without a
Message-ID are recognised by their envelope; the records say what happened."""

from __future__ import annotations

import uuid

import pytest

from connector.sdk.testing import Harness
from tests.helpers import make_message, raw_client

TRIGGER = "newEmailsPollingTrigger"


@pytest.fixture(params=["dovecot", "cyrus"])
def renumbered_server(request):
    return request.getfixturevalue(f"{request.param}_server")


def without_message_id(subject: str) -> bytes:
    message = make_message(subject, message_id="<drop@example.com>")
    return message.replace(b"Message-ID: <drop@example.com>\r\n", b"")


def poll(harness, state, **inputs):
    envelope = harness.poll(TRIGGER, state, **inputs)
    assert envelope["ok"], envelope
    return envelope["data"], envelope["state"]


def recreate_with_the_same_messages(imap, name: str, holding: str) -> None:
    imap.create_folder(holding)
    imap.select_folder(name)
    imap.copy(imap.search(["ALL"]), holding)
    imap.close_folder()
    imap.delete_folder(name)
    imap.create_folder(name)
    imap.select_folder(holding)
    imap.copy(imap.search(["ALL"]), name)
    imap.close_folder()


def test_a_recreated_mailbox_with_the_same_messages_hands_off_only_the_new(
    connector, renumbered_server
):
    server = renumbered_server
    imap = raw_client(server)
    tag = uuid.uuid4().hex[:8]
    name, holding = server.path(f"rn-{tag}"), server.path(f"rh-{tag}")
    imap.create_folder(name)
    harness = Harness(connector, server.connection())
    try:
        _, state = poll(harness, {}, mailbox=name)
        for i in range(10):  # two of them without a Message-ID
            imap.append(name, without_message_id(f"old {i}") if i < 2 else make_message(f"old {i}"))
        records, state = poll(harness, state, mailbox=name)
        assert sorted(r["envelope"]["subject"] for r in records) == [f"old {i}" for i in range(10)]
        before = state["mailboxes"][name]["uidValidity"]

        recreate_with_the_same_messages(imap, name, holding)
        after = imap.folder_status(name, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
        assert after != before  # renumbered
        for i in range(3):
            imap.append(
                name, without_message_id(f"new {i}") if i == 0 else make_message(f"new {i}")
            )

        records, state = poll(harness, state, mailbox=name)
        assert sorted(r["envelope"]["subject"] for r in records) == ["new 0", "new 1", "new 2"]
        assert all(r["resync"] is True and r["previousUidValidity"] == before for r in records)
        assert {r["uidValidity"] for r in records} == {after}
        assert poll(harness, state, mailbox=name)[0] == []  # and nothing later either
        later = make_message("later")
        imap.append(name, later)
        records, _ = poll(harness, state, mailbox=name)
        assert [r["envelope"]["subject"] for r in records] == ["later"]
        assert "resync" not in records[0]
    finally:
        for folder in (name, holding):
            try:
                imap.delete_folder(folder)
            except Exception:  # noqa: BLE001 - cleanup
                pass
        imap.logout()


def test_a_renumbering_between_pages_still_skips_what_was_handed_off(connector, dovecot_server):
    """30 messages handed off in pages of 10 across the renumbering: the re-read comes in
    pages too, and none of the 30 comes again in any of them."""
    server = dovecot_server
    imap = raw_client(server)
    tag = uuid.uuid4().hex[:8]
    name, holding = server.path(f"rp-{tag}"), server.path(f"rq-{tag}")
    imap.create_folder(name)
    harness = Harness(connector, server.connection())
    try:
        _, state = poll(harness, {}, mailbox=name)
        for i in range(30):
            imap.append(name, make_message(f"old {i}"))
        seen = []
        for _ in range(3):
            records, state = poll(harness, state, mailbox=name, maxPerPoll=10)
            seen += records
        assert len(seen) == 30
        recreate_with_the_same_messages(imap, name, holding)
        for i in range(15):
            imap.append(name, make_message(f"new {i}"))
        fresh = []
        for _ in range(6):
            records, state = poll(harness, state, mailbox=name, maxPerPoll=10)
            fresh += [r["envelope"]["subject"] for r in records]
        assert sorted(fresh) == sorted(f"new {i}" for i in range(15))
    finally:
        for folder in (name, holding):
            try:
                imap.delete_folder(folder)
            except Exception:  # noqa: BLE001 - cleanup
                pass
        imap.logout()
