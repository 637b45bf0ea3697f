"""A step's deadline holds after login too (issue 36, part 3).

Measured before: a server dripping one byte a second after login kept a 3 s step going
until the service's 120 s cap answered for it, and its thread (with its session) busy for
minutes after that. Here a scripted server drips; the step has 3 s; the answer is TIMEOUT
at the deadline, the connection is cut (the server sees it go) and the session is never
lent again.
"""

from __future__ import annotations

import time

from connector.sdk._pool import SessionPool
from tests.servers import fake

FIELDS = {"host": "127.0.0.1", "secure": False, "startTls": "never"}
STEP_SECONDS = 3.0
# The deadline is the property; what it may overshoot by on a shared, noisy machine: the
# cut itself takes milliseconds, the thread's return a few more (measured: ~0.02 s).
MARGIN = 1.0
STATUS = b"* STATUS INBOX (MESSAGES 0 RECENT 0 UNSEEN 0 UIDNEXT 1 UIDVALIDITY 7)\r\n"


def _counts(stats: dict) -> dict:
    return {key: stats[key] for key in ("open", "idle", "hits", "misses")}


def answers_status(conn, tag, command, line, listener):
    if command == b"STATUS":
        conn.sendall(STATUS + tag + b" OK done\r\n")
    else:
        conn.sendall(tag + b" OK done\r\n")


def get_status(connector, listener, *, timeout=STEP_SECONDS, pool=None, read_timeout=10):
    """getStatus with a step ``timeout`` (the host's) and the connection's Timeout."""
    connection = {**FIELDS, "port": listener.port, "user": "u", "pass": "p"}
    connection["timeout"] = read_timeout
    request = {"action": "getStatus", "connection": connection, "inputs": {"mailbox": "INBOX"}}
    started = time.monotonic()
    envelope = connector.invoke(request, timeout=timeout, pool=pool)
    return envelope, time.monotonic() - started


def seen_cut(drip: fake.Drip) -> None:
    """Until the fake server's thread has seen its connection cut (it may run a little
    after the step returned, on a busy machine), MARGIN at most."""
    deadline = time.monotonic() + MARGIN
    while drip.cut == 0 and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_server_dripping_after_login_is_cut_at_the_step_deadline(connector):
    drip = fake.Drip(every=1.0)
    listener = fake.Listener(fake.scripted(fake.accept_login, drip.on_other))
    try:
        envelope, took = get_status(connector, listener)
        returned = time.monotonic()
        seen_cut(drip)
    finally:
        listener.close()
    assert drip.dripping.is_set()  # (it was logged in, reading the dripped reply)
    assert envelope["error"]["code"] == "TIMEOUT", envelope
    assert envelope["error"]["retryable"] is True
    assert f"within {STEP_SECONDS:g} s" in envelope["error"]["message"]
    # The thread came back at the deadline (invoke returns on it), not when the server stopped.
    assert STEP_SECONDS - 0.1 <= took < STEP_SECONDS + MARGIN, f"answered after {took:.2f} s"
    assert drip.cut == 1, "the server never saw its connection cut"
    assert drip.last_cut is not None and drip.last_cut - returned < MARGIN


def test_a_pooled_session_is_cut_at_its_own_steps_deadline_and_never_lent_again(connector):
    """The session logged in during an earlier step (whose deadline was long ago): the
    deadline that holds is the step's own."""
    drip = fake.Drip(every=1.0, answer=answers_status, answered=1)
    listener = fake.Listener(fake.scripted(fake.accept_login, drip.on_other))
    pool = SessionPool(check_after=60)
    try:
        first, _ = get_status(connector, listener, timeout=30, pool=pool)
        assert first["ok"], first
        assert _counts(pool.stats()) == {"open": 1, "idle": 1, "hits": 0, "misses": 1}
        reused, took = get_status(connector, listener, pool=pool)
        stats = pool.stats()
    finally:
        pool.close()
        listener.close()
    assert reused["error"]["code"] == "TIMEOUT", reused
    assert stats["hits"] == 1  # the pooled session, reused...
    assert stats["open"] == 0  # ...and discarded, not back in the pool
    assert STEP_SECONDS - 0.1 <= took < STEP_SECONDS + MARGIN, f"answered after {took:.2f} s"


def test_the_reuse_check_of_a_dripping_session_ends_within_the_connection_timeout(connector):
    """Before a session idle for a while is lent again it is checked with a NOOP: a server
    dripping that answer is cut after the connection's Timeout, and the step goes on with
    a new session, well within its own deadline."""
    drip = fake.Drip(every=0.5, answer=answers_status, answered=1)
    listener = fake.Listener(fake.scripted(fake.accept_login, drip.on_other))
    pool = SessionPool(check_after=0)  # every reuse is checked
    try:
        first, _ = get_status(connector, listener, timeout=60, pool=pool, read_timeout=2)
        assert first["ok"], first
        envelope, took = get_status(connector, listener, timeout=60, pool=pool, read_timeout=2)
        stats = pool.stats()
        seen_cut(drip)
    finally:
        pool.close()
        listener.close()
    assert envelope["ok"], envelope  # on a new session (its first command is answered)
    assert stats["misses"] == 2 and stats["hits"] == 0
    assert drip.cut == 1
    assert 2.0 <= took < 2.0 + MARGIN + 1.0, f"took {took:.2f} s"  # (+ a new login)


def test_a_step_that_ends_in_time_keeps_its_session(connector):
    listener = fake.Listener(fake.scripted(fake.accept_login, answers_status))
    pool = SessionPool()
    try:
        for _ in range(3):
            envelope, _ = get_status(connector, listener, timeout=STEP_SECONDS, pool=pool)
            assert envelope["ok"], envelope
        stats = pool.stats()
    finally:
        pool.close()
        listener.close()
    assert _counts(stats) == {"open": 1, "idle": 1, "hits": 2, "misses": 1}


# --- the connection's Timeout: each line of a reply, however the server trickles it ----------


def test_without_a_host_deadline_the_connections_timeout_bounds_each_line(connector):
    """The CLI and the Python API give no step deadline: a server dripping a line a byte at
    a time is cut after the connection's Timeout (each byte used to reset it)."""
    drip = fake.Drip(every=0.5)
    listener = fake.Listener(fake.scripted(fake.accept_login, drip.on_other))
    try:
        envelope, took = get_status(connector, listener, timeout=None, read_timeout=2)
        seen_cut(drip)
    finally:
        listener.close()
    assert envelope["error"]["code"] == "TIMEOUT", envelope
    assert "raise Timeout" in envelope["error"]["message"]
    assert 2.0 - 0.1 <= took < 2 * 2.0, f"answered after {took:.2f} s"  # (a drip: 30 s and on)
    assert drip.cut == 1


def test_a_literal_dripped_a_byte_at_a_time_is_cut_after_the_timeout(connector):
    drip = fake.Drip(every=0.5, start=b"* STATUS INBOX {100}\r\n")
    listener = fake.Listener(fake.scripted(fake.accept_login, drip.on_other))
    try:
        envelope, took = get_status(connector, listener, timeout=None, read_timeout=2)
    finally:
        listener.close()
    assert envelope["error"]["code"] == "TIMEOUT", envelope
    assert 2.0 - 0.1 <= took < 2 * 2.0, f"answered after {took:.2f} s"  # (a drip: 30 s and on)


def test_a_reply_whose_lines_each_come_in_time_may_take_longer_than_the_timeout(connector):
    """The Timeout bounds each line, not the whole reply: a long answer that keeps coming is
    read to its end."""

    def slow_lines(conn, tag, command, line, listener):
        for n in range(4):
            conn.sendall(b"* OK [ALERT] still working %d\r\n" % n)
            time.sleep(0.6)
        answers_status(conn, tag, command, line, listener)

    listener = fake.Listener(fake.scripted(fake.accept_login, slow_lines))
    try:
        envelope, took = get_status(connector, listener, timeout=None, read_timeout=1)
    finally:
        listener.close()
    assert envelope["ok"], envelope
    assert took >= 2.4  # (four lines 0.6 s apart: longer than the 1 s Timeout in all)


def test_an_idle_pooled_session_is_not_cut_for_waiting_longer_than_the_timeout(connector):
    listener = fake.Listener(fake.scripted(fake.accept_login, answers_status))
    pool = SessionPool(check_after=60)
    try:
        first, _ = get_status(connector, listener, timeout=None, pool=pool, read_timeout=1)
        time.sleep(2.5)  # idle in the pool: nothing is being read, nothing is cut
        second, _ = get_status(connector, listener, timeout=None, pool=pool, read_timeout=1)
        stats = pool.stats()
    finally:
        pool.close()
        listener.close()
    assert first["ok"] and second["ok"], (first, second)
    assert stats["hits"] == 1 and stats["misses"] == 1
