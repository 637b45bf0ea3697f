"""A throwaway IMAP server on 127.0.0.1: pymap's in-memory backend behind a private CA.

Used by ``imap-connector demo`` (and the test suite): no root, no system
service, nothing left behind. Needs the ``demo`` extra (pymap, trustme).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_greeting(port: int, process: subprocess.Popen, *, timeout: float = 15.0) -> None:
    """Until the port greets with ``* OK``; fails early if the process died."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before greeting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.02)
    raise RuntimeError(f"no IMAP greeting on port {port} within {timeout} s ({last})")


def stop_server(process: subprocess.Popen | None, folder: Path | None) -> None:
    """SIGTERM (then SIGKILL after 10 s) and remove the server's folder."""
    if process and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


class PymapServer:
    """pymap (STARTTLS on one port, one user) with a certificate from a fresh private CA."""

    def __init__(self, user: str = "alice", password: str = "alicepw", ca: Any = None):  # noqa: S107 - demo
        self.user, self.password = user, password
        self.ca = ca
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None
        self.port: int | None = None

    @staticmethod
    def available() -> bool:
        try:
            import pymap  # noqa: F401, PLC0415 - the demo extra: whether it is installed
            import trustme  # noqa: F401, PLC0415
        except ImportError:
            return False
        return True

    @property
    def ca_pem(self) -> str:
        return self.ca.cert_pem.bytes().decode("ascii")

    def start(self) -> PymapServer:
        import trustme  # noqa: PLC0415 - the demo extra

        self.ca = self.ca or trustme.CA()
        self.dir = Path(tempfile.mkdtemp(prefix="pm", dir="/tmp"))
        leaf = self.ca.issue_cert("127.0.0.1", "localhost")
        leaf.private_key_pem.write_to_path(str(self.dir / "key.pem"))
        leaf.cert_chain_pems[0].write_to_path(str(self.dir / "cert.pem"))
        self.port = free_port()
        env = dict(os.environ, FQDN="localhost")  # without it the greeting may stall on DNS
        self.process = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
            [
                sys.executable,
                "-c",
                "from pymap.main import main; main()",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--cert",
                str(self.dir / "cert.pem"),
                "--key",
                str(self.dir / "key.pem"),
                "dict",
                "--demo-user",
                self.user,
                "--demo-password",
                self.password,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "stderr.log", "wb"),
        )
        try:
            wait_for_greeting(self.port, self.process, timeout=30)
        except RuntimeError as exc:
            log = (self.dir / "stderr.log").read_text(errors="replace")
            self.stop()
            raise RuntimeError(f"pymap did not start: {exc}\n{log}") from None
        return self

    def connection(self) -> dict:
        """Connection fields for the connector: STARTTLS required, certificate verified."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "secure": False,
            "startTls": "required",
            "user": self.user,
            "pass": self.password,
            "caCertificate": self.ca_pem,
            "timeout": 10,
        }

    def stop(self) -> None:
        stop_server(self.process, self.dir)
