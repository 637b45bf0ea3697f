"""``demo --serve`` writes its connection (the demo's password in it) for its owner only:
0600 whatever the umask, never through a link left where the new file goes, and a file it
cannot replace is a one-line usage error, not a traceback."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

CLI = [sys.executable, "-m", "connector.imap.cli"]


def start(path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, "demo", "--serve", "--connection-file", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: os.umask(0o022),  # the usual umask: 0644 for a plain write
    )


def wait_for(path: Path, server: subprocess.Popen) -> None:
    """Until the server's file is there (not the stale one it removes first)."""
    deadline = time.monotonic() + 60
    while not (path.exists() and '"pass"' in path.read_text()):
        assert server.poll() is None, server.stderr.read() if server.stderr else ""
        assert time.monotonic() < deadline, "no connection file"
        time.sleep(0.1)


def test_the_connection_file_is_its_owners_only(tmp_path):
    path = tmp_path / "conn.json"
    path.write_text("left by an earlier run, 0644")
    os.chmod(path, 0o644)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("not to be written through")
    # A link where the file is first written must not be followed.
    (tmp_path / "conn.json.partial").symlink_to(elsewhere)
    server = start(path)
    try:
        wait_for(path, server)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert elsewhere.read_text() == "not to be written through"
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
    assert not path.exists()


def test_a_file_it_cannot_replace_is_a_usage_error(tmp_path):
    path = tmp_path / "conn.json"
    path.mkdir()  # (what unlink cannot remove; as another user's file in /tmp)
    run = subprocess.run(
        [*CLI, "demo", "--serve", "--connection-file", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert f"cannot replace {path}" in run.stderr and "--connection-file" in run.stderr
    assert "Traceback" not in run.stderr
