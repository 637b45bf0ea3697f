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

from connector.sdk.pool import SessionPool
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

    def keyword(self, user: str, index: int) -> str:
        return f"K{user}{index}"


def plan(world: World, rng: random.Random) -> tuple[dict, Callable[[dict], None]]:
    """One random step: its request, and the check of its envelope (a problem, or None)."""
    user = rng.choice(USERS)
    index = rng.randrange(MAILBOXES)
    name = world.names[(user, index)]
    subjects = world.subjects[(user, index)]
    uid = rng.choice(sorted(subjects))
    kind = rng.choices(
        ["status", "search", "download", "flag", "missing", "exists"], [4, 4, 4, 3, 1, 1]
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
    else:
        inputs = {"path": name}

        def check(envelope):
            data = ok(envelope)
            assert data["path"] == name and data["created"] is False, data

        action = "createMailbox"
    return {"action": action, "user": user, "inputs": inputs}, check


@pytest.mark.parametrize(("name", "count"), [("dovecot", STEPS), ("cyrus", STEPS // 10)])
def test_pooled_steps_never_cross_replies(connector, request, name, count):
    """10,000 steps on Dovecot, 1,000 on Cyrus (both offer UNSELECT, so both pipeline it)."""
    server = request.getfixturevalue(f"{name}_server")
    world = World(server, uuid.uuid4().hex[:6])
    proxy = fake.SplittingProxy(server.starttls_port, seed=27)
    pool = SessionPool(per_account=3)
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
                problems.append(f"{request}: {exc}")

    try:
        with ThreadPoolExecutor(THREADS) as workers:
            list(workers.map(run, steps))
        stats = pool.stats()
    finally:
        pool.close()
        proxy.close()
    assert not problems, f"{len(problems)} of {count} steps:\n" + "\n".join(problems[:20])
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


@pytest.fixture
def connector():
    from connector.imap import manifest_path
    from connector.sdk import Connector

    return Connector.load(manifest_path())
