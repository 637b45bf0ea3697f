"""The HTTP step service as a subprocess, for the system tests and the bench."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from connector.imap.demo.localserver import free_port

UNCAPPED = httpx.Limits(max_connections=None, max_keepalive_connections=None)
TOKEN = "svc-" + uuid.uuid4().hex
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
METRICS_TOKEN = "metrics-" + uuid.uuid4().hex  # the operator's: every tenant's series
OPERATOR = {"Authorization": f"Bearer {METRICS_TOKEN}"}


class Service:
    """``imap-connector serve`` (or ``command serve``) as a subprocess on a free port. By
    default it may reach the suite's servers on 127.0.0.1 at any port (``allow``); tokens:
    TOKEN of tenant "acme", ``other-service-token`` of tenant "default", and ``tokens`` (tenant ->
    token) given; the operator's metrics token METRICS_TOKEN; ``env`` adds to the
    environment."""

    def __init__(
        self,
        tmp: Path,
        *args: str,
        allow: tuple[str, ...] = ("--allow-hosts", "127.0.0.1", "--allow-ports", "any"),
        tokens: dict[str, str] | None = None,
        command: tuple[str, ...] = (sys.executable, "-m", "connector.imap.cli"),
        env: dict[str, str] | None = None,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        token_file = tmp / "tokens"
        extra = "".join(f"{tenant}: {token}\n" for tenant, token in (tokens or {}).items())
        token_file.write_text(f"# service tokens\nother-service-token\nacme: {TOKEN}\n{extra}")
        self.log_path = tmp / "service.log"
        env = {
            **{k: v for k, v in os.environ.items() if k != "CONNECTOR_SERVICE_TOKEN"},
            "CONNECTOR_METRICS_TOKEN": METRICS_TOKEN,
            **(env or {}),
        }
        self.process = subprocess.Popen(
            [
                *command,
                "serve",
                "--port",
                str(self.port),
                "--token-file",
                str(token_file),
                *allow,
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("wb"),
            env=env,
        )
        # No keep-alive cap: httpcore 1.0.9 closes "surplus" idle connections counting all of
        # them, idle or not, and can close one it just gave a waiting request (httpcore#1110):
        # a thread of a 64-request flood then reads a closed socket (EBADF).
        self.http = httpx.Client(base_url=self.url, timeout=60, limits=UNCAPPED)
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.http.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start: {self.log()}")
            time.sleep(0.1)

    def post(self, path: str, body, headers=HEADERS) -> httpx.Response:
        return self.http.post(path, json=body, headers=headers)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        finally:
            self.http.close()
