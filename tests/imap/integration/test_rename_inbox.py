"""renameMailbox refuses INBOX: RFC 3501 6.3.5 makes renaming INBOX move all its messages
into the new mailbox and leave INBOX empty, which a step called "Rename" must not do."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import append


@pytest.mark.parametrize("spelling", ["INBOX", "inbox", "Inbox"])
def test_renaming_inbox_is_refused_and_moves_nothing(harness, server, imap, spelling):
    uid = append(imap, "INBOX")
    target = server.path("from-inbox-" + uuid.uuid4().hex[:8])
    error = harness.error("renameMailbox", "INVALID_INPUT", path=spelling, newPath=target)
    assert error["retryable"] is False
    assert [detail["path"] for detail in error["details"]] == ["inputs.path"]
    assert "INBOX cannot be renamed" in error["message"]
    assert "leaves INBOX empty" in error["message"]
    assert "Move Message" in error["message"]
    assert not imap.folder_exists(target)
    imap.select_folder("INBOX", readonly=True)
    assert imap.search(["UID", str(uid)]) == [uid]
