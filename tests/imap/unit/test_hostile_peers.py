"""Hostile input and hostile servers: one typed envelope every time, nothing escapes it.

LOGIN quoting, RATE_LIMITED, inputs that used to crash the CLI or reach the server, state
files, masks that told the secret, a cut TLS handshake.
"""

from __future__ import annotations

import socket

import pytest

from connector.sdk._scrub import Scrubber
from connector.sdk.testing import Harness
from tests.servers import fake

FIELDS = {"host": "127.0.0.1", "secure": False, "startTls": "never", "timeout": 5}


def fake_harness(connector, listener, **fields):
    return Harness(connector, {**FIELDS, "port": listener.port, "user": "u", "pass": "p", **fields})


# --- 1. LOGIN arguments are quoted strings ------------------------------------------------


@pytest.mark.parametrize(
    "user, sent",
    [
        ("al ice", b'"al ice"'),
        ('bob "bobpw"', b'"bob \\"bobpw\\""'),
        ("{5}", b'"{5}"'),
        ("back\\slash", b'"back\\\\slash"'),
    ],
)
def test_login_sends_user_and_password_as_quoted_strings(connector, user, sent):
    listener = fake.Listener(fake.scripted(fake.accept_login))
    try:
        fake_harness(connector, listener, user=user, **{"pass": "sp ace"}).invoke(
            "getStatus", mailbox="INBOX"
        )
        login = next(line for line in bytes(listener.received).split(b"\r\n") if b" LOGIN " in line)
        assert login.split(b" ", 2)[2] == sent + b' "sp ace"'
    finally:
        listener.close()


# --- 2. RATE_LIMITED --------------------------------------------------------------------------


def refuse_login(text: bytes):
    def on_login(conn, tag, line):
        conn.sendall(tag + b" " + text + b"\r\n")

    return on_login


@pytest.mark.parametrize(
    "reply, retry_after",
    [
        (
            b"NO [LIMIT] Maximum number of connections from user+IP exceeded (mail_max_userip_"
            b"connections=4)",
            None,
        ),
        (b"NO [UNAVAILABLE] Service temporarily unavailable", None),
        (b"NO Request is throttled. Suggested Backoff Time: 1500 milliseconds", 1.5),
        (b"NO [ALERT] Too many simultaneous connections. (Failure)", None),
    ],
)
def test_throttled_login_is_rate_limited_not_auth_failed(connector, reply, retry_after):
    listener = fake.Listener(fake.scripted(refuse_login(reply)))
    try:
        error = fake_harness(connector, listener).error(
            "getStatus", "RATE_LIMITED", mailbox="INBOX"
        )
    finally:
        listener.close()
    assert error["retryable"] is True
    if retry_after is not None:
        assert {"retryAfterSeconds": retry_after} in error["details"]


def test_throttled_command_is_rate_limited(connector):
    def on_other(conn, tag, command, line, listener):
        conn.sendall(
            tag + b" NO Request is throttled. Suggested Backoff Time: 2000 milliseconds\r\n"
        )

    listener = fake.Listener(fake.scripted(fake.accept_login, on_other))
    try:
        error = fake_harness(connector, listener).error(
            "getStatus", "RATE_LIMITED", mailbox="INBOX"
        )
    finally:
        listener.close()
    assert error["retryable"] is True and {"retryAfterSeconds": 2.0} in error["details"]


@pytest.mark.parametrize(
    "reply",
    [
        b"NO [AUTHENTICATIONFAILED] Authentication failed.",
        b"NO [AUTHENTICATIONFAILED] Invalid credentials, try again later",
    ],
)
def test_bad_password_is_still_auth_failed(connector, reply):
    listener = fake.Listener(fake.scripted(refuse_login(reply)))
    try:
        error = fake_harness(connector, listener).error("getStatus", "AUTH_FAILED", mailbox="INBOX")
    finally:
        listener.close()
    assert error["retryable"] is False


# --- 4. the whole opening is bounded ----------------------------------------------------------


# (a trickling greeting, cut at the connection's Timeout: it waits for it, so it is in
# tests/timing/test_read_timeouts.py)


# --- 5. inputs that used to escape the envelope ------------------------------------------------


# (the CLI's: tests/process/test_cli_hostile_input.py)


# --- 6, 7. the state file -----------------------------------------------------------------------


# --- 8. masks never tell the secret ------------------------------------------------------------


def test_short_secret_is_not_masked_inside_words():
    assert Scrubber(["b"]).text("Mailbox 'b' not found") == "Mailbox '***' not found"
    assert Scrubber(["ox"]).text("Mailbox") == "Mailbox"


# --- 9. a cut TLS handshake is a connection failure -------------------------------------------


def cut_handshake(conn, listener):
    conn.recv(4096)  # the ClientHello
    conn.shutdown(socket.SHUT_RDWR)


def test_cut_during_tls_handshake_is_connection_failed(connector):
    listener = fake.Listener(cut_handshake)
    try:
        error = fake_harness(connector, listener, secure=True).error(
            "listMailboxes", "CONNECTION_FAILED"
        )
    finally:
        listener.close()
    assert error["retryable"] is True
