"""The trigger's third-wave inputs, on every server: several mailboxes with a cursor each
(and a UIDVALIDITY change in one), server-side filters that still move the cursor, a
payload budget (attachment references, polls cut by size), follow-ups after the workflow,
and the UIDVALIDITY guard that keeps a follow-up from touching a renumbered mailbox."""

from __future__ import annotations

import base64
import uuid
from email.message import EmailMessage

import pytest

from tests.helpers import append, make_message

TRIGGER = "newEmailsPollingTrigger"


def poll(harness, state, **inputs):
    envelope = harness.poll(TRIGGER, state, **inputs)
    assert envelope["ok"], envelope
    return envelope


@pytest.fixture
def three(imap, server):
    """Three fresh mailboxes."""
    names = [server.path(f"m{i}-{uuid.uuid4().hex[:8]}") for i in range(3)]
    for name in names:
        imap.create_folder(name)
    return names


def test_three_mailboxes_one_cursor_each_and_a_renumbered_one(harness, imap, three):
    first = poll(harness, {}, mailboxes=three)
    assert first["data"] == [] and set(first["state"]["mailboxes"]) == set(three)
    sent = {
        name: [append(imap, name, make_message(f"to {name} {i}")) for i in range(2)]
        for name in three
    }
    envelope = poll(harness, first["state"], mailboxes=three)
    got = {name: [r["uid"] for r in envelope["data"] if r["mailbox"] == name] for name in three}
    assert got == sent
    validity = {name: envelope["state"]["mailboxes"][name]["uidValidity"] for name in three}
    assert all(r["uidValidity"] == validity[r["mailbox"]] for r in envelope["data"])
    # The second mailbox is recreated (a new UIDVALIDITY): only its fresh mail comes, once.
    renumbered = three[1]
    imap.delete_folder(renumbered)
    imap.create_folder(renumbered)
    fresh = append(imap, renumbered, make_message("after the renumbering"))
    later = append(imap, three[2], make_message("later in the third"))
    envelope = poll(harness, envelope["state"], mailboxes=three)
    records = [(r["mailbox"], r["uid"], r.get("resync", False)) for r in envelope["data"]]
    assert records == [(renumbered, fresh, True), (three[2], later, False)], records
    new_validity = envelope["state"]["mailboxes"][renumbered]["uidValidity"]
    assert new_validity != validity[renumbered]
    assert poll(harness, envelope["state"], mailboxes=three)["data"] == []


def test_filters_pick_messages_and_pass_over_the_others_for_good(harness, imap, mailbox):
    state = poll(harness, {}, mailbox=mailbox)["state"]
    wanted = append(imap, mailbox, make_message("order 1", sender="orders@shop.example"))
    other = append(imap, mailbox, make_message("newsletter", sender="news@else.example"))
    filters = {"from": "orders@shop.example"}
    envelope = poll(harness, state, mailbox=mailbox, filterOptions=filters)
    assert [r["uid"] for r in envelope["data"]] == [wanted]
    cursor = envelope["state"]["mailboxes"][mailbox]
    assert cursor["lastUid"] >= other  # the newsletter is behind the cursor: never re-scanned
    again = poll(harness, envelope["state"], mailbox=mailbox, filterOptions=filters)
    assert again["data"] == []


def test_an_unknown_filter_is_invalid_input_before_anything_is_read(harness, mailbox):
    envelope = harness.poll(TRIGGER, {}, mailbox=mailbox, filterOptions={"colour": "red"})
    assert envelope["error"]["code"] == "INVALID_INPUT"


def attached(subject: str, size: int, seed: int = 0) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.com", "b@example.com", subject
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    msg.set_content("see the attachment")
    data = bytes((i * 7 + seed) % 256 for i in range(size))
    msg.add_attachment(data, maintype="application", subtype="octet-stream", filename="a.bin")
    return msg.as_bytes()


def test_an_attachment_over_the_budget_is_a_reference_download_message_fetches(
    harness, imap, mailbox
):
    state = poll(harness, {}, mailbox=mailbox)["state"]
    uid = append(imap, mailbox, attached("big one", 400_000))
    envelope = poll(harness, state, mailbox=mailbox, fetchContent=True)
    (record,) = envelope["data"]
    (part,) = record["message"]["attachments"]
    reference = part["reference"]
    assert part["content"] is None and part["size"] == 400_000
    assert reference == {
        "mailbox": mailbox,
        "uidValidity": record["uidValidity"],
        "uid": uid,
        "partId": part["partId"],
    }
    downloaded = harness.ok(
        "downloadMessage", mailbox=mailbox, messageIndex=uid, part=reference["partId"]
    )
    content = downloaded["part"]["content"]
    data = base64.b64decode(content["content"]) if content["encoding"] == "base64" else b""
    assert data == bytes((i * 7) % 256 for i in range(400_000))
    # A small attachment stays inline.
    small = append(imap, mailbox, attached("small one", 1000))
    envelope = poll(harness, envelope["state"], mailbox=mailbox, fetchContent=True)
    (record,) = envelope["data"]
    assert record["uid"] == small and record["message"]["attachments"][0]["content"]


def test_polls_are_cut_by_size_and_every_message_comes_once(harness, imap, mailbox):
    state = poll(harness, {}, mailbox=mailbox)["state"]
    uids = [append(imap, mailbox, attached(f"m{i}", 300_000, seed=i)) for i in range(6)]
    seen, sizes = [], []
    for _ in range(6):
        envelope = poll(
            harness, state, mailbox=mailbox, fetchContent=True, maxInlineBytes=1_000_000
        )
        state = envelope["state"]
        seen += [r["uid"] for r in envelope["data"]]
        sizes.append(len(envelope["data"]))
        if not envelope["hasMore"]:
            break
    assert seen == uids, sizes
    assert max(sizes) < 6  # (300 KB base64 each: a 1 MiB poll holds two)


def test_download_message_attachments_metadata_and_none(harness, imap, mailbox):
    uid = append(imap, mailbox, attached("with a file", 5000))
    meta = harness.ok("downloadMessage", mailbox=mailbox, messageIndex=uid, attachments="metadata")
    (part,) = meta["message"]["attachments"]
    assert part["content"] is None and part["reference"]["uid"] == uid and part["size"] == 5000
    none = harness.ok("downloadMessage", mailbox=mailbox, messageIndex=uid, attachments="none")
    assert none["message"]["attachments"] == []
    capped = harness.ok("downloadMessage", mailbox=mailbox, messageIndex=uid, maxInlineBytes=100)
    assert capped["message"]["attachments"][0]["content"] is None


def test_follow_ups_name_the_action_and_run_as_they_say(harness, imap, mailbox, server):
    done = server.path(f"done-{uuid.uuid4().hex[:8]}")
    imap.create_folder(done)
    state = poll(harness, {}, mailbox=mailbox)["state"]
    uids = [append(imap, mailbox, make_message(f"job {i}")) for i in range(2)]
    envelope = poll(
        harness,
        state,
        mailbox=mailbox,
        afterSuccess="move",
        afterSuccessMailbox=done,
        afterFailure="addFlag",
        afterFailureFlag="Failed",
    )
    follow = envelope["followUps"]
    assert follow[0]["success"] == {
        "action": "moveMessage",
        "inputs": {
            "path": done,
            "mailbox": mailbox,
            "uidValidity": envelope["data"][0]["uidValidity"],
            "range": str(uids[0]),
        },
    }
    assert follow[1]["failure"]["action"] == "addFlags"
    assert follow[1]["failure"]["inputs"]["flags"] == ["Failed"]
    # The first succeeded, the second failed: each follow-up as the platform would run it.
    harness.ok(follow[0]["success"]["action"], **follow[0]["success"]["inputs"])
    flagged = harness.invoke(follow[1]["failure"]["action"], **follow[1]["failure"]["inputs"])
    # (a server that keeps no keywords says so: pymap; the others store it)
    assert flagged["ok"] or flagged["error"]["code"] == "UNSUPPORTED", flagged
    imap.select_folder(done, readonly=True)
    assert len(imap.search(["ALL"])) == 1
    # Repeated after a lost reply: nothing more happens.
    again = harness.ok(follow[0]["success"]["action"], **follow[0]["success"]["inputs"])
    assert again["uidMap"] == [] or again["alreadyInDestination"] == [uids[0]]
    imap.select_folder(done, readonly=True)
    assert len(imap.search(["ALL"])) == 1


def test_a_follow_up_never_touches_a_renumbered_mailbox(harness, imap, mailbox):
    state = poll(harness, {}, mailbox=mailbox)["state"]
    append(imap, mailbox, make_message("to be marked"))
    envelope = poll(harness, state, mailbox=mailbox, afterSuccess="markRead")
    step = envelope["followUps"][0]["success"]
    imap.delete_folder(mailbox)
    imap.create_folder(mailbox)
    victim = append(imap, mailbox, make_message("a different message, same UID"))
    error = harness.error(step["action"], "NOT_FOUND", **step["inputs"])
    assert "renumbered" in error["message"]
    imap.select_folder(mailbox, readonly=True)
    assert b"\\Seen" not in imap.fetch([victim], ["FLAGS"])[victim][b"FLAGS"]


def test_the_single_mailbox_state_of_earlier_versions_is_read(harness, imap, mailbox):
    status = harness.ok("getStatus", mailbox=mailbox)
    old = {"uidValidity": status["uidValidity"], "lastUid": status["uidNext"] - 1}
    uid = append(imap, mailbox, make_message("after an upgrade"))
    envelope = poll(harness, old, mailbox=mailbox)
    assert [r["uid"] for r in envelope["data"]] == [uid]
    assert mailbox in envelope["state"]["mailboxes"]
