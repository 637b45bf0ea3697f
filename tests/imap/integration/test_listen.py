"""``imap-connector listen``: records as JSON lines as mail arrives (IDLE wakes the poll),
against Dovecot: latency with push against the poll interval, the IDLE line cut (nothing
missed or doubled), a restart from the state file, and a server that refuses IDLE (polling
only, one note, no error loop)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import ROOT, make_message, raw_client
from tests.servers import fake

TRIGGER = "newEmailsPollingTrigger"


class Listening:
    """``listen`` as a subprocess; its stdout lines (records) and stderr lines, as they come."""

    def __init__(self, connection: dict, mailbox: str, state: Path, *extra: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMAP_")}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connector.imap.cli",
                "listen",
                TRIGGER,
                "--state-file",
                str(state),
                "--connection",
                json.dumps(connection),
                "--input",
                f"mailbox={mailbox}",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.records: queue.Queue = queue.Queue()
        self.errors: list[str] = []
        threading.Thread(target=self._read, args=(self.process.stdout, self.records.put)).start()
        threading.Thread(target=self._read, args=(self.process.stderr, self.errors.append)).start()

    @staticmethod
    def _read(stream, put) -> None:
        for line in stream:
            put(line)

    def next_subject(self, timeout: float) -> str:
        return json.loads(self.records.get(timeout=timeout))["envelope"]["subject"]

    def subjects(self, count: int, timeout: float) -> list[str]:
        return [self.next_subject(timeout) for _ in range(count)]

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(20)


def started(state: Path, listening: Listening, timeout: float = 20) -> None:
    """The first poll is done (it only remembers where the mailbox is) once the state is saved."""
    deadline = time.monotonic() + timeout
    while not state.exists():
        assert listening.process.poll() is None, "".join(listening.errors)
        assert time.monotonic() < deadline, "the first poll did not finish"
        time.sleep(0.05)


@pytest.fixture
def dovecot_mailbox(dovecot_server):
    name = f"listen-{uuid.uuid4().hex[:8]}"
    client = raw_client(dovecot_server)
    client.create_folder(name)
    yield client, name
    client.logout()


def test_push_delivers_in_about_a_second_and_every_record_once(server, imap, mailbox, tmp_path):
    client, name = imap, mailbox
    state = tmp_path / "state.json"
    listening = Listening(server.connection(), name, state, "--every", "60s")
    try:
        started(state, listening)
        time.sleep(0.5)  # (its IDLE is on by now)
        latencies = []
        for i in range(3):
            sent = time.monotonic()
            client.append(name, make_message(subject=f"push {i}"))
            assert listening.next_subject(timeout=15) == f"push {i}"
            latencies.append(time.monotonic() - sent)
        # Polling alone would take up to 60 s: the median is push's (Courier's IDLE looks
        # every IMAP_IDLE_TIMEOUT, 2 s in the suite).
        assert sorted(latencies)[1] < 4, latencies
        with pytest.raises(queue.Empty):
            listening.records.get(timeout=1)  # nothing twice
    finally:
        assert listening.stop() == 0
    assert not [e for e in listening.errors if "failed" in e], listening.errors


def test_a_cut_idle_line_loses_nothing_and_a_restart_resumes(
    dovecot_server, dovecot_mailbox, tmp_path
):
    client, name = dovecot_mailbox
    proxy = fake.CapturingProxy(dovecot_server.starttls_port)
    connection = dovecot_server.connection(secure=False, startTls="never", port=proxy.port)
    state = tmp_path / "state.json"
    # Polls a minute apart: what comes sooner came by push (IDLE), re-established after the cut.
    listening = Listening(connection, name, state, "--every", "60s")
    try:
        started(state, listening)
        time.sleep(0.5)
        client.append(name, make_message(subject="before the cut"))
        assert listening.next_subject(timeout=15) == "before the cut"
        time.sleep(0.5)
        proxy.cut_all()  # the IDLE connection (and any other) dies
        client.append(name, make_message(subject="after the cut"))
        assert listening.next_subject(timeout=15) == "after the cut"
        time.sleep(0.5)
        client.append(name, make_message(subject="pushed again"))
        assert listening.next_subject(timeout=15) == "pushed again"
        assert not [e for e in listening.errors if "polling only" in e], listening.errors
        assert listening.stop() == 0
        # Mail that arrives while nobody listens comes out once, at the restart.
        for subject in ("while stopped 1", "while stopped 2"):
            client.append(name, make_message(subject=subject))
        listening = Listening(connection, name, state, "--every", "60s")
        assert listening.subjects(2, timeout=20) == ["while stopped 1", "while stopped 2"]
        with pytest.raises(queue.Empty):
            listening.records.get(timeout=1)
    finally:
        listening.stop()
        proxy.close()


def test_a_server_refusing_idle_is_polled_with_one_note(dovecot_server, dovecot_mailbox, tmp_path):
    client, name = dovecot_mailbox
    proxy = fake.RewritingProxy(dovecot_server.starttls_port, {b" IDLE\r\n": b" XIDLE\r\n"})
    connection = dovecot_server.connection(secure=False, startTls="never", port=proxy.port)
    state = tmp_path / "state.json"
    listening = Listening(connection, name, state, "--every", "1s")
    try:
        started(state, listening)
        client.append(name, make_message(subject="polled"))
        assert listening.next_subject(timeout=15) == "polled"
        time.sleep(3)  # three more polls
    finally:
        assert listening.stop() == 0
        proxy.close()
    notes = [e for e in listening.errors if "push" in e]
    assert len(notes) <= 2 and any("polling only" in e for e in notes), listening.errors


def test_notify_watches_every_mailbox_on_one_connection(dovecot_server, tmp_path):
    """Dovecot has NOTIFY (RFC 5465): new mail in the second mailbox wakes the poll too,
    and the push holds one connection (IDLE alone would watch the first mailbox only)."""
    client = raw_client(dovecot_server)
    names = [f"notify-{i}-{uuid.uuid4().hex[:6]}" for i in range(2)]
    for name in names:
        client.create_folder(name)
    proxy = fake.CapturingProxy(dovecot_server.starttls_port)
    connection = dovecot_server.connection(secure=False, startTls="never", port=proxy.port)
    state = tmp_path / "state.json"
    mailboxes = ["--input", f"mailboxes={json.dumps(names)}"]
    listening = Listening(connection, names[0], state, "--every", "60s", *mailboxes)
    try:
        started(state, listening)
        time.sleep(1)
        for i, name in enumerate([names[1], names[0], names[1]]):
            client.append(name, make_message(subject=f"notified {i}"))
            assert listening.next_subject(timeout=10) == f"notified {i}"
            time.sleep(0.3)
        assert b"NOTIFY" in proxy.commands  # (names[1] first: IDLE alone would miss it)
        assert proxy.open == 1  # between polls: the push's connection only
    finally:
        print("ERRORS", listening.errors)
        assert listening.stop() == 0
        proxy.close()
        client.logout()


def test_every_mailbox_is_pushed_on_every_server(server, imap, tmp_path):
    """With NOTIFY (Dovecot) one connection covers them all; elsewhere (Cyrus, Courier,
    pymap) each mailbox has an IDLE on a connection of its own. Either way, new mail in
    any watched mailbox comes long before the next poll."""
    names = [server.path(f"each-{i}-{uuid.uuid4().hex[:6]}") for i in range(3)]
    for name in names:
        imap.create_folder(name)
    state = tmp_path / "state.json"
    mailboxes = ["--input", f"mailboxes={json.dumps(names)}"]
    listening = Listening(server.connection(), names[0], state, "--every", "60s", *mailboxes)
    try:
        started(state, listening)
        time.sleep(1)  # (its IDLEs are on by now)
        for i, name in enumerate([names[2], names[1], names[0], names[2]]):
            imap.append(name, make_message(subject=f"each {i}"))
            # (Courier's IDLE looks every 2 s in the suite; a poll would take 60)
            assert listening.next_subject(timeout=12) == f"each {i}"
        with pytest.raises(queue.Empty):
            listening.records.get(timeout=1)  # nothing twice
    finally:
        assert listening.stop() == 0
    assert not [e for e in listening.errors if "failed" in e], listening.errors


def test_the_idle_is_renewed_and_still_pushes(dovecot_server, dovecot_mailbox, tmp_path):
    client, name = dovecot_mailbox
    proxy = fake.CapturingProxy(dovecot_server.starttls_port)
    connection = dovecot_server.connection(secure=False, startTls="never", port=proxy.port)
    state = tmp_path / "state.json"
    renew = ("--every", "60s", "--push-renew", "1s")
    listening = Listening(connection, name, state, *renew)
    try:
        started(state, listening)
        time.sleep(3.5)  # three renewals or so
        assert proxy.commands.count(b"IDLE") >= 3, proxy.commands
        # the first poll's connection and the push's one line: kept, not one per renewal
        assert proxy.connections == 2, proxy.commands
        client.append(name, make_message(subject="after renewals"))
        assert listening.next_subject(timeout=5) == "after renewals"
    finally:
        assert listening.stop() == 0
        proxy.close()
