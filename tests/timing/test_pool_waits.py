"""The session pool's waits on the clock (connector.sdk._pool): a step at the account's cap
waits, times out, or gets the session released meanwhile; an idle session closes after its
idle seconds. With the sessions and keys of tests/sdk/test_pool.py and test_pool_budgets.py."""

from __future__ import annotations

import threading
import time

import pytest

from connector.sdk._pool import SessionPool
from connector.sdk.errors import Timeout
from tests.sdk.test_pool import Session, keys
from tests.sdk.test_pool_budgets import eventually, step


@pytest.fixture
def pool():
    made = SessionPool(per_account=2, idle_seconds=60, check_after=5)
    yield made
    made.close()


def test_the_account_cap_makes_steps_wait_then_time_out(pool):
    k = keys(pool)
    a, _ = pool.acquire(k, Session, wait=1)
    b, _ = pool.acquire(k, Session, wait=1)
    with pytest.raises(Timeout):
        pool.acquire(k, Session, wait=0.2)
    threading.Timer(0.1, pool.release, args=(a,), kwargs={"ok": True}).start()
    started = time.monotonic()
    c, hit = pool.acquire(k, Session, wait=2)
    assert hit and c.session is a.session and time.monotonic() - started >= 0.05
    pool.release(b, ok=True)
    pool.release(c, ok=True)


def test_idle_sessions_close_after_idle_seconds():
    pool = SessionPool(idle_seconds=0.2)
    try:
        session, _ = step(pool, keys(pool))
        assert eventually(lambda: session.closed == 1)
        assert pool.stats()["open"] == 0
    finally:
        pool.close()
