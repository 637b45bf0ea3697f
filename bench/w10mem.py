"""W10's memory, taken apart: one worker (under ``bench.memprobe``) with N watchers with
push, as in W10, and at each level what its memory holds (``memprobe``'s report: glibc's
heap, Python objects by type, traced bytes by file with ``--trace``, RSS after
``malloc_trim``). No steps, no appends: only where a watcher's bytes go.

``.venv/bin/python -m bench.w10mem [--watchers 0,500] [--trace] [--settle 75]
[--worker-args ...]``: JSON to ``bench/results/w10mem.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.w10 import Bench, ManyUsers, _free_port, check_inotify, proc
from tests.servers.temporal import ROOT, TemporalDev


class ProbedBench(Bench):
    """W10's bench with its worker run by ``bench.memprobe`` (SIGUSR1: a report)."""

    def __init__(self, info, dev: TemporalDev, logs: Path, trace: bool, extra: list[str]):
        self.info, self.dev, self.logs = info, dev, logs
        self.queue = f"w10-{uuid.uuid4().hex[:6]}"
        self.metrics_port = _free_port()
        self.report = logs / "probe.json"
        env = dev.env()
        if trace:
            env["PYTHONTRACEMALLOC"] = "1"
        self.worker = subprocess.Popen(
            [
                sys.executable, "-m", "bench.memprobe", str(self.report),
                "-m", "connector.imap.cli", "worker",
                "--temporal", dev.address, "--task-queue", self.queue,
                "--workflows", "tests.temporal_flows",
                "--allow-hosts", "127.0.0.1", "--allow-ports", "any",
                "--metrics-port", str(self.metrics_port), *extra,
            ],
            stdout=subprocess.PIPE, stderr=(logs / "worker.log").open("ab"),
            env=env, cwd=ROOT, text=True,
        )  # fmt: skip
        assert self.worker.stdout is not None
        line = self.worker.stdout.readline()
        if "worker ready" not in line:
            self.worker.kill()
            raise RuntimeError(f"the worker did not start: {line!r}")
        self.watchers = []
        self.push = True

    def probe(self) -> dict:
        self.report.unlink(missing_ok=True)
        self.worker.send_signal(signal.SIGUSR1)
        for _ in range(600):
            time.sleep(0.5)
            if self.report.exists():
                time.sleep(0.5)  # (written in one go, but give it the moment)
                return json.loads(self.report.read_text())
        raise RuntimeError("no report from the worker")


def connections(pid: int, port: int | None) -> int:
    """The worker's established TCP connections to ``port`` (``ss``)."""
    listed = subprocess.run(
        ["ss", "-tnpH", "state", "established", f"( dport = :{port} )"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    return sum(f"pid={pid}," in line for line in listed.splitlines())


def run(levels: list[int], trace: bool, settle: float, push: bool, extra: list[str]) -> dict:
    import trustme

    check_inotify(max(levels))
    server = ManyUsers(trustme.CA(), max(max(levels), 1))
    info = server.start()
    dev = TemporalDev(in_memory=True).start()
    os.environ["CONNECTOR_TEMPORAL_KEY"] = dev.key
    logs = Path(tempfile.mkdtemp(prefix="w10mem-"))
    bench = ProbedBench(info, dev, logs, trace, extra)
    bench.push = push
    table: dict = {"load": os.getloadavg()}
    try:
        for level in levels:
            if level:

                async def grow(upto: int = level) -> None:
                    from connector.sdk.temporal.codec import load_keys
                    from connector.sdk.temporal.worker import connect

                    client = await connect(dev.address, "default", load_keys())
                    await bench.start_watchers(client, upto)

                asyncio.run(grow())
                if push:
                    bench.idling(level, timeout=max(600, level * 2.0))
                else:
                    time.sleep(level * 0.1)  # (started: their first polls)
            time.sleep(settle)  # (the first polls' pooled sessions close after 60 s idle)
            if trace and level != levels[-1]:
                continue  # (a worker traced stalled after its first report: one, at the end)
            row = {
                "proc": proc(bench.worker.pid),
                "load": os.getloadavg(),
                "connections to the server": connections(bench.worker.pid, info.tls_port),
                **bench.probe(),
            }
            table[f"{level} watchers"] = row
            print(
                f"W10mem {level}: rss {row['rss'] / 2**20:.1f} MB, after trim "
                f"{row['rss after malloc_trim'] / 2**20:.1f} MB, heap in use "
                f"{row['mallinfo2']['uordblks'] / 2**20:.1f} MB free "
                f"{row['mallinfo2']['fordblks'] / 2**20:.1f} MB, traced "
                f"{row.get('traced', 0) / 2**20:.1f} MB, "
                f"{row['connections to the server']} connections, load {row['load']}",
                flush=True,
            )
    finally:
        bench.stop()
        dev.stop()
        server.stop()
    return table


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", default="0,500")
    parser.add_argument("--trace", action="store_true", help="PYTHONTRACEMALLOC=1")
    parser.add_argument("--no-push", action="store_true", help="watchers that only poll")
    parser.add_argument("--settle", type=float, default=75.0)
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "w10mem.json"))
    args, extra = parser.parse_known_args(argv)
    levels = [int(n) for n in args.watchers.split(",")]
    table = run(levels, args.trace, args.settle, not args.no_push, extra)
    Path(args.json).write_text(json.dumps(table, indent=1))
    print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
