"""Round trips of a pooled step (a logged-in session reused, as ``connector serve`` and the
Temporal worker do), counted as client flights by a delaying proxy, per server.

Where the server takes pipelined commands (Dovecot, Cyrus, pymap): getStatus 1 flight,
downloadMessage by UID 1 (EXAMINE + UID FETCH, with the previous step's UNSELECT), and
searchMailbox 2 (EXAMINE + UID SEARCH, then the FETCH of the page). Courier takes nothing
ahead of a reply here (its login hand-off loses commands, so the connector never learns
it pipelines): EXAMINE goes first, one more flight for download and search.
"""

from __future__ import annotations

import time
import uuid

from connector.sdk._pool import SessionPool
from tests.helpers import make_message, raw_client
from tests.servers import fake

DELAY = 0.04  # each way: long enough that the client's own work never splits a flight
EXPECTED = {
    "dovecot": {"getStatus": 1, "downloadMessage": 1, "searchMailbox": 2},
    "cyrus": {"getStatus": 1, "downloadMessage": 1, "searchMailbox": 2},
    "pymap": {"getStatus": 1, "downloadMessage": 1, "searchMailbox": 2},
    "courier": {"getStatus": 1, "downloadMessage": 2, "searchMailbox": 3},
}


def test_pooled_step_flights(connector, server):
    client = raw_client(server)
    mailbox = server.path(f"pf-{uuid.uuid4().hex[:8]}")
    client.create_folder(mailbox)
    client.append(mailbox, make_message(subject="pooled flights"))
    client.select_folder(mailbox, readonly=True)
    uid = client.search(["ALL"])[0]
    client.logout()
    proxy = fake.DelayProxy(server.tls_port or server.starttls_port, delay=DELAY)
    pool = SessionPool(per_account=1)
    connection = server.connection(port=proxy.port, timeout=10, startTls="required")
    steps = {
        "getStatus": {"mailbox": mailbox},
        "downloadMessage": {"mailbox": mailbox, "messageIndex": uid},
        "searchMailbox": {"mailbox": mailbox},
    }
    flights = {}
    try:

        def run(action: str) -> dict:
            envelope = connector.invoke(
                {"action": action, "connection": connection, "inputs": steps[action]}, pool=pool
            )
            assert envelope["ok"], envelope
            return envelope["data"]

        run("searchMailbox")  # the session is open and pooled, a mailbox left selected
        for action in steps:
            run("searchMailbox")  # each step after one that leaves a mailbox to UNSELECT
            time.sleep(3 * DELAY)
            proxy.reset()
            data = run(action)
            flights[action] = proxy.flights
            if action == "searchMailbox":
                assert [m["uid"] for m in data["messages"]] == [uid]
        assert pool.stats()["misses"] == 1, pool.stats()  # one session, reused throughout
    finally:
        pool.close()
        proxy.close()
    assert flights == EXPECTED[server.name], (flights, proxy.log)
