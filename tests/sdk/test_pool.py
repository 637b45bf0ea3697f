"""The session pool's rules, with sessions that record what happens to them."""

from __future__ import annotations

import pytest

from connector.sdk._pool import SessionPool
from connector.sdk._session import Session as SessionProtocol


class Session(SessionProtocol):
    made = 0

    def __init__(self, *, stale=False, fail_reset=False):
        Session.made += 1
        self.closed = self.resets = self.checks = 0
        self._stale, self.fail_reset = stale, fail_reset

    def reset(self):
        self.resets += 1
        if self.fail_reset:
            raise OSError("gone")

    def stale(self):
        return self._stale

    def check(self):
        self.checks += 1

    def close(self):
        self.closed += 1


@pytest.fixture
def pool():
    made = SessionPool(per_account=2, idle_seconds=60, check_after=5)
    yield made
    made.close()


def keys(pool, password="pw", user="ann", tenant=None):
    return pool.keys("c", "conn", {"user": user, "pass": password}, {"pass"}, tenant)


def test_same_fields_reuse_one_session_and_the_key_hides_the_fields(pool):
    k = keys(pool)
    assert all(b"pw" not in h and b"ann" not in h for h in (k.session, k.account, k.login))
    assert len(k.session) == 32
    first, hit = pool.acquire(k, Session, wait=1)
    assert not hit
    pool.release(first, ok=True)
    again, hit = pool.acquire(k, Session, wait=1)
    assert hit and again.session is first.session and first.session.resets == 1
    pool.release(again, ok=True)
    assert pool.stats() == {"open": 1, "idle": 1, "hits": 1, "misses": 1, "evicted": 0}


def test_an_error_discards_the_session(pool):
    k = keys(pool)
    lent, _ = pool.acquire(k, Session, wait=1)
    pool.release(lent, ok=False)
    assert lent.session.closed == 1 and pool.stats()["open"] == 0


def test_a_session_that_cannot_reset_is_closed(pool):
    k = keys(pool)
    lent, _ = pool.acquire(k, lambda: Session(fail_reset=True), wait=1)
    pool.release(lent, ok=True)
    assert lent.session.closed == 1 and pool.stats()["open"] == 0


def test_a_stale_session_is_replaced_without_the_step_seeing_it(pool):
    k = keys(pool)
    lent, _ = pool.acquire(k, lambda: Session(stale=True), wait=1)
    pool.release(lent, ok=True)
    fresh, hit = pool.acquire(k, Session, wait=1)
    assert not hit and fresh.session is not lent.session and lent.session.closed == 1


def test_an_idle_session_is_checked_before_reuse(pool):
    k = keys(pool)
    lent, _ = pool.acquire(k, Session, wait=1)
    pool.release(lent, ok=True)
    lent.last_used -= 10  # idle past check_after
    again, hit = pool.acquire(k, Session, wait=1)
    assert hit and again.session.checks == 1


def test_another_password_is_the_same_account_and_takes_an_idle_place(pool):
    k = keys(pool)
    other = keys(pool, password="new")
    assert other.account == k.account and other.session != k.session
    a, _ = pool.acquire(k, Session, wait=1)
    b, _ = pool.acquire(k, Session, wait=1)
    pool.release(a, ok=True)
    pool.release(b, ok=True)
    c, hit = pool.acquire(other, Session, wait=1)  # over the cap by one while it logs in
    assert not hit and pool.stats()["open"] == 3 and a.session.closed == b.session.closed == 0
    pool.release(c, ok=True)  # its first step succeeded: the oldest idle one makes room
    assert pool.stats()["open"] == 2 and pool.stats()["evicted"] == 1


def test_a_failed_login_evicts_no_idle_session_of_the_account(pool):
    """A wrong password at the account's cap must not log out the real user's sessions: the
    idle one makes room only once the new credentials logged in."""
    k = keys(pool)
    wrong = keys(pool, password="wrong")
    a, _ = pool.acquire(k, Session, wait=1)
    b, _ = pool.acquire(k, Session, wait=1)
    pool.release(a, ok=True)
    pool.release(b, ok=True)

    def refused():
        raise PermissionError("login refused")

    for _ in range(3):
        with pytest.raises(PermissionError):
            pool.acquire(wrong, refused, wait=1)
    assert a.session.closed == 0 and b.session.closed == 0
    assert pool.stats()["open"] == 2 and pool.stats()["idle"] == 2
    again, hit = pool.acquire(k, Session, wait=1)  # the user's session is still there
    assert hit
    pool.release(again, ok=True)


def test_close_logs_out_idle_sessions(pool):
    k = keys(pool)
    lent, _ = pool.acquire(k, Session, wait=1)
    pool.release(lent, ok=True)
    pool.close()
    assert lent.session.closed == 1
