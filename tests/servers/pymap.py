"""pymap, a pure-Python IMAP server (in-memory backend): STARTTLS only, one user."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import ServerInfo, free_port, wait_for_greeting

USER, PASSWORD = "alice", "alicepw"


def executable() -> str | None:
    beside = Path(sys.executable).with_name("pymap")
    return str(beside) if beside.exists() else shutil.which("pymap")


def available() -> bool:
    return executable() is not None


class Pymap:
    def __init__(self, ca):
        self.ca = ca
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    def start(self) -> ServerInfo:
        self.dir = Path(tempfile.mkdtemp(prefix="pm", dir="/tmp"))
        leaf = self.ca.issue_cert("127.0.0.1", "localhost")
        leaf.private_key_pem.write_to_path(str(self.dir / "key.pem"))
        leaf.cert_chain_pems[0].write_to_path(str(self.dir / "cert.pem"))
        port = free_port()
        env = dict(os.environ, FQDN="localhost")  # without it the greeting may stall on DNS
        self.process = subprocess.Popen(
            [executable(), "--host", "127.0.0.1", "--port", str(port),
             "--cert", str(self.dir / "cert.pem"), "--key", str(self.dir / "key.pem"),
             "dict", "--demo-user", USER, "--demo-password", PASSWORD],
            env=env, stdout=subprocess.DEVNULL, stderr=open(self.dir / "stderr.log", "wb"))
        try:
            wait_for_greeting(port, self.process, timeout=30)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{(self.dir / 'stderr.log').read_text()}") from None
        return ServerInfo(name="pymap", host="127.0.0.1", ca_pem=self.ca.cert_pem.bytes().decode(),
                          users={USER: PASSWORD}, tls_port=None, starttls_port=port,
                          capabilities={"UIDPLUS", "MOVE"}, first_uid=101)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
