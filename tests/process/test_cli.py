"""The imap-connector command: envelopes on stdout, exit codes 0/1/2, docs freshness."""

from __future__ import annotations

import json
import shutil

import pytest

from connector.imap.cli import main
from tests.helpers import ROOT, cli


def test_invoke_without_connection_names_host_and_user():
    run = cli("invoke", "listMailboxes")
    assert run.returncode == 1, run.stderr
    error = json.loads(run.stdout)["error"]
    assert error["code"] == "INVALID_INPUT"
    paths = {d["path"] for d in error["details"]}
    assert {"connection.host", "connection.user"} <= paths
    assert "Traceback" not in run.stdout + run.stderr


def test_unknown_action():
    run = cli("invoke", "sendRocket", "--connection", '{"host": "h", "user": "u", "pass": "p"}')
    assert run.returncode == 1
    assert json.loads(run.stdout)["error"]["code"] == "UNKNOWN_ACTION"


def test_junk_range_is_invalid_input_on_inputs_range():
    run = cli(
        "invoke",
        "addFlags",
        "--connection",
        '{"host": "h", "user": "u", "pass": "p"}',
        "--input",
        "range=1:x;DROP",
        "--input",
        'flags=["\\\\Seen"]',
    )
    assert run.returncode == 1
    error = json.loads(run.stdout)["error"]
    assert error["code"] == "INVALID_INPUT"
    assert [d["path"] for d in error["details"]] == ["inputs.range"]


def test_connection_fields_from_the_environment():
    run = cli("invoke", "listMailboxes", env={"IMAP_USER": "u", "IMAP_PASS": "p"})
    paths = {d["path"] for d in json.loads(run.stdout)["error"]["details"]}
    assert paths == {"connection.host"}


@pytest.mark.parametrize(
    "args",
    [
        ["invoke", "listMailboxes", "--input", "novalue"],
        ["invoke", "listMailboxes", "--connection", "{not json"],
        ["invoke", "listMailboxes", "--inputs", "@/nonexistent/file.json"],
        ["describe", "nope"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(args):
    run = cli(*args)
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "Traceback" not in run.stderr


def test_actions_and_describe():
    run = cli("actions")
    assert run.returncode == 0
    assert len(run.stdout.strip().splitlines()) == 14
    described = json.loads(cli("describe", "searchMailbox").stdout)
    assert described["key"] == "searchMailbox"
    keys = [i["key"] for i in described["inputs"]]
    assert keys == ["mailbox", "from", "to", "readUnread", "filterOptions", "limit", "order"]
    assert described["output"]["schema"]["required"] == [
        "mailbox",
        "uidValidity",
        "total",
        "messages",
    ]


def test_validate():
    run = cli("validate")
    assert run.returncode == 0 and "14 actions" in run.stdout


def test_docs_are_fresh_and_staleness_is_detected(tmp_path, monkeypatch, capsys):
    # (In this process: the console itself is run as a program by the tests above.)
    monkeypatch.chdir(ROOT)
    assert main(["docs", "--check"]) == 0, "docs/ is stale: run imap-connector docs"
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    page = tmp_path / "docs" / "imap.md"
    page.write_text(page.read_text().replace("Add Flags", "Add Flagz", 1))
    capsys.readouterr()
    assert main(["docs", "--check", "--out", str(tmp_path / "docs")]) == 1
    assert "imap.md" in capsys.readouterr().err
    assert main(["docs", "--out", str(tmp_path / "docs")]) == 0
    assert main(["docs", "--check", "--out", str(tmp_path / "docs")]) == 0
