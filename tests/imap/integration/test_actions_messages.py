"""appendMessage, copyMessage, deleteMessage against every server, read back independently."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

from tests.helpers import append, make_message


def find_by_message_id(imap, mailbox, message_id):
    imap.select_folder(mailbox, readonly=True)
    return imap.search(["HEADER", "Message-ID", message_id])


# --- appendMessage -------------------------------------------------------------------------


def test_append_stores_the_message_with_flags_and_date(harness, imap, mailbox):
    mid = f"<{uuid.uuid4().hex}@example.com>"
    content = make_message("Appended", message_id=mid).decode().replace("\r\n", "\n")  # bare LF
    data = harness.ok(
        "appendMessage",
        path=mailbox,
        content=content,
        flags='["\\\\Seen"]',
        internalDate="2024-05-01T09:30:00+02:00",
    )
    assert find_by_message_id(imap, mailbox, mid) == [data["uid"]]
    assert data["mailbox"] == mailbox
    assert data["uidValidity"] == imap.folder_status(mailbox, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    fetched = imap.fetch([data["uid"]], ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"])[data["uid"]]
    assert b"\\Seen" in fetched[b"FLAGS"]
    assert fetched[b"BODY[]"] == content.replace("\n", "\r\n").encode()
    when = fetched[b"INTERNALDATE"]
    assert when.astimezone(UTC) == datetime(2024, 5, 1, 7, 30, tzinfo=UTC)


def test_a_step_saved_with_mailbox_still_appends_and_conflicts_are_refused(harness, imap, mailbox):
    # appendMessage's Path was Mailbox until 0.2 (renamedFrom: [mailbox]): a step saved then
    # sends "mailbox", and the runtime gives its value to path.
    mid = f"<{uuid.uuid4().hex}@example.com>"
    content = make_message("Saved step", message_id=mid).decode()
    data = harness.ok("appendMessage", mailbox=mailbox, content=content)
    assert data["mailbox"] == mailbox and data["uid"]
    assert find_by_message_id(imap, mailbox, mid) == [data["uid"]]
    assert harness.ok("appendMessage", mailbox=mailbox, path=mailbox, content=content)[
        "alreadyPresent"
    ]
    error = harness.error(
        "appendMessage",
        "INVALID_INPUT",
        path=mailbox,
        mailbox="INBOX",
        content=make_message().decode(),
    )
    assert error["details"][0]["path"] == "inputs.mailbox"
    error = harness.error(
        "appendMessage", "INVALID_INPUT", content=make_message().decode(), mailbox=""
    )
    assert error["details"][0]["path"] == "inputs.path"


def test_append_rejects_content_without_headers(harness, imap, mailbox):
    for content in ["just a body", "\r\nbody after a blank line"]:
        error = harness.error("appendMessage", "INVALID_INPUT", path=mailbox, content=content)
        assert error["details"][0]["path"] == "inputs.content"
    imap.select_folder(mailbox, readonly=True)
    assert imap.search(["ALL"]) == []


def test_append_to_missing_mailbox_is_not_found(harness, server):
    harness.error(
        "appendMessage",
        "NOT_FOUND",
        path=server.path("nowhere-" + uuid.uuid4().hex[:6]),
        content=make_message().decode(),
    )


def test_raw_download_of_8bit_message_round_trips_byte_identical(harness, imap, mailbox):
    latin1 = (
        b"From: =?iso-8859-1?q?Jos=E9?= <jose@example.com>\r\nSubject: caf\xe9\r\n"
        b"Message-ID: <" + uuid.uuid4().hex.encode() + b"@example.com>\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nD\xe9j\xe0 vu in Latin-1\r\n"
    )
    uid = append(imap, mailbox, latin1)
    raw = harness.ok("downloadMessage", mailbox=mailbox, messageIndex=uid, format="raw")["raw"]
    assert raw["encoding"] == "base64"
    assert base64.b64decode(raw["content"]) == latin1
    other = mailbox + "-copy"
    imap.create_folder(other)
    copy = harness.ok("appendMessage", path=other, content=raw["content"], contentEncoding="base64")
    assert copy["alreadyPresent"] is False
    imap.select_folder(other, readonly=True)
    stored = imap.fetch([copy["uid"]], ["BODY.PEEK[]"])[copy["uid"]][b"BODY[]"]
    assert stored == latin1


def test_append_again_with_the_same_message_id_stores_it_once(harness, imap, mailbox):
    message = make_message("Retried step").decode()
    first = harness.ok("appendMessage", path=mailbox, content=message)
    again = harness.ok("appendMessage", path=mailbox, content=message)  # the platform retried
    assert first["alreadyPresent"] is False and again["alreadyPresent"] is True
    assert again["uid"] == first["uid"] and again["uidValidity"] == first["uidValidity"]
    imap.select_folder(mailbox, readonly=True)
    assert imap.search(["ALL"]) == [first["uid"]]
    other = harness.ok("appendMessage", path=mailbox, content=make_message("Another").decode())
    assert other["alreadyPresent"] is False and other["uid"] != first["uid"]


def test_append_bad_base64_is_invalid_input(harness, mailbox):
    error = harness.error(
        "appendMessage", "INVALID_INPUT", path=mailbox, content="%%%", contentEncoding="base64"
    )
    assert error["details"][0]["path"] == "inputs.content"


# --- copyMessage ---------------------------------------------------------------------------


def test_copy_maps_uids_to_the_destination(harness, imap, mailbox):
    ids = [f"<{uuid.uuid4().hex}@example.com>" for _ in range(3)]
    uids = [append(imap, mailbox, make_message(message_id=m)) for m in ids]
    destination = mailbox + "-dest"
    imap.create_folder(destination)
    data = harness.ok(
        "copyMessage", mailbox=mailbox, range=f"{uids[0]},{uids[2]}", path=destination
    )
    assert data["mailbox"] == mailbox and data["destination"] == destination
    assert [m["uid"] for m in data["uidMap"]] == [uids[0], uids[2]]
    for entry, mid in zip(data["uidMap"], [ids[0], ids[2]], strict=True):
        assert find_by_message_id(imap, destination, mid) == [entry["destinationUid"]]
    assert find_by_message_id(imap, destination, ids[1]) == []
    # uidValidity is the source's, destinationUidValidity the destination's.
    assert data["uidValidity"] == imap.folder_status(mailbox, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    assert (
        data["destinationUidValidity"]
        == imap.folder_status(destination, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    )
    imap.select_folder(mailbox, readonly=True)
    assert imap.search(["ALL"]) == uids  # the source keeps its messages


def test_copy_to_a_non_ascii_mailbox(harness, server, imap, mailbox):
    mid = f"<{uuid.uuid4().hex}@example.com>"
    uid = append(imap, mailbox, make_message(message_id=mid))
    destination = f"{server.path('Données', 'Été')} {uuid.uuid4().hex[:4]}"
    harness.ok("createMailbox", path=destination)
    data = harness.ok("copyMessage", mailbox=mailbox, range=str(uid), path=destination)
    assert find_by_message_id(imap, destination, mid) == [data["uidMap"][0]["destinationUid"]]


def test_copy_to_missing_destination_is_not_found(harness, server, imap, mailbox):
    uid = append(imap, mailbox)
    error = harness.error(
        "copyMessage",
        "NOT_FOUND",
        mailbox=mailbox,
        range=str(uid),
        path=server.path("nowhere-" + uuid.uuid4().hex[:6]),
    )
    assert "New Path" in error["message"]


def test_copy_from_missing_mailbox_is_not_found(harness, server):
    harness.error(
        "copyMessage",
        "NOT_FOUND",
        mailbox=server.path("nowhere-" + uuid.uuid4().hex[:6]),
        range="1",
        path="INBOX",
    )


# --- deleteMessage -------------------------------------------------------------------------


def test_delete_removes_exactly_that_message(harness, imap, mailbox):
    uids = [append(imap, mailbox) for _ in range(3)]
    imap.select_folder(mailbox)
    imap.add_flags([uids[0]], [b"\\Deleted"])  # marked by someone else, not named by the user
    data = harness.ok("deleteMessage", mailbox=mailbox, messageIndex=str(uids[1]))
    assert data == {"mailbox": mailbox, "uid": uids[1], "deleted": True}
    imap.select_folder(mailbox, readonly=True)
    assert imap.search(["ALL"]) == [uids[0], uids[2]]


def test_delete_unknown_uid_is_not_found(harness, imap, mailbox):
    uid = append(imap, mailbox)
    harness.error("deleteMessage", "NOT_FOUND", mailbox=mailbox, messageIndex=uid + 100)
    imap.select_folder(mailbox, readonly=True)
    assert imap.search(["ALL"]) == [uid]


def test_delete_needs_a_uid(harness, mailbox):
    error = harness.error("deleteMessage", "INVALID_INPUT", mailbox=mailbox, messageIndex="*")
    assert error["details"][0]["path"] == "inputs.messageIndex"
