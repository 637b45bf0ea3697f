"""Issue 38, push at platform scale, as an operator's bad day has it, on Temporal and Dovecot.

- The Temporal server (or the worker's process) stalls past the push hub's heartbeat
  timeout (8 s): Temporal times ``pushHubAlive`` out, its watch tells the watchers
  (``lost``) and completes. The hub had no watch any more: every lease on it waited for a
  heartbeat nothing could record and failed as ``UNWATCHED``, for ever; every watcher said
  ``waiting: leasing again`` and new mail waited for the polls. The hub is watched again.
- A worker stopped (SIGTERM) while two dozen watchers lease: its watch's last task could
  be taken by the stopping worker and lost with it (10 s of watchers saying ``idling``
  with no line). The worker stops taking workflow tasks before its hub's heartbeat ends.
- Fifty watchers started at once on one worker: all idle in seconds, no UNWATCHED.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from datetime import UTC, datetime

import pytest

from connector.imap.demo.localserver import free_port
from connector.sdk.temporal.activities import HEARTBEAT_SECONDS
from tests.helpers import make_message, raw_client
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
        """Every message appended so far handed off, and nothing else."""
        for watcher, sent in self.sent.items():
            assert handed_off(self.temporal, watcher, len(sent), timeout) == sorted(sent)
            assert len(children(self.temporal, watcher, SINK)) == len(sent)

    def one_line_each(self) -> bool:
        figures = hub_figures(self.port)
        return figures["leases"] == figures["lines"] == figures["idling"] == 3

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
        # A heartbeat timeout the stall caused is acted on by now: the hub's next round
        # (2 s apart) hears that its pushHubAlive is gone.
        time.sleep(2.5 * HEARTBEAT_SECONDS)
        watched.handed_off_once(60)
        watched.idling(60)
        again = time.monotonic() - resumed
        watched.append("after the stall")
        watched.handed_off_once(60)
        waited(watched.one_line_each, 30, "one line each")
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
        waited(watched.one_line_each, 30, "one line each")
    finally:
        watched.close()


def start_watchers(temporal, queue: str, connection: dict, boxes: list[str]) -> list[str]:
    """A watcher with push on each mailbox, all started at once (one client, concurrently)."""
    ids = [f"watch-{uuid.uuid4().hex[:8]}" for _ in boxes]

    async def start(client):
        await asyncio.gather(
            *(
                client.start_workflow(
                    "connector.PollTrigger",
                    {
                        "connector": "imap",
                        "trigger": "newEmailsPollingTrigger",
                        "connection": connection,
                        "inputs": {"mailbox": box},
                        "everySeconds": 600,
                        "handler": SINK,
                        "push": True,
                    },
                    id=workflow_id,
                    task_queue=queue,
                )
                for workflow_id, box in zip(ids, boxes, strict=True)
            )
        )

    temporal.call(start)
    return ids


def pushes(temporal, watchers: list[str]) -> list[str]:
    """Each watcher's ``push`` (idling, waiting...), queried at once."""

    async def query(client):
        said = await asyncio.gather(
            *(client.get_workflow_handle(w).query("status") for w in watchers),
            return_exceptions=True,
        )
        return [s.get("push") if isinstance(s, dict) else "unanswered" for s in said]

    return temporal.call(query)


def hosts(temporal, watchers: list[str]) -> list[str | None]:
    """The hub each watcher leased from last (its memo's ``pushHost``)."""

    async def use(client):
        async def one(watcher: str):
            described = await client.get_workflow_handle(watcher).describe()
            return await described.memo_value("pushHost", None)

        return await asyncio.gather(*(one(w) for w in watchers))

    return temporal.call(use)


def hub_watch(temporal, pid: int) -> str:
    """The workflow id of the watch of the hub of the worker ``pid`` (its pushHubAlive's
    worker identity is ``pid@host``)."""

    async def use(client):
        query = "WorkflowType='connector.PushHubWatch' AND ExecutionStatus='Running'"
        async for listed in client.list_workflows(query):
            described = await client.get_workflow_handle(listed.id).describe()
            pending = described.raw_description.pending_activities
            if pending and pending[0].last_worker_identity.startswith(f"{pid}@"):
                return listed.id
        return None

    return waited(lambda: temporal.call(use), 30, "the worker's hub watched")


def test_a_worker_stopped_while_watchers_lease_hands_them_on_within_the_heartbeat(
    temporal, logs, dovecot_server
):
    """SIGTERM while 24 watchers lease. pushHubAlive was completed while the worker still
    polled its workflow tasks: its watch's next task, queued on the stopping worker's sticky
    queue, could be taken there and lost with the process; Temporal waited 10 s for it, and
    the watchers leased there said ``idling`` with no line meanwhile (11 s all told, in one
    run of three here). The watch now ends within the heartbeat timeout."""
    imap = raw_client(dovecot_server)
    boxes = [f"term-{i}-{uuid.uuid4().hex[:6]}" for i in range(24)]
    for box in boxes:
        imap.create_folder(box)
    queue, port = f"term-{uuid.uuid4().hex[:6]}", free_port()
    leaving = temporal.worker(queue, logs / "term-1.log")
    watch_id = hub_watch(temporal, leaving.pid)  # (its first task taken by its own worker)
    staying = temporal.worker(queue, logs / "term-2.log", "--metrics-port", str(port))
    watchers = start_watchers(temporal, queue, dovecot_server.connection(), boxes)
    try:
        # Leasing: the first already idling, most still to lease (a burst takes ~3 s).
        waited(lambda: "idling" in pushes(temporal, watchers), 30, "a first line")
        leaving.send_signal(signal.SIGTERM)
        termed = datetime.now(UTC)
        assert leaving.wait(30) == 0
        ended = temporal.call(lambda c: c.get_workflow_handle(watch_id).result())
        closed = temporal.call(lambda c: c.get_workflow_handle(watch_id).describe()).close_time
        told = (closed - termed).total_seconds()
        # The heartbeat timeout (8 s) bounds a dead worker's; a stopped one tells at once
        # (and its watch's task waits 2 s for the sticky queue of a worker that is gone).
        assert told < 8, (told, ended)
        figures = waited(
            lambda: (f := hub_figures(port))["leases"] == 24 and f["idling"] == 24 and f,
            30,
            "every line on the worker left",
        )
        moved = (datetime.now(UTC) - termed).total_seconds()
        assert all(p == "idling" for p in pushes(temporal, watchers)), figures
        assert len(set(hosts(temporal, watchers))) == 1
        sent = {}
        for box, watcher in zip(boxes, watchers, strict=True):
            message_id = f"<term-{uuid.uuid4().hex[:6]}@example.com>"
            imap.append(box, make_message("after the stop", message_id=message_id))
            sent[watcher] = message_id
        for watcher, message_id in sent.items():
            assert handed_off(temporal, watcher, 1, 60) == [message_id]
        print(f"watch told {ended['told']} in {told:.1f} s; every line moved in {moved:.1f} s")
    finally:
        for watcher in watchers:
            stop(temporal, watcher)
        stop(temporal, "none", staying)
        imap.logout()


def test_fifty_watchers_started_at_once_all_idle_in_seconds_without_unwatched(
    temporal, logs, dovecot_server
):
    """A burst: fifty watchers started together on one worker lease at once; each lease
    waits for a heartbeat round naming it, and the rounds keep up (none fails as
    UNWATCHED). Measured here: all idling 4.7 s after the start (load average ~2)."""
    imap = raw_client(dovecot_server)
    boxes = [f"burst-{i}-{uuid.uuid4().hex[:6]}" for i in range(50)]
    for box in boxes:
        imap.create_folder(box)
    queue, port = f"burst-{uuid.uuid4().hex[:6]}", free_port()
    log = logs / "burst.log"
    worker = temporal.worker(queue, log, "--metrics-port", str(port))
    started = time.monotonic()
    watchers = start_watchers(temporal, queue, dovecot_server.connection(), boxes)
    try:
        waited(lambda: all(p == "idling" for p in pushes(temporal, watchers)), 60, "all idling")
        took = time.monotonic() - started
        figures = hub_figures(port)
        assert figures["leases"] == 50 and figures["lines"] == 50, figures
        assert "UNWATCHED" not in log.read_text()
        # (a lease that failed UNWATCHED once costs its 10 s wait and a retry: measured
        # 2.9-4.7 s; the bound is loose for a loaded CI machine, the log says the rest)
        assert took < 30, took
        print(f"fifty watchers idling in {took:.1f} s")
    finally:
        for watcher in watchers:
            stop(temporal, watcher)
        stop(temporal, "none", worker)
        imap.logout()
