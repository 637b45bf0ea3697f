"""The connection's Timeout ends a read, however a peer stalls or trickles.

Each test here waits for that Timeout to pass on a scripted server (``tests/servers/fake``):
a literal announced and never sent (issue 36, part 1: waiting for it costs no memory), a
greeting trickled a byte every 0.3 s, in the clear and over TLS.
"""

from __future__ import annotations

import ssl
import time

import pytest

from connector.imap.wire import budgets
from connector.sdk.testing import Harness
from tests.helpers import VirtualMemoryWatch
from tests.servers import fake

FIELDS = {"host": "127.0.0.1", "secure": False, "startTls": "never", "timeout": 5}


def fake_harness(connector, listener, **fields):
    return Harness(connector, {**FIELDS, "port": listener.port, "user": "u", "pass": "p", **fields})


def test_a_literal_within_the_budget_is_read_in_pieces(connector):
    """A literal the server only announces (and never sends) costs no memory: it is read a
    piece at a time, and the step ends with the connection's read timeout."""
    listener = fake.Listener(
        fake.scripted(fake.accept_login, fake.announces_literal(b"LIST", budgets.MAX_LITERAL))
    )
    connection = {**FIELDS, "port": listener.port, "user": "u", "pass": "p", "timeout": 1}
    request = {"action": "listMailboxes", "connection": connection, "inputs": {}}
    try:
        with VirtualMemoryWatch() as memory:
            envelope = connector.invoke(request, timeout=30)
    finally:
        listener.close()
    assert envelope["error"]["code"] == "TIMEOUT", envelope
    assert memory.grown < 64 * 1024, f"virtual memory grew {memory.grown} KiB, nothing sent"


def trickle(conn, listener):
    """A greeting one byte every 0.3 s: every read succeeds, the whole never ends."""
    for byte in b"* OK " + b"x" * 200 + b"\r\n":
        conn.sendall(bytes([byte]))
        time.sleep(0.3)


@pytest.mark.parametrize("secure", [False, True])
def test_trickling_greeting_ends_at_timeout(connector, ca, secure):
    context = None
    if secure:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
    listener = fake.Listener(trickle, context=context)
    try:
        started = time.monotonic()
        harness = fake_harness(
            connector,
            listener,
            timeout=1,
            secure=secure,
            caCertificate=ca.cert_pem.bytes().decode(),
        )
        error = harness.error("getStatus", "TIMEOUT", mailbox="INBOX")
        assert time.monotonic() - started < 2.5  # (a byte every 0.3 s would go on for ever)
        assert error["retryable"] is True
    finally:
        listener.close()
