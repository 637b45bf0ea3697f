"""Issue 38's memory: a worker keeps only the runs active lately in memory (``--cached-runs``,
Temporal's sticky cache), so quiet watchers are evicted and replayed from their history
when their timer or a push wakes them. Here six watchers with push on a worker caching two
runs: each is told of its mail in push's seconds (not its ten-minute poll), replayed."""

from __future__ import annotations

import time
import uuid

from tests.helpers import make_message, raw_client
from tests.system.test_temporal_trigger import handed_off, status, stop, wait_for, watch

SINK = "tests.RecordSink"


def test_watchers_evicted_from_the_cache_hear_of_their_mail_in_seconds(
    temporal, tmp_path, dovecot_server
):
    imap = raw_client(dovecot_server)
    boxes = [f"evict-{i}-{uuid.uuid4().hex[:6]}" for i in range(6)]
    for box in boxes:
        imap.create_folder(box)
    queue = f"evict-{uuid.uuid4().hex[:6]}"
    worker = temporal.worker(queue, tmp_path / "worker.log", "--cached-runs", "2")
    watchers = []
    try:
        conn = dovecot_server.connection()
        for box in boxes:
            every = ("--every", "10m", "--push")
            watchers.append(watch(temporal, queue, conn, SINK, f"mailbox={box}", extra=every))
        for watcher in watchers:  # (a query to an evicted run replays it too)
            wait_for(lambda w=watcher: status(temporal, w)["push"] == "idling", 90, "idling")
        # In turn, so that each is woken after the other five: never the one cached last.
        for n in (0, 3, 1, 4, 2, 5):
            message_id = f"<evict-{n}-{uuid.uuid4().hex[:6]}@example.com>"
            sent = time.monotonic()
            imap.append(boxes[n], make_message("pushed", message_id=message_id))
            assert handed_off(temporal, watchers[n], 1, 30) == [message_id]
            assert time.monotonic() - sent < 15  # push's seconds, not the ten-minute poll
        for watcher in watchers:
            assert status(temporal, watcher)["push"] == "idling"
    finally:
        for watcher in watchers:
            stop(temporal, watcher)
        stop(temporal, watchers[0] if watchers else "none", worker)
        imap.logout()


def test_cached_runs_below_one_is_a_usage_error(temporal, tmp_path):
    run = temporal.connector_cli("worker", "--task-queue", "q", "--cached-runs", "0")
    assert run.returncode == 2, run.stderr
    assert "--cached-runs must be at least 1" in run.stderr
