"""Issue 37, the durable trigger under pressure: a burst (big and many) costs no mail and no
duplicate and leaves the watcher running; a watcher Temporal terminated says so and resumes
from its cursor; push comes back after a failure retrying cannot fix; a resume during a
hand-off is not lost; a poll being retried shows; a dead worker costs seconds; 300 messages
at once are handled in seconds."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus

from connector.imap.demo.localserver import free_port
from connector.sdk.temporal.workflows import HISTORY_BYTES
from tests.helpers import make_message, raw_client, start_dovecot
from tests.servers import fake
from tests.servers.common import bulk_append
from tests.system.test_temporal_trigger import (
    attached,
    first_poll_done,
    scrape,
    status,
    stop,
    wait_for,
    watch,
)

SINK = "tests.RecordSink"


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("pressure-logs")


def handed_off(temporal, watcher: str) -> list[dict]:
    """Every RecordSink workflow the watcher started: ``{"id", "running", "closedAt"}``."""

    async def use(client):
        found = []
        query = f"WorkflowType = '{SINK}'"
        async for run in client.list_workflows(query, page_size=1000):
            if run.id.startswith(watcher + "/"):
                found.append(
                    {
                        "id": run.id,
                        "running": run.status == WorkflowExecutionStatus.RUNNING,
                        "closedAt": run.close_time,
                    }
                )
        return found

    return temporal.call(use)


def results(temporal, runs: list[dict]) -> list[str]:
    async def use(client):
        gate = asyncio.Semaphore(50)

        async def one(workflow_id: str) -> str:
            async with gate:
                return await client.get_workflow_handle(workflow_id).result()

        return await asyncio.gather(*(one(r["id"]) for r in runs))

    return temporal.call(use)


def all_handed_off(temporal, watcher: str, count: int, timeout: float) -> list[dict]:
    return wait_for(
        lambda: (
            len(runs := handed_off(temporal, watcher)) >= count
            and not any(r["running"] for r in runs)
            and runs
        ),
        timeout,
        f"{count} hand-offs of {watcher}",
    )


def polls_in_history(temporal, watcher: str) -> int:
    """The watcher's polls so far in its current run (each scheduled poll activity)."""
    history = json.loads(temporal.history(watcher))
    return sum(
        1
        for event in history.get("events", [])
        if event.get("activityTaskScheduledEventAttributes", {}).get("activityType", {}).get("name")
        == "connector.poll"
    )


def runs_of(temporal, watcher: str) -> list[dict]:
    """Every run of the watcher (continued as new or not), by status."""

    async def use(client):
        return [run.status async for run in client.list_workflows(f"WorkflowId = '{watcher}'")]

    return temporal.call(use)


def history_size(temporal, watcher: str) -> int:
    """The bytes of the watcher's current run's history (as Temporal counts them)."""

    async def use(client):
        described = await client.get_workflow_handle(watcher).describe()
        return described.raw_description.workflow_execution_info.history_size_bytes

    return temporal.call(use)


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_burst_of_big_and_of_many_messages_is_handed_off_once_and_the_watcher_lives(
    temporal, logs, dovecot_server
):
    """150 messages of 190 KiB with fetchContent (over 50 MB of history in the old design,
    which Temporal terminated) and 1,000 small ones at once, on one worker."""
    imap = raw_client(dovecot_server)
    big_box, many_box = (f"{kind}-{uuid.uuid4().hex[:6]}" for kind in ("big", "many"))
    for name in (big_box, many_box):
        imap.create_folder(name)
    queue = f"burst-{uuid.uuid4().hex[:6]}"
    worker = temporal.worker(queue, logs / "burst.log")
    conn = dovecot_server.connection()
    big = watch(temporal, queue, conn, SINK, f"mailbox={big_box}", "fetchContent=true")
    many = watch(temporal, queue, conn, SINK, f"mailbox={many_box}", "maxPerPoll=1000")
    try:
        first_poll_done(temporal, big)
        first_poll_done(temporal, many)
        bigs = [attached(i, 190 * 1024) for i in range(150)]
        smalls = [
            make_message(f"many {i}", message_id=f"<many-{i}-{uuid.uuid4().hex[:6]}@example.com>")
            for i in range(1000)
        ]
        bulk_append(imap, big_box, bigs, server=dovecot_server)
        bulk_append(imap, many_box, smalls, server=dovecot_server)
        for watcher, sent in ((big, bigs), (many, smalls)):
            runs = all_handed_off(temporal, watcher, len(sent), 300)
            handed = results(temporal, runs)
            assert len(handed) == len(sent) and len(set(handed)) == len(sent)  # each once
            health = status(temporal, watcher)
            assert health["state"] == "polling" and health["consecutiveFailures"] == 0, health
            assert health["recordsHandedOff"] == len(sent), health
            shown = temporal.connector_cli("watch-status", watcher)
            assert shown.returncode == 0, shown.stdout
            every_run = runs_of(temporal, watcher)
            assert set(every_run) <= {
                WorkflowExecutionStatus.RUNNING,
                WorkflowExecutionStatus.CONTINUED_AS_NEW,
            }, every_run
            # No record passed through the watcher's history (28 MB of mail handed off):
            # it stays within its budget, far from Temporal's 50 MB.
            assert 0 < history_size(temporal, watcher) < HISTORY_BYTES
        time.sleep(2)  # (a second look: nothing more comes)
        assert len(handed_off(temporal, big)) == 150 and len(handed_off(temporal, many)) == 1000
    finally:
        stop(temporal, big)
        stop(temporal, many, worker)


def test_a_terminated_watcher_says_dead_and_resumes_from_its_cursor(temporal, logs, dovecot_server):
    imap = raw_client(dovecot_server)
    box = f"dead-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    queue, port = f"dead-{uuid.uuid4().hex[:6]}", free_port()
    worker = temporal.worker(queue, logs / "dead.log", "--metrics-port", str(port))
    other = watch(temporal, queue, dovecot_server.connection(), SINK, "mailbox=INBOX")
    watcher = watch(temporal, queue, dovecot_server.connection(), SINK, f"mailbox={box}")
    try:
        first_poll_done(temporal, watcher)
        first_poll_done(temporal, other)
        imap.append(box, make_message("before", message_id="<before@example.com>"))
        all_handed_off(temporal, watcher, 1, 30)
        # As Temporal does when a history passes its limit (no workflow code runs).
        temporal.cli(
            "workflow", "terminate", "--workflow-id", watcher,
            "--reason", "Workflow history size exceeds limit.",
        )  # fmt: skip
        for i in range(2):  # mail while it is dead
            imap.append(box, make_message(f"while dead {i}", message_id=f"<dead-{i}@example.com>"))
        shown = temporal.connector_cli("watch-status", watcher)
        assert shown.returncode == 1, shown.stdout
        said = json.loads(shown.stdout)
        assert said["state"] == "dead" and said["status"] == "terminated", said
        assert "history size exceeds limit" in said["reason"], said
        assert said["cursor"]["mailboxes"][box]["lastUid"] >= 1, said
        # The metrics name each watcher: this one's last success stops while others go on.
        text = scrape(port)
        assert metric(text, "connector_trigger_last_success_timestamp_seconds", watcher=watcher)
        assert metric(text, "connector_trigger_last_success_timestamp_seconds", watcher=other)

        again = temporal.connector_cli(
            "watch", "newEmailsPollingTrigger", "--task-queue", queue,
            "--connection", json.dumps(dovecot_server.connection()), "--input", f"mailbox={box}",
            "--every", "500ms", "--handler", SINK, "--workflow-id", watcher,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert "resuming" in again.stdout and "history size" in again.stdout, again.stdout
        runs = all_handed_off(temporal, watcher, 3, 30)
        assert sorted(results(temporal, runs)) == [
            "<before@example.com>",
            "<dead-0@example.com>",
            "<dead-1@example.com>",
        ]  # the mail that came while it was dead, and nothing twice
        assert temporal.connector_cli("watch-status", watcher).returncode == 0
        # A running watcher is not started twice.
        twice = temporal.connector_cli(
            "watch", "newEmailsPollingTrigger", "--task-queue", queue,
            "--connection", json.dumps(dovecot_server.connection()), "--input", f"mailbox={box}",
            "--handler", SINK, "--workflow-id", watcher,
        )  # fmt: skip
        assert twice.returncode == 1 and "is running" in twice.stderr, twice.stderr
    finally:
        stop(temporal, other)
        stop(temporal, watcher, worker)


def test_push_comes_back_after_a_failure_retrying_cannot_fix(temporal, logs, ca, request):
    """A rotated password fails the push (AUTH_FAILED): it waits and retries, never turns
    itself off, and once the password works again new mail comes in seconds."""
    server = start_dovecot(ca, request)
    users = server.process.workdir / "users"
    imap = raw_client(server)
    box = f"pback-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    queue = f"pback-{uuid.uuid4().hex[:6]}"
    worker = temporal.worker(queue, logs / "pback.log")
    watcher = watch(
        temporal, queue, server.connection(), SINK, f"mailbox={box}",
        extra=("--every", "120s", "--push"),
    )  # fmt: skip

    def shown() -> dict:
        return json.loads(temporal.connector_cli("watch-status", watcher).stdout)

    try:
        first_poll_done(temporal, watcher)
        wait_for(lambda: shown()["push"] == "idling", 30, "the IDLE confirmed")
        users.write_text(users.read_text().replace(":{PLAIN}alicepw:", ":{PLAIN}rotated:"))
        server.process.kick("alice")  # the IDLE line ends; its reconnection is refused
        said = wait_for(
            lambda: (
                (s := shown())["push"] == "waiting"
                and (s.get("lastPushError") or {}).get("code") == "AUTH_FAILED"
                and s
            ),
            60,
            "push waiting after AUTH_FAILED",
        )
        assert "reconnecting" in said["pushWaiting"], said
        users.write_text(users.read_text().replace(":{PLAIN}rotated:", ":{PLAIN}alicepw:"))
        wait_for(lambda: shown()["push"] == "idling", 90, "push back")
        imap = raw_client(server)
        sent = time.monotonic()
        imap.append(box, make_message("after the fix", message_id="<fixed@example.com>"))
        runs = all_handed_off(temporal, watcher, 1, 30)
        assert time.monotonic() - sent < 20  # push's seconds, not the 2-minute poll
        assert results(temporal, runs) == ["<fixed@example.com>"]
    finally:
        stop(temporal, watcher, worker)


def test_a_resume_during_a_poll_polls_again_right_after(temporal, logs, dovecot_server):
    imap = raw_client(dovecot_server)
    box = f"sig-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    proxy = fake.DelayProxy(dovecot_server.tls_port)
    queue = f"sig-{uuid.uuid4().hex[:6]}"
    worker = temporal.worker(queue, logs / "sig.log")
    conn = dovecot_server.connection(port=proxy.port)
    watcher = watch(temporal, queue, conn, SINK, f"mailbox={box}", extra=("--every", "120s"))

    def resume():
        temporal.call(lambda client: client.get_workflow_handle(watcher).signal("resume"))

    try:
        first_poll_done(temporal, watcher)
        before = polls_in_history(temporal, watcher)
        proxy.delay = 1.0  # each poll now takes seconds (a round trip costs 2 s)
        resume()
        time.sleep(2)  # (that poll is in flight)
        imap.append(box, make_message("during the poll", message_id="<during@example.com>"))
        resume()  # arrives during the poll: one more poll right after it
        runs = all_handed_off(temporal, watcher, 1, 60)
        assert results(temporal, runs) == ["<during@example.com>"]
        wait_for(
            lambda: (
                polls_in_history(temporal, watcher) >= before + 2
                and status(temporal, watcher)["lastPollAt"]
            ),
            60,
            "a second poll (not the next one, 2 minutes later)",
        )
    finally:
        proxy.delay = 0
        stop(temporal, watcher, worker)
        proxy.close()


def test_a_poll_being_retried_shows_and_failed_polls_count_polls(temporal, logs, dovecot_server):
    """A silent line (a proxy that holds everything): each attempt times out; watch-status
    shows the attempt and its error while the retries go on; the attempts metric counts
    them, the failed-polls metric counts the poll once its retries are spent."""
    imap = raw_client(dovecot_server)
    box = f"retry-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    proxy = fake.DelayProxy(dovecot_server.tls_port)
    queue, port = f"retry-{uuid.uuid4().hex[:6]}", free_port()
    worker = temporal.worker(queue, logs / "retry.log", "--metrics-port", str(port))
    conn = dovecot_server.connection(port=proxy.port, timeout=2)
    watcher = watch(temporal, queue, conn, SINK, f"mailbox={box}", extra=("--every", "1s"))
    try:
        first_poll_done(temporal, watcher)
        proxy.delay = 120  # the line goes silent
        said = wait_for(
            lambda: (
                (s := json.loads(temporal.connector_cli("watch-status", watcher).stdout))
                .get("retrying", {})
                .get("attempt", 0)
                >= 2
                and s
            ),
            60,
            "the retry shown",
        )
        silent = ("TIMEOUT", "CONNECTION_FAILED")  # (a read timed out: at login, or after)
        assert said["retrying"]["lastError"]["code"] in silent, said

        def failed_attempts(text: str) -> float:
            every = metric(text, "connector_trigger_poll_attempts_total", watcher=watcher)
            ok = metric(text, "connector_trigger_poll_attempts_total", watcher=watcher, code="OK")
            return every - ok

        text = scrape(port)
        assert failed_attempts(text) >= 1
        assert not metric(text, "connector_trigger_failed_polls_total", watcher=watcher)
        health = wait_for(
            lambda: (h := status(temporal, watcher))["consecutiveFailures"] >= 1 and h,
            120,
            "the poll failed after its retries",
        )
        assert health["lastError"]["code"] in silent, health
        text = scrape(port)
        failed = metric(text, "connector_trigger_failed_polls_total", watcher=watcher)
        attempts = failed_attempts(text)
        assert failed >= 1 and attempts >= 5 * failed, (failed, attempts)  # 5 attempts a poll
        proxy.delay = 0
        wait_for(
            lambda: (h := status(temporal, watcher))["consecutiveFailures"] == 0 and h,
            60,
            "recovered",
        )
    finally:
        proxy.delay = 0
        stop(temporal, watcher, worker)
        proxy.close()


def test_300_at_once_are_handled_in_seconds_and_a_dead_worker_costs_seconds(
    temporal, logs, dovecot_server
):
    """300 messages at once reach their handler (one worker) within 10 s; then, with the
    default heartbeat, the poll of a worker killed mid-poll is retaken within 10 s."""
    imap = raw_client(dovecot_server)
    box, slow_box = (f"{kind}-{uuid.uuid4().hex[:6]}" for kind in ("fast", "slow"))
    for name in (box, slow_box):
        imap.create_folder(name)
    proxy = fake.DelayProxy(dovecot_server.tls_port)
    queue = f"fast-{uuid.uuid4().hex[:6]}"
    first = temporal.worker(queue, logs / "fast-1.log")
    watcher = watch(temporal, queue, dovecot_server.connection(), SINK, f"mailbox={box}")
    slow = None
    second = None
    try:
        first_poll_done(temporal, watcher)
        sent = time.monotonic()
        bulk_append(imap, box, [make_message(f"at once {i}") for i in range(300)])
        runs = all_handed_off(temporal, watcher, 300, 60)
        took = time.monotonic() - sent
        assert len(runs) == 300 and took < 20, took  # 10 s, with a 2x margin
        stop(temporal, watcher)

        conn = dovecot_server.connection(port=proxy.port)
        slow = watch(temporal, queue, conn, SINK, f"mailbox={slow_box}")
        first_poll_done(temporal, slow)
        proxy.delay = 60  # the next poll hangs...
        time.sleep(1.5)
        first.kill()  # ...and its worker dies
        killed = time.monotonic()
        proxy.delay = 0
        second = temporal.worker(queue, logs / "fast-2.log")
        imap.append(slow_box, make_message("after the kill", message_id="<kill@example.com>"))
        all_handed_off(temporal, slow, 1, 60)
        took = time.monotonic() - killed
        # The heartbeat timeout is 8 s (10 s with the first retry): 2x for a busy machine.
        assert took < 20, took
    finally:
        proxy.delay = 0
        stop(temporal, watcher)
        if slow is not None:
            stop(temporal, slow, *(w for w in (second,) if w is not None))
        proxy.close()


def test_a_dead_watcher_of_an_earlier_version_resumes_without_a_double(
    temporal, logs, dovecot_server
):
    """A watcher as it was before (no cursor in its memo, hand-off ids hashing the whole
    record) terminated right after handing a record off, before its state moved on: the new
    ``watch`` finds the cursor its last poll started from, and the record it had handed off
    is not handed off again."""
    imap = raw_client(dovecot_server)
    box = f"legacy-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    queue = f"legacy-{uuid.uuid4().hex[:6]}"
    worker = temporal.worker(queue, logs / "legacy.log", "--workflows", "tests.temporal_legacy")
    watcher = f"watch-{uuid.uuid4().hex[:8]}"
    conn = dovecot_server.connection()
    args = {"connection": conn, "inputs": {"mailbox": box}, "hangAfterHandOff": True}
    temporal.call(
        lambda client: client.start_workflow(
            "tests.LegacyWatcher", args, id=watcher, task_queue=queue
        )
    )
    try:
        wait_for(lambda: polls_of_legacy(temporal, watcher) >= 2, 30, "the legacy bookmark")
        imap.append(box, make_message("handed by the old", message_id="<old@example.com>"))
        all_handed_off(temporal, watcher, 1, 30)
        temporal.cli("workflow", "terminate", "--workflow-id", watcher, "--reason", "upgrade")
        imap.append(box, make_message("after it", message_id="<new@example.com>"))
        said = json.loads(temporal.connector_cli("watch-status", watcher).stdout)
        assert said["state"] == "dead" and said["cursorFrom"] == "history", said
        again = temporal.connector_cli(
            "watch", "newEmailsPollingTrigger", "--task-queue", queue,
            "--connection", json.dumps(conn), "--input", f"mailbox={box}",
            "--every", "500ms", "--handler", SINK, "--workflow-id", watcher,
        )  # fmt: skip
        assert again.returncode == 0 and "resuming" in again.stdout, again.stderr
        runs = all_handed_off(temporal, watcher, 2, 30)
        first_poll_done(temporal, watcher)
        time.sleep(2)  # (more polls: nothing more)
        runs = all_handed_off(temporal, watcher, 2, 30)
        assert sorted(results(temporal, runs)) == ["<new@example.com>", "<old@example.com>"]
    finally:
        stop(temporal, watcher, worker)


def polls_of_legacy(temporal, watcher: str) -> int:
    history = json.loads(temporal.history(watcher))
    return sum(1 for e in history.get("events", []) if "activityTaskCompletedEventAttributes" in e)
