"""OAuth 2.0 connection, Move Message, Delete Mailbox and Test Connection."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from connector.sdk.testing import Harness
from tests.helpers import BASE_CAPS, append, make_message, raw_client
from tests.helpers import start_dovecot as _dovecot

TOKEN = "ya29.a0AfH6SM-test-token-" + "x" * 24


@pytest.fixture(scope="module")
def oauth_server(ca, request):
    """Dovecot with a token passdb: XOAUTH2/OAUTHBEARER check tokens, PLAIN/LOGIN passwords."""
    return _dovecot(ca, request, tokens={"alice": TOKEN})


@pytest.fixture(scope="module")
def no_move_server(ca, request):
    """Dovecot announcing UIDPLUS but not MOVE."""
    info = _dovecot(
        ca, request, extra_conf=f"protocol imap {{\n  imap_capability = {BASE_CAPS} UIDPLUS\n}}\n"
    )
    info.capabilities -= {"MOVE"}
    return info


@pytest.fixture(scope="module")
def bare_server(ca, request):
    """Dovecot announcing neither MOVE nor UIDPLUS."""
    info = _dovecot(
        ca, request, extra_conf=f"protocol imap {{\n  imap_capability = {BASE_CAPS}\n}}\n"
    )
    info.capabilities -= {"MOVE", "UIDPLUS"}
    return info


def oauth_connection(server, **extra):
    fields = server.connection()
    fields.pop("pass")
    return {"key": "imapOAuth", "fields": {**fields, "accessToken": TOKEN, **extra}}


# --- OAuth ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_oauth_token_logs_in(connector, oauth_server, mechanism):
    harness = Harness(connector, oauth_connection(oauth_server, mechanism=mechanism))
    assert "INBOX" in [m["path"] for m in harness.ok("listMailboxes")]
    envelope = connector.test_connection(oauth_connection(oauth_server, mechanism=mechanism))
    assert envelope["ok"] and envelope["data"]["authenticatedAs"] == "alice"
    assert TOKEN not in json.dumps(envelope)


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
@pytest.mark.parametrize("token", ["wrong-token", "alicepw"])  # a password is not a token
def test_rejected_token_is_auth_failed(connector, oauth_server, mechanism, token):
    harness = Harness(
        connector, oauth_connection(oauth_server, mechanism=mechanism, accessToken=token)
    )
    error = harness.error("getStatus", "AUTH_FAILED", mailbox="INBOX")
    assert "invalid or expired" in error["message"]
    assert token not in json.dumps(error)


def test_trigger_and_picklist_with_the_oauth_connection(connector, oauth_server):
    harness = Harness(connector, oauth_connection(oauth_server))
    first = harness.poll("newEmailsPollingTrigger", {}, mailbox="INBOX")
    assert first["ok"] and first["data"] == []
    imap = raw_client(oauth_server)
    uid = append(imap, "INBOX")
    imap.logout()
    second = harness.poll("newEmailsPollingTrigger", first["state"], mailbox="INBOX")
    assert [r["uid"] for r in second["data"]] == [uid]
    assert {"key": "INBOX", "label": "INBOX"} in harness.data_source("listMailboxes")


def test_password_connection_cannot_use_the_token(connector, oauth_server):
    harness = Harness(connector, oauth_server.connection(**{"pass": TOKEN}))
    error = harness.error("getStatus", "AUTH_FAILED", mailbox="INBOX")
    assert TOKEN not in json.dumps(error)


def test_oauth_mechanism_the_server_lacks_is_unsupported(connector, dovecot_server):
    harness = Harness(connector, oauth_connection(dovecot_server))
    harness.error("listMailboxes", "UNSUPPORTED")


# --- Move Message --------------------------------------------------------------------------


def _move_and_check(harness, imap, mailbox, **where):
    ids = [f"<{uuid.uuid4().hex}@example.com>" for _ in range(4)]
    uids = [append(imap, mailbox, make_message(message_id=m)) for m in ids]
    imap.select_folder(mailbox)
    imap.add_flags([uids[3]], [b"\\Deleted"])  # someone else's pending delete: must survive
    data = harness.ok("moveMessage", mailbox=mailbox, range=f"{uids[0]}:{uids[1]}", **where)
    destination = data["destination"]
    imap.select_folder(mailbox, readonly=True)
    assert imap.search(["ALL"]) == [uids[2], uids[3]]
    assert [m["uid"] for m in data["uidMap"]] == uids[:2]
    imap.select_folder(destination, readonly=True)
    for entry, mid in zip(data["uidMap"], ids[:2], strict=True):
        assert imap.search(["HEADER", "Message-ID", mid]) == [entry["destinationUid"]]
    # SPEC (second wave): uidValidity is the source's, destinationUidValidity the destination's.
    assert data["uidValidity"] == imap.folder_status(mailbox, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    assert (
        data["destinationUidValidity"]
        == imap.folder_status(destination, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
    )
    return data


def test_move_with_move(harness, imap, mailbox):
    destination = mailbox + "-to"
    imap.create_folder(destination)
    _move_and_check(harness, imap, mailbox, path=destination)


def capabilities(connector, server) -> list[str]:
    return connector.test_connection(server.connection())["data"]["capabilities"]


def test_move_without_move_uses_copy_and_uid_expunge(connector, no_move_server):
    caps = capabilities(connector, no_move_server)
    assert "MOVE" not in caps and "UIDPLUS" in caps
    imap = raw_client(no_move_server)
    harness = Harness(connector, no_move_server.connection())
    mailbox = "m-" + uuid.uuid4().hex[:6]
    imap.create_folder(mailbox)
    imap.create_folder(mailbox + "-to")
    _move_and_check(harness, imap, mailbox, path=mailbox + "-to")
    imap.logout()


def test_move_without_move_or_uidplus_is_unsupported(connector, bare_server):
    caps = capabilities(connector, bare_server)
    assert "MOVE" not in caps and "UIDPLUS" not in caps
    imap = raw_client(bare_server)
    mailbox = "m-" + uuid.uuid4().hex[:6]
    imap.create_folder(mailbox)
    uid = append(imap, mailbox)
    harness = Harness(connector, bare_server.connection())
    harness.error("moveMessage", "UNSUPPORTED", mailbox=mailbox, range=str(uid), path="Trash")
    imap.select_folder(mailbox, readonly=True)
    assert imap.search(["ALL"]) == [uid]
    imap.logout()


def test_move_to_trash_by_special_use(harness, server, imap, mailbox):
    if "SPECIAL-USE" not in server.capabilities:
        uid = append(imap, mailbox)
        harness.error(
            "moveMessage", "NOT_FOUND", mailbox=mailbox, range=str(uid), specialUse="\\Trash"
        )
        return
    data = _move_and_check(harness, imap, mailbox, specialUse="\\Trash")
    assert data["destination"] == "Trash"


def test_move_needs_a_destination(harness, server, imap, mailbox):
    uid = append(imap, mailbox)
    error = harness.error("moveMessage", "INVALID_INPUT", mailbox=mailbox, range=str(uid))
    assert error["details"][0]["path"] == "inputs.path"
    harness.error(
        "moveMessage",
        "INVALID_INPUT",
        mailbox=mailbox,
        range=str(uid),
        path="Trash",
        specialUse="\\Trash",
    )
    harness.error(
        "moveMessage",
        "NOT_FOUND",
        mailbox=mailbox,
        range=str(uid),
        path=server.path("nowhere-" + uuid.uuid4().hex[:6]),
    )
    imap.select_folder(mailbox, readonly=True)
    assert imap.search(["ALL"]) == [uid]


# --- deleteMessage without UIDPLUS ------------------------------------------------------------


def test_delete_message_without_uidplus(connector, bare_server):
    imap = raw_client(bare_server)
    mailbox = "d-" + uuid.uuid4().hex[:6]
    imap.create_folder(mailbox)
    uids = [append(imap, mailbox) for _ in range(3)]
    imap.select_folder(mailbox)
    imap.add_flags([uids[0]], [b"\\Deleted"])
    harness = Harness(connector, bare_server.connection())
    harness.error("deleteMessage", "UNSUPPORTED", mailbox=mailbox, messageIndex=uids[1])
    imap.select_folder(mailbox, readonly=True)
    assert imap.search(["ALL"]) == uids
    assert imap.search(["DELETED"]) == [uids[0]]  # and ours was not left flagged
    imap.select_folder(mailbox)
    imap.remove_flags([uids[0]], [b"\\Deleted"])
    harness.ok("deleteMessage", mailbox=mailbox, messageIndex=uids[1])
    imap.select_folder(mailbox, readonly=True)
    assert imap.search(["ALL"]) == [uids[0], uids[2]]
    imap.logout()


# --- Delete Mailbox -------------------------------------------------------------------------


def test_delete_mailbox(harness, imap, mailbox):
    append(imap, mailbox)
    assert harness.ok("deleteMailbox", path=mailbox) == {"path": mailbox, "deleted": True}
    assert not imap.folder_exists(mailbox)
    harness.error("deleteMailbox", "NOT_FOUND", path=mailbox)
    error = harness.error("deleteMailbox", "INVALID_INPUT", path="inbox")
    assert error["details"][0]["path"] == "inputs.path"
    assert imap.folder_exists("INBOX")


# --- Test connection --------------------------------------------------------------------------


def test_test_connection(connector, server):
    envelope = connector.test_connection(server.connection())
    data = envelope["data"]
    assert data["host"] == server.host and data["authenticatedAs"] == "alice"
    assert data["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
    assert "IMAP4REV1" in data["capabilities"]
    bad = connector.test_connection(server.connection(**{"pass": "nope-123"}))
    assert bad["error"]["code"] == "AUTH_FAILED" and "nope-123" not in json.dumps(bad)


def test_test_connection_cli(dovecot_server, tmp_path):
    (tmp_path / "c.json").write_text(json.dumps(dovecot_server.connection()))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector.imap.cli",
            "test-connection",
            "--connection",
            f"@{tmp_path / 'c.json'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["data"]["tls"]["version"] == "TLSv1.3"
