"""Hostile input and hostile servers: one typed envelope every time, nothing escapes it.

LOGIN quoting, RATE_LIMITED, a trickling greeting, inputs that used to crash the CLI or
reach the server, state files, masks that told the secret, a cut TLS handshake.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from connector.sdk.testing import Harness
from tests.helpers import append, cli, make_message, raw_client
from tests.servers import fake

FIELDS = {"host": "127.0.0.1", "secure": False, "startTls": "never", "timeout": 5}


def fake_harness(connector, listener, **fields):
    return Harness(connector, {**FIELDS, "port": listener.port, "user": "u", "pass": "p", **fields})


# --- 1. LOGIN arguments are quoted strings ------------------------------------------------


# --- 2. RATE_LIMITED --------------------------------------------------------------------------


def refuse_login(text: bytes):
    def on_login(conn, tag, line):
        conn.sendall(tag + b" " + text + b"\r\n")

    return on_login


# --- 4. the whole opening is bounded ----------------------------------------------------------


def trickle(conn, listener):
    """A greeting one byte every 0.3 s: every read succeeds, the whole never ends."""
    for byte in b"* OK " + b"x" * 200 + b"\r\n":
        conn.sendall(bytes([byte]))
        time.sleep(0.3)


# --- 5. inputs that used to escape the envelope ------------------------------------------------


def deep(n: int) -> str:
    return "[" * n + "]" * n


def test_values_that_used_to_reach_the_server_are_invalid_input(connector, dovecot_server):
    harness = Harness(connector, dovecot_server.connection())
    error = harness.error("getStatus", "INVALID_INPUT", mailbox="a\ud800b")
    assert error["details"][0]["path"] == "inputs.mailbox"
    error = harness.error(
        "searchMailbox", "INVALID_INPUT", mailbox="INBOX", filterOptions={"larger": 10**30}
    )
    assert "4294967295" in error["message"]
    error = Harness(connector, {"host": "h\ud800", "user": "u", "pass": "p"}).error(
        "listMailboxes", "INVALID_INPUT"
    )
    assert error["details"][0]["path"] == "connection.host"


def test_trigger_inputs_out_of_range_are_invalid_input(connector, dovecot_server):
    harness = Harness(connector, dovecot_server.connection())
    envelope = harness.poll("newEmailsPollingTrigger", mailbox="INBOX", lookBackDate="0001-01-01")
    assert envelope["error"]["code"] == "INVALID_INPUT", envelope
    envelope = harness.poll(
        "newEmailsPollingTrigger", {"uidValidity": 1, "lastUid": 4294967295}, mailbox="INBOX"
    )
    assert envelope["error"]["code"] == "INVALID_INPUT", envelope
    assert "lastUid" in envelope["error"]["message"]


# --- 6, 7. the state file -----------------------------------------------------------------------


def test_poll_into_a_missing_folder_fails_before_polling(tmp_path, dovecot_server):
    conn = json.dumps(dovecot_server.connection())
    run = cli(
        "poll",
        "newEmailsPollingTrigger",
        "--state-file",
        str(tmp_path / "no" / "s.json"),
        "--connection",
        conn,
        "--input",
        "mailbox=INBOX",
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert json.loads(run.stdout)["error"]["code"] == "INVALID_INPUT"


def test_two_pollers_sharing_a_state_file_emit_each_message_once(tmp_path, server, imap, mailbox):
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    state = tmp_path / "state.json"
    conn = tmp_path / "conn.json"
    conn.write_text(json.dumps(server.connection()))
    args = [
        "poll",
        "newEmailsPollingTrigger",
        "--state-file",
        str(state),
        "--connection",
        f"@{conn}",
        "--input",
        f"mailbox={mailbox}",
        "--input",
        "maxPerPoll=7",
    ]
    assert cli(*args).returncode == 0  # the baseline
    ids = [f"<{i}-{time.monotonic_ns()}@pollers.test>" for i in range(40)]
    for mid in ids:
        append(imap, mailbox, make_message(message_id=mid))

    def poller(_):
        seen = []
        for _ in range(5):
            run = subprocess.run(
                [sys.executable, "-m", "connector.imap.cli", *args],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert run.returncode == 0, run.stdout + run.stderr
            seen += [r["envelope"]["messageId"] for r in json.loads(run.stdout)["data"]]
        return seen

    with ThreadPoolExecutor(2) as pool:
        emitted = [mid for seen in pool.map(poller, range(2)) for mid in seen]
    assert sorted(emitted) == sorted(ids)  # 2 x 5 polls x 7 >= 40: all, and each once


# --- 8. masks never tell the secret ------------------------------------------------------------


def test_password_equal_to_user_name_does_not_show_in_the_mask(connector, dovecot_server):
    harness = Harness(connector, dovecot_server.connection(**{"pass": "alice"}))
    error = harness.error("listMailboxes", "AUTH_FAILED")
    assert "alice" not in error["message"] and "***" not in error["message"]


# --- 9. a cut TLS handshake is a connection failure -------------------------------------------


def cut_handshake(conn, listener):
    conn.recv(4096)  # the ClientHello
    conn.shutdown(socket.SHUT_RDWR)


def test_a_real_tls_problem_stays_tls_error(connector, dovecot_server):
    harness = Harness(connector, dovecot_server.connection(caCertificate=None))
    assert harness.error("listMailboxes", "TLS_ERROR")["retryable"] is False


def test_nothing_reaches_the_server_from_a_refused_step(connector, server, imap, mailbox):
    uid = append(imap, mailbox)
    harness = Harness(connector, server.connection())
    harness.error(
        "addFlags", "INVALID_INPUT", mailbox=mailbox, range=str(uid), flags=["\\Seen", "bad flag"]
    )
    imap.select_folder(mailbox, readonly=True)
    assert set(imap.get_flags([uid])[uid]) <= {b"\\Recent"}


# --- an unsolicited FETCH about another message -----------------------------------------------


def test_an_update_about_another_message_is_not_taken_for_the_one_asked(connector, dovecot_server):
    """A server may send a FETCH about any message (another session changed its flags)
    beside the one asked for: downloading number 2 must answer number 2, not the update."""
    client = raw_client(dovecot_server)
    name = f"updates-{time.monotonic_ns()}"
    client.create_folder(name)
    first = append(client, name, make_message("first"))
    second = append(client, name, make_message("second"))
    update = b"* 1 FETCH (UID %d FLAGS (\\Deleted))\r\n* 2 FETCH (" % first
    proxy = fake.RewritingProxy(dovecot_server.starttls_port, {}, {b"* 2 FETCH (": update})
    harness = Harness(
        connector, dovecot_server.connection(secure=False, startTls="never", port=proxy.port)
    )
    try:
        data = harness.ok("downloadMessage", mailbox=name, messageIndex="2", by="index")
        assert data["uid"] == second and data["message"]["subject"] == "second"
        assert "\\Deleted" not in data["flags"]
    finally:
        proxy.close()
        client.logout()


# --- a FETCH reply that cannot be read, midway ------------------------------------------------


def test_an_unreadable_response_midway_is_raised_after_the_reply_is_read(connector, dovecot_server):
    """Summaries are built as each response arrives; one the reader cannot read must not
    stop the reading midway (the session would be left inside the reply): SERVER_ERROR
    once the tagged reply is in, and the same session answers the next command."""
    from connector.imap.summaries import fetch_summaries
    from connector.imap.wire import commands
    from connector.imap.wire.session import open_session
    from connector.sdk.errors import ServerError

    client = raw_client(dovecot_server)
    name = f"garbled-{time.monotonic_ns()}"
    client.create_folder(name)
    uids = [append(client, name, make_message(f"m{i}")) for i in range(3)]
    # The second response's UID becomes "x<uid>": not a number, whatever reader takes it.
    proxy = fake.RewritingProxy(
        dovecot_server.starttls_port, {}, {b"* 2 FETCH (UID ": b"* 2 FETCH (UID x"}
    )
    imap = connector.manifest.connections["imap"]
    given = dovecot_server.connection(secure=False, startTls="never", port=proxy.port)
    session = open_session(**imap.arguments(imap.inputs.resolve(given, "connection")))
    try:
        commands.select(session, name, readonly=True)
        with pytest.raises(ServerError, match="not valid IMAP"):
            fetch_summaries(session, uids)
        assert commands.uid_search(session, [b"ALL"]) == uids  # still in step with the server
        harness = Harness(connector, given)
        failed = harness.error("searchMailbox", "SERVER_ERROR", mailbox=name, limit="10")
        assert "not valid IMAP" in failed["message"]
    finally:
        session.close()
        proxy.close()
        client.logout()
