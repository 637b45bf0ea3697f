"""Connection errors that misled: a host with a port or URL brackets is INVALID_INPUT naming
Host before any connection (it was a 503 "cannot be resolved"); a peer that is not IMAP is
not retryable (the same settings meet the same peer), a cut before any greeting still is;
a TLS port that does not answer TLS says it is not IMAP over TLS, whatever it is."""

from __future__ import annotations

import pytest

from connector.imap.wire import protocol
from connector.sdk import InvalidInput
from connector.sdk.testing import Harness
from tests.servers import fake

FIELDS = {"host": "127.0.0.1", "secure": False, "startTls": "never", "timeout": 5}


def harness_for(connector, port: int, **fields) -> Harness:
    return Harness(connector, {**FIELDS, "port": port, "user": "u", "pass": "p", **fields})


@pytest.mark.parametrize(
    ("host", "says"),
    [
        (
            "127.0.0.1:993",
            "Host '127.0.0.1:993' includes a port: give '127.0.0.1' in Host and 993 in Port.",
        ),
        ("imap.example.com:143", "give 'imap.example.com' in Host and 143 in Port"),
        ("[::1]:993", "give '::1' in Host and 993 in Port"),
        ("[::1]", "Host '[::1]': give the IPv6 address without brackets, such as '::1'."),
    ],
)
def test_a_host_with_a_port_or_brackets_is_invalid_input_before_connecting(connector, host, says):
    listener = fake.Listener(fake.silent)
    try:
        error = harness_for(connector, listener.port, host=host).error(
            "getStatus", "INVALID_INPUT", mailbox="INBOX"
        )
    finally:
        listener.close()
    assert says in error["message"]
    assert [d["path"] for d in error["details"]] == ["connection.host"]
    assert error["retryable"] is False


@pytest.mark.parametrize("host", ["::1", "2001:db8::7", "127.0.0.1", "imap.example.com"])
def test_addresses_and_names_pass_unchanged(host):
    assert protocol.check_host(host) == host


def test_an_international_name_is_looked_up_in_its_idna_form():
    assert protocol.check_host("münchen.example") == "xn--mnchen-3ya.example"
    assert protocol.check_host("MÜNCHEN.example") == "xn--mnchen-3ya.example"
    with pytest.raises(InvalidInput, match="give its xn-- form"):
        protocol.check_host("ä" * 70 + ".example")  # a label over 63 characters


def test_a_peer_that_is_not_imap_is_not_retryable(connector):
    def smtp(conn, listener):
        conn.sendall(b"220 mail.internal.example ESMTP Postfix\r\n")
        fake.silent(conn, listener)

    listener = fake.Listener(smtp)
    try:
        error = harness_for(connector, listener.port).error(
            "getStatus", "CONNECTION_FAILED", mailbox="INBOX"
        )
    finally:
        listener.close()
    assert "did not greet like an IMAP server" in error["message"]
    assert error["retryable"] is False
    assert "Postfix" not in error["message"]


def test_a_cut_before_any_greeting_is_still_retryable(connector):
    def hang_up(conn, listener):
        conn.close()

    listener = fake.Listener(hang_up)
    try:
        error = harness_for(connector, listener.port).error(
            "getStatus", "CONNECTION_FAILED", mailbox="INBOX"
        )
    finally:
        listener.close()
    assert "closed the connection before greeting" in error["message"]
    assert error["retryable"] is True


def test_a_web_server_on_the_tls_port_is_not_called_a_plain_imap_port(connector):
    def http(conn, listener):
        conn.recv(4096)  # the TLS client hello
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    listener = fake.Listener(http)
    try:
        error = harness_for(connector, listener.port, secure=True).error(
            "getStatus", "CONNECTION_FAILED", mailbox="INBOX"
        )
    finally:
        listener.close()
    assert "not an IMAP server over TLS (a plain IMAP port, or not IMAP at all)" in error["message"]
    assert "probably a plain IMAP port" not in error["message"]
    assert error["retryable"] is False
