"""Every input of every action, trigger and data source, and every connection field, gets a
table of nasty values through the API (all of them) and the CLI (a sample per operation):
exactly one envelope each, a typed code, and a refused step changes nothing on the server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from connector.sdk._error_table import ERROR_CODES
from connector.sdk._jsonvalues import json_problem
from tests.helpers import append, raw_client


def deep(n: int) -> list:
    value: list = []
    for _ in range(n):
        value = [value]
    return value


NASTY = {
    "crlf": "INBOX\r\nA1 CREATE INJECTED",
    "nul": "a\x00b",
    "surrogate": "a\ud800b",
    "literal": "{5}\r\nhello",
    "wildcards": "%*",
    "quote": 'a"b\\',
    "1mb": "x" * 1_000_000,
    "deep": deep(100_000),
    "list": [1, [2]],
    "object": {"a": {"b": None}},
    "huge": 10**30,
    "negative": -5,
    "boolean": True,
    "float": 1.5,
    "empty": "",
}
BIG = "y" * 20_000_000  # only where a big value is plausible (message content, a mailbox)


class Scene:
    def __init__(self, server):
        self.server = server
        self.imap = raw_client(server)
        tag = uuid.uuid4().hex[:8]
        self.box, self.dst = f"h-{tag}", f"h-{tag}-dst"
        self.imap.create_folder(self.box)
        self.imap.create_folder(self.dst)
        self.uid = append(self.imap, self.box)

    def base(self, kind: str, key: str) -> dict:
        """Valid inputs of each operation; the mutating ones aim where a success changes little."""
        box, uid, missing = self.box, str(self.uid), f"{self.box}-missing"
        return {
            "listMailboxes": {},
            "getStatus": {"mailbox": box},
            "addFlags": {"mailbox": box, "range": uid, "flags": ["k1"]},
            "removeFlags": {"mailbox": box, "range": uid, "flags": ["k1"]},
            "setFlags": {"mailbox": box, "range": uid, "flags": ["\\Seen"]},
            "appendMessage": {"path": self.dst, "content": "Subject: x\r\n\r\nbody\r\n"},
            "copyMessage": {"mailbox": box, "range": "4000000000", "path": self.dst},
            "moveMessage": {"mailbox": box, "range": "4000000000", "path": self.dst},
            "createMailbox": {"path": f"{box}-new"},
            "deleteMessage": {"mailbox": box, "messageIndex": "4000000000"},
            "downloadMessage": {"mailbox": box, "messageIndex": uid},
            "renameMailbox": {"path": missing, "newPath": f"{box}-renamed"},
            "searchMailbox": {"mailbox": box, "limit": "3"},
            "deleteMailbox": {"path": missing},
            "newEmailsPollingTrigger": {"mailbox": box},
        }[key]

    def snapshot(self):
        self.imap.select_folder(self.box, readonly=True)
        flags = self.imap.get_flags(self.imap.search(["ALL"]))
        folders = sorted(name for _, _, name in self.imap.list_folders())
        return flags, folders


def request(kind: str, key: str, connection: dict, inputs: dict) -> dict:
    req = {kind: key, "connection": connection, "inputs": inputs}
    if kind == "trigger":
        req["state"] = {}
    return req


def check_envelope(envelope) -> bool:
    assert isinstance(envelope, dict) and isinstance(envelope.get("ok"), bool), envelope
    assert json_problem(envelope) is None
    json.dumps(envelope, ensure_ascii=False).encode("utf-8")
    if not envelope["ok"]:
        assert envelope["error"]["code"] in ERROR_CODES, envelope
        assert envelope["error"]["code"] != "INTERNAL_ERROR", envelope
        assert len(json.dumps(envelope)) < 20_000  # a 20 MB value never comes back whole
    return envelope["ok"]


def operations(connector):
    manifest = connector.manifest
    for kind, table in (
        ("action", manifest.actions),
        ("trigger", manifest.triggers),
        ("dataSource", manifest.data_sources),
    ):
        for key, op in table.items():
            yield kind, key, op


def test_every_input_and_connection_field_with_nasty_values(connector, dovecot_server):
    scene = Scene(dovecot_server)
    connection = dovecot_server.connection()
    cases = []
    for kind, key, op in operations(connector):
        base = scene.base(kind, key)
        for spec in op.inputs:
            values = dict(NASTY)
            if spec.key in ("content", "mailbox"):
                values["20mb"] = BIG
            cases += [
                (kind, key, {**base, spec.key: value}, connection) for value in values.values()
            ]
    conn_op = connector.manifest.default_connection
    for spec in conn_op.inputs:
        values = dict(NASTY, **({"20mb": BIG} if spec.key == "host" else {}))
        cases += [
            (
                "action",
                "getStatus",
                scene.base("action", "getStatus"),
                {**connection, spec.key: value},
            )
            for value in values.values()
        ]
    assert len(cases) > 300
    for kind, key, inputs, conn in cases:
        before = scene.snapshot()
        envelope = connector.invoke(request(kind, key, conn, inputs))
        if not check_envelope(envelope):
            assert scene.snapshot() == before, (key, envelope["error"])
    assert "INJECTED" not in scene.snapshot()[1]


def test_cli_gives_exactly_one_envelope_for_nasty_requests(connector, dovecot_server, tmp_path):
    scene = Scene(dovecot_server)
    connection = tmp_path / "conn.json"
    connection.write_text(json.dumps(dovecot_server.connection()))
    runs = []
    for kind, key, op in operations(connector):
        command = {"action": "invoke", "trigger": "poll", "dataSource": "data-source"}[kind]
        first = next(iter(op.inputs), None)
        for name in ("crlf", "surrogate", "deep", "huge", "object"):
            inputs = dict(scene.base(kind, key))
            if first is not None:
                inputs[first.key] = "@@" if name == "deep" else NASTY[name]
            path = tmp_path / f"{key}-{name}.json"
            # A lone surrogate goes as its JSON escape; the deep value is written as text.
            path.write_text(json.dumps(inputs).replace('"@@"', "[" * 100_000 + "]" * 100_000))
            args = [command, key, "--connection", f"@{connection}", "--inputs", f"@{path}"]
            if kind == "trigger":
                args += ["--state-file", str(tmp_path / f"{key}-{name}.state")]
            runs.append(args)
    deep_conn = tmp_path / "deep-conn.json"
    deep_conn.write_text("[" * 100_000 + "]" * 100_000)
    runs.append(
        ["invoke", "getStatus", "--connection", f"@{deep_conn}", "--input", "mailbox=INBOX"]
    )
    runs.append(
        [
            "test-connection",
            "--connection",
            json.dumps({**dovecot_server.connection(), "host": "127.0.0.1\r\nA1 LOGOUT"}),
        ]
    )

    def run(args):
        return args, subprocess.run(
            [sys.executable, "-m", "connector.imap.cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, runs))
    for args, done in results:
        assert done.returncode in (0, 1, 2), (args, done.stderr[-300:])
        assert "Traceback" not in done.stderr, (args, done.stderr[-500:])
        check_envelope(json.loads(done.stdout))  # the whole stdout is one JSON envelope
    assert "INJECTED" not in scene.snapshot()[1]


@pytest.mark.parametrize("value", ["a\r\nb", "a\x00b", "{5}", "a\ud800b"])
def test_nasty_user_names_never_reach_the_server_unquoted(connector, dovecot_server, value):
    envelope = connector.invoke(
        {"action": "listMailboxes", "connection": {**dovecot_server.connection(), "user": value}}
    )
    assert envelope["error"]["code"] in ("INVALID_INPUT", "AUTH_FAILED"), envelope
