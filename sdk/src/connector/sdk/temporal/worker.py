"""The worker process: the step activity (on a thread pool, with a session pool), the
built-in workflows, any workflow modules you name, and a push hub holding the lines of the
watchers that lease them here (``pushhost``: one thread for all of them)."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from .. import _heap as heap
from .._egress import EgressPolicy
from .._pool import PER_ACCOUNT, SessionPool
from .._pushhub import MAX_LINES, PushHub
from . import activities, telemetry, workflows
from .codec import data_converter
from .pushhost import PushHost

# Runs kept in memory between their workflow tasks (Temporal's sticky cache), the least
# recently active evicted first. Not one per watcher: a cached run costs ~140 KB of RSS
# (bench.w10mem: ~80 KB of Temporal core's and Python's objects, the rest the heap's
# fragments) and a watcher is active a moment per poll or push; an evicted one is replayed
# from its history at its next timer or signal, unsandboxed: ~2 ms + 0.13 ms an event, 16
# ms for a run of 10 polls (bench.w10replay; POLLS_PER_RUN keeps runs short). Room for the
# steps, handlers and watchers active at once. (It was one per push line plus 1,000 while a
# SIGKILLed worker's watcher sometimes heard of new mail only at its next poll: the cause
# was the hub's throttled heartbeat, not the evictions; pushhost._recorded.)
CACHED_RUNS = 256
# How long a workflow task waits for the worker that last ran its workflow (see Worker below).
STICKY_QUEUE_WAIT = timedelta(seconds=2)


def worker_log() -> None:
    """The worker's own lines (failed steps, as JSON) and its workflows' (LogRecord's, with
    Temporal's workflow details) on stderr."""
    for name in ("connector.worker", "temporalio.workflow"):
        log = logging.getLogger(name)
        if not log.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.INFO)
            log.propagate = False


async def trim_heap(stop: asyncio.Event) -> None:
    """Give the C heap's free pages back every ``TRIM_EVERY`` seconds until ``stop``
    (``_heap``: 500 watchers without push, 173 -> 138 KB of RSS each)."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), heap.TRIM_EVERY)
        except TimeoutError:
            await asyncio.to_thread(heap.trim)


async def connect(address: str, namespace: str, keys: list[bytes]) -> Client:
    return await Client.connect(address, namespace=namespace, data_converter=data_converter(keys))


def workflow_classes(modules: list[str]) -> list[Any]:
    """Every workflow class in the named modules (``module.path``)."""
    found = []
    for name in modules:
        module = importlib.import_module(name)
        found += [
            value
            for value in vars(module).values()
            if isinstance(value, type) and hasattr(value, "__temporal_workflow_definition")
        ]
    return found


async def run(
    address: str,
    *,
    namespace: str,
    task_queue: str,
    keys: list[bytes],
    modules: list[str] = (),  # type: ignore[assignment]
    threads: int = 16,
    per_account: int = PER_ACCOUNT,
    egress: EgressPolicy | None = None,
    connect_timeout: float | None = None,
    metrics_port: int | None = None,
    operations: dict[str, list[str]] | None = None,
    max_push_lines: int = MAX_LINES,
    cached_runs: int = CACHED_RUNS,
) -> None:
    """Run until SIGTERM or SIGINT: then finish the steps in flight and log out.

    Failed steps are logged to stderr, one JSON line each (scrubbed); with ``metrics_port``
    the worker's metrics are served on 127.0.0.1 (``telemetry``). The push hub holds at
    most ``max_push_lines`` lines; a watcher leasing past that polls and asks again."""
    client = await connect(address, namespace, keys)
    pool = SessionPool(per_account=per_account)
    hub = PushHub(max_lines=max_push_lines)
    policy = egress or EgressPolicy()
    host = PushHost(client, hub, task_queue, policy, workflows.HEARTBEAT_TIMEOUT.total_seconds())
    worker_log()
    telemetry.configure(operations or {})
    telemetry.push_hub(hub.stats)
    if metrics_port:
        telemetry.serve(metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with ThreadPoolExecutor(threads) as executor:
        activities.configure(pool, policy, connect_timeout, executor)
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[
                workflows.RunStep,
                workflows.PollTrigger,
                workflows.HandleRecord,
                workflows.LogRecord,
                workflows.PushHubWatch,
                *workflow_classes(list(modules)),
            ],
            activities=[
                activities.run_step,
                activities.poll_and_hand_off,
                host.lease,
                host.legacy_push,
            ],
            activity_executor=executor,
            max_concurrent_activities=threads,
            # A workflow task waits this long on a dead worker's sticky queue before any
            # worker may take it (the SDK's 10 s): with it, a SIGKILLed worker's watchers
            # re-leased their lines in 12-17 s, not within the heartbeat (an ops drill).
            sticky_queue_schedule_to_start_timeout=STICKY_QUEUE_WAIT,
            # Quiet watchers are evicted and replayed when woken (CACHED_RUNS). (Sandboxed,
            # a replay took seconds: W10's APPEND to handler was 20 s at 1,000 watchers.)
            max_cached_workflows=cached_runs,
        )
        # This worker's own queue: releases and the hub's heartbeat (coroutines: no thread).
        own = Worker(
            client,
            task_queue=host.queue,
            activities=[host.release, host.reopen, host.alive],
            max_concurrent_activities=100,
            max_concurrent_activity_task_polls=2,
        )
        async with worker, own:
            await host.start()
            trimming = asyncio.ensure_future(trim_heap(stop))
            print(f"worker ready on {address}, task queue {task_queue}", flush=True)
            await stop.wait()
            await trimming
            # The shared queue's worker stops first: once pushHubAlive completes, its watch's
            # next workflow task is queued on this process's sticky queue; still polled, it
            # was taken here and died with the process (Temporal waited 10 s for it, and the
            # watchers leased here said "idling" with no line meanwhile). Not polled, it goes
            # to another worker after STICKY_QUEUE_WAIT.
            await worker.shutdown()
            await host.stop()  # (its watch tells the watchers leased here to lease elsewhere)
        hub.close()
    pool.close()
