"""``listen`` after the watched mailbox is deleted and created again: its push line sat on
the old mailbox and heard nothing of the new one (Dovecot keeps such an IDLE until it drops
the session, minutes later); mail waited for the next poll. The poll that finds the new
UIDVALIDITY now opens the lines again."""

from __future__ import annotations

import time
import uuid

from tests.helpers import make_message, raw_client
from tests.imap.integration.test_listen import Listening, started


def test_push_follows_a_mailbox_deleted_and_created_again(dovecot_server, tmp_path):
    client = raw_client(dovecot_server)
    name = f"recreated-{uuid.uuid4().hex[:8]}"
    aside = f"{name}-aside"
    client.create_folder(name)
    state = tmp_path / "state.json"
    listening = Listening(dovecot_server.connection(), name, state, "--every", "30s")
    try:
        started(state, listening)
        time.sleep(0.5)  # (its IDLE is on by now)
        client.append(name, make_message(subject="before"))
        assert listening.next_subject(timeout=10) == "before"
        client.create_folder(aside)
        client.select_folder(name)
        client.copy(client.search(["ALL"]), aside)
        client.unselect_folder()
        client.delete_folder(name)
        client.create_folder(name)
        client.select_folder(aside)
        client.copy(client.search(["ALL"]), name)
        client.unselect_folder()
        client.append(name, make_message(subject="first in the new one"))
        # The next poll (the old line hears nothing: within 30 s) finds the renumbering; the
        # re-read hands off only what is new.
        assert listening.next_subject(timeout=40) == "first in the new one"
        time.sleep(1.0)  # (the lines opened again, on the new mailbox)
        sent = time.monotonic()
        client.append(name, make_message(subject="probe"))
        assert listening.next_subject(timeout=20) == "probe"
        latency = time.monotonic() - sent
    finally:
        assert listening.stop() == 0
        client.logout()
    # (a deaf line leaves the probe to the next poll: up to 30 s)
    assert latency < 10, f"the probe took {latency:.1f} s: the push line stayed deaf"
    assert listening.records.empty(), "a message was handed off twice"
