"""What a tenant may hold in the session pool: sessions per tenant and in all, failed logins
per (tenant, account); the pool's index; one deadline for an acquire."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from connector.sdk import _logins as logins_module
from connector.sdk import _pool as pool_module
from connector.sdk._logins import LoginThrottle
from connector.sdk._pool import SessionPool
from connector.sdk._session import Session as SessionProtocol
from connector.sdk.errors import AuthFailed, RateLimited, Timeout


class Session(SessionProtocol):
    def __init__(self, *, stale=None):
        self.closed = 0
        self._stale = stale

    def stale(self):
        return self._stale() if self._stale else False

    def close(self):
        self.closed += 1


def refused():
    raise AuthFailed("Login failed: check Username and Password.")


def keys(pool, user="ann", password="pw", tenant=None):
    return pool.keys("c", "conn", {"user": user, "pass": password}, {"pass"}, tenant)


def step(pool, k, opener=Session):
    """One successful step on a session of ``k``: the session, and whether it was reused."""
    lent, hit = pool.acquire(k, opener, wait=1)
    pool.release(lent, ok=True)
    return lent.session, hit


def eventually(condition, seconds=5.0):
    """Evicted sessions close on a thread of their own: wait for it (no timing asserted)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


@pytest.fixture
def made():
    pools = []

    def make(**options):
        pools.append(SessionPool(**options))
        return pools[-1]

    yield make
    for pool in pools:
        pool.close()


# -- keys --------------------------------------------------------------------------------------


def test_the_tenant_is_in_the_session_and_login_keys_not_the_account(made):
    pool = made()
    user, password = "ann-the-user", "pw-the-password"  # (a 2-byte text turns up in random
    # digests about once in 300 runs: these cannot)
    mine = keys(pool, user=user, password=password, tenant="acme-the-tenant")
    theirs = keys(pool, user=user, password=password, tenant="globex")
    assert mine.account == theirs.account  # one server user, whoever asks: one cap
    assert mine.session != theirs.session and mine.login != theirs.login
    for k in (mine, theirs):
        for digest in (k.session, k.account, k.login):
            for text in (user, password, "acme-the-tenant"):
                assert text.encode() not in digest and text.encode().hex().encode() not in digest


def test_the_same_fields_of_another_tenant_do_not_reuse_a_session(made):
    pool = made()
    first, _ = step(pool, keys(pool, tenant="acme"))
    again, hit = step(pool, keys(pool, tenant="globex"))
    assert not hit and again is not first


# -- sessions per tenant and in all -------------------------------------------------------------


def test_a_tenant_varying_user_names_keeps_at_most_its_cap_closing_its_oldest(made):
    pool = made(per_tenant=3)
    sessions = [step(pool, keys(pool, user=f"u{i}", tenant="acme"))[0] for i in range(10)]
    assert pool.stats()["open"] == 3 and pool.stats()["evicted"] == 7
    assert eventually(lambda: [s.closed for s in sessions] == [1] * 7 + [0] * 3)
    other, _ = step(pool, keys(pool, tenant="globex"))  # another tenant still gets one
    assert pool.stats()["open"] == 4 and other.closed == 0


def test_a_tenant_whose_sessions_are_all_busy_is_refused_at_its_cap(made):
    pool = made(per_tenant=2)
    held = [pool.acquire(keys(pool, user=u, tenant="acme"), Session, wait=1)[0] for u in "ab"]
    with pytest.raises(RateLimited, match="tenant's 2 pooled sessions") as full:
        pool.acquire(keys(pool, user="c", tenant="acme"), Session, wait=1)
    assert full.value.details == [{"retryAfterSeconds": 1}]
    step(pool, keys(pool, user="c", tenant="globex"))  # not another tenant
    for lent in held:
        pool.release(lent, ok=True)
    step(pool, keys(pool, user="c", tenant="acme"))  # an idle one makes room now


def test_the_global_cap_closes_an_idle_session_of_the_tenant_holding_the_most(made):
    pool = made(max_sessions=4)
    acme = [step(pool, keys(pool, user=f"a{i}", tenant="acme"))[0] for i in range(3)]
    globex, _ = step(pool, keys(pool, user="g0", tenant="globex"))
    newest, _ = step(pool, keys(pool, user="g1", tenant="globex"))  # over by one: acme pays
    assert pool.stats()["open"] == 4
    assert eventually(lambda: [s.closed for s in acme] == [1, 0, 0])
    assert globex.closed == 0 and newest.closed == 0


def test_the_global_cap_refuses_when_every_session_is_busy(made):
    pool = made(max_sessions=2)
    held = [pool.acquire(keys(pool, user=u, tenant=u), Session, wait=1)[0] for u in "ab"]
    with pytest.raises(RateLimited, match="All 2 pooled sessions"):
        pool.acquire(keys(pool, user="c", tenant="c"), Session, wait=1)
    for lent in held:
        pool.release(lent, ok=True)


def test_a_failed_login_over_a_cap_closes_nobodys_session(made):
    pool = made(per_tenant=1, max_sessions=2)
    mine, _ = step(pool, keys(pool, user="a", tenant="acme"))
    theirs, _ = step(pool, keys(pool, user="g", tenant="globex"))
    for tenant in ("acme", "globex", "initech"):
        with pytest.raises(AuthFailed):
            pool.acquire(keys(pool, user="x", tenant=tenant), refused, wait=1)
    assert pool.stats()["open"] == 2 and pool.stats()["evicted"] == 0
    assert mine.closed == theirs.closed == 0


def test_logins_in_flight_over_the_caps_close_nobodys_session_until_they_succeed(made):
    """Over the account's and the pool's cap while their logins go out with their first
    command: the victim, stepping meanwhile, keeps its session; the refused ones close no one."""
    pool = made(per_account=2, max_sessions=1)
    victim = keys(pool, tenant="victim")
    session, _ = step(pool, victim)
    wrong = keys(pool, password="guess", tenant="mallory")
    in_flight = [pool.acquire(wrong, Session, wait=1)[0] for _ in range(2)]
    for _ in range(3):
        again, hit = step(pool, victim)
        assert hit and again is session
    for lent in in_flight:
        pool.release(lent, ok=False, failure=AuthFailed("refused"))
    assert step(pool, victim) == (session, True) and session.closed == 0
    assert pool.stats()["evicted"] == 0


# -- failed logins --------------------------------------------------------------------------------


def test_failed_logins_throttle_that_tenant_and_account_only(made):
    pool = made(failed_logins=2, login_backoff=60)
    victim = keys(pool, tenant="victim")
    session, _ = step(pool, victim)  # the victim's idle, logged-in session
    wrong = keys(pool, password="guess", tenant="mallory")
    for _ in range(2):
        with pytest.raises(AuthFailed):
            pool.acquire(wrong, refused, wait=1)
    for attempt in (wrong, keys(pool, tenant="mallory")):  # even with the right password
        with pytest.raises(RateLimited, match="Too many failed logins") as limited:
            pool.acquire(attempt, Session, wait=1)
        (detail,) = limited.value.details
        assert 59 <= detail["retryAfterSeconds"] <= 60
        with pytest.raises(RateLimited):
            pool.check_login(attempt)  # what a host asks before queueing the step
    pool.check_login(victim)
    again, hit = step(pool, victim)
    assert hit and again is session  # straight to its session
    step(pool, keys(pool, user="bob", tenant="mallory"))  # another account of the offender


def test_a_login_refused_with_the_first_command_counts_and_a_success_clears(made):
    """A session that defers its login to the first command (IMAP pipelining) fails there."""
    pool = made(failed_logins=2)
    k = keys(pool, tenant="acme")

    def fail(failure):
        lent, _ = pool.acquire(k, Session, wait=1)
        pool.release(lent, ok=False, failure=failure)

    fail(AuthFailed("refused"))
    step(pool, k)  # a success: the count starts again
    fail(AuthFailed("a token expired"))  # on a reused session: not a login
    fail(AuthFailed("refused"))
    fail(RuntimeError("no such mailbox"))  # a new session's other failures: not a login
    fail(RuntimeError("no such mailbox"))
    pool.check_login(k)  # one failed login in a row so far
    fail(AuthFailed("refused"))
    with pytest.raises(RateLimited):
        pool.check_login(k)


def test_the_throttle_doubles_its_pause_to_a_ceiling_and_forgets(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(logins_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    throttle = LoginThrottle(3, 10, longest=35, forget_after=100, entries=5)

    def pause(key="k"):
        try:
            throttle.check(key)
        except RateLimited as exc:
            return exc.details[0]["retryAfterSeconds"]
        return 0

    for expected in (0, 0, 10, 10):  # (the 4th: a try in flight as the pause began)
        throttle.failed("k")
        assert pause() == expected
    for expected in (20, 35, 35):  # each failure after a pause doubles it, up to the ceiling
        now[0] += 40
        throttle.failed("k")
        assert pause() == expected
    now[0] += 200  # long after: forgotten
    throttle.failed("other")
    assert pause() == 0 and len(throttle) == 1
    for i in range(20):  # a bounded memory
        throttle.failed(f"user{i}")
    assert len(throttle) == 5
    throttle.succeeded("user19")
    assert len(throttle) == 4


# -- the index and the deadline -----------------------------------------------------------------


def test_finding_a_session_costs_the_same_among_200_or_20000(made):
    """The pool is indexed by key, account and tenant: a step looks at its key's few
    sessions, never at all of them (a ratio in one process, not a time)."""

    def cost(count: int) -> float:
        pool = made(per_tenant=count + 1, max_sessions=count + 1)
        for i in range(count):
            step(pool, keys(pool, user=f"u{i}", tenant=f"t{i % 50}"))
        k = keys(pool, user="u7", tenant="t7")
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(300):
                step(pool, k)
            best = min(best, time.perf_counter() - started)
        assert pool.stats()["open"] == count
        return best

    small, large = cost(200), cost(20_000)
    assert large < 3 * small, (small, large)  # a scan of every session: ~100x


def test_the_index_forgets_every_key_once_its_sessions_are_gone(made):
    pool = made(per_tenant=2, max_sessions=3)
    for i in range(30):
        k = keys(pool, user=f"u{i % 7}", tenant=f"t{i % 3}")
        lent, _ = pool.acquire(k, Session, wait=1)
        pool.release(lent, ok=i % 4 != 0)
    pool.close()
    assert pool.stats()["open"] == 0 and pool.stats()["idle"] == 0
    assert not (pool._by_key or pool._by_account or pool._by_tenant or pool._tenant_idle)
    assert not pool._proven_by_tenant and pool._proven == 0


def test_a_stale_session_is_replaced_within_the_same_deadline(made, monkeypatch):
    """The time spent finding a reused session dead counts: no second full wait."""
    pool = made(per_account=1)
    offset = [0.0]
    clock = SimpleNamespace(monotonic=lambda: time.monotonic() + offset[0], sleep=time.sleep)
    monkeypatch.setattr(pool_module, "time", clock)

    def dies_slowly():
        offset[0] += 10  # checking it took the step's whole wait, and more
        return True

    k, other = keys(pool), keys(pool, password="new")
    step(pool, k, lambda: Session(stale=dies_slowly))
    busy, _ = pool.acquire(other, Session, wait=1)  # the account's place, held
    started = time.perf_counter()
    with pytest.raises(Timeout):
        pool.acquire(k, Session, wait=2)
    assert time.perf_counter() - started < 1  # at once: not another 2 s wait
    pool.release(busy, ok=True)
