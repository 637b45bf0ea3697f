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
import re

import pytest

from connector.imap.mail import envelope
from connector.imap.wire import commands, fetch_response
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


SEARCH_STEP = ("searchMailbox", {"mailbox": "INBOX"})


@pytest.mark.parametrize(
    "step, kind, reply, why",
    [
        (SEARCH_STEP, b"EXAMINE", b"* 3 EXISTS\r\n* OK [UIDNEXT 4] ok\r\n", "no UIDVALIDITY"),
        (SEARCH_STEP, b"EXAMINE", b"* OK [UIDVALIDITY 7x] ok\r\n", "could not read it"),
        (SEARCH_STEP, b"SEARCH", b"* SEARCH 1 " + b"9" * 5000 + b"\r\n", "a UID is not a number"),
        (SEARCH_STEP, b"SEARCH", b"* SEARCH 1 9999999999999999999999\r\n", "not a number"),
        (
            ("getStatus", {"mailbox": "INBOX"}),
            b"STATUS",
            b'* STATUS "INBOX" (MESSAGES x UIDNEXT 4 UIDVALIDITY 7)\r\n',
            "an item without a number",
        ),
        (
            ("getStatus", {"mailbox": "INBOX"}),
            b"STATUS",
            b'* STATUS "INBOX" (MESSAGES 3 UIDVALIDITY 7)\r\n',
            "UIDNEXT missing",
        ),
        (
            ("getStatus", {"mailbox": "INBOX"}),
            b"STATUS",
            b'* STATUS "INBOX" (MESSAGES (3) UIDNEXT 4 UIDVALIDITY 7\r\n',
            "could not read it",
        ),
        (("listMailboxes", {}), b"LIST", b'* LIST 5 "/" INBOX\r\n', "not flags, a delimiter"),
        (("listMailboxes", {}), b"LIST", b'* LIST () "/"\r\n', "could not read it"),
    ],
    ids=[
        "select-no-uidvalidity",
        "select-uidvalidity-not-a-number",
        "search-5000-digits",
        "search-22-digits",
        "status-not-a-number",
        "status-missing-item",
        "status-unclosed",
        "list-flags-a-number",
        "list-short",
    ],
)
def test_replies_other_than_fetch_that_are_not_imap_are_server_errors(
    connector, step, kind, reply, why
):
    def answer(words, tag):
        asked = words[2] if words[1:2] == [b"UID"] else words[1]
        if asked == kind:
            return reply
        return {b"SEARCH": b"* SEARCH 1\r\n", b"LSUB": b""}.get(asked)

    action, inputs = step
    with fake.Listener(fake.answers(answer)) as listener:
        error = harness_for(connector, listener).error(action, "SERVER_ERROR", **inputs)
    assert "not valid IMAP" in error["message"] and why in error["message"], error
    assert "9999" not in error["message"] and error["retryable"] is False


# --- a bug of ours: INTERNAL_ERROR, with its traceback in the log ------------------------------


def a_bug(*args, **kwargs):
    raise TypeError("a bug in our own code")


@pytest.mark.parametrize(
    "module, name, extra, action",
    [
        # the FETCH reader's fast path, for a summary's usual items
        (fetch_response, "_envelope", b"", "searchMailbox"),
        (fetch_response, "_values", b" MODSEQ (5)", "searchMailbox"),  # item by item
        (envelope, "summary", b"", "searchMailbox"),  # the work on each response as it comes
        (commands, "_selected_from", b"", "searchMailbox"),  # SELECT's reply, checked
        (commands, "statuses", b"", "getStatus"),  # STATUS's reply, read
    ],
    ids=["fast-reader", "general-reader", "on-each-response", "select", "status"],
)
def test_a_bug_in_our_reading_is_an_internal_error_logged_with_its_traceback(
    connector, monkeypatch, caplog, module, name, extra, action
):
    monkeypatch.setattr(module, name, a_bug)
    reply = b"".join(b"".join(response(uid, body=False, extra=extra)) for uid in (1, 2, 3))
    with caplog.at_level(logging.ERROR), serve(lambda line: reply) as listener:
        error = harness_for(connector, listener).error(action, "INTERNAL_ERROR", mailbox="INBOX")
    assert "TypeError" in error["message"] and "Traceback" not in error["message"]
    logged = [r.getMessage() for r in caplog.records if "Unexpected TypeError" in r.getMessage()]
    assert len(logged) == 1, caplog.text  # once
    assert "Traceback (most recent call last)" in logged[0] and "a_bug" in logged[0]


# --- any mangled reply: SERVER_ERROR or a valid result, never INTERNAL_ERROR -------------------


NOISE = b'()"\\[] NIL0123456789\x00'  # (no braces: a literal announced in noise stalls the line)


def mangled(rng: random.Random, pieces: list[bytes]) -> bytes:
    """``pieces`` with one of its text pieces cut, spliced with noise, or with a number
    made thousands of digits long. Literals (``{n}\\r\\n...``) and the ``* `` of a response
    are left whole, and so is a line's CRLF: a literal announced otherwise, or a line that
    is no response at all, is another test (the wire's budgets, the reader's own)."""
    texts = [i for i, piece in enumerate(pieces) if not piece.startswith((b"{", b"* "))]
    i = rng.choice(texts)
    text = pieces[i]
    end = len(text) - 2 if text.endswith(b"\r\n") else len(text)
    cut = rng.randrange(end + 1)
    if rng.random() < 0.1:
        noise = b"9" * rng.choice([21, 5000])
    else:
        noise = bytes(rng.choice(NOISE) for _ in range(rng.randrange(4)))
    text = text[:cut] + noise + text[min(cut + rng.randrange(3), end) :]
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
            reply = b"".join(b"".join(response(uid, body=body)) for uid in (1, 2, 3))
            current[:] = [mangled(rng, split(reply))]
            result = harness.invoke(action, **inputs)
            corpus.strict_json(json.dumps(result, ensure_ascii=False))
            code = "ok" if result["ok"] else result["error"]["code"]
            seen[code] = seen.get(code, 0) + 1
            assert code in ("ok", "SERVER_ERROR", "NOT_FOUND"), (current[0], result)
            if code == "SERVER_ERROR":
                assert SECRET.decode() not in result["error"]["message"], result
    # Both kinds were met: replies still readable, and replies that are not IMAP.
    assert seen.get("ok", 0) > 10 and seen.get("SERVER_ERROR", 0) > 10, seen


# --- every reply a step reads, mangled: SELECT, STATUS, LIST, SEARCH, FETCH ---------------------

REPLIES = {
    b"SELECT": fake.SELECTED,
    b"EXAMINE": fake.SELECTED,
    b"STATUS": b'* STATUS "INBOX" (MESSAGES 3 RECENT 0 UNSEEN 1 UIDNEXT 4 UIDVALIDITY 7)\r\n',
    b"LIST": (
        b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
        b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"\r\n'
        b'* LIST (\\HasChildren) "/" {7}\r\nArchive\r\n'
    ),
    b"LSUB": b'* LSUB () "/" INBOX\r\n* LSUB () "/" "Sent"\r\n',
    b"SEARCH": b"* SEARCH 1 2 3\r\n",
}
EVERY_STEP = [  # (a step, and the replies it reads)
    ("getStatus", {"mailbox": "INBOX"}, [b"STATUS"]),
    ("listMailboxes", {}, [b"LIST", b"LSUB"]),
    ("searchMailbox", {"mailbox": "INBOX"}, [b"EXAMINE", b"SEARCH", b"FETCH"]),
    ("downloadMessage", {"mailbox": "INBOX", "messageIndex": "2"}, [b"EXAMINE", b"FETCH"]),
    (
        "downloadMessage",
        {"mailbox": "INBOX", "messageIndex": "3", "by": "index"},
        [b"EXAMINE", b"FETCH"],
    ),
    (
        "addFlags",
        {"mailbox": "INBOX", "range": "2:*", "flags": ["\\Flagged"]},
        [b"SELECT", b"SEARCH", b"STORE", b"FETCH"],
    ),
]


def split(reply: bytes) -> list[bytes]:
    """A reply in pieces for ``mangled``: each response's ``* ``, the text of its lines, and
    each literal with its ``{n}\\r\\n`` marker (pieces ``mangled`` leaves whole)."""
    pieces: list[bytes] = []
    rest = reply
    while rest:
        line, _, rest = rest.partition(b"\r\n")
        if line.startswith(b"* "):
            pieces.append(b"* ")
            line = line[2:]
        marker = re.search(rb"\{(\d+)\}$", line)
        if marker is None:
            pieces.append(line + b"\r\n")
            continue
        size = int(marker.group(1))
        pieces += [line[: marker.start()], line[marker.start() :] + b"\r\n" + rest[:size]]
        rest = rest[size:]
    return pieces


def test_every_reply_a_step_reads_mangled_is_never_an_internal_error(connector):
    """A reply of each kind cut, spliced with noise or given a number thousands of digits
    long: the step answers, or fails in a typed way; never INTERNAL_ERROR. (imaplib's own
    reader takes a line that is no IMAP response at all, "* 3 EX1STS", for a lost line:
    CONNECTION_FAILED, as it was; a new connection starts clean.)"""
    rng = random.Random(4141)
    target: list[bytes] = [b""]
    seen: dict[str, int] = {}

    def answer(words, tag):
        kind = words[2] if words[1:2] == [b"UID"] else words[1]
        if kind in (b"FETCH", b"STORE"):
            uids = (1, 2, 3)
            reply = b"".join(b"".join(response(uid, body=kind == b"FETCH")) for uid in uids)
        else:
            reply = REPLIES.get(kind)
            if reply is None:
                return None
        if kind != target[0]:
            return reply
        return mangled(rng, split(reply))

    with fake.Listener(fake.answers(answer)) as listener:
        harness = harness_for(connector, listener)
        for _ in range(property_examples(1200)):
            action, inputs, kinds = rng.choice(EVERY_STEP)
            target[0] = rng.choice(kinds)
            result = harness.invoke(action, **inputs)
            corpus.strict_json(json.dumps(result, ensure_ascii=False))
            code = "ok" if result["ok"] else result["error"]["code"]
            seen[code] = seen.get(code, 0) + 1
            assert code in ("ok", "SERVER_ERROR", "NOT_FOUND", "CONNECTION_FAILED"), result
            if code == "CONNECTION_FAILED":
                assert "unexpected response" in result["error"]["message"], result
            if not result["ok"]:
                assert SECRET.decode() not in result["error"]["message"], result
    assert seen.get("ok", 0) > 30 and seen.get("SERVER_ERROR", 0) > 30, seen
