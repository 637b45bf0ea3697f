"""CR, LF, NUL and quotes in mailbox names, flags and search terms never run a second command.

Every attempt below would create the mailbox INJECTED if it reached the wire raw.
"""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import append

CRLF = "\r\nA1 CREATE INJECTED\r\n"
ATTACKS = [f'x"{CRLF}', f"x{CRLF}", "x\r", "x\n", "x\0y", f'x" {CRLF}"']


@pytest.fixture
def guard(imap):
    """Fails the test if any attempt created INJECTED."""
    yield
    assert not imap.folder_exists("INJECTED")


@pytest.mark.parametrize("name", ATTACKS)
def test_mailbox_names_with_line_breaks_are_refused(harness, guard, name):
    for action, inputs in [
        ("createMailbox", {"path": name}),
        ("getStatus", {"mailbox": name}),
        ("searchMailbox", {"mailbox": name}),
        ("renameMailbox", {"path": "INBOX", "newPath": name}),
    ]:
        error = harness.error(action, "INVALID_INPUT", **inputs)
        assert error["details"][0]["path"] in ("inputs.path", "inputs.mailbox", "inputs.newPath")


def test_quotes_and_backslashes_in_mailbox_names_are_encoded(harness, server, imap, guard):
    name = server.path(f'q"uo\\te {uuid.uuid4().hex[:4]} ") CREATE INJECTED')
    envelope = harness.invoke("createMailbox", path=name)
    if not envelope["ok"]:  # Cyrus refuses '"' in names: a typed refusal, nothing created
        assert envelope["error"]["code"] == "SERVER_ERROR", envelope
        assert not imap.folder_exists(name)
        return
    assert envelope["data"]["created"] is True
    assert imap.folder_exists(name)
    assert harness.ok("getStatus", mailbox=name)["messages"] == 0


@pytest.mark.parametrize("term", ATTACKS)
def test_search_terms_with_line_breaks_are_refused(harness, mailbox, guard, term):
    for inputs in [
        {"from": term},
        {"to": term},
        {"filterOptions": {"subject": term}},
        {"filterOptions": {"header": {"X-Test": term}}},
        {"filterOptions": {"or": [{"seen": True}, {"body": term}]}},
    ]:
        harness.error("searchMailbox", "INVALID_INPUT", mailbox=mailbox, **inputs)


@pytest.mark.parametrize("term", ['a") ALL (', 'back\\slash"', 'é") CREATE INJECTED (" ', "ALL"])
def test_search_terms_with_quotes_are_encoded(harness, imap, mailbox, guard, term):
    append(imap, mailbox)
    data = harness.ok("searchMailbox", mailbox=mailbox, filterOptions={"subject": term})
    assert data["total"] == 0  # the quote did not end the string: nothing matched


@pytest.mark.parametrize("flag", [f"\\Seen{CRLF}", "Work\r\n", "a\0", 'x")'])
def test_flags_with_line_breaks_or_quotes_are_refused(harness, imap, mailbox, guard, flag):
    uid = append(imap, mailbox)
    harness.error("addFlags", "INVALID_INPUT", mailbox=mailbox, range=str(uid), flags=[flag])
    harness.error(
        "appendMessage", "INVALID_INPUT", path=mailbox, content="Subject: x\r\n\r\nx", flags=[flag]
    )
    imap.select_folder(mailbox, readonly=True)
    assert imap.search(["ALL"]) == [uid]
