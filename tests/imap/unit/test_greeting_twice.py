"""A server that greets twice: the session's capabilities are those after login, never the
greeting's (issue 41: the flaky UIDPLUS/CONDSTORE under ``pytest -n 2``).

Dovecot whose auth process is slow to answer (at start-up, on a loaded machine: two xdist
workers each starting theirs) first sends "* OK Waiting for authentication process to
respond..", then its greeting with [CAPABILITY ...]. Over implicit TLS with pipelining the
first line was taken for the greeting, the second reached us with LOGIN's reply, and IMAPClient
took the older of the two CAPABILITY lists: the one before login (no UIDPLUS, no CONDSTORE).
The session believed it, and the server's next sessions too (the known-server cache).
"""

from __future__ import annotations

import ssl

import pytest

from connector.imap.wire import transport
from connector.sdk.testing import Harness
from tests.servers import fake


@pytest.fixture
def twice(ca):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with fake.Listener(fake.greets_twice, context=context) as listener:
        yield listener


def harness_for(connector, ca, listener, **fields) -> Harness:
    return Harness(
        connector,
        {
            "host": "127.0.0.1",
            "port": listener.port,
            "secure": True,
            "user": "alice",
            "pass": "alicepw",
            "caCertificate": ca.cert_pem.bytes().decode(),
            "timeout": 5,
            **fields,
        },
    )


@pytest.mark.parametrize(
    "fields",
    [{}, {"pipelining": False}, {"user": "carol", "pass": "pässwörd-€"}],
    ids=["pipelined", "not-pipelined", "authenticate-plain"],
)
def test_the_capabilities_after_login_are_the_sessions_whatever_came_before(
    connector, ca, twice, fields
):
    harness = harness_for(connector, ca, twice, **fields)
    for _ in range(3):  # the first session learns the server; the next ones start from that
        status = harness.ok("getStatus", mailbox="INBOX")
        assert status["highestModseq"] == "42", status  # CONDSTORE: after login only
    tested = harness.test_connection()
    assert tested["ok"], tested
    capabilities = tested["data"]["capabilities"]
    assert {"UIDPLUS", "CONDSTORE", "ESEARCH", "MOVE"} <= set(capabilities), capabilities
    remembered = [e["capabilities"] for key, e in transport._KNOWN.items() if key[1] == twice.port]
    assert remembered and all(c is None or "UIDPLUS" in c for c in remembered), remembered


def test_a_literal_waits_for_the_plus_unless_this_server_said_literal_plus(connector):
    """LITERAL+ is decided on what the server said after this login, never on what it said
    to an earlier session: the address may now be served by a server without it, which would
    read the literal's bytes (the message) as commands."""
    replaced = fake.Replaced()
    message = "Subject: no Message-ID\r\n\r\nthe body, which must not be read as a command\r\n"
    with fake.Listener(replaced.handle) as listener:
        harness = Harness(
            connector,
            {
                "host": "127.0.0.1",
                "port": listener.port,
                "secure": False,
                "startTls": "never",
                "user": "alice",
                "pass": "alicepw",
                "timeout": 5,
            },
        )
        for literal_plus in (True, False, True):
            replaced.literal_plus = literal_plus
            for _ in range(2):  # the first learns this server, the second starts from that
                appended = harness.ok("appendMessage", path="INBOX", content=message)
                assert appended["uid"] == 1
    assert replaced.misread == 0
