"""Real-world shaped mail (tests/messages/corpus): decoded as written down, valid JSON always.

Each message goes in through appendMessage and out through downloadMessage (API and CLI)
and searchMailbox, on every server; the same messages are also parsed without a server.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import corpus
from tests.helpers import cli

BROKEN_HEADERS = {"date-garbage", "rfc2822-a63-whitespace"}


def server_can_take(server, name: str) -> bool:
    # pymap drops the connection mid-ENVELOPE on these (a recorded gap, BROKEN-HEADERS);
    # NUL bytes need BINARY (RFC 3516): without it appendMessage refuses them (tested below).
    if name in BROKEN_HEADERS and "BROKEN-HEADERS" not in server.capabilities:
        return False
    return b"\0" not in corpus.raw(name) or "BINARY" in server.capabilities


@pytest.fixture(scope="module")
def corpus_box(connector, server):
    """Every corpus message appended (once per server) to a fresh mailbox:
    (mailbox, {name: uid})."""
    from connector.sdk.testing import Harness

    harness = Harness(connector, server.connection())
    name_of_box = server.path(f"corpus-{uuid.uuid4().hex[:8]}")
    harness.ok("createMailbox", path=name_of_box)
    uids = {}
    for name in corpus.NAMES:
        if not server_can_take(server, name):
            continue
        data = harness.ok(
            "appendMessage",
            path=name_of_box,
            content=corpus.as_input(name),
            contentEncoding="base64",
        )
        assert data["alreadyPresent"] is False, name
        assert data["mboxSeparatorRemoved"] == bool(corpus.EXPECTED[name].get("mbox")), name
        uids[name] = data["uid"]
    return name_of_box, uids


@pytest.fixture
def mailbox_of_corpus(corpus_box):
    return corpus_box[0]


@pytest.fixture
def stored(corpus_box):
    return corpus_box[1]


def test_every_message_downloads_as_expected(harness, connector, mailbox_of_corpus, stored):
    repaired_before = connector.repaired_texts
    problems = []
    for name, uid in stored.items():
        data = harness.ok("downloadMessage", mailbox=mailbox_of_corpus, messageIndex=uid)
        corpus.strict_json(json.dumps(data, ensure_ascii=False))
        problems += corpus.mismatches(name, data["message"])
    assert problems == []
    # The decoders gave valid text: the runtime's last guard never had to repair any.
    assert connector.repaired_texts == repaired_before


def test_every_message_through_the_cli_is_valid_utf8_json(
    server, mailbox_of_corpus, stored, tmp_path
):
    conn = tmp_path / "conn.json"
    conn.write_text(json.dumps(server.connection()))

    def download(item):
        name, uid = item
        run = cli(
            "invoke",
            "downloadMessage",
            "--connection",
            f"@{conn}",
            "--input",
            f"mailbox={mailbox_of_corpus}",
            "--input",
            f"messageIndex={uid}",
        )
        return name, run

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(download, stored.items()))
    problems = []
    for name, run in results:
        assert run.returncode == 0, (name, run.stdout[-500:], run.stderr[-500:])
        envelope = corpus.strict_json(run.stdout)
        problems += corpus.mismatches(name, envelope["data"]["message"])
    assert problems == []


def test_search_summaries_decode_the_servers_envelope(harness, server, mailbox_of_corpus, stored):
    data = harness.ok("searchMailbox", mailbox=mailbox_of_corpus, limit=1000)
    corpus.strict_json(json.dumps(data, ensure_ascii=False))
    by_uid = {m["uid"]: m["envelope"] for m in data["messages"]}
    assert set(by_uid) == set(stored.values())
    if "RAW-ENVELOPE" not in server.capabilities:
        return  # pymap decodes subjects itself (by its own charset rules): nothing of ours to check
    problems = []
    for name, uid in stored.items():
        expected = corpus.EXPECTED[name]
        if "subject" in expected and expected["subject"] is not None:
            # A server may keep a folded subject's line breaks: compare words.
            got = " ".join((by_uid[uid]["subject"] or "").split())
            if got != " ".join(expected["subject"].split()):
                problems.append((name, got, expected["subject"]))
    assert problems == []


def test_equal_message_ids_with_different_bodies_are_both_stored(harness, imap, mailbox):
    first = harness.ok(
        "appendMessage",
        path=mailbox,
        content=corpus.as_input("same-mid-a"),
        contentEncoding="base64",
    )
    second = harness.ok(
        "appendMessage",
        path=mailbox,
        content=corpus.as_input("same-mid-b"),
        contentEncoding="base64",
    )
    assert first["alreadyPresent"] is False and second["alreadyPresent"] is False
    assert first["uid"] != second["uid"]
    again = harness.ok(
        "appendMessage",
        path=mailbox,
        content=corpus.as_input("same-mid-b"),
        contentEncoding="base64",
    )  # a retry of the second step
    assert again["alreadyPresent"] is True and again["uid"] == second["uid"]
    imap.select_folder(mailbox, readonly=True)
    assert len(imap.search(["HEADER", "Message-ID", "<shared-1@corpus.test>"])) == 2


@pytest.mark.parametrize("name", ["nul-bytes", "bare-cr", "mbox-from-line"])
def test_retried_append_of_odd_bytes_stores_one_copy(harness, server, imap, mailbox, name):
    if not server_can_take(server, name):
        error = harness.error(
            "appendMessage",
            "INVALID_INPUT",
            path=mailbox,
            content=corpus.as_input(name),
            contentEncoding="base64",
        )
        assert "BINARY" in error["message"]
        imap.select_folder(mailbox, readonly=True)
        assert imap.search(["ALL"]) == []
        return
    first = harness.ok(
        "appendMessage", path=mailbox, content=corpus.as_input(name), contentEncoding="base64"
    )
    again = harness.ok(
        "appendMessage", path=mailbox, content=corpus.as_input(name), contentEncoding="base64"
    )
    assert again["alreadyPresent"] is True and again["uid"] == first["uid"]
    imap.select_folder(mailbox, readonly=True)
    assert imap.search(["ALL"]) == [first["uid"]]
    # Read back through the connector: IMAPClient cannot parse Cyrus's ~{n} (literal8) reply.
    raw = harness.ok("downloadMessage", mailbox=mailbox, messageIndex=first["uid"], format="raw")[
        "raw"
    ]
    stored = (
        base64.b64decode(raw["content"])
        if raw["encoding"] == "base64"
        else raw["content"].encode("utf-8")
    )
    assert not stored.startswith(b"From ") and b"\r\n" in stored
    assert b"\r" not in stored.replace(b"\r\n", b"")  # no bare CR left


# --- random bytes: never invalid JSON, never INTERNAL_ERROR -------------------------------


def test_random_bytes_through_the_server_never_internal_error(harness, connector, server, mailbox):
    rng = random.Random(7)
    seeds = [corpus.raw(name) for name in corpus.NAMES]
    repaired_before = connector.repaired_texts
    # pymap fails on broken headers (connection dropped, SERVERBUG): the server's failure,
    # typed as such. Servers with BROKEN-HEADERS must take every message.
    sturdy = "BROKEN-HEADERS" in server.capabilities

    def check(envelope, allowed=()):
        corpus.strict_json(json.dumps(envelope, ensure_ascii=False))
        if not envelope["ok"]:
            code = envelope["error"]["code"]
            assert code != "INTERNAL_ERROR", envelope["error"]
            assert code in allowed or not sturdy, envelope["error"]
        return envelope["ok"]

    for _ in range(40):
        raw = corpus.mutate(rng, rng.choice(seeds))
        envelope = harness.invoke(
            "appendMessage",
            path=mailbox,
            contentEncoding="base64",
            content=base64.b64encode(raw).decode(),
        )
        # A server may refuse a mangled message (Cyrus: "Message contains invalid header").
        if not check(envelope, allowed=("INVALID_INPUT", "SERVER_ERROR")):
            continue
        for fmt in ("parsed", "raw"):
            check(
                harness.invoke(
                    "downloadMessage",
                    mailbox=mailbox,
                    messageIndex=envelope["data"]["uid"],
                    format=fmt,
                )
            )
    check(harness.invoke("searchMailbox", mailbox=mailbox, limit=1000))
    assert connector.repaired_texts == repaired_before
