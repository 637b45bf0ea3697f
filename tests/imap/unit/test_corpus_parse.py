"""Real-world shaped mail (tests/messages/corpus): decoded as written down, valid JSON always.

Each message goes in through appendMessage and out through downloadMessage (API and CLI)
and searchMailbox, on every server; the same messages are also parsed without a server.
"""

from __future__ import annotations

import json
import random
import uuid

import pytest

from connector.imap.actions.append_message import message_bytes
from connector.imap.mail import mime
from connector.sdk.jsonvalues import json_problem
from tests import corpus


def strict_json(text_or_bytes) -> dict:
    """Parse output as a platform would: UTF-8 JSON with no lone surrogate anywhere."""
    data = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else text_or_bytes
    value = json.loads(data.decode("utf-8"))
    assert json_problem(value) is None, json_problem(value)
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # strict: raises on a surrogate
    return value


@pytest.mark.parametrize("name", corpus.NAMES)
def test_parsed_without_a_server(name):
    data, removed = message_bytes(corpus.as_input(name), "base64")
    assert removed == bool(corpus.EXPECTED[name].get("mbox"))
    message = mime.to_json(mime.parse(data))
    strict_json(json.dumps(message, ensure_ascii=False))
    assert corpus.mismatches(name, message) == []


def test_corpus_is_large_enough():
    assert len(corpus.NAMES) >= 60


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


# --- random bytes: never invalid JSON, never INTERNAL_ERROR -------------------------------

NASTY = [
    b"\x00",
    b"\r",
    b"\n",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"=?",
    b"?=",
    b"=?utf-7?B?",
    b"=?unicode_escape?Q?\\ud800?=",
    b"=?utf-7?Q?+2AA-?=",
    b"\x1b$B",
    b";",
    b'"',
    b"(",
    b"<",
    b"@",
    b":",
    b"\\",
    b"%",
    b"*",
    b"=?iso-2022-jp?B?GyRC?=",
    b"\x80\x81\x8d",
]


def mutate(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(data) + 1)
        choice = rng.random()
        if choice < 0.4:
            data[at:at] = rng.choice(NASTY)
        elif choice < 0.8:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif data:
            del data[at : at + rng.randint(1, 8)]
    return bytes(data)


def test_random_bytes_anywhere_give_valid_text_without_a_server():
    rng = random.Random(20261125)
    seeds = [corpus.raw(name) for name in corpus.NAMES]
    for _ in range(3000):
        raw = mutate(rng, rng.choice(seeds))
        message = mime.to_json(mime.parse(raw.replace(b"\n", b"\r\n")))
        assert json_problem(message) is None, raw
