"""What a server may send is bounded before anything is allocated (issue 36, part 1).

Each test points steps at a scripted server of its own on loopback (``tests/servers/fake``)
that sends what a hostile tenant's server sent: a fresh 1 MB greeting every time, a literal
of four billion bytes, ``ALL 1:4294967295``, 300,000 mailboxes. Each asserts the answer
(SERVER_ERROR naming the budget and the size, never the server's bytes), the session
discarded, and the memory bound.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from connector.imap.wire import budgets, transport
from connector.imap.wire.budgets import OverBudget
from connector.imap.wire.server_sets import ServerSet
from connector.sdk._pool import SessionPool
from tests.helpers import VirtualMemoryWatch, rss_kib
from tests.servers import fake

FIELDS = {"host": "127.0.0.1", "secure": False, "startTls": "never", "timeout": 5}
STATUS = b"* STATUS INBOX (MESSAGES 0 RECENT 0 UNSEEN 0 UIDNEXT 1 UIDVALIDITY 7)\r\n"


def step(connector, listener, action, pool=None, **inputs):
    """One step, as a host runs it (with ``pool``: pooled, as ``serve`` does)."""
    connection = {**FIELDS, "port": listener.port, "user": "u", "pass": "p"}
    request = {"action": action, "connection": connection, "inputs": inputs}
    return connector.invoke(request, pool=pool, timeout=30)


def over_budget(envelope, budget, said):
    """The contract: SERVER_ERROR, not retryable, naming the budget and the size."""
    assert not envelope["ok"], envelope
    error = envelope["error"]
    assert error["code"] == "SERVER_ERROR", error
    assert error["retryable"] is False
    assert f"{budget} budget" in error["message"]
    assert said in error["message"], error["message"]
    return error


def answers_status(conn, tag, command, line, listener):
    if command == b"STATUS":
        conn.sendall(STATUS + tag + b" OK done\r\n")
    else:
        conn.sendall(tag + b" BAD unknown\r\n")


# --- the greeting, and what the process remembers of servers ---------------------------------


def test_a_fresh_megabyte_greeting_is_refused_and_nothing_of_it_is_kept(connector):
    """Measured before: 150 steps with ~1 MB greetings, +179 MB never freed (the server
    cache kept each greeting)."""
    listener = fake.Listener(
        fake.scripted(fake.accept_login, answers_status, greeting=fake.fresh_bytes(900_000))
    )
    pool = SessionPool()
    try:
        envelope = step(connector, listener, "getStatus", pool=pool, mailbox="INBOX")
        error = over_budget(envelope, "greeting", "900,0")
        assert "CAPABILITY" not in error["message"]  # (the server's words are not repeated)
        assert pool.stats()["open"] == 0  # discarded
        before = rss_kib()
        tracemalloc.start()
        for _ in range(150):  # a new connection each: a new greeting each
            envelope = step(connector, listener, "getStatus", mailbox="INBOX")
            assert envelope["error"]["code"] == "SERVER_ERROR"
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] // 1024
        tracemalloc.stop()
        grown = rss_kib() - before
    finally:
        tracemalloc.stop()
        pool.close()
        listener.close()
    # Measured: Python objects held after the steps: +0.1 MB (+132 MB with the cache keyed
    # by greetings and no greeting budget); RSS: +0.7 MB alone, +43 MB after the other unit
    # tests (the C heap and thread stacks of the fake server's 150 threads, not objects).
    assert held < 5 * 1024, f"{held} KiB of objects held after 150 steps"
    assert grown < 66 * 1024, f"RSS grew {grown} KiB over 150 steps"


def test_the_server_cache_is_bounded_and_keyed_by_digests(connector, monkeypatch):
    monkeypatch.setattr(budgets, "MAX_KNOWN_SERVERS", 8)
    listener = fake.Listener(
        fake.scripted(fake.accept_login, answers_status, greeting=fake.fresh_bytes(12_000))
    )
    try:
        for _ in range(20):  # each greeting under the budget, each a server never seen
            envelope = step(connector, listener, "getStatus", mailbox="INBOX")
            assert envelope["ok"], envelope
    finally:
        listener.close()
    assert len(transport._KNOWN) <= 8
    ours = [key for key in transport._KNOWN if key[1] == listener.port]
    assert ours, "the server was not remembered at all"
    for _, _, identity in ours:
        assert isinstance(identity, bytes) and len(identity) == 32  # a digest, not 12 KB


def test_capabilities_too_long_to_be_real_are_not_remembered(monkeypatch):
    key = ("127.0.0.1", 1, b"x" * 32)
    huge = frozenset(f"X-CAPABILITY-{n:06d}" for n in range(2000))  # ~40 KB
    transport.learn_server(key, greeting=b"* OK ready", capabilities=huge)
    assert transport.known_server(key) == {"pipelines": True, "capabilities": None}
    transport.learn_server(key, capabilities=frozenset({"IMAP4REV1", "IDLE"}))
    assert transport.known_server(key)["capabilities"] == frozenset({"IMAP4REV1", "IDLE"})


# --- literals: checked before a byte is reserved ----------------------------------------------


@pytest.mark.parametrize(
    "action, inputs, where",
    [
        ("listMailboxes", {}, b"LIST"),
        ("getStatus", {"mailbox": "INBOX"}, b"STATUS"),
        ("searchMailbox", {"mailbox": "INBOX"}, b"EXAMINE"),  # an untagged FLAGS carries it
    ],
)
@pytest.mark.parametrize("size", [4_000_000_000, 99_999_999_999])
def test_a_huge_literal_is_refused_before_it_is_reserved(connector, action, inputs, where, size):
    """Measured before: ``{4000000000}`` in a LIST reply, +3.7 GB of virtual memory held while
    the server sent nothing more; ``{99999999999}``, INTERNAL_ERROR "Unexpected MemoryError"."""
    listener = fake.Listener(fake.scripted(fake.accept_login, fake.announces_literal(where, size)))
    pool = SessionPool()
    try:
        with VirtualMemoryWatch() as memory:
            envelope = step(connector, listener, action, pool=pool, **inputs)
    finally:
        pool.close()
        listener.close()
    over_budget(envelope, "literal", f"{size:,} bytes")
    assert pool.stats()["open"] == 0  # discarded, not back in the pool
    assert memory.grown < 256 * 1024, f"virtual memory grew {memory.grown} KiB"


# (a literal announced and never sent, read until the connection's Timeout: it waits for it,
# so it is in tests/timing/test_read_timeouts.py)


# --- lines and replies ------------------------------------------------------------------------


def test_a_line_over_the_budget_is_refused(connector):
    listener = fake.Listener(fake.scripted(fake.accept_login, fake.long_line(2_000_000)))
    try:
        envelope = step(connector, listener, "searchMailbox", mailbox="INBOX")
    finally:
        listener.close()
    over_budget(envelope, "line", f"more than {budgets.MAX_LINE:,} bytes")


def test_a_reply_over_the_size_budget_is_refused(connector, monkeypatch):
    monkeypatch.setattr(budgets, "MAX_REPLY", 100_000)
    listener = fake.Listener(fake.scripted(fake.accept_login, fake.many_mailboxes(5_000)))
    try:
        envelope = step(connector, listener, "listMailboxes")
    finally:
        listener.close()
    over_budget(envelope, "reply size", "bytes (at most 100,000)")


def test_three_hundred_thousand_mailboxes_stop_at_the_mailbox_budget(connector):
    """Measured before: a 37.5 MB LIST reply, +180 MB RSS."""
    listener = fake.Listener(fake.scripted(fake.accept_login, fake.many_mailboxes(300_000)))
    pool = SessionPool()
    try:
        gc.collect()
        before = rss_kib()
        envelope = step(connector, listener, "listMailboxes", pool=pool)
        gc.collect()
        grown = rss_kib() - before
    finally:
        pool.close()
        listener.close()
    over_budget(envelope, "mailbox count", f"more than {budgets.MAX_MAILBOXES:,} mailboxes")
    assert pool.stats()["open"] == 0
    assert grown < 40 * 1024, f"RSS grew {grown} KiB"


def test_a_few_thousand_mailboxes_are_listed(connector):
    listener = fake.Listener(fake.scripted(fake.accept_login, fake.many_mailboxes(3_000)))
    try:
        envelope = step(connector, listener, "listMailboxes")
    finally:
        listener.close()
    assert envelope["ok"], envelope
    assert len(envelope["data"]) == 3_000


# --- UID sets: counted, expanded only as far as the step needs --------------------------------

ALL = b"1:4294967295"


def test_a_search_of_four_billion_uids_answers_a_page_and_the_count(connector):
    """Measured before: ``* ESEARCH ... UID ALL 1:4294967295``, 500 "MemoryError"."""
    listener = fake.Listener(
        fake.scripted(fake.accept_login, fake.esearch_all(ALL), capabilities=b"IMAP4rev1 ESEARCH")
    )
    try:
        envelope = step(connector, listener, "searchMailbox", mailbox="INBOX", limit=10)
    finally:
        listener.close()
    assert envelope["ok"], envelope
    assert envelope["data"]["total"] == 4294967295
    fetches = [line for line in bytes(listener.received).split(b"\r\n") if b"UID FETCH" in line]
    assert fetches and all(b" 4294967286:4294967295 " in line for line in fetches), fetches


def test_acting_on_four_billion_uids_is_over_the_uid_budget(connector):
    listener = fake.Listener(
        fake.scripted(fake.accept_login, fake.esearch_all(ALL), capabilities=b"IMAP4rev1 ESEARCH")
    )
    try:
        envelope = step(
            connector, listener, "addFlags", mailbox="INBOX", range="1:*", flags=["\\Seen"]
        )
    finally:
        listener.close()
    over_budget(envelope, "UID set", "4,294,967,295 UIDs")
    assert b"STORE" not in bytes(listener.received)  # refused before anything was changed


@pytest.mark.parametrize("action", ["copyMessage", "moveMessage"])
def test_a_copyuid_naming_more_than_was_copied_is_not_expanded(connector, action):
    listener = fake.Listener(
        fake.scripted(
            fake.accept_login,
            fake.esearch_all(b"5", copyuid=ALL),
            capabilities=b"IMAP4rev1 ESEARCH UIDPLUS MOVE",
        )
    )
    try:
        envelope = step(connector, listener, action, mailbox="INBOX", range="5", path="Archive")
    finally:
        listener.close()
    over_budget(envelope, "UID set", "4,294,967,295 UIDs (at most 1)")


def test_search_numbers_over_the_uid_budget_are_counted_before_they_are_read(
    connector, monkeypatch
):
    monkeypatch.setattr(budgets, "MAX_UIDS", 1000)

    def search(conn, tag, command, line, listener):
        if fake.mailbox_opens(conn, tag, command, line, listener):
            return
        numbers = b" ".join(b"%d" % n for n in range(1, 5001))
        conn.sendall(b"* SEARCH " + numbers + b"\r\n" + tag + b" OK done\r\n")

    listener = fake.Listener(fake.scripted(fake.accept_login, search))
    try:
        envelope = step(connector, listener, "searchMailbox", mailbox="INBOX")
    finally:
        listener.close()
    over_budget(envelope, "UID set", "5,000 UIDs")


def test_fetch_responses_past_the_budget_stop_the_reading(connector, monkeypatch):
    monkeypatch.setattr(budgets, "MAX_RESPONSES", 50)
    flood = b"".join(b"* %d FETCH (UID %d FLAGS ())\r\n" % (n, n) for n in range(1, 201))

    def on_other(conn, tag, command, line, listener):
        if b"FETCH" in line.upper():
            conn.sendall(flood + tag + b" OK done\r\n")
        else:
            fake.esearch_all(b"1:10")(conn, tag, command, line, listener)

    listener = fake.Listener(
        fake.scripted(fake.accept_login, on_other, capabilities=b"IMAP4rev1 ESEARCH")
    )
    try:
        envelope = step(connector, listener, "searchMailbox", mailbox="INBOX")
    finally:
        listener.close()
    over_budget(envelope, "response count", "more than 50 responses")


# --- the pure parts ---------------------------------------------------------------------------


def test_a_server_set_is_counted_without_being_expanded():
    huge = ServerSet.parse(b"1:4294967295")
    assert len(huge) == 4294967295
    assert huge.last(3) == [4294967293, 4294967294, 4294967295]
    assert huge.first(2) == [1, 2]
    with pytest.raises(OverBudget) as raised:
        huge.expand()
    assert "4,294,967,295 UIDs" in str(raised.value)


def test_a_server_set_keeps_the_order_written():
    written = ServerSet.parse(b"4:6,9,12:10")
    assert len(written) == 7
    assert written.expand() == [4, 5, 6, 9, 12, 11, 10]
    assert written.first(5) == [4, 5, 6, 9, 12]
    assert written.last(4) == [9, 12, 11, 10]
    assert written.ascending().expand() == [4, 5, 6, 9, 10, 11, 12]
    assert ServerSet.parse(b"1:10,5:20,30").ascending().runs == [(1, 20), (30, 30)]
    assert ServerSet.of([7, 3, 4, 5, 9, 3]).runs == [(3, 5), (7, 7), (9, 9)]
    assert ServerSet.parse(b"5").expand(limit=1) == [5]
    with pytest.raises(OverBudget):
        ServerSet.parse(b"5:6").expand(limit=1)


@pytest.mark.parametrize("text", [b"", b"0", b"1:*", b"a", b"4294967296", b"1::2", b"1,"])
def test_a_server_set_that_is_not_imap_is_a_server_error(text):
    from connector.sdk.errors import ServerError

    with pytest.raises(ServerError) as raised:
        ServerSet.parse(text)
    assert "not valid IMAP" in str(raised.value)


def test_the_readme_and_the_docs_state_the_budgets_the_code_has():
    """One place for each default (budgets.py); the README's table and the docs say it."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    readme = (root / "README.md").read_text()
    table = readme[readme.index("## Sharing fairly") :]
    docs = (root / "docs" / "imap.md").read_text()
    said = {
        "256 MiB": budgets.MAX_LITERAL == 256 * 1024 * 1024,
        "1,000,000 bytes": budgets.MAX_LINE == 1_000_000,
        "16 KiB": budgets.MAX_GREETING == 16 * 1024,
        "20,000": budgets.MAX_MAILBOXES == 20_000,
    }
    assert all(said.values()), said
    for text in said:
        assert text in table and text in docs, text
    assert f"| {budgets.MAX_UIDS:,} |" in table and f"| {budgets.MAX_RESPONSES:,} |" in table
    assert f"| {budgets.MAX_KNOWN_SERVERS:,}," in table
