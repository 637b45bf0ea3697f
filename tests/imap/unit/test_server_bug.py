"""[SERVERBUG] (RFC 5530) is the server failing on the request: SERVER_ERROR, not retryable,
wherever it comes (a command's NO or BAD, a BYE closing the connection, the greeting, the
login), never a retryable CONNECTION_FAILED that a platform would repeat in vain."""

from __future__ import annotations

import pytest

from connector.sdk.testing import Harness
from tests.servers import fake

FIELDS = {"host": "127.0.0.1", "secure": False, "startTls": "never", "timeout": 5}


def harness_for(connector, listener) -> Harness:
    return Harness(connector, {**FIELDS, "port": listener.port, "user": "u", "pass": "p"})


def assert_server_bug(error: dict) -> None:
    assert error["retryable"] is False
    assert "[SERVERBUG]" in error["message"]
    assert "repeating it will fail the same way" in error["message"]


@pytest.mark.parametrize(
    "reply",
    [
        b"{tag} NO [SERVERBUG] Internal error",
        b"{tag} BAD [SERVERBUG] oops",
        b"* BYE [SERVERBUG] Unhandled server error.",
    ],
    ids=["NO", "BAD", "BYE"],
)
def test_a_command_answered_serverbug_is_a_server_error(connector, reply):
    def on_other(conn, tag, command, line, listener):
        conn.sendall(reply.replace(b"{tag}", tag) + b"\r\n")
        if reply.startswith(b"* BYE"):
            conn.close()  # as pymap does: the connection ends with the BYE

    listener = fake.Listener(fake.scripted(fake.accept_login, on_other))
    try:
        error = harness_for(connector, listener).error("getStatus", "SERVER_ERROR", mailbox="INBOX")
    finally:
        listener.close()
    assert_server_bug(error)


def test_a_greeting_bye_serverbug_is_a_server_error(connector):
    def handle(conn, listener):
        conn.sendall(b"* BYE [SERVERBUG] Cannot start a session\r\n")

    listener = fake.Listener(handle)
    try:
        error = harness_for(connector, listener).error("getStatus", "SERVER_ERROR", mailbox="INBOX")
    finally:
        listener.close()
    assert_server_bug(error)


def test_a_login_refused_with_serverbug_is_a_server_error_not_auth_failed(connector):
    def on_login(conn, tag, line):
        conn.sendall(tag + b" NO [SERVERBUG] Internal login failure\r\n")

    listener = fake.Listener(fake.scripted(on_login))
    try:
        error = harness_for(connector, listener).error("getStatus", "SERVER_ERROR", mailbox="INBOX")
    finally:
        listener.close()
    assert_server_bug(error)
