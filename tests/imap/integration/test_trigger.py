"""The New Emails polling trigger and the mailbox picklist, against every server."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

from tests.helpers import append, make_message, raw_client
from tests.servers import fake
from tests.servers.common import bulk_append

TRIGGER = "newEmailsPollingTrigger"


def poll(harness, state, **inputs):
    envelope = harness.poll(TRIGGER, state, **inputs)
    assert envelope["ok"], envelope
    return envelope["data"], envelope["state"], envelope["hasMore"]


def test_first_poll_baselines_then_new_messages_once(harness, imap, mailbox):
    append(imap, mailbox)
    records, state, more = poll(harness, {}, mailbox=mailbox)
    assert records == [] and more is False
    uids = [append(imap, mailbox, make_message(f"new {i}")) for i in range(3)]
    records, state, more = poll(harness, state, mailbox=mailbox)
    assert [r["uid"] for r in records] == uids and more is False
    assert [r["envelope"]["subject"] for r in records] == ["new 0", "new 1", "new 2"]
    records, state, _ = poll(harness, state, mailbox=mailbox)
    assert records == []


def test_250_new_messages_in_pages_of_100(harness, server, imap, mailbox):
    _, state, _ = poll(harness, {}, mailbox=mailbox)
    bulk_append(imap, mailbox, [make_message(f"bulk {i}") for i in range(250)], server=server)
    imap.select_folder(mailbox, readonly=True)
    expected = imap.search(["ALL"])
    seen, pages = [], []
    for _ in range(3):
        records, state, more = poll(harness, state, mailbox=mailbox, maxPerPoll="100")
        pages.append((len(records), more))
        seen += [r["uid"] for r in records]
    assert pages == [(100, True), (100, True), (50, False)]
    assert seen == expected  # no duplicate, no gap, oldest first
    assert poll(harness, state, mailbox=mailbox)[0] == []


def test_mark_as_read_marks_exactly_the_emitted(harness, imap, mailbox):
    _, state, _ = poll(harness, {}, mailbox=mailbox, markAsRead=True)
    first = append(imap, mailbox)
    records, state, _ = poll(harness, state, mailbox=mailbox, markAsRead=True, maxPerPoll=1)
    assert [r["uid"] for r in records] == [first] and "\\Seen" in records[0]["flags"]
    second = append(imap, mailbox)  # arrives between two polls
    imap.select_folder(mailbox, readonly=True)
    flags = imap.fetch([first, second], ["FLAGS"])
    assert b"\\Seen" in flags[first][b"FLAGS"] and b"\\Seen" not in flags[second][b"FLAGS"]
    records, state, _ = poll(harness, state, mailbox=mailbox, markAsRead=True)
    assert [r["uid"] for r in records] == [second]
    assert poll(harness, state, mailbox=mailbox, markAsRead=True)[0] == []


def test_fetch_content(harness, imap, mailbox):
    _, state, _ = poll(harness, {}, mailbox=mailbox)
    append(imap, mailbox, make_message("with body", body="Hello body\r\n"))
    records, _, _ = poll(harness, state, mailbox=mailbox, fetchContent="true")
    assert (
        records[0]["message"]["text"] == "Hello body\r\n"
        or records[0]["message"]["text"].strip() == "Hello body"
    )


def test_look_back_date_on_the_first_poll(harness, imap, mailbox):
    uids = [append(imap, mailbox) for _ in range(2)]
    records, state, _ = poll(harness, {}, mailbox=mailbox, lookBackDate="2000-01-01")
    assert [r["uid"] for r in records] == uids
    assert poll(harness, state, mailbox=mailbox)[0] == []
    error = harness.poll(TRIGGER, {}, mailbox=mailbox, lookBackDate="last week")["error"]
    assert error["details"][0]["path"] == "inputs.lookBackDate"


def test_recreated_mailbox_emits_exactly_the_fresh_messages(harness, imap, mailbox):
    append(imap, mailbox)
    _, state, _ = poll(harness, {}, mailbox=mailbox)
    old = append(imap, mailbox)
    records, state, _ = poll(harness, state, mailbox=mailbox)
    assert [r["uid"] for r in records] == [old]
    imap.delete_folder(mailbox)
    imap.create_folder(mailbox)  # a new UIDVALIDITY
    old_validity = state["mailboxes"][mailbox]["uidValidity"]
    assert imap.folder_status(mailbox, [b"UIDVALIDITY"])[b"UIDVALIDITY"] != old_validity
    fresh = [append(imap, mailbox, make_message(f"fresh {i}")) for i in range(2)]
    records, state, _ = poll(harness, state, mailbox=mailbox)
    assert [r["uid"] for r in records] == fresh
    assert all(r.get("resync") for r in records)
    assert poll(harness, state, mailbox=mailbox)[0] == []
    later = append(imap, mailbox)
    assert [r["uid"] for r in poll(harness, state, mailbox=mailbox)[0]] == [later]


def test_bad_state_is_invalid_input(harness, mailbox):
    error = harness.poll(TRIGGER, {"uidValidity": "x", "lastUid": -1}, mailbox=mailbox)["error"]
    assert error["code"] == "INVALID_INPUT" and error["details"][0]["path"] == "state"


def test_picklist(harness, imap, mailbox):
    picklist = harness.data_source("listMailboxes")
    assert {"key": mailbox, "label": mailbox} in picklist
    assert {p["key"] for p in picklist} == {name for _, _, name in imap.list_folders()}


# --- the CLI keeps state in a file, only after a successful poll -----------------------------


def cli_poll(connection_file, state_file, mailbox):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector.imap.cli",
            "poll",
            TRIGGER,
            "--state-file",
            str(state_file),
            "--connection",
            f"@{connection_file}",
            "--input",
            f"mailbox={mailbox}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return run.returncode, json.loads(run.stdout)


def test_failed_poll_leaves_the_state_file_and_the_next_poll_emits(dovecot_server, tmp_path):
    imap = raw_client(dovecot_server)
    mailbox = "p-" + uuid.uuid4().hex[:6]
    imap.create_folder(mailbox)
    state_file = tmp_path / "state.json"
    direct = tmp_path / "direct.json"
    direct.write_text(json.dumps(dovecot_server.connection()))
    code, envelope = cli_poll(direct, state_file, mailbox)
    assert code == 0 and envelope["data"] == []
    baseline = state_file.read_bytes()

    uids = [append(imap, mailbox) for _ in range(2)]
    # A proxy that drops the line when the FETCH goes out: the server is gone mid-poll.
    # (Plain IMAP on loopback, so the proxy can see the command.)
    proxy = fake.Proxy(dovecot_server.starttls_port, cut_on=b"FETCH")
    try:
        cut = tmp_path / "cut.json"
        cut.write_text(
            json.dumps(dovecot_server.connection(port=proxy.port, secure=False, startTls="never"))
        )
        code, envelope = cli_poll(cut, state_file, mailbox)
    finally:
        proxy.close()
    assert code == 1 and envelope["error"]["code"] in ("CONNECTION_FAILED", "TIMEOUT")
    assert state_file.read_bytes() == baseline

    code, envelope = cli_poll(direct, state_file, mailbox)
    assert code == 0 and [r["uid"] for r in envelope["data"]] == uids
    saved = json.loads(state_file.read_text())["mailboxes"]
    assert next(iter(saved.values()))["lastUid"] == uids[-1]
    imap.logout()
