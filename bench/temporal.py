"""W7: steps through Temporal. A batch of 200 getStatus steps (RunStep workflows started at
once) with 1 and with 2 worker processes, as steps per second; and one step's latency
through Temporal against the Python API (a connection per step) and the pooled service."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from tests.servers.temporal import TemporalDev


async def _batch(client, queue: str, request: dict, count: int, local: bool = False) -> float:
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            client.execute_workflow(
                "connector.RunStep",
                {"request": request, "local": local},
                id=f"bench-{uuid.uuid4().hex}",
                task_queue=queue,
            )
            for _ in range(count)
        )
    )
    elapsed = time.perf_counter() - started
    assert all(r["ok"] for r in results), [r for r in results if not r["ok"]][:1]
    return elapsed


# One step's latency is measured on steps 0.1 s apart: back to back, after a dozen the dev
# server's dispatch of each new workflow's first task slows from ~4 to ~30 ms (the gap
# between WorkflowTaskScheduled and WorkflowTaskStarted in each history, with 1 or 10
# pollers, sticky cache on or off), a saturation figure, reported beside it.
STEP_GAP = 0.1


async def _latency(
    client, queue: str, request: dict, count: int, local: bool = False, gap: float = STEP_GAP
) -> list[float]:
    times = []
    for _ in range(count):
        await asyncio.sleep(gap)
        started = time.perf_counter()
        result = await client.execute_workflow(
            "connector.RunStep",
            {"request": request, "local": local},
            id=f"one-{uuid.uuid4().hex}",
            task_queue=queue,
        )
        assert result["ok"], result
        times.append((time.perf_counter() - started) * 1000)
    return times


def run_w7(bench, batch: int = 200, single: int = 20) -> dict:
    """Prints and returns {"steps_per_second": {1: x, 2: y}, "one_step_ms": {...}}."""
    from connector.sdk.temporal.worker import connect

    dev = TemporalDev().start()
    os.environ["CONNECTOR_TEMPORAL_KEY"] = dev.key
    request = {
        "connector": "imap",
        "action": "getStatus",
        "connection": bench.connection,
        "inputs": {"mailbox": "INBOX"},
    }
    logs = Path(tempfile.mkdtemp(prefix="w7-"))
    out: dict = {"steps_per_second": {}, "one_step_ms": {}}
    workers: list = []
    try:
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        for count in (1, 2):
            while len(workers) < count:
                workers.append(dev.worker(queue, logs / f"worker-{len(workers)}.log"))
            asyncio.run(_batch_with(connect, dev, queue, request, 10))  # warm: sessions pooled
            elapsed = asyncio.run(_batch_with(connect, dev, queue, request, batch))
            out["steps_per_second"][count] = round(batch / elapsed, 1)
            elapsed = asyncio.run(_batch_with(connect, dev, queue, request, batch, local=True))
            out["steps_per_second"][f"{count}, local activities"] = round(batch / elapsed, 1)
        times = asyncio.run(_latency_with(connect, dev, queue, request, single))
        local_times = asyncio.run(_latency_with(connect, dev, queue, request, single, local=True))
        back_to_back = asyncio.run(
            _latency_with(connect, dev, queue, request, single, local=True, gap=0.0)
        )
        api = []
        for _ in range(single):
            started = time.perf_counter()
            assert bench.connector.invoke(_plain(request))["ok"]
            api.append((time.perf_counter() - started) * 1000)
        out["one_step_ms"] = {
            "through Temporal (RunStep workflow, pooled session)": round(
                statistics.median(times), 1
            ),
            "through Temporal, local activity (run-step --local)": round(
                statistics.median(local_times), 1
            ),
            "local activity, steps back to back": round(statistics.median(back_to_back), 1),
            "Python API (connect per step)": round(statistics.median(api), 1),
        }
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        dev.stop()
    print("\nW7 200 getStatus steps through Temporal")
    for count, rate in out["steps_per_second"].items():
        print(f"  {str(count) + ' worker process(es)':40s} {rate:9.1f} steps/s")
    for name, ms in out["one_step_ms"].items():
        print(f"  one step: {name:38s} {ms:9.1f} ms")
    return out


def _plain(request: dict) -> dict:
    return {k: v for k, v in request.items() if k != "connector"}


async def _batch_with(connect, dev, queue, request, count, local=False):
    from connector.sdk.temporal.codec import load_keys

    client = await connect(dev.address, "default", load_keys())
    return await _batch(client, queue, request, count, local)


async def _latency_with(connect, dev, queue, request, count, local=False, gap=STEP_GAP):
    from connector.sdk.temporal.codec import load_keys

    client = await connect(dev.address, "default", load_keys())
    return await _latency(client, queue, request, count, local, gap)


# -- W8: new mail to the handler, push against polling ----------------------------------------


def run_w8(bench, appends: int = 50, poll_every: float = 4.0) -> dict:
    """Seconds from APPEND to the start of the handler workflow (connector.LogRecord) a
    watcher starts for it, median and 90th percentile over ``appends`` messages: with
    ``--push`` (polls a minute apart, so what comes sooner came by IDLE) and by polling
    alone every ``poll_every`` seconds (expected: about half the interval). Each append
    comes at a random moment, so the polls' phase is not in the figures."""
    dev = TemporalDev().start()
    os.environ["CONNECTOR_TEMPORAL_KEY"] = dev.key
    logs = Path(tempfile.mkdtemp(prefix="w8-"))
    queue = f"w8-{uuid.uuid4().hex[:6]}"
    worker = dev.worker(queue, logs / "worker.log")
    out: dict = {}
    try:
        for label, every, push, pause in (
            ("push (IDLE), polls every 60 s", 60.0, True, 1.0),
            (f"polling only, every {poll_every:g} s", poll_every, False, poll_every),
        ):
            seconds = asyncio.run(_w8_latencies(dev, queue, bench, every, push, pause, appends))
            out[label] = {
                "median_s": round(statistics.median(seconds), 2),
                "p90_s": round(sorted(seconds)[int(len(seconds) * 0.9) - 1], 2),
                "appends": len(seconds),
            }
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        dev.stop()
    print(f"\nW8 APPEND to the handler workflow's start, {appends} appends")
    for label, figures in out.items():
        print(f"  {label:38s} median {figures['median_s']:6.2f} s   p90 {figures['p90_s']:6.2f} s")
    return out


async def _w8_latencies(dev, queue, bench, every, push, pause, appends) -> list[float]:
    import random

    from connector.sdk.temporal.codec import load_keys
    from connector.sdk.temporal.worker import connect
    from tests.helpers import make_message, raw_client

    client = await connect(dev.address, "default", load_keys())
    imap = raw_client(bench.info)
    box = f"w8-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    watcher = f"w8-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        "connector.PollTrigger",
        {
            "connector": "imap",
            "trigger": "newEmailsPollingTrigger",
            "connection": bench.connection,
            "inputs": {"mailbox": box},
            "state": {},
            "everySeconds": every,
            "handler": "connector.LogRecord",
            "push": push,
        },
        id=watcher,
        task_queue=queue,
    )
    try:
        while not (await handle.query("status"))["lastSuccessAt"]:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # (the push's IDLE is held by now)
        seconds = []
        for i in range(appends):
            await asyncio.sleep(random.uniform(0, pause))
            sent = time.time()
            imap.append(box, make_message(subject=f"w8 {i}"))
            started = await _nth_child_start(client, watcher, i + 1)
            seconds.append(started - sent)
        return seconds
    finally:
        await handle.terminate("bench done")
        imap.logout()


async def _nth_child_start(client, watcher: str, count: int) -> float:
    """When the newest of the watcher's first ``count`` handler workflows started (epoch s)."""
    query = f"WorkflowType='connector.LogRecord' AND WorkflowId STARTS_WITH '{watcher}/'"
    while True:
        starts = [w.start_time.timestamp() async for w in client.list_workflows(query)]
        if len(starts) >= count:
            return max(starts)
        await asyncio.sleep(0.05)
