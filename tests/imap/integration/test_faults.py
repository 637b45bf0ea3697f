"""Retry safety: every mutating step, cut at every command (before it, or after it ran with
its reply lost), then repeated as a platform would, leaves the server as one clean run does.

Runs on Dovecot with MOVE and on a Dovecot with MOVE trimmed (COPY + \\Deleted + UID
EXPUNGE), through a proxy that loses the line at the chosen point.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from connector.sdk.testing import Harness
from tests.helpers import BASE_CAPS, make_message, raw_client
from tests.helpers import start_dovecot as _dovecot
from tests.servers import fake


@pytest.fixture(scope="module")
def no_move(ca, request):
    info = _dovecot(
        ca, request, extra_conf=f"protocol imap {{\n  imap_capability = {BASE_CAPS} UIDPLUS\n}}\n"
    )
    info.capabilities -= {"MOVE"}
    return info


@pytest.fixture(scope="module", params=["dovecot", "no-move"])
def target(request, dovecot_server):
    return dovecot_server if request.param == "dovecot" else request.getfixturevalue("no_move")


class Box:
    """A source and a destination mailbox with three messages in the source."""

    def __init__(self, server):
        self.server = server
        self.imap = raw_client(server)
        tag = uuid.uuid4().hex[:8]
        self.src, self.dst, self.new = f"f-{tag}-src", f"f-{tag}-dst", f"f-{tag}-new"
        self.imap.create_folder(self.src)
        self.imap.create_folder(self.dst)
        self.ids = [f"<{tag}-{i}@faults.test>" for i in range(3)]
        self.uids = []
        for mid in self.ids:
            reply = self.imap.append(self.src, make_message(message_id=mid))
            self.uids.append(int(reply.split(b"APPENDUID ")[1].split(b" ")[1].rstrip(b"]")))
        self.message = make_message("Appended", message_id=f"<{tag}-new@faults.test>").decode()

    def state(self) -> dict:
        """Per mailbox role: which Message-IDs are there (how many times) with which flags."""
        out: dict[str, Any] = {}
        names = {name for _, _, name in self.imap.list_folders()}
        for role, name in (("src", self.src), ("dst", self.dst), ("new", self.new)):
            if name not in names:
                out[role] = None
                continue
            self.imap.select_folder(name, readonly=True)
            uids = self.imap.search(["ALL"])
            rows = (
                self.imap.fetch(uids, ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
                if uids
                else {}
            )
            seen = []
            for row in rows.values():
                head = row[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().strip()
                mid = head.split(":", 1)[1].strip().replace(self.src.split("-")[1], "T")
                flags = sorted(f.decode() for f in row[b"FLAGS"] if f != b"\\Recent")
                seen.append((mid, tuple(flags)))
            out[role] = sorted(seen)
        return out

    def close(self):
        try:
            self.imap.logout()
        except Exception:  # noqa: BLE001
            pass


# action -> inputs for a Box; the repeat may also answer NOT_FOUND (it is already done).
STEPS = {
    "appendMessage": (lambda b: {"path": b.src, "content": b.message}, ()),
    "copyMessage": (lambda b: {"mailbox": b.src, "range": "1:*", "path": b.dst}, ()),
    "moveMessage": (
        lambda b: {"mailbox": b.src, "range": f"{b.uids[0]},{b.uids[2]}", "path": b.dst},
        (),
    ),
    "deleteMessage": (lambda b: {"mailbox": b.src, "messageIndex": str(b.uids[1])}, ("NOT_FOUND",)),
    "addFlags": (lambda b: {"mailbox": b.src, "range": "1:*", "flags": '["\\\\Flagged"]'}, ()),
    "removeFlags": (lambda b: {"mailbox": b.src, "range": "1:*", "flags": '["\\\\Seen"]'}, ()),
    "setFlags": (
        lambda b: {
            "mailbox": b.src,
            "range": str(b.uids[0]),
            "flags": '["\\\\Answered", "\\\\Draft"]',
        },
        (),
    ),
    "createMailbox": (lambda b: {"path": b.new}, ()),
    "renameMailbox": (lambda b: {"path": b.src, "newPath": b.new}, ("NOT_FOUND",)),
    "deleteMailbox": (lambda b: {"path": b.dst}, ("NOT_FOUND",)),
}


def run(connector, server, action, inputs, port=None):
    fields = server.connection(secure=False, startTls="never", timeout=5)
    if port is not None:
        fields["port"] = port
    return Harness(connector, fields).invoke(action, **inputs)


def clean_run(connector, server, action) -> tuple[dict, int]:
    """The state one uninterrupted run leaves, and how many commands it sends."""
    box = Box(server)
    box.imap.select_folder(box.src)
    box.imap.add_flags(box.uids[:1], [b"\\Seen"])
    proxy = fake.FaultProxy(server.starttls_port)
    try:
        envelope = run(connector, server, action, STEPS[action][0](box), port=proxy.port)
        assert envelope["ok"], envelope["error"]
        return box.state(), len(proxy.commands)
    finally:
        proxy.close()
        box.close()


@pytest.mark.parametrize("action", sorted(STEPS))
def test_cut_anywhere_then_repeated_equals_one_clean_run(connector, target, action):
    build, repeat_may = STEPS[action]
    expected, count = clean_run(connector, target, action)
    assert count >= 3  # at least login, the step's own command(s), logout
    failures = []
    for cut_at in range(1, count + 1):
        for when in ("before", "after"):
            box = Box(target)
            box.imap.select_folder(box.src)
            box.imap.add_flags(box.uids[:1], [b"\\Seen"])
            proxy = fake.FaultProxy(target.starttls_port, cut_at=cut_at, when=when)
            try:
                first = run(connector, target, action, build(box), port=proxy.port)
                if not first["ok"]:
                    assert first["error"]["code"] in ("CONNECTION_FAILED", "TIMEOUT"), first
                    assert first["error"]["retryable"] is True, first
                again = run(connector, target, action, build(box))
                if not again["ok"]:
                    assert first["ok"] or again["error"]["code"] in repeat_may, again
                got = box.state()
                if got != expected:
                    failures.append((cut_at, when, proxy.commands[cut_at - 1][:60], got))
            finally:
                proxy.close()
                box.close()
    assert failures == [], f"expected {expected}"


def test_copy_without_message_id_cut_mid_copy_is_not_retryable(connector, dovecot_server):
    box = Box(dovecot_server)
    bare = b"From: a@example.com\r\nSubject: no id\r\n\r\nbody\r\n"
    uid = int(box.imap.append(box.src, bare).split(b"APPENDUID ")[1].split(b" ")[1].rstrip(b"]"))
    clean = fake.FaultProxy(dovecot_server.starttls_port)
    try:
        run(
            connector,
            dovecot_server,
            "copyMessage",
            {"mailbox": box.src, "range": str(uid), "path": box.dst},
            port=clean.port,
        )
        copy_at = next(i for i, c in enumerate(clean.commands, 1) if b" COPY " in c.upper())
    finally:
        clean.close()
    proxy = fake.FaultProxy(dovecot_server.starttls_port, cut_at=copy_at, when="after")
    try:
        envelope = run(
            connector,
            dovecot_server,
            "copyMessage",
            {"mailbox": box.src, "range": str(uid), "path": box.dst},
            port=proxy.port,
        )
    finally:
        proxy.close()
        box.close()
    assert envelope["error"]["code"] == "CONNECTION_FAILED"
    assert envelope["error"]["retryable"] is False
    assert "Message-ID" in envelope["error"]["message"]
