"""The README's "Run as a service", "Studio" and "Run on Temporal" commands, as written: each
block is read from README.md and run by bash (-euo pipefail) from the repository's root, with only
its fixed ports swapped for free ones and the demo's connection file put in a temp folder
(through TMPDIR, which the demo honours). Whatever a block leaves running is killed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

from connector.imap.demo.localserver import free_port

ROOT = Path(__file__).resolve().parents[2]
CONNECTION_FILE = "/tmp/imap-connector-demo-connection.json"


def sh_block(heading: str) -> str:
    """The first ```sh block of the README section with this heading."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(f"\n## {heading}\n") :]
    section = section[: section.find("\n## ", 4)]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found, f"no sh block under {heading}"
    return found.group(1)


def run_block(block: str, tmp_path: Path, ports: dict[str, int]) -> str:
    """Run it; its output (stdout and stderr together)."""
    assert CONNECTION_FILE in block
    block = block.replace(CONNECTION_FILE, str(tmp_path / Path(CONNECTION_FILE).name))
    for fixed, free in ports.items():
        assert fixed in block, fixed
        block = block.replace(fixed, str(free))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "IMAP_"))}
    env["TMPDIR"] = str(tmp_path)
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,  # (a block waiting for Enter goes on at once)
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # one process group: everything it started
    )
    try:
        output, _ = process.communicate(timeout=300)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert process.returncode == 0, output[-6000:]
    return output


def json_objects(output: str) -> list[dict]:
    """The JSON objects printed whole (pretty-printed or on one line)."""
    decoder = json.JSONDecoder()
    found, at = [], 0
    while (at := output.find("{", at)) != -1:
        try:
            value, end = decoder.raw_decode(output, at)
        except json.JSONDecodeError:
            at += 1
            continue
        found.append(value)
        at = end
    return found


def test_run_as_a_service_as_written(tmp_path):
    output = run_block(sh_block("Run as a service"), tmp_path, {"8080": free_port()})
    envelopes = [o for o in json_objects(output) if "ok" in o]
    assert envelopes, output[-4000:]
    status = envelopes[-1]
    assert status["ok"] is True, status
    assert status["data"]["path"] == "INBOX" and status["data"]["messages"] == 10
    assert not (tmp_path / Path(CONNECTION_FILE).name).exists()  # the demo server stopped


def test_studio_as_written(tmp_path):
    port = free_port()
    output = run_block(sh_block("Studio"), tmp_path, {"8080": port})
    assert f"open http://127.0.0.1:{port}/studio" in output, output[-4000:]
    connection = next(o for o in json_objects(output) if "host" in o)
    assert connection["user"] and connection["pass"]  # what to paste into the studio
    assert not (tmp_path / Path(CONNECTION_FILE).name).exists()


def test_run_on_temporal_as_written(tmp_path):
    output = run_block(sh_block("Run on Temporal"), tmp_path, {"7233": free_port()})
    printed = json_objects(output)
    step = next(o for o in printed if "ok" in o)
    assert step["ok"] is True and step["data"]["messages"] == 10, step
    assert "watching: workflow demo-inbox" in output
    status = next(o for o in printed if o.get("workflowId") == "demo-inbox")
    assert status["trigger"] == "newEmailsPollingTrigger" and status["state"] == "polling"
    assert not (tmp_path / Path(CONNECTION_FILE).name).exists()
