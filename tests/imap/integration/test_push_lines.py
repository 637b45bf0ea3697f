"""The trigger's push (``Connector.wait_for_change``) in-process, against Dovecot through
proxies: a quiet IDLE is checked with a NOOP every LIVENESS seconds, a line gone silent
without a word is found within the read timeout (not at the next renewal), and a push
over several mailbox connections cleans them all up."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from connector.imap.triggers import push
from tests.helpers import make_message, raw_client
from tests.servers import fake

TRIGGER = "newEmailsPollingTrigger"


@pytest.fixture
def quick_liveness(monkeypatch):
    monkeypatch.setattr(push, "LIVENESS", 0.5)


def _request(connection: dict, mailbox: str, **inputs) -> dict:
    return {
        "trigger": TRIGGER,
        "connection": connection,
        "inputs": {"mailbox": mailbox, **inputs},
        "state": {},
    }


def test_a_quiet_idle_is_checked_with_noops_and_still_wakes(
    connector, dovecot_server, quick_liveness
):
    client = raw_client(dovecot_server)
    name = f"live-{uuid.uuid4().hex[:8]}"
    client.create_folder(name)
    proxy = fake.CapturingProxy(dovecot_server.starttls_port)
    connection = dovecot_server.connection(secure=False, startTls="never", port=proxy.port)
    try:
        threading.Timer(2.2, lambda: client.append(name, make_message(subject="x"))).start()
        started = time.monotonic()
        woke = connector.wait_for_change(_request(connection, name), 30)
        assert woke == {"ok": True, "data": {"woke": "change"}}
        assert 2 < time.monotonic() - started < 10
        # IDLE, DONE + NOOP about every half second, then IDLE again, on one connection
        # (the new mail is told during an IDLE or in a NOOP's reply)
        assert proxy.commands.count(b"NOOP") >= 2, proxy.commands
        assert proxy.commands.count(b"IDLE") - proxy.commands.count(b"NOOP") in (0, 1)
        assert proxy.connections == 1
    finally:
        proxy.close()
        client.logout()


def test_a_line_gone_silent_is_found_within_the_read_timeout(
    connector, dovecot_server, quick_liveness
):
    """A NAT that forgets the connection: nothing arrives, nothing is refused."""
    proxy = fake.DelayProxy(dovecot_server.starttls_port)
    connection = dovecot_server.connection(
        secure=False, startTls="never", port=proxy.port, timeout=2
    )

    def go_silent() -> None:
        proxy.delay = 600.0  # (what either side sends from now on is held)

    threading.Timer(0.3, go_silent).start()
    started = time.monotonic()
    result = connector.wait_for_change(_request(connection, "INBOX"), 60)
    took = time.monotonic() - started
    proxy.close()
    assert not result["ok"] and result["error"]["retryable"], result
    assert took < 10, took  # without the NOOP: the 60 s asked, then the read timeout


def test_without_notify_each_mailbox_has_its_own_line_and_all_are_closed(connector, dovecot_server):
    """Dovecot with NOTIFY hidden (as Cyrus, Courier, pymap): an IDLE per mailbox."""
    client = raw_client(dovecot_server)
    names = [f"lines-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    for name in names:
        client.create_folder(name)
    proxy = fake.RewritingProxy(dovecot_server.starttls_port, {}, {b" NOTIFY": b" XNOTIFY"})
    counting = fake.CapturingProxy(proxy.port)
    connection = dovecot_server.connection(secure=False, startTls="never", port=counting.port)
    try:
        threading.Timer(1.5, lambda: client.append(names[2], make_message(subject="x"))).start()
        request = _request(connection, names[0], mailboxes=names)
        assert connector.wait_for_change(request, 30)["data"] == {"woke": "change"}
        assert counting.max_open == 3 and b"NOTIFY" not in counting.commands
        deadline = time.monotonic() + 5
        while counting.open and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counting.open == 0  # every line closed when the push returned
    finally:
        counting.close()
        proxy.close()
        client.logout()
