"""``serve`` on a port another process holds: one line naming the port, exit 2, and no
``started`` logged first (the socket is bound before any worker starts)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

CONSOLE = Path(sys.executable).with_name("connector")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_busy_port_is_a_usage_error_naming_it(workers):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = str(holder.getsockname()[1])
        done = subprocess.run(
            [str(CONSOLE), "serve", "--no-auth", "--port", port, "--workers", workers],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"cannot listen on 127.0.0.1 port {port}" in done.stderr
    assert "started" not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
