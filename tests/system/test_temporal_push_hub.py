"""Issue 38, push at platform scale, on Temporal and Dovecot: a worker's push lines share one
thread (sixteen watchers with push cost a handful of threads, and a step still runs at once
on a worker with four step slots), and a worker that has no room says so: its watcher is
``waiting: capacity`` in watch-status, alerts after its bound, and takes a line on a worker
with room."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import make_message, raw_client
from tests.system.test_temporal_trigger import first_poll_done, handed_off, status, stop, watch
from tests.system.test_temporal_trigger import wait_for as waited

SINK = "tests.RecordSink"


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("push-hub-logs")


def threads(pid: int) -> int:
    return int(
        next(
            line.split()[1]
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("Threads:")
        )
    )


def shown(temporal, watcher: str) -> tuple[int, dict]:
    """``watch-status``: its exit status and what it prints."""
    run = temporal.connector_cli("watch-status", watcher)
    return run.returncode, json.loads(run.stdout)


def test_sixteen_watchers_share_one_thread_and_a_step_still_runs_at_once(
    temporal, logs, dovecot_server
):
    """Before the hub each push held a step slot and three threads for its whole IDLE:
    sixteen pushes on this worker's four slots left a step waiting until a push ended."""
    imap = raw_client(dovecot_server)
    boxes = [f"hub-{i}-{uuid.uuid4().hex[:6]}" for i in range(16)]
    for box in boxes:
        imap.create_folder(box)
    queue = f"hub-{uuid.uuid4().hex[:6]}"
    worker = temporal.worker(queue, logs / "hub.log", "--threads", "4")
    time.sleep(2)  # (settled: its own threads started)
    before = threads(worker.pid)
    watchers = []
    try:
        conn = dovecot_server.connection()
        for box in boxes:
            every = ("--every", "10m", "--push")
            watchers.append(watch(temporal, queue, conn, SINK, f"mailbox={box}", extra=every))
        for watcher in watchers:
            waited(lambda w=watcher: status(temporal, w)["push"] == "idling", 90, "idling")
        grown = threads(worker.pid) - before
        # the hub's thread, its workers (4 at most), and the step slots' threads (4):
        # not three per push (48)
        assert grown <= 12, grown
        started = time.monotonic()
        run = temporal.connector_cli(
            "run-step", "getStatus", "--task-queue", queue,
            "--connection", json.dumps(dovecot_server.connection()), "--input", "mailbox=INBOX",
        )  # fmt: skip
        took = time.monotonic() - started
        assert run.returncode == 0, run.stderr
        assert took < 20, took  # (a CLI process and a workflow: seconds, not a push's minutes)
        message_id = f"<hub-{uuid.uuid4().hex[:6]}@example.com>"
        sent = time.monotonic()
        imap.append(boxes[7], make_message("pushed", message_id=message_id))
        assert handed_off(temporal, watchers[7], 1, 30) == [message_id]
        assert time.monotonic() - sent < 15  # push's seconds, not the ten-minute poll
    finally:
        for watcher in watchers:
            stop(temporal, watcher)
        stop(temporal, watchers[0] if watchers else "none", worker)
        imap.logout()


def test_a_worker_without_room_says_capacity_alerts_and_a_worker_with_room_takes_it(
    temporal, logs, dovecot_server
):
    imap = raw_client(dovecot_server)
    boxes = [f"cap-{i}-{uuid.uuid4().hex[:6]}" for i in range(2)]
    for box in boxes:
        imap.create_folder(box)
    queue = f"cap-{uuid.uuid4().hex[:6]}"
    full = temporal.worker(queue, logs / "cap-1.log", "--max-push-lines", "1")
    roomy = None
    first = watch(
        temporal, queue, dovecot_server.connection(), SINK, f"mailbox={boxes[0]}",
        extra=("--every", "10m", "--push"),
    )  # fmt: skip
    second = f"watch-{uuid.uuid4().hex[:8]}"
    try:
        waited(lambda: status(temporal, first)["push"] == "idling", 60, "the first idling")

        async def start(client):
            await client.start_workflow(
                "connector.PollTrigger",
                {
                    "connector": "imap",
                    "trigger": "newEmailsPollingTrigger",
                    "connection": dovecot_server.connection(),
                    "inputs": {"mailbox": boxes[1]},
                    "everySeconds": 600,
                    "handler": SINK,
                    "push": True,
                    "pushLineSeconds": 3,
                    "onFailure": "tests.Alert",
                },
                id=second,
                task_queue=queue,
            )

        temporal.call(start)
        first_poll_done(temporal, second)
        code, said = waited(
            lambda: (s := shown(temporal, second))[1].get("pushAlert") and s, 60, "an alert"
        )
        # (it polls on: the state is polling and watch-status says so with status 0)
        assert code == 0 and said["state"] == "polling", said
        assert said["push"] == "waiting" and said["pushWaiting"] == "capacity", said
        assert said["pushAlert"]["code"] == "PUSH_UNAVAILABLE", said
        assert "--max-push-lines" in said["pushAlert"]["message"], said
        alerted = temporal.result(f"{second}/push-1")
        assert alerted["watcher"] == second and alerted["status"]["pushWaiting"] == "capacity"
        assert status(temporal, first)["push"] == "idling"  # (the one with a line keeps it)
        roomy = temporal.worker(queue, logs / "cap-2.log")
        waited(lambda: status(temporal, second)["push"] == "idling", 90, "a line on the other")
        assert status(temporal, second).get("pushAlert") is None
        message_id = f"<cap-{uuid.uuid4().hex[:6]}@example.com>"
        sent = time.monotonic()
        imap.append(boxes[1], make_message("pushed", message_id=message_id))
        assert handed_off(temporal, second, 1, 30) == [message_id]
        assert time.monotonic() - sent < 15
    finally:
        stop(temporal, second)
        stop(temporal, first, *(w for w in (full, roomy) if w is not None))
        imap.logout()


def test_a_run_of_an_earlier_version_still_holds_its_push_through_the_hub(
    temporal, logs, dovecot_server
):
    """Runs started before the hub hold ``connector.push`` until they continue as new: it
    answers as it did (change, timeout), its lines held by the hub (no thread of its own)."""
    imap = raw_client(dovecot_server)
    box = f"legacy-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    queue = f"legacy-{uuid.uuid4().hex[:6]}"
    worker = temporal.worker(queue, logs / "legacy.log")
    request = {
        "connector": "imap",
        "trigger": "newEmailsPollingTrigger",
        "connection": dovecot_server.connection(),
        "inputs": {"mailbox": box},
        "state": {},
    }

    async def run(client, seconds: float, append: bool) -> dict:
        handle = await client.start_workflow(
            "tests.LegacyPush",
            {**request, "timeoutSeconds": seconds},
            id=f"legacy-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
        if append:
            await asyncio.sleep(3)  # (its IDLE is on by now)
            imap.append(box, make_message("legacy"))
        return await handle.result()

    try:
        started = time.monotonic()
        quiet = temporal.call(lambda client: run(client, 2, append=False))
        assert quiet == {"ok": True, "data": {"woke": "timeout"}}
        assert time.monotonic() - started < 20
        woke = temporal.call(lambda client: run(client, 60, append=True))
        assert woke == {"ok": True, "data": {"woke": "change"}}
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        imap.logout()
