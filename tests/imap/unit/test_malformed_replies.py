"""Issue 41: whose fault is it? A reply that is not valid IMAP is the server's (SERVER_ERROR,
its bytes never echoed); a bug in our own reading of a reply is ours (INTERNAL_ERROR, logged
once with its traceback), never passed off as the server's.

Through a scripted server (``fake.fetches``) and the whole runtime: the envelope a caller
sees, and the log an operator reads.
"""

from __future__ import annotations

import json
import logging
import random

import pytest

from connector.imap.mail import envelope
from connector.imap.wire import fetch_response
from connector.sdk.testing import Harness
from tests import corpus
from tests.helpers import property_examples
from tests.servers import fake

FIELDS = {"host": "127.0.0.1", "secure": False, "startTls": "never", "timeout": 5}
SECRET = b"Zq7-server-words"  # in the replies: never in an error message
BODY = b"Subject: " + SECRET + b"\r\n\r\nhello\r\n"


def response(uid: int, *, body: bool = True, extra: bytes = b"") -> list[bytes]:
    """One FETCH response as the server writes it, in pieces: the text around a literal
    (BODY[]) and the literal itself (the pieces a mutation may touch are the text ones)."""
    head = (
        b"* %d FETCH (UID %d FLAGS (\\Seen $Work) RFC822.SIZE %d " % (uid, uid, len(BODY))
        + b'INTERNALDATE "01-May-2024 09:30:00 +0200" ENVELOPE ("Wed, 01 May 2024 09:29:41 '
        + b'+0200" "'
        + SECRET
        + b'" (("A" NIL "a" "x.com")) NIL NIL (("B" NIL "b" "y.org")) NIL NIL NIL "<m@x>")'
        + extra
    )
    if not body:
        return [head + b")\r\n"]
    return [head + b" BODY[] ", b"{%d}\r\n" % len(BODY) + BODY, b")\r\n"]


def harness_for(connector, listener) -> Harness:
    return Harness(connector, {**FIELDS, "port": listener.port, "user": "u", "pass": "p"})


def serve(reply, search: bytes = b"1 2 3"):
    return fake.Listener(fake.fetches(reply, search))


# --- malformed replies: SERVER_ERROR, in our words --------------------------------------------


@pytest.mark.parametrize(
    "bad, why",
    [
        (b"* 1 FETCH (UID 1x FLAGS ())\r\n", "UID is not a number"),
        (b"* 1 FETCH (UID (1) FLAGS ())\r\n", "UID is not a number"),
        (b"* 1 FETCH (UID " + b"9" * 5000 + b" FLAGS ())\r\n", "UID is not a number"),
        (b"* 1 FETCH (UID 1 FLAGS ((\\Seen)))\r\n", "FLAGS holds a list"),
        (b"* 1 FETCH (UID 1 FLAGS \\Seen)\r\n", "FLAGS is not a list"),
        (b"* 1 FETCH (UID 1 FLAGS ()))\r\n", "a list closed that was never opened"),
        (b'* 1 FETCH (UID 1 FLAGS () INTERNALDATE ("x"))\r\n', "INTERNALDATE is not a string"),
        (b"* 1 FETCH (UID 1 RFC822.SIZE NIL)\r\n", "RFC822.SIZE is not a number"),
        (b"* 1 FETCH (UID 1 FLAGS (" + SECRET + b")\r\n", "a list that is never closed"),
    ],
)
def test_a_reply_that_is_not_imap_is_a_server_error_in_our_words(connector, bad, why):
    with serve(lambda line: bad) as listener:
        error = harness_for(connector, listener).error(
            "searchMailbox", "SERVER_ERROR", mailbox="INBOX"
        )
    assert "not valid IMAP" in error["message"] and why in error["message"], error
    assert error["retryable"] is False
    assert SECRET.decode() not in error["message"] and "9999" not in error["message"]


def test_a_body_that_is_a_list_is_a_server_error_not_a_crash(connector):
    with serve(lambda line: b"* 1 FETCH (UID 2 RFC822.SIZE 3 BODY[] (a b))\r\n") as listener:
        error = harness_for(connector, listener).error(
            "downloadMessage", "SERVER_ERROR", mailbox="INBOX", messageIndex="2"
        )
    assert "BODY[...] is not a string" in error["message"], error


def test_a_flag_named_nil_is_a_flag(connector):
    """NIL in a FLAGS list is an atom there (a keyword named NIL), not a missing value."""
    line = b"* 1 FETCH (UID 1 FLAGS (NIL \\Seen) MODSEQ (5))\r\n"
    with serve(lambda _: line, search=b"1") as listener:
        data = harness_for(connector, listener).ok(
            "addFlags", mailbox="INBOX", range="1", flags=["\\Seen"]
        )
    assert data["messages"] == [{"uid": 1, "flags": ["NIL", "\\Seen"]}]


# --- a bug of ours: INTERNAL_ERROR, with its traceback in the log ------------------------------


def a_bug(*args, **kwargs):
    raise TypeError("a bug in our own code")


@pytest.mark.parametrize(
    "module, name, extra",
    [
        (fetch_response, "_envelope", b""),  # the fast reader, for a summary's usual items
        (fetch_response, "_values", b" MODSEQ (5)"),  # the general reader, item by item
        (envelope, "summary", b""),  # the work done on each response as it arrives
    ],
    ids=["fast-reader", "general-reader", "on-each-response"],
)
def test_a_bug_in_our_reading_is_an_internal_error_logged_with_its_traceback(
    connector, monkeypatch, caplog, module, name, extra
):
    monkeypatch.setattr(module, name, a_bug)
    reply = b"".join(b"".join(response(uid, body=False, extra=extra)) for uid in (1, 2, 3))
    with caplog.at_level(logging.ERROR), serve(lambda line: reply) as listener:
        error = harness_for(connector, listener).error(
            "searchMailbox", "INTERNAL_ERROR", mailbox="INBOX"
        )
    assert "TypeError" in error["message"] and "Traceback" not in error["message"]
    logged = [r.getMessage() for r in caplog.records if "Unexpected TypeError" in r.getMessage()]
    assert len(logged) == 1, caplog.text  # once
    assert "Traceback (most recent call last)" in logged[0] and "a_bug" in logged[0]


# --- any mangled reply: SERVER_ERROR or a valid result, never INTERNAL_ERROR -------------------


NOISE = b'()"\\[] NIL0123456789\x00'  # (no braces: a literal announced in noise stalls the line)


def mangled(rng: random.Random, pieces: list[bytes]) -> bytes:
    """``pieces`` with one of its text pieces cut, spliced with noise, or with a number
    made thousands of digits long; literals (``{n}\\r\\n...``) are left whole."""
    texts = [i for i, piece in enumerate(pieces) if not piece.startswith(b"{")]
    i = rng.choice(texts)
    text = pieces[i]
    cut = rng.randrange(len(text) - 2 + 1)  # (the CRLF stays)
    if rng.random() < 0.1:
        noise = b"9" * rng.choice([21, 5000])
    else:
        noise = bytes(rng.choice(NOISE) for _ in range(rng.randrange(4)))
    text = text[:cut] + noise + text[cut + rng.randrange(3) :]
    if not text.endswith(b"\r\n"):
        text = text.rstrip(b"\r\n") + b"\r\n"
    return b"".join([*pieces[:i], text, *pieces[i + 1 :]])


STEPS = [
    ("searchMailbox", {"mailbox": "INBOX"}, False),
    ("downloadMessage", {"mailbox": "INBOX", "messageIndex": "2"}, True),
    ("downloadMessage", {"mailbox": "INBOX", "messageIndex": "2", "format": "raw"}, True),
    ("addFlags", {"mailbox": "INBOX", "range": "1:3", "flags": ["\\Flagged"]}, False),
]


def test_mangled_replies_through_every_reader_are_never_an_internal_error(connector):
    rng = random.Random(41)
    seen: dict[str, int] = {}
    current: list[bytes] = []
    with serve(lambda line: current[0]) as listener:
        harness = harness_for(connector, listener)
        for _ in range(property_examples(800)):
            action, inputs, body = rng.choice(STEPS)
            pieces = [p for uid in (1, 2, 3) for p in response(uid, body=body)]
            current[:] = [mangled(rng, pieces)]
            result = harness.invoke(action, **inputs)
            corpus.strict_json(json.dumps(result, ensure_ascii=False))
            code = "ok" if result["ok"] else result["error"]["code"]
            seen[code] = seen.get(code, 0) + 1
            assert code in ("ok", "SERVER_ERROR", "NOT_FOUND"), (current[0], result)
            if code == "SERVER_ERROR":
                assert SECRET.decode() not in result["error"]["message"], result
    # Both kinds were met: replies still readable, and replies that are not IMAP.
    assert seen.get("ok", 0) > 10 and seen.get("SERVER_ERROR", 0) > 10, seen
