"""W5: a 100-step workflow through the HTTP service with pooled sessions, against a
connection per step (``imap-connector invoke`` per step, and the Python API per step),
on loopback and with ``rtt`` added per round trip; and client flights per step (round
trips), cold and pooled, counted by the delaying proxy."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from connector.imap.demo.localserver import free_port
from tests.servers import fake
from tests.servers.fake import DelayProxy
from tests.servers.service import HEADERS, UNCAPPED
from tests.servers.service import Service as TenantService

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("imap-connector"))


class Service:
    """``imap-connector serve`` on a free loopback port (no token: loopback only)."""

    def __init__(self):
        port = free_port()
        self.process = subprocess.Popen(
            [
                CLI,
                "serve",
                "--no-auth",
                "--port",
                str(port),
                "--allow-hosts",
                "127.0.0.1",
                "--allow-ports",
                "any",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.http = httpx.Client(  # uncapped: see tests/servers/service.py
            base_url=f"http://127.0.0.1:{port}", timeout=120, limits=UNCAPPED
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.http.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.05)

    def step(self, action: str, connection: dict, inputs: dict) -> None:
        reply = self.http.post(
            f"/v1/imap/actions/{action}", json={"connection": connection, "inputs": inputs}
        )
        if reply.status_code != 200:
            raise AssertionError(reply.text)

    def close(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.wait(30)


def workflow(uid: int, steps: int) -> list[tuple[str, dict]]:
    """getStatus, searchMailbox (10 newest), downloadMessage, alternating."""
    cycle = [
        ("getStatus", {"mailbox": "INBOX"}),
        ("searchMailbox", {"mailbox": "INBOX", "limit": "10"}),
        ("downloadMessage", {"mailbox": "INBOX", "messageIndex": str(uid)}),
    ]
    return [cycle[i % 3] for i in range(steps)]


def run_w5(bench, uid: int, rtt_ms_values: list[float], steps: int = 100, rounds: int = 2):
    """Adds "W5 ..." workloads to ``bench.results``; returns {label: flights per step}."""
    flights: dict[str, dict[str, int]] = {}
    service = Service()
    try:
        for rtt in rtt_ms_values:
            proxy = DelayProxy(bench.info.tls_port, delay=rtt / 2000)
            proxied = dict(bench.connection, port=proxy.port)
            # On loopback the steps go straight to the server (the proxy's own threads would
            # be most of what is timed); the proxy counts flights in either case.
            connection = proxied if rtt else dict(bench.connection)
            conn_file = bench.workdir / f"w5-{rtt:g}.json"
            conn_file.write_text(json.dumps(connection))
            plan = workflow(uid, steps)

            def pooled(plan=plan, connection=connection):
                for action, inputs in plan:
                    service.step(action, connection, inputs)

            def api_per_step(plan=plan, connection=connection):
                for action, inputs in plan:
                    envelope = bench.connector.invoke(
                        {"action": action, "connection": connection, "inputs": inputs}
                    )
                    assert envelope["ok"], envelope

            def invoke_per_step(plan=plan, conn_file=conn_file):
                for action, inputs in plan:
                    args = [f"{k}={v}" for k, v in inputs.items()]
                    subprocess.run(
                        [CLI, "invoke", action, "--connection", f"@{conn_file}"]
                        + [a for arg in args for a in ("--input", arg)],
                        check=True,
                        capture_output=True,
                        env=dict(os.environ),
                    )

            label = f"W5 {steps}-step workflow, {'loopback' if not rtt else f'{rtt:g} ms RTT'}"
            repeats, bench.repeats = bench.repeats, rounds
            try:
                bench.run(
                    label,
                    {
                        "ours (service, pooled)": pooled,
                        "ours (Python API, connect per step)": api_per_step,
                        "floor (imap-connector invoke per step)": invoke_per_step,
                    },
                )
            finally:
                bench.repeats = repeats
            flights[label] = count_flights(proxy, service, bench, proxied)
            proxy.close()
    finally:
        service.close()
    return flights


def count_flights(proxy, service, bench, connection) -> dict[str, int]:
    """Client flights (round trips) of one getStatus: pooled (a warm session) and cold."""
    status = {"mailbox": "INBOX"}
    service.step("getStatus", connection, status)  # a pooled session is there
    counts = {}
    for name, run in (
        ("pooled getStatus (service)", lambda: service.step("getStatus", connection, status)),
        (
            "cold getStatus (Python API)",
            lambda: bench.connector.invoke(
                {"action": "getStatus", "connection": connection, "inputs": status}
            ),
        ),
    ):
        time.sleep(4 * proxy.delay + 0.05)
        proxy.reset()
        run()
        time.sleep(4 * proxy.delay + 0.05)
        counts[name] = proxy.flights
    return counts


def fairness(bench, samples: int = 50) -> dict[str, float]:
    """Tenant B's getStatus p99 on a warm pooled session, quiet and while tenant A floods
    the service with 64 concurrent steps of one account whose server never answers."""
    service = TenantService(
        bench.workdir, "--connect-timeout", "5", tokens={"tenant-b": "tenant-b-service-token"}
    )
    b_headers = {"Authorization": "Bearer tenant-b-service-token"}
    bob = {"connection": dict(bench.connection), "inputs": {"mailbox": "INBOX"}}
    path = "/v1/imap/actions/getStatus"

    def latencies() -> list[float]:
        out = []
        for _ in range(samples):
            started = time.perf_counter()
            reply = service.post(path, bob, headers=b_headers)
            out.append(time.perf_counter() - started)
            assert reply.status_code == 200, reply.text
        return out

    def p99(values: list[float]) -> float:
        return statistics.quantiles(values, n=100)[98]

    try:
        latencies()  # warm: B's pooled session exists
        quiet = latencies()
        with fake.Listener(fake.silent) as silent, ThreadPoolExecutor(64) as pool:
            flood = {
                "connection": {
                    "host": "127.0.0.1",
                    "port": silent.port,
                    "user": "a",
                    "pass": "a",
                    "secure": False,
                    "startTls": "never",
                    "timeout": 30,
                },
                "inputs": {"mailbox": "INBOX"},
            }
            pending = [pool.submit(service.post, path, flood, headers=HEADERS) for _ in range(64)]
            time.sleep(0.3)
            busy = latencies()
            codes = [f.result().status_code for f in pending]
    finally:
        service.stop()
    result = {
        "quiet p99 ms": round(p99(quiet) * 1000, 2),
        "flooded p99 ms": round(p99(busy) * 1000, 2),
        "ratio": round(p99(busy) / p99(quiet), 2),
        "flood answered 429": codes.count(429),
    }
    print(
        f"W5 fairness: tenant B getStatus p99 {result['quiet p99 ms']} ms quiet, "
        f"{result['flooded p99 ms']} ms while A floods a silent server ({result['ratio']}x); "
        f"A's 64 steps: {result['flood answered 429']} answered 429 at once"
    )
    return result
