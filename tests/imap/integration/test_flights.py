"""Round trips of a cold step: client flights counted by a delaying proxy, per server.

Over implicit TLS 1.3 a cold getStatus is ClientHello | Finished + LOGIN + STATUS |
LOGOUT: 3 flights, once the server is known to this process (an earlier session: its
greeting and capabilities). Cyrus adds a TLS HelloRetryRequest (it wants a P-256 key share,
Python offers X25519 first): 4. pymap has STARTTLS only: STARTTLS | ClientHello | Finished +
LOGIN + STATUS | LOGOUT: 4. Courier's TLS port speaks TLS 1.2 (the client's Finished
waits a round trip), loses commands sent behind LOGIN (so LOGIN goes alone) and sends no
capabilities with its login reply: ClientHello | Finished | LOGIN | CAPABILITY | STATUS |
LOGOUT: 6, where imaplib needs 7.
"""

from __future__ import annotations

import time
import uuid

import pytest

from connector.sdk.testing import Harness
from tests.helpers import raw_client
from tests.servers import fake

EXPECTED = {"dovecot": 3, "cyrus": 4, "courier": 6, "pymap": 4}
DELAY = 0.05  # each way: long enough that the client's own work never splits a flight


def cold_status_flights(connector, server, proxy, **fields) -> int:
    secure = server.tls_port is not None
    harness = Harness(
        connector,
        server.connection(
            port=proxy.port, secure=secure, timeout=10, startTls="required", **fields
        ),
    )
    harness.ok("getStatus", mailbox="INBOX")  # the server becomes known to this process
    time.sleep(4 * proxy.delay)  # the previous LOGOUT passes the proxy before counting
    proxy.reset()
    data = harness.ok("getStatus", mailbox="INBOX")
    assert data["path"] == "INBOX"
    time.sleep(4 * proxy.delay)  # LOGOUT (not awaited) reaches the proxy and is counted
    return proxy.flights


def test_cold_get_status_flights(connector, server):
    proxy = fake.DelayProxy(server.tls_port or server.starttls_port, delay=DELAY)
    try:
        flights = cold_status_flights(connector, server, proxy)
    finally:
        proxy.close()
    assert flights <= EXPECTED[server.name], f"{flights} {proxy.log}"


def test_pipelining_off_costs_round_trips(connector, dovecot_server):
    proxy = fake.DelayProxy(dovecot_server.tls_port, delay=DELAY)
    try:
        on = cold_status_flights(connector, dovecot_server, proxy)
        off = cold_status_flights(connector, dovecot_server, proxy, pipelining=False)
    finally:
        proxy.close()
    # ClientHello | Finished (then the greeting) | LOGIN | STATUS | LOGOUT
    assert on <= 3 and off > on, (on, off)


@pytest.mark.parametrize("name", ["dovecot", "pymap"])  # Cyrus and Courier delay failed logins
def test_failed_pipelined_login_is_auth_failed_and_runs_nothing(connector, request, name):
    server = request.getfixturevalue(f"{name}_server")
    harness = Harness(connector, server.connection())
    harness.ok("listMailboxes")  # known now: LOGIN and the next command go out together
    mailbox = server.path(f"p-{uuid.uuid4().hex[:8]}")
    error = Harness(connector, server.connection(**{"pass": "wrong"})).error(
        "createMailbox", "AUTH_FAILED", path=mailbox
    )
    assert "Login failed" in error["message"]
    client = raw_client(server)
    try:
        assert not client.folder_exists(mailbox)  # the CREATE sent behind LOGIN was refused
    finally:
        client.logout()


def test_logout_is_not_awaited_but_the_server_sees_it(connector, dovecot_server):
    """LOGOUT goes out and the socket closes at once; Dovecot still logs a clean logout."""
    log = dovecot_server.process.log
    before = log().count("Logged out")
    harness = Harness(connector, dovecot_server.connection())
    for _ in range(3):
        harness.ok("getStatus", mailbox="INBOX")
    deadline = time.monotonic() + 5
    while log().count("Logged out") < before + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log().count("Logged out") >= before + 3  # (other tests' sessions may end too)
