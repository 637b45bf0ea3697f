"""W10: push at platform scale (issue 38). One worker with default settings, Temporal's dev
server and a private Dovecot with one user per watcher; N watchers with ``--push`` (polls 15
minutes apart), N = 16, 128, 1,000 (``--watchers``). At each N, once every watcher's line
is confirmed (the worker's ``connector_push{what="idling"}``) and the first polls' pooled
sessions have closed:

- the worker's RSS and threads, and its CPU over a quiet minute (polls included: N/900 a
  second), each also per watcher beyond the no-watcher figures;
- ``run-step getStatus`` p50 / p99 (a CLI process each, as a platform's step would come),
  beside the no-watcher figure;
- APPEND -> the handler workflow's start, p50 / p99, each append to a random watcher's
  mailbox at a random moment.

And the session pool at 200, 10,000 and 50,000 pooled accounts: one step's acquire and
release (the pool of ``connector serve``; no server: sessions that answer at once).

``.venv/bin/python -m bench.w10 [--watchers 16,128,1000] [--appends 20] [--steps 20]``;
``bench/run --only W10``. Needs root or enough open files: each line is a socket in the
worker and a connection (an imap process) in Dovecot; and ``fs.inotify.max_user_instances``
above N (checked: at the default 128, Dovecot's IDLE polls every 30 s past 128 lines).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from tests.servers.dovecot import Dovecot
from tests.servers.temporal import ROOT, TemporalDev

PASSWORD = "benchpw"  # noqa: S105 - the bench users' (a private Dovecot)
EVERY = 900.0  # the watchers' poll interval (push brings mail sooner)
# Dovecot's defaults allow 100 imap processes and 1,000 clients per service; a line each.
LIMITS = """
default_process_limit = 6000
default_client_limit = 12000
service imap {
  process_limit = 6000
}
service imap-login {
  service_count = 0
  process_min_avail = 2
  client_limit = 6000
}
imap_idle_notify_interval = 10 mins
"""


class ManyUsers(Dovecot):
    """The suite's Dovecot with ``count`` more users (``w0``... ``w<count-1>``)."""

    def __init__(self, ca, count: int):
        super().__init__(ca, extra_conf=LIMITS)
        self.count = count

    def _write_files(self) -> None:
        super()._write_files()
        with (self.workdir / "users").open("a") as users:
            for n in range(self.count):
                users.write(f"w{n}:{{PLAIN}}{PASSWORD}::::::\n")


def check_inotify(watchers: int) -> None:
    """Dovecot's IDLE watches a mailbox with an inotify instance per imap process, all of
    one system user here: past ``fs.inotify.max_user_instances`` (128 by default) it falls
    back to looking every 30 s, and W10 would measure that, not push. Refuse to run."""
    path = Path("/proc/sys/fs/inotify/max_user_instances")
    have = int(path.read_text())
    need = watchers + 64  # (the worker's, the server's own and the rest of the machine's)
    if have < need:
        raise SystemExit(
            f"W10 with {watchers} watchers needs fs.inotify.max_user_instances >= {need} "
            f"(it is {have}: Dovecot's IDLE would look for mail every 30 s instead of "
            f"being told). Raise it: sysctl -w fs.inotify.max_user_instances={max(need, 8192)}"
        )


def connection(info, n: int) -> dict:
    return {**info.connection(), "user": f"w{n}", "pass": PASSWORD}


def proc(pid: int) -> dict:
    """RSS (bytes), threads and CPU seconds of a process (Linux /proc)."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return {
        "rss": int(fields["VmRSS"].split()[0]) * 1024,
        "threads": int(fields["Threads"]),
        "cpu": (int(stat[11]) + int(stat[12])) / ticks,
    }


def metric(port: int, what: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(f'connector_push{{what="{what}"}}'):
                return float(line.split()[-1])
    return 0.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Bench:
    def __init__(self, info, dev: TemporalDev, logs: Path):
        self.info, self.dev, self.logs = info, dev, logs
        self.queue = f"w10-{uuid.uuid4().hex[:6]}"
        self.metrics_port = _free_port()
        self.worker = dev.worker(
            self.queue, logs / "worker.log", "--metrics-port", str(self.metrics_port)
        )
        self.watchers: list[str] = []
        self.push = True  # (False: watchers that only poll, to tell a line from a run)

    def run_steps(self, count: int) -> list[float]:
        """``run-step getStatus`` ``count`` times, a second apart: seconds each."""
        times = []
        for n in range(count):
            time.sleep(random.uniform(0.5, 1.5))
            started = time.monotonic()
            run = self.dev.connector_cli(
                "run-step", "getStatus", "--task-queue", self.queue,
                "--connection", json.dumps(connection(self.info, n % 16)),
                "--input", "mailbox=INBOX",
            )  # fmt: skip
            times.append(time.monotonic() - started)
            if run.returncode != 0:
                raise RuntimeError(f"run-step failed: {run.stderr[-500:]}")
        return times

    async def client_steps(self, client, count: int) -> list[float]:
        """getStatus through ``connector.RunStep`` from this process, ``count`` times, 0.2 to
        0.6 s apart: seconds each (the worker's share, without a CLI process's start)."""
        times = []
        for n in range(count):
            await asyncio.sleep(random.uniform(0.2, 0.6))
            request = {
                "connector": "imap",
                "action": "getStatus",
                "connection": connection(self.info, n % 16),
                "inputs": {"mailbox": "INBOX"},
            }
            started = time.monotonic()
            result = await client.execute_workflow(
                "connector.RunStep",
                {"request": request},
                id=f"w10-step-{uuid.uuid4().hex}",
                task_queue=self.queue,
            )
            times.append(time.monotonic() - started)
            if not result.get("ok"):
                raise RuntimeError(f"a step failed: {result}")
        return times

    async def start_watchers(self, client, upto: int) -> None:
        gate = asyncio.Semaphore(32)

        async def start(n: int) -> None:
            async with gate:
                await client.start_workflow(
                    "connector.PollTrigger",
                    {
                        "connector": "imap",
                        "trigger": "newEmailsPollingTrigger",
                        "connection": connection(self.info, n),
                        "inputs": {"mailbox": "INBOX"},
                        "state": {},
                        "everySeconds": EVERY,
                        "handler": "connector.LogRecord",
                        "push": self.push,
                    },
                    id=f"w10-{n}",
                    task_queue=self.queue,
                )

        await asyncio.gather(*(start(n) for n in range(len(self.watchers), upto)))
        self.watchers = [f"w10-{n}" for n in range(upto)]

    def idling(self, count: int, timeout: float) -> float:
        """Seconds until ``count`` lines are confirmed on the worker."""
        started = time.monotonic()
        while metric(self.metrics_port, "idling") < count:
            if time.monotonic() - started > timeout:
                raise RuntimeError(
                    f"{metric(self.metrics_port, 'idling'):.0f} of {count} idling after "
                    f"{timeout:.0f} s"
                )
            time.sleep(2)
        return time.monotonic() - started

    async def appends(self, client, count: int) -> list[float]:
        """Seconds from APPEND to the handler workflow's start, one random watcher each."""
        from tests.helpers import make_message

        seconds = []
        for _ in range(count):
            await asyncio.sleep(random.uniform(0.5, 2.0))
            n = random.randrange(len(self.watchers))
            imap = _client_for(self.info, n)
            try:
                before = await _children(client, self.watchers[n])
                sent = time.time()
                imap.append("INBOX", make_message(subject=f"w10 {n}"))
            finally:
                imap.logout()
            started = await _next_child_start(client, self.watchers[n], before)
            seconds.append(started - sent)
        return seconds

    def stop(self) -> None:
        self.worker.send_signal(signal.SIGTERM)
        try:
            self.worker.wait(60)
        except subprocess.TimeoutExpired:
            self.worker.kill()


async def _with_client(dev: TemporalDev, use):
    from connector.sdk.temporal.codec import load_keys
    from connector.sdk.temporal.worker import connect

    return await use(await connect(dev.address, "default", load_keys()))


def _client_for(info, n: int):
    import ssl

    from imapclient import IMAPClient

    context = ssl.create_default_context(cadata=info.ca_pem)
    client = IMAPClient(info.host, port=info.tls_port, ssl_context=context, timeout=10)
    client.login(f"w{n}", PASSWORD)
    return client


async def _children(client, watcher: str) -> int:
    query = f"WorkflowType='connector.LogRecord' AND WorkflowId STARTS_WITH '{watcher}/'"
    return len([w async for w in client.list_workflows(query)])


async def _next_child_start(client, watcher: str, before: int, timeout: float = 120) -> float:
    query = f"WorkflowType='connector.LogRecord' AND WorkflowId STARTS_WITH '{watcher}/'"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        starts = [w.start_time.timestamp() async for w in client.list_workflows(query)]
        if len(starts) > before:
            return max(starts)
        await asyncio.sleep(0.05)
    raise RuntimeError(f"no hand-off for {watcher} within {timeout} s")


def _free_port() -> int:
    from connector.imap.demo.localserver import free_port

    return free_port()


def pool_lookup(sizes: tuple[int, ...] = (200, 10_000, 50_000), steps: int = 5_000) -> dict:
    """One step's acquire and release in the session pool among ``size`` pooled accounts
    (each its own session, tenants of 50 accounts), microseconds: the least of five runs of
    ``steps`` steps on random accounts (this machine is shared: the least is the cost, the
    rest is its neighbours)."""
    from connector.sdk._pool import SessionPool
    from connector.sdk.session import Session

    class Instant(Session):
        pass

    out = {}
    for size in sizes:
        pool = SessionPool(per_account=3, idle_seconds=3600, per_tenant=size * 2)
        keys = [
            pool.keys("imap", "imap", {"user": f"u{n}", "pass": "p"}, {"pass"}, f"t{n % 50}")
            for n in range(size)
        ]
        for k in keys:
            pooled, _ = pool.acquire(k, Instant, wait=1)
            pool.release(pooled, ok=True)
        runs = []
        for _ in range(5):
            picks = [random.choice(keys) for _ in range(steps)]
            started = time.perf_counter()
            for k in picks:
                pooled, _ = pool.acquire(k, Instant, wait=1)
                pool.release(pooled, ok=True)
            runs.append((time.perf_counter() - started) / steps * 1e6)
        out[f"{size} accounts"] = round(min(runs), 1)
        pool.close()
    return out


def run_w10(levels: list[int], appends: int = 20, steps: int = 20, quiet: float = 60.0) -> dict:
    import trustme

    most = max(levels)
    check_inotify(most)
    server = ManyUsers(trustme.CA(), most)
    info = server.start()
    dev = TemporalDev(in_memory=True).start()
    os.environ["CONNECTOR_TEMPORAL_KEY"] = dev.key
    logs = Path(tempfile.mkdtemp(prefix="w10-"))
    bench = Bench(info, dev, logs)
    table: dict = {}
    try:
        time.sleep(5)
        quiet_steps = bench.run_steps(steps)
        quiet_client = asyncio.run(_with_client(dev, lambda c: bench.client_steps(c, steps * 3)))
        time.sleep(5)
        before = proc(bench.worker.pid)
        time.sleep(quiet)
        after = proc(bench.worker.pid)
        base = {
            "rss MB": round(after["rss"] / 2**20, 1),
            "threads": after["threads"],
            "idle CPU % of a core": round((after["cpu"] - before["cpu"]) / quiet * 100, 2),
            "run-step p50 s": round(statistics.median(quiet_steps), 2),
            "run-step p99 s": round(percentile(quiet_steps, 0.99), 2),
            "step p50 ms": round(statistics.median(quiet_client) * 1000),
            "step p99 ms": round(percentile(quiet_client, 0.99) * 1000),
        }
        table["0 watchers"] = base
        print(f"W10 0 watchers: {base}", flush=True)

        async def grow(upto: int) -> None:
            from connector.sdk.temporal.codec import load_keys
            from connector.sdk.temporal.worker import connect

            client = await connect(dev.address, "default", load_keys())
            await bench.start_watchers(client, upto)

        previous = (0, after["rss"])
        for level in levels:
            started = time.monotonic()
            asyncio.run(grow(level))
            settled = bench.idling(level, timeout=max(120, level * 0.6))
            ready = time.monotonic() - started
            time.sleep(quiet + 15)  # (the first polls' pooled sessions close after 60 s idle)
            first = proc(bench.worker.pid)
            time.sleep(quiet)
            second = proc(bench.worker.pid)
            cpu = (second["cpu"] - first["cpu"]) / quiet * 100
            step_times = bench.run_steps(steps)
            client_times = asyncio.run(
                _with_client(dev, lambda c: bench.client_steps(c, steps * 3))
            )

            async def measure_appends() -> list[float]:
                from connector.sdk.temporal.codec import load_keys
                from connector.sdk.temporal.worker import connect

                client = await connect(dev.address, "default", load_keys())
                return await bench.appends(client, appends)

            latencies = asyncio.run(measure_appends())
            row = {
                "all idling after s": round(ready, 1),
                "rss MB": round(second["rss"] / 2**20, 1),
                "rss KB per watcher": round((second["rss"] - after["rss"]) / 1024 / level, 1),
                # (beside the last level: what one more watcher costs, fixed costs aside)
                "rss KB per watcher, marginal": round(
                    (second["rss"] - previous[1]) / 1024 / (level - previous[0]), 1
                ),
                "threads": second["threads"],
                "idle CPU % of a core": round(cpu, 2),
                "idle CPU % per watcher": round((cpu - base["idle CPU % of a core"]) / level, 4),
                "run-step p50 s": round(statistics.median(step_times), 2),
                "run-step p99 s": round(percentile(step_times, 0.99), 2),
                "p99 / quiet p99": round(percentile(step_times, 0.99) / base["run-step p99 s"], 2),
                "step p50 ms": round(statistics.median(client_times) * 1000),
                "step p99 ms": round(percentile(client_times, 0.99) * 1000),
                "step p99 / quiet": round(
                    percentile(client_times, 0.99) * 1000 / base["step p99 ms"], 2
                ),
                "APPEND->handler p50 s": round(statistics.median(latencies), 2),
                "APPEND->handler p99 s": round(percentile(latencies, 0.99), 2),
                "lines": int(metric(bench.metrics_port, "lines")),
                "hub threads": int(metric(bench.metrics_port, "threads")),
                "settled s": round(settled, 1),
            }
            table[f"{level} watchers"] = row
            previous = (level, second["rss"])
            print(f"W10 {level} watchers: {row}", flush=True)
    finally:
        bench.stop()
        dev.stop()
        server.stop()
    lookup = table["pool: one step's acquire+release, us"] = pool_lookup()
    print(f"W10 pool lookup: {lookup}", flush=True)
    return table


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", default="16,128,1000")
    parser.add_argument("--appends", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--quiet", type=float, default=60.0, help="seconds each CPU figure spans")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "w10.json"))
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.watchers.split(",")]
    table = run_w10(levels, args.appends, args.steps, args.quiet)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
