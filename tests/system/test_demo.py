"""The README's first command: the demo workflow, and --serve for your own invocations."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

from tests.helpers import ROOT

CLI = [sys.executable, "-m", "connector.imap.cli"]


def test_demo_runs_the_seven_steps():
    run = subprocess.run([*CLI, "demo"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    steps = re.findall(r"^\[(\d)/7\] (\w+):", run.stdout, re.M)
    assert steps == [
        ("1", "listMailboxes"),
        ("2", "getStatus"),
        ("3", "searchMailbox"),
        ("4", "downloadMessage"),
        ("5", "addFlags"),
        ("6", "copyMessage"),
        ("7", "getStatus"),
    ]
    unseen = [int(n) for n in re.findall(r"(\d+) unseen", run.stdout)]
    assert unseen[1] == unseen[0] - 1  # step 5 marked one message read
    assert "created Archive" in run.stdout


def test_demo_json_prints_envelopes():
    run = subprocess.run([*CLI, "demo", "--json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count('"ok": true') == 7


UNREAD = ("--input", "readUnread=unread")


def test_demo_serve_accepts_invocations_until_stopped(tmp_path):
    """The connection file appears whole once the server is ready (an old one is removed
    first), the message says how to stop it both ways, and the file goes when it stops."""
    path = tmp_path / "conn.json"
    path.write_text("left by an earlier run")
    server = subprocess.Popen(
        [*CLI, "demo", "--serve", "--connection-file", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        said = []
        for line in server.stdout:
            said.append(line)
            if line.startswith("Stop it with") or "Ctrl-C" in line:
                break
        text = "".join(said)
        assert f"kill {server.pid}" in text and "kill %1" in text and "Ctrl-C" in text, text
        connection = json.loads(path.read_text())
        assert connection["caCertificate"].startswith("-----BEGIN CERTIFICATE")
        run = subprocess.run(
            [*CLI, "invoke", "searchMailbox", "--connection", f"@{path}", *UNREAD],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stdout
        assert json.loads(run.stdout)["data"]["total"] == 7
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
    assert not path.exists()
