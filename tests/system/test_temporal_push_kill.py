"""Issue 38, push at platform scale: a worker SIGKILLed right after it took a watcher's
lease. Its push hub's heartbeat (``connector.pushHubAlive``) lists the watchers leased
there, and when it stops its watch tells them (``lost``); the SDK's own heartbeats were
throttled to one per 80% of the timeout (6.4 s), so a watcher leased in the seconds before
the kill was in no list Temporal had: never told, it said ``idling`` with no line and
heard of new mail only at its next poll. A lease is now answered only once Temporal holds
a heartbeat naming its watcher."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.helpers import make_message, raw_client
from tests.system.test_temporal_trigger import first_poll_done, handed_off, status, stop, watch
from tests.system.test_temporal_trigger import wait_for as waited


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("push-kill-logs")


def test_a_worker_killed_right_after_the_lease_is_left_within_the_heartbeat(
    temporal, logs, dovecot_server
):
    imap = raw_client(dovecot_server)
    box = f"pkill-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    queue = f"pkill-{uuid.uuid4().hex[:6]}"
    first = temporal.worker(queue, logs / "pkill-1.log")
    second = temporal.worker(queue, logs / "pkill-2.log")
    # Polls two minutes apart: only the push can hand the message off within the bound.
    workflow_id = watch(
        temporal,
        queue,
        dovecot_server.connection(),
        "tests.RecordSink",
        f"mailbox={box}",
        extra=("--every", "120s", "--push", "--heartbeat", "10s"),
    )
    try:
        first_poll_done(temporal, workflow_id)
        waited(lambda: status(temporal, workflow_id)["push"] == "idling", 30, "a line held")
        # Kill whichever worker holds the line, at once (both run a hub; the lease went to
        # one of them): the other keeps running and takes the line.
        victim = _holder(temporal, workflow_id, first, second)
        victim.kill()
        killed = time.monotonic()
        message_id = f"<after-the-kill-{uuid.uuid4().hex[:6]}@example.com>"
        imap.append(box, make_message("after the kill", message_id=message_id))
        assert handed_off(temporal, workflow_id, 1, 60) == [message_id]
        took = time.monotonic() - killed
        assert took < 40, took  # the heartbeat timeout (8 s) and a lease, not the poll (120 s)
        waited(lambda: status(temporal, workflow_id)["push"] == "idling", 30, "a line again")
    finally:
        stop(temporal, workflow_id, *(w for w in (first, second) if w.poll() is None))
        imap.logout()


def _holder(temporal, workflow_id: str, *workers):
    """The worker whose hub holds the watcher's lines: the memo names the hub, whose watch's
    pending activity (pushHubAlive) names the worker (``pid@host``)."""

    async def use(client):
        described = await client.get_workflow_handle(workflow_id).describe()
        host = await described.memo_value("pushHost")
        hub = await client.get_workflow_handle(f"push-hub-{host}").describe()
        return hub.raw_description.pending_activities[0].last_worker_identity

    pid = int(temporal.call(use).split("@")[0])
    return next(w for w in workers if w.pid == pid)
