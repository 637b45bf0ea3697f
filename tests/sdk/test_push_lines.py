"""``PushLines``: a push's sessions kept from one wait to the next, with sessions that
record what happens to them."""

from __future__ import annotations

import time

from connector.sdk.push import PushLines, PushSessions


class Session:
    def __init__(self, *, stale: bool = False, fails_check: bool = False):
        self.closed = self.checks = 0
        self.is_stale, self.fails_check = stale, fails_check

    def stale(self) -> bool:
        return self.is_stale

    def check(self) -> None:
        self.checks += 1
        if self.fails_check:
            raise OSError("gone")

    def close(self) -> None:
        self.closed += 1


def test_what_a_wait_gives_back_the_next_wait_of_that_connection_takes():
    lines = PushLines()
    key, other = lines.key("imap", {"host": "a", "pass": "x"}), lines.key("imap", {"host": "b"})
    first, second = Session(), Session()
    lines.give(key, [first, second])
    assert lines.take(other) == []  # another connection's lines are never handed out
    assert lines.take(key) == [first, second]
    assert lines.take(key) == []  # one wait at a time holds them
    assert first.closed == second.closed == 0


def test_keys_are_keyed_hashes_never_the_fields():
    lines, again = PushLines(), PushLines()
    key = lines.key("imap", {"user": "bob", "pass": "secret-pass"})
    assert b"secret-pass" not in key and b"bob" not in key
    assert key == lines.key("imap", {"pass": "secret-pass", "user": "bob"})
    assert key != again.key("imap", {"user": "bob", "pass": "secret-pass"})  # (a key per process)


def test_a_line_its_server_dropped_is_closed_not_handed_out():
    lines = PushLines()
    key = lines.key("c")
    dropped, alive = Session(), Session()
    lines.give(key, [alive, dropped])
    dropped.is_stale = True
    assert lines.take(key) == [alive]
    assert dropped.closed == 1


def test_a_cut_line_is_closed_when_given_back():
    lines = PushLines()
    key = lines.key("c")
    cut = Session(stale=True)
    lines.give(key, [cut])
    assert cut.closed == 1 and lines.take(key) == []


def test_a_line_kept_a_while_is_checked_with_a_round_trip_first():
    lines = PushLines(check_after=0.05)
    key = lines.key("c")
    fresh = Session()
    lines.give(key, [fresh])
    assert lines.take(key) == [fresh] and fresh.checks == 0  # (just kept: no round trip)
    dead = Session(fails_check=True)
    lines.give(key, [fresh, dead])
    time.sleep(0.1)
    assert lines.take(key) == [fresh]
    assert fresh.checks == 1 and dead.closed == 1


def test_a_second_wait_of_the_same_connection_gives_back_its_own_to_be_closed():
    lines = PushLines()
    key = lines.key("c")
    kept, extra = Session(), Session()
    lines.give(key, [kept])
    lines.give(key, [extra])
    assert extra.closed == 1 and kept.closed == 0
    assert lines.take(key) == [kept]


def test_lines_kept_too_long_are_closed_by_the_reaper():
    lines = PushLines(idle_seconds=0.1)
    key = lines.key("c")
    idle = Session()
    lines.give(key, [idle])
    deadline = time.monotonic() + 5
    while not idle.closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert idle.closed == 1 and lines.take(key) == []


def test_close_closes_every_kept_line_and_whatever_comes_back_after():
    lines = PushLines()
    kept, late = Session(), Session()
    lines.give(lines.key("a"), [kept])
    lines.close()
    assert kept.closed == 1
    lines.give(lines.key("a"), [late])
    assert late.closed == 1 and lines.take(lines.key("a")) == []


def test_a_push_opens_new_sessions_only_past_the_kept_ones():
    opened: list[Session] = []

    def opener() -> Session:
        opened.append(Session())
        return opened[-1]

    first, spare = Session(), Session()
    sessions = PushSessions(first, opener, spare=[spare])
    assert sessions.open() is spare and opened == []
    third = sessions.open()
    assert opened == [third] and sessions.all == [first, spare, third]
    assert sessions.release() == [first, spare, third] and sessions.all == []
