"""The trigger's push lines against Dovecot through proxies, held by a push hub
(``Connector.wait_for_change`` holds them on one of its own): a quiet IDLE is checked with
a NOOP every LIVENESS seconds, a line gone silent without a word is found within the read
timeout, a push over several mailbox connections cleans them all up, and a lease keeps its
lines through renewals."""

from __future__ import annotations

import queue
import threading
import time
import uuid

import pytest

from connector.imap.triggers import push
from connector.sdk._pushhub import PushHub
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


# --- mail that comes as the IDLE goes out, a reply in pieces, lines kept between waits ------


class AppendingProxy(fake.Listener):
    """Forwards plain IMAP to Dovecot; the first time the client sends NOOP or IDLE after
    its EXAMINE, ``append()`` runs before those bytes go on: new mail that lands between
    the EXAMINE's reply and the IDLE."""

    def __init__(self, target_port: int, append):
        self.target_port, self.append, self.done = target_port, append, False
        self.examined = False
        super().__init__(self._forward)

    def _forward(self, conn, listener):
        def watch(data: bytes, from_client: bool) -> str:
            if from_client and b" EXAMINE " in data:
                self.examined = True
            elif from_client and self.examined and not self.done:
                if b" NOOP\r\n" in data or b" IDLE\r\n" in data:
                    self.done = True
                    self.append()
            return "send"

        fake.relay(conn, self.target_port, watch)


def test_mail_between_the_examine_and_the_idle_wakes_the_push(connector, dovecot_server):
    """Dovecot reports such mail only at DONE, not during the IDLE: the NOOP that goes out
    with the IDLE finds it (without it, this wait would sleep its 8 seconds)."""
    client = raw_client(dovecot_server)
    name = f"gap-{uuid.uuid4().hex[:8]}"
    client.create_folder(name)
    proxy = AppendingProxy(
        dovecot_server.starttls_port, lambda: client.append(name, make_message(subject="gap"))
    )
    connection = dovecot_server.connection(secure=False, startTls="never", port=proxy.port)
    try:
        started = time.monotonic()
        woke = connector.wait_for_change(_request(connection, name), 8)
        assert proxy.done and woke == {"ok": True, "data": {"woke": "change"}}, woke
        assert time.monotonic() - started < 4
    finally:
        proxy.close()
        client.logout()


class SlowPieces(fake.SplittingProxy):
    """Every chunk either way is cut in two after its 5th byte, 50 ms apart: a response
    that arrives in pieces, as over a slow link (each piece a TLS record or a segment)."""

    def _send_in_pieces(self, dst, data: bytes) -> None:
        cut = min(5, len(data))
        dst.sendall(data[:cut])
        time.sleep(0.05)
        dst.sendall(data[cut:])


def test_a_response_in_two_pieces_during_idle_wakes_the_push(connector, dovecot_server):
    """IMAPClient's idle_check reads with the socket non-blocking: the first piece is lost
    and the rest reads as a response of its own ("unexpected response: 'XISTS'"), so the
    push failed and was reconnected instead of waking the poll."""
    client = raw_client(dovecot_server)
    name = f"pieces-{uuid.uuid4().hex[:8]}"
    client.create_folder(name)
    proxy = SlowPieces(dovecot_server.starttls_port)
    connection = dovecot_server.connection(secure=False, startTls="never", port=proxy.port)
    try:
        threading.Timer(2.0, lambda: client.append(name, make_message(subject="x"))).start()
        woke = connector.wait_for_change(_request(connection, name), 15)
        assert woke == {"ok": True, "data": {"woke": "change"}}, woke
    finally:
        proxy.close()
        client.logout()


def _mailboxes_request(connection: dict, names: list[str], state: dict) -> dict:
    return {**_request(connection, names[0], mailboxes=names), "state": state}


@pytest.mark.parametrize("notify", [True, False], ids=["notify", "idle-per-mailbox"])
def test_a_lease_keeps_its_lines_through_renewals_and_reports_every_change(
    connector, dovecot_server, notify
):
    """On a hub (listen, a worker) a push's lines stay logged in and in IDLE: new mail in
    any watched mailbox is reported, again and again, on the lines opened once, renewed
    (DONE, NOOP, IDLE) every half second here."""
    client = raw_client(dovecot_server)
    names = [f"kept-{i}-{uuid.uuid4().hex[:6]}" for i in range(2)]
    for name in names:
        client.create_folder(name)
    hide = {} if notify else {b" NOTIFY": b" XNOTIFY"}
    hiding = fake.RewritingProxy(dovecot_server.starttls_port, {}, hide)
    proxy = fake.CapturingProxy(hiding.port)
    connection = dovecot_server.connection(secure=False, startTls="never", port=proxy.port)
    state = connector.invoke(_mailboxes_request(connection, names, {}))["state"]
    before = proxy.connections
    hub = PushHub(workers=2)
    events: queue.Queue = queue.Queue()
    try:
        opener, describe = connector.push_opener(_mailboxes_request(connection, names, state))
        assert hub.lease("w", opener, events.put, describe=describe, renew_every=0.5) == "new"
        assert events.get(timeout=10).kind == "idling"
        time.sleep(1.5)  # (renewals)
        for name in [names[0], names[1], names[0]]:
            client.append(name, make_message())
            assert events.get(timeout=10).kind == "change"
            time.sleep(0.6)  # (an EXISTS and, with NOTIFY, an expunge-free STATUS each)
            while not events.empty():
                assert events.get().kind == "change"  # (news told twice: only changes)
        assert proxy.connections - before == (1 if notify else 2), proxy.commands
        assert proxy.commands.count(b"NOTIFY") == (1 if notify else 0)
        # renewed meanwhile (an IDLE again after each DONE), on the same lines
        assert proxy.commands.count(b"IDLE") >= (1 if notify else 2) + 2, proxy.commands
    finally:
        hub.close()
        proxy.close()
        hiding.close()
        client.logout()
