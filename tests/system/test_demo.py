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


def test_demo_serve_accepts_invocations_until_stopped(tmp_path):
    server = subprocess.Popen([*CLI, "demo", "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        connection = None
        for line in server.stdout:
            if line.startswith("{"):
                connection = json.loads(line)
                break
        assert connection and connection["caCertificate"].startswith("-----BEGIN CERTIFICATE")
        (tmp_path / "conn.json").write_text(json.dumps(connection))
        run = subprocess.run(
            [
                *CLI,
                "invoke",
                "searchMailbox",
                "--connection",
                f"@{tmp_path / 'conn.json'}",
                "--input",
                "readUnread=unread",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stdout
        assert json.loads(run.stdout)["data"]["total"] == 7
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
