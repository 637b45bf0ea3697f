"""The message corpus (tests/messages/corpus) parsed without a server: decoded as written
down, valid JSON always (the same messages through every server: tests/imap/integration/
test_corpus.py)."""

from __future__ import annotations

import json
import random

import pytest

from connector.imap.actions.append_message import message_bytes
from connector.imap.mail import mime
from connector.sdk._jsonvalues import json_problem
from tests import corpus


@pytest.mark.parametrize("name", corpus.NAMES)
def test_parsed_without_a_server(name):
    data, removed = message_bytes(corpus.as_input(name), "base64")
    assert removed == bool(corpus.EXPECTED[name].get("mbox"))
    message = mime.to_json(mime.parse(data))
    corpus.strict_json(json.dumps(message, ensure_ascii=False))
    assert corpus.mismatches(name, message) == []


def test_corpus_is_large_enough():
    assert len(corpus.NAMES) >= 60


def test_random_bytes_anywhere_give_valid_text_without_a_server():
    rng = random.Random(20261125)
    seeds = [corpus.raw(name) for name in corpus.NAMES]
    for _ in range(3000):
        raw = corpus.mutate(rng, rng.choice(seeds))
        message = mime.to_json(mime.parse(raw.replace(b"\n", b"\r\n")))
        assert json_problem(message) is None, raw
