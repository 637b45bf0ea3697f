"""downloadMessage and searchMailbox against every server, compared with the server's own view."""

from __future__ import annotations

import base64

import pytest

from tests.helpers import MESSAGES, append, make_message

MULTIPART = (MESSAGES / "multipart.eml").read_bytes()


# --- downloadMessage ---------------------------------------------------------------------


def test_download_parsed_by_uid(harness, imap, mailbox):
    uid = append(imap, mailbox, MULTIPART)
    data = harness.ok("downloadMessage", mailbox=mailbox, messageIndex=uid)
    assert data["uid"] == uid and data["size"] == len(MULTIPART)
    assert data["uidValidity"] == imap.folder_status(mailbox, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    message = data["message"]
    assert message["subject"] == "Résumé and report"
    assert message["text"].strip() == "Café crème"
    assert [a["filename"] for a in message["attachments"]][:1] == ["résumé.pdf"]
    imap.select_folder(mailbox, readonly=True)
    assert b"\\Seen" not in imap.fetch([uid], ["FLAGS"])[uid][b"FLAGS"]  # BODY.PEEK


def test_download_by_index_one_is_the_oldest(harness, imap, mailbox):
    first = append(imap, mailbox, make_message("oldest"))
    append(imap, mailbox, make_message("newest"))
    data = harness.ok("downloadMessage", mailbox=mailbox, messageIndex="1", by="index")
    assert data["uid"] == first and data["message"]["subject"] == "oldest"
    harness.error("downloadMessage", "NOT_FOUND", mailbox=mailbox, messageIndex=3, by="index")


def test_download_part_returns_the_decoded_attachment(harness, imap, mailbox):
    uid = append(imap, mailbox, MULTIPART)
    part = harness.ok("downloadMessage", mailbox=mailbox, messageIndex=uid, part="2")["part"]
    assert part["partId"] == "2" and part["contentType"] == "application/pdf"
    content = part["content"]
    raw = (
        base64.b64decode(content["content"])
        if content["encoding"] == "base64"
        else content["content"].encode()
    )
    assert raw == b"%PDF-1.4 fake pdf bytes \x00\x01\x02"
    html = harness.ok("downloadMessage", mailbox=mailbox, messageIndex=uid, part="1.2")["part"]
    assert html["content"]["content"].strip() == "<p>Café crème</p>"
    header = harness.ok("downloadMessage", mailbox=mailbox, messageIndex=uid, part="HEADER")["part"]
    assert header["content"]["content"].startswith("From: ")
    harness.error("downloadMessage", "NOT_FOUND", mailbox=mailbox, messageIndex=uid, part="7")
    error = harness.error(
        "downloadMessage", "INVALID_INPUT", mailbox=mailbox, messageIndex=uid, part="1]<>"
    )
    assert error["details"][0]["path"] == "inputs.part"


def test_download_raw_utf8(harness, imap, mailbox):
    message = make_message("raw", body="naïve\r\n")
    uid = append(imap, mailbox, message)
    raw = harness.ok("downloadMessage", mailbox=mailbox, messageIndex=uid, format="raw")["raw"]
    assert raw == {"encoding": "utf-8", "content": message.decode()}


def test_download_unknown_uid_and_mailbox(harness, imap, mailbox):
    uid = append(imap, mailbox)
    harness.error("downloadMessage", "NOT_FOUND", mailbox=mailbox, messageIndex=uid + 50)
    harness.error("downloadMessage", "NOT_FOUND", mailbox=mailbox + "-none", messageIndex=1)


# --- searchMailbox -----------------------------------------------------------------------


@pytest.fixture
def populated(imap, mailbox):
    """Five messages with different senders, subjects and flags."""
    uids = [
        append(imap, mailbox, make_message("Invoice 1", sender="Billing <billing@shop.example>")),
        append(imap, mailbox, make_message("Hello", to="carol@example.com"), flags=[b"\\Seen"]),
        append(imap, mailbox, make_message("Rapport été 2024", sender="André <andre@example.com>")),
        append(
            imap,
            mailbox,
            make_message("Invoice 2", sender="Billing <billing@shop.example>"),
            flags=[b"\\Flagged", b"\\Seen"],
        ),
        append(imap, mailbox, make_message("Big", body="x" * 20000 + "\r\n")),
    ]
    return mailbox, uids


def uids_of(data):
    return [m["uid"] for m in data["messages"]]


def test_search_all_newest_first_with_envelopes(harness, imap, populated):
    mailbox, uids = populated
    data = harness.ok("searchMailbox", mailbox=mailbox)
    assert data["total"] == 5 and uids_of(data) == uids[::-1]
    assert data["uidValidity"] == imap.folder_status(mailbox, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    first = data["messages"][-1]
    assert first["envelope"]["subject"] == "Invoice 1"
    assert first["envelope"]["from"] == [{"name": "Billing", "address": "billing@shop.example"}]
    assert first["envelope"]["date"] == "2024-05-01T09:29:41+02:00"
    assert first["size"] > 0 and first["internalDate"]
    imap.select_folder(mailbox, readonly=True)
    sizes = imap.fetch(uids, ["RFC822.SIZE"])
    assert {m["uid"]: m["size"] for m in data["messages"]} == {
        u: sizes[u][b"RFC822.SIZE"] for u in uids
    }


def test_search_limit_order_and_total(harness, populated):
    mailbox, uids = populated
    data = harness.ok("searchMailbox", mailbox=mailbox, limit="2", order="oldest")
    assert data["total"] == 5 and uids_of(data) == uids[:2]
    data = harness.ok("searchMailbox", mailbox=mailbox, limit=2)
    assert uids_of(data) == [uids[4], uids[3]]


def test_search_from_to_and_read_state(harness, populated):
    mailbox, uids = populated
    assert uids_of(harness.ok("searchMailbox", mailbox=mailbox, **{"from": "billing"})) == [
        uids[3],
        uids[0],
    ]
    assert uids_of(harness.ok("searchMailbox", mailbox=mailbox, to="carol")) == [uids[1]]
    assert set(uids_of(harness.ok("searchMailbox", mailbox=mailbox, readUnread="read"))) == {
        uids[1],
        uids[3],
    }
    assert set(uids_of(harness.ok("searchMailbox", mailbox=mailbox, readUnread="unread"))) == {
        uids[0],
        uids[2],
        uids[4],
    }


def test_search_filter_options(harness, server, populated):
    mailbox, uids = populated

    def found(filters):
        return sorted(uids_of(harness.ok("searchMailbox", mailbox=mailbox, filterOptions=filters)))

    assert found({"subject": "invoice", "flagged": True}) == [uids[3]]
    assert found('{"or": [{"flagged": true}, {"to": "carol"}]}') == [uids[1], uids[3]]
    assert found({"not": {"seen": True}}) == [uids[0], uids[2], uids[4]]
    assert found({"larger": 10000}) == [uids[4]]
    assert found({"uid": f"{uids[3]}:*"}) == [uids[3], uids[4]]
    assert found({"since": "2000-01-01"}) == uids
    assert found({"header": {"Message-ID": "example.com"}}) == uids
    by_position = found({"seq": "1:2"})  # positions, not UIDs
    assert by_position == (uids[:2] if "SEQUENCE-SEARCH" in server.capabilities else [])


def test_search_utf8_subject(harness, server, imap, populated):
    mailbox, uids = populated
    if "SEARCH-8BIT" not in server.capabilities:
        # Cyrus does not search raw 8-bit (RFC 6532) header bytes: the same text as
        # encoded words, which every server decodes for SEARCH, replaces that message.
        imap.select_folder(mailbox)
        imap.delete_messages([uids[2]])
        imap.expunge()
        uids[2] = append(
            imap,
            mailbox,
            make_message(
                "Rapport =?utf-8?q?=C3=A9t=C3=A9?= 2024",
                sender="=?utf-8?q?Andr=C3=A9?= <andre@example.com>",
            ),
        )
    data = harness.ok("searchMailbox", mailbox=mailbox, filterOptions={"subject": "été"})
    assert uids_of(data) == [uids[2]]
    assert data["messages"][0]["envelope"]["subject"] == "Rapport été 2024"
    assert uids_of(harness.ok("searchMailbox", mailbox=mailbox, **{"from": "André"})) == [uids[2]]


def test_search_bad_filters(harness, server, populated):
    mailbox, _ = populated
    error = harness.error(
        "searchMailbox", "INVALID_INPUT", mailbox=mailbox, filterOptions={"colour": 1}
    )
    assert error["details"][0]["path"] == "inputs.filterOptions.colour"
    if "CONDSTORE" not in server.capabilities:
        harness.error("searchMailbox", "UNSUPPORTED", mailbox=mailbox, filterOptions={"modseq": 1})
    harness.error("searchMailbox", "UNSUPPORTED", mailbox=mailbox, filterOptions={"gmraw": "x"})
    harness.error("searchMailbox", "INVALID_INPUT", mailbox=mailbox, limit=0)
    harness.error("searchMailbox", "NOT_FOUND", mailbox=mailbox + "-none")


def test_search_empty_mailbox(harness, mailbox):
    assert harness.ok("searchMailbox", mailbox=mailbox)["messages"] == []
