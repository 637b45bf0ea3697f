"""Hostile input to the CLI: JSON nested 100,000 deep in an argument, a state file or an
inputs file that is not UTF-8 give one typed envelope and exit status 2, never a traceback.
(Moved from tests/imap/unit/test_hostile_peers.py, part 5: each runs the CLI as a process.)"""

from __future__ import annotations

import json

import pytest

from tests.helpers import cli


def deep(n: int) -> str:
    return "[" * n + "]" * n


@pytest.mark.parametrize("flag", ["--inputs", "--connection"])
def test_deep_json_arguments_give_an_envelope(tmp_path, flag):
    path = tmp_path / "deep.json"
    path.write_text(deep(100_000))
    args = ["invoke", "getStatus", flag, f"@{path}"]
    if flag == "--inputs":
        args += ["--connection", '{"host": "h", "user": "u", "pass": "p"}']
    run = cli(*args)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert json.loads(run.stdout)["error"]["code"] == "INVALID_INPUT"


def test_deep_state_file_and_non_utf8_file_give_an_envelope(tmp_path):
    state = tmp_path / "state.json"
    state.write_text('{"a": ' + deep(100_000) + "}")
    conn = '{"host": "h", "user": "u", "pass": "p"}'
    run = cli(
        "poll",
        "newEmailsPollingTrigger",
        "--state-file",
        str(state),
        "--connection",
        conn,
        "--input",
        "mailbox=INBOX",
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert json.loads(run.stdout)["error"]["code"] == "INVALID_INPUT"
    latin = tmp_path / "inputs.json"
    latin.write_bytes('{"mailbox": "Boîte"}'.encode("latin-1"))
    run = cli("invoke", "getStatus", "--connection", conn, "--inputs", f"@{latin}")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "UTF-8" in json.loads(run.stdout)["error"]["message"]
