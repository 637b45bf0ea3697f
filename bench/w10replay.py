"""What replaying a watcher costs: the price of not caching it. One watcher with push
polls ``--polls`` times (a second apart) on a private Dovecot, then its first run's history
(the longest a run gets: ``pollsPerRun`` polls) is replayed ``--repeats`` times in this
process, as a worker replays a run it no longer caches when its timer or a push wakes it.

``.venv/bin/python -m bench.w10replay [--polls 100] [--repeats 20]``: the history's events
and bytes, and one replay's CPU seconds (least and median).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.w10 import ManyUsers, connection
from tests.servers.temporal import TemporalDev


async def replays(dev: TemporalDev, workflow_id: str, run_id: str, repeats: int) -> dict:
    from temporalio.worker import Replayer

    from connector.sdk.temporal import workflows
    from connector.sdk.temporal.codec import data_converter, load_keys
    from connector.sdk.temporal.worker import connect

    client = await connect(dev.address, "default", load_keys())
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    replayer = Replayer(
        workflows=[workflows.PollTrigger], data_converter=data_converter(load_keys())
    )
    cpu = []
    for _ in range(repeats):
        started = time.process_time()
        await replayer.replay_workflow(history)
        cpu.append(time.process_time() - started)
    return {
        "events": len(history.events),
        "history bytes": sum(event.ByteSize() for event in history.events),
        "replay CPU s, least": round(min(cpu), 4),
        "replay CPU s, median": round(statistics.median(cpu), 4),
    }


def run(polls: int, repeats: int) -> dict:
    import trustme

    server = ManyUsers(trustme.CA(), 1)
    info = server.start()
    dev = TemporalDev(in_memory=True).start()
    os.environ["CONNECTOR_TEMPORAL_KEY"] = dev.key
    logs = Path(tempfile.mkdtemp(prefix="w10replay-"))
    queue = f"w10r-{uuid.uuid4().hex[:6]}"
    worker = dev.worker(queue, logs / "worker.log")
    watcher = f"w10r-{uuid.uuid4().hex[:6]}"
    try:

        async def start() -> str:
            from connector.sdk.temporal.codec import load_keys
            from connector.sdk.temporal.worker import connect

            client = await connect(dev.address, "default", load_keys())
            handle = await client.start_workflow(
                "connector.PollTrigger",
                {
                    "connector": "imap",
                    "trigger": "newEmailsPollingTrigger",
                    "connection": connection(info, 0),
                    "inputs": {"mailbox": "INBOX"},
                    "state": {},
                    "everySeconds": 1.0,
                    "pollsPerRun": polls,
                    "handler": "connector.LogRecord",
                    "push": True,
                },
                id=watcher,
                task_queue=queue,
            )
            first = handle.first_execution_run_id or handle.result_run_id
            assert first is not None
            # The first run ends (continues as new) after its polls.
            while True:
                described = await client.get_workflow_handle(watcher).describe()
                if described.run_id != first:
                    return first
                await asyncio.sleep(2)

        run_id = asyncio.run(start())
        worker.terminate()
        worker.wait(60)
        figures = asyncio.run(replays(dev, watcher, run_id, repeats))
    finally:
        if worker.poll() is None:
            worker.kill()
        dev.stop()
        server.stop()
    figures["polls"] = polls
    figures["load"] = os.getloadavg()
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    print(run(args.polls, args.repeats))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
