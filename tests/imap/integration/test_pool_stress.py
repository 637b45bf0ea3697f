"""Crossed replies hunted: thousands of pooled steps over 32 threads, two accounts capped at
3 sessions each, through a proxy that cuts and merges the byte stream at random, with
every reply checked against the request that caused it.

Each mailbox holds messages whose subjects name their account, mailbox and UID, so a reply
meant for another step (another mailbox, another account, another command) cannot pass:
getStatus must name the mailbox asked for and its count; searchMailbox and downloadMessage
must return only that mailbox's messages with the subjects their UIDs were given;
addFlags must answer for the UID asked; a missing mailbox must be NOT_FOUND; creating an
existing one must say it was not created (Dovecot's tagged NO [ALREADYEXISTS], on a session
that stays pooled: a response code left behind would show up in a later step). Errors
discard sessions, so logins (pipelined with the first command) keep happening between
reuses. At the end every message carries exactly its own mailbox's keyword.
"""

from __future__ import annotations

import os
import random
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connector.sdk._pool import SessionPool
from tests.helpers import make_message, raw_client
from tests.servers import fake

STEPS = int(os.environ.get("STRESS_STEPS", "10000"))
THREADS = 32
USERS = ("alice", "bob")
MAILBOXES = 4  # per user
MESSAGES = 3  # per mailbox
PIPELINED_UNSELECT = re.compile(rb" UNSELECT\r\n[A-Za-z0-9.]+ [A-Z]")


class World:
    """The mailboxes made for the run and what each holds: (user, index) -> {uid: subject}."""

    def __init__(self, server, run: str):
        self.server, self.run = server, run
        self.names: dict[tuple[str, int], str] = {}
        self.subjects: dict[tuple[str, int], dict[int, str]] = {}
        for user in USERS:
            client = raw_client(server, user)
            for index in range(MAILBOXES):
                name = server.path(f"stress-{run}-{index}")
                client.create_folder(name)
                uids = {}
                for n in range(MESSAGES):
                    subject = f"{user}/{index}/{n}/{run}"
                    reply = client.append(name, make_message(subject=subject))
                    uid = int(reply.split(b"APPENDUID ")[1].split(b" ")[1].rstrip(b"]"))
                    uids[uid] = subject
                self.names[(user, index)] = name
                self.subjects[(user, index)] = uids
            client.logout()
        assert self.on_server() == self.subjects, "the seeded mailboxes do not read back"

    def on_server(self) -> dict[tuple[str, int], dict[int, str]]:
        """What each mailbox holds, read by fresh sessions of its own user."""
        held: dict[tuple[str, int], dict[int, str]] = {}
        for user in USERS:
            client = raw_client(self.server, user)
            for index in range(MAILBOXES):
                client.select_folder(self.names[(user, index)], readonly=True)
                fetched = client.fetch(client.search(["ALL"]), ["ENVELOPE"])
                held[(user, index)] = {
                    uid: data[b"ENVELOPE"].subject.decode() for uid, data in fetched.items()
                }
            client.logout()
        return held

    def keyword(self, user: str, index: int) -> str:
        return f"K{user}{index}"


class TracingPool(SessionPool):
    """Remembers which session each thread was lent last (for a failing step's message)."""

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.lent: dict[int, str] = {}

    def acquire(self, *args: Any, **kwargs: Any) -> Any:
        pooled, hit = super().acquire(*args, **kwargs)
        session = pooled.session
        client = getattr(session, "client", None)
        where = client.socket().getsockname()[1] if client is not None else None
        self.lent[threading.get_ident()] = (
            f"{'hit' if hit else 'miss'} session {id(session):x} user "
            f"{getattr(session, 'user', '?')} port {where}"
        )
        return pooled, hit


def plan(world: World, rng: random.Random) -> tuple[dict, Callable[[dict], None]]:
    """One random step: its request, and the check of its envelope (a problem, or None)."""
    user = rng.choice(USERS)
    index = rng.randrange(MAILBOXES)
    name = world.names[(user, index)]
    subjects = world.subjects[(user, index)]
    uid = rng.choice(sorted(subjects))
    kind = rng.choices(
        ["status", "search", "download", "flag", "missing", "gone", "exists"],
        [4, 4, 4, 3, 1, 1, 1],
    )[0]

    def ok(envelope) -> dict:
        if not envelope.get("ok"):
            raise AssertionError(f"error {envelope.get('error')}")
        return envelope["data"]

    inputs: dict[str, Any]
    if kind == "status":
        inputs = {"mailbox": name}

        def check(envelope):
            data = ok(envelope)
            assert data["path"] == name and data["messages"] == MESSAGES, data

        action = "getStatus"
    elif kind == "search":
        inputs = {"mailbox": name, "limit": 10}

        def check(envelope):
            data = ok(envelope)
            found = {m["uid"]: m["envelope"]["subject"] for m in data["messages"]}
            assert found == subjects, (found, subjects)

        action = "searchMailbox"
    elif kind == "download":
        inputs = {"mailbox": name, "messageIndex": uid}

        def check(envelope):
            data = ok(envelope)
            message = data["message"]
            assert data["uid"] == uid and message["subject"] == subjects[uid], data

        action = "downloadMessage"
    elif kind == "flag":
        inputs = {"mailbox": name, "range": str(uid), "flags": [world.keyword(user, index)]}

        def check(envelope):
            data = ok(envelope)
            assert [m["uid"] for m in data["messages"]] == [uid], data

        action = "addFlags"
    elif kind == "missing":
        inputs = {"mailbox": name + "-missing"}

        def check(envelope):
            assert envelope["error"]["code"] == "NOT_FOUND", envelope

        action = "getStatus"
    elif kind == "gone":  # a download whose EXAMINE (sent ahead with the FETCH) is refused
        inputs = {"mailbox": name + "-gone", "messageIndex": uid}

        def check(envelope):
            assert envelope["error"]["code"] == "NOT_FOUND", envelope

        action = "downloadMessage"
    else:
        inputs = {"path": name}

        def check(envelope):
            data = ok(envelope)
            assert data["path"] == name and data["created"] is False, data

        action = "createMailbox"
    return {"action": action, "user": user, "inputs": inputs}, check


def test_pooled_steps_never_cross_replies(connector, dovecot_server):
    """On Dovecot only. The same run on the suite's Cyrus 3.6 fails about one time in ten
    before any step: right after seeding (plain IMAPClient sessions, one per user, one
    after the other), one user's four mailboxes read back with the other user's messages,
    as if both users' CREATEs had been given the same storage. Seen with no connector code
    involved (``World`` checks the read-back now); two long-lived sessions creating
    same-named mailboxes side by side never showed it (120 tries)."""
    server, count = dovecot_server, STEPS
    world = World(server, uuid.uuid4().hex[:6])
    proxy = fake.SplittingProxy(server.starttls_port, seed=27)
    pool = TracingPool(per_account=3)
    rng = random.Random(27)
    steps = [plan(world, rng) for _ in range(count)]
    connections = {
        user: server.connection(user, secure=False, startTls="never", port=proxy.port)
        for user in USERS
    }
    problems: list[str] = []
    lock = threading.Lock()

    def run(step) -> None:
        request, check = step
        envelope = connector.invoke(
            {
                "action": request["action"],
                "connection": connections[request["user"]],
                "inputs": request["inputs"],
            },
            pool=pool,
        )
        try:
            check(envelope)
        except (AssertionError, KeyError, TypeError) as exc:
            with lock:
                problems.append(f"{request} on {pool.lent.get(threading.get_ident())}: {exc}")

    try:
        with ThreadPoolExecutor(THREADS) as workers:
            list(workers.map(run, steps))
        stats = pool.stats()
    finally:
        pool.close()
        proxy.close()
    if problems:
        port = int(problems[0].split(" port ")[1].split(":")[0])
        trace = bytes(proxy.wire.get(port, b""))[-3000:].decode("utf-8", "replace")
        pytest.fail(
            f"{len(problems)} of {count} steps:\n"
            + "\n".join(problems[:4])
            + f"\nOn the server now: {world.on_server()}\n"
            + trace
        )
    assert stats["hits"] > count // 2, stats  # sessions were reused, not reopened each step
    assert proxy.connections > 6, proxy.connections  # and new ones logged in along the way
    # The UNSELECT after a step that opened a mailbox rode with the next step's command.
    pipelined = sum(len(PIPELINED_UNSELECT.findall(chunk)) for chunk in proxy.from_client)
    assert pipelined > count // 4, pipelined
    for user in USERS:
        client = raw_client(server, user)
        for index in range(MAILBOXES):
            client.select_folder(world.names[(user, index)], readonly=True)
            for uid, flags in client.get_flags(list(world.subjects[(user, index)])).items():
                keywords = {f.decode() for f in flags if not f.startswith(b"\\")}
                assert keywords <= {world.keyword(user, index)}, (user, index, uid, keywords)
        client.unselect_folder()
        for index in range(MAILBOXES):
            client.delete_folder(world.names[(user, index)])
        client.logout()
