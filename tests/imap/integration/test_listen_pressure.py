"""Issue 37, ``listen`` under pressure: push comes back after a failure (it never turns
itself off for one), and a ``listen`` killed right after printing leaves no
temporary file and prints again only records with the same identity (at least once)."""

from __future__ import annotations

import json
import queue
import signal
import time
import uuid

from tests.helpers import make_message, raw_client
from tests.imap.integration.test_listen import Listening, started
from tests.servers import fake


def leftovers(state) -> list[str]:
    return sorted(p.name for p in state.parent.iterdir() if p.name.startswith(f".{state.name}."))


def test_push_comes_back_after_its_tls_line_is_cut(dovecot_server, tmp_path):
    """A TLS line cut mid-stream fails the push with TLS_ERROR, which retrying cannot fix
    for a step: the push is tried again all the same (it used to turn itself off for good,
    leaving the 2-minute polls), and new mail comes in seconds."""
    client = raw_client(dovecot_server)
    name = f"lback-{uuid.uuid4().hex[:6]}"
    client.create_folder(name)
    proxy = fake.CapturingProxy(dovecot_server.tls_port)
    connection = dovecot_server.connection(port=proxy.port)
    state = tmp_path / "state.json"
    listening = Listening(connection, name, state, "--every", "120s")
    try:
        started(state, listening)
        for i in range(2):
            time.sleep(1)  # (its IDLE is on)
            proxy.cut_all()
            deadline = time.monotonic() + 30
            while len([e for e in listening.errors if "push failed" in e]) <= i:
                assert time.monotonic() < deadline, listening.errors
                time.sleep(0.2)
            deadline = time.monotonic() + 30
            while len([e for e in listening.errors if "push back" in e]) <= i:
                assert time.monotonic() < deadline, listening.errors
                time.sleep(0.2)
            sent = time.monotonic()
            client.append(name, make_message(subject=f"after cut {i}"))
            assert listening.next_subject(timeout=30) == f"after cut {i}"
            assert time.monotonic() - sent < 15  # push's seconds, not the 2-minute poll
    finally:
        assert listening.stop() == 0
        proxy.close()
        client.logout()
    assert not [e for e in listening.errors if "polling only" in e], listening.errors


def test_killed_right_after_printing_it_leaves_no_temp_file_and_repeats_by_identity(
    dovecot_server, tmp_path
):
    client = raw_client(dovecot_server)
    name = f"lkill-{uuid.uuid4().hex[:6]}"
    client.create_folder(name)
    state = tmp_path / "state.json"
    printed: list[dict] = []
    sent = []
    listening = Listening(dovecot_server.connection(), name, state, "--every", "60s")

    def drain(until: str | None = None) -> None:
        """What it printed so far (waiting for the record of ``until``)."""
        while True:
            try:
                record = json.loads(listening.records.get(timeout=20 if until else 0.5))
            except queue.Empty:
                assert until is None, f"no record for {until}"
                return
            printed.append(record)
            if until is not None and record["envelope"]["messageId"] == until:
                return

    try:
        started(state, listening)
        for i in range(5):
            time.sleep(0.5)  # (its IDLE is on)
            sent.append(f"<kill-{i}-{uuid.uuid4().hex[:6]}@example.com>")
            client.append(name, make_message(subject=f"kill {i}", message_id=sent[-1]))
            drain(until=sent[-1])
            listening.process.send_signal(signal.SIGKILL)  # right after the record is out
            listening.process.wait(10)
            assert leftovers(state) == []
            drain()  # (anything printed in between)
            listening = Listening(dovecot_server.connection(), name, state, "--every", "60s")
            time.sleep(1.5)  # (its first poll: what the killed one had not saved comes again)
        drain()
    finally:
        assert listening.stop() == 0
        client.logout()
    assert leftovers(state) == []
    by_id: dict[str, set] = {}
    for record in printed:
        key = (record["mailbox"], record["uidValidity"], record["uid"])
        by_id.setdefault(record["envelope"]["messageId"], set()).add(key)
    assert sorted(by_id) == sorted(sent)  # every message, none lost
    assert all(len(keys) == 1 for keys in by_id.values()), by_id  # a repeat: the same identity
