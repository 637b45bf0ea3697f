"""Logged-in sessions kept between steps, for a long-running host (``connector serve``).

A step whose connection fields (and tenant) equal an earlier step's reuses that step's
session instead of connecting and logging in again. Sessions are ``connector.sdk._session.
Session``s; what the pool asks of one:

- ``reset()``: after a step, return to a neutral state without losing anything (IMAP:
  UNSELECT where offered; never CLOSE, which would expunge). An error discards the session.
- ``stale()``: before every reuse, without a round trip when nothing is amiss: True when
  the session must not be reused (IMAP: the server closed the socket or said BYE).
- ``check()``: before reusing a session idle for more than ``check_after`` seconds, a cheap
  round trip that fails on a dead connection (IMAP: NOOP).
- ``close()``: log out.

Keys are keyed hashes (HMAC-SHA256, a key drawn per process) of the fields, never the
fields themselves (``Keys``). Three budgets bound what the pool holds:

- An *account* is the connection's non-secret fields: the server's user, whoever asks. It
  has at most ``per_account`` sessions, under what servers allow one user (Gmail 15,
  Dovecot 10), shared by every tenant using it. A login that fails gives its place back at
  once and makes no room (it closes nobody's idle session); with ``failed_logins``, a
  tenant's logins to an account are refused for a while after that many failures in a row
  (connector.sdk._logins), so a wrong password cannot keep the account's places busy.
- A *tenant* holds at most ``per_tenant`` sessions, and the pool ``max_sessions`` in all.
  A new session over either is let in while it logs in (a step is running it, so the excess
  is bounded by the running steps) and, once its first step succeeded, idle sessions close
  to make room: the tenant's least recently used, or for the global cap the least recently
  used of the tenant holding the most. When no session could make room the step is refused
  at once (RATE_LIMITED).

One step at a time per session; any error discards the session; idle ones close after
``idle_seconds``. Sessions are indexed by key, account and tenant, with the idle ones in
the order they were last used, so no step scans every session.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from ._logins import LoginThrottle
from ._session import Session, close_quietly, reusable
from .errors import AuthFailed, RateLimited, Timeout

# How long a step refused for a full tenant or pool is asked to wait: a running step ends.
FULL_RETRY_AFTER = 1
# The defaults of every host (serve, the Temporal worker, the docs), written here only.
PER_ACCOUNT = 3  # logged-in sessions kept per account (Dovecot allows 10 per user and IP)
IDLE_SECONDS = 60.0  # an idle session is logged out after this
LOGIN_BACKOFF = 60.0  # the pause after a tenant's failed logins (doubled by each further one)


@dataclass(frozen=True)
class Keys:
    """What the pool knows a step's connection by."""

    session: bytes  # the tenant and every field: a session is reused on an exact match only
    account: bytes  # the non-secret fields, whatever the tenant: the server's user
    login: bytes  # the tenant and the account: whose failed logins are counted
    tenant: Hashable | None  # the host's name for who asks (not a secret), or None


class Pooled:
    """A session in the pool, and what the pool knows of it."""

    def __init__(self, session: Session | None, keys: Keys, limit: int, *, replacing: bool = False):
        self.session, self.keys, self.limit = session, keys, limit
        self.busy = True
        self.last_used = time.monotonic()
        # Over the account's cap by one while it logs in: it replaces an idle session of
        # other fields only once its first step succeeded (a wrong password evicts nobody).
        self.replacing = replacing
        self.proven = False  # a step succeeded on it: its login was accepted

    @property
    def key(self) -> bytes:
        return self.keys.session

    @property
    def account(self) -> bytes:
        return self.keys.account


class SessionPool:
    def __init__(
        self,
        *,
        per_account: int = PER_ACCOUNT,
        idle_seconds: float = IDLE_SECONDS,
        check_after: float = 5.0,
        per_tenant: int | None = None,
        max_sessions: int | None = None,
        failed_logins: int | None = None,
        login_backoff: float = LOGIN_BACKOFF,
        on_change: Callable[[], None] | None = None,
    ):
        """``per_tenant`` and ``max_sessions`` None: no such cap; ``failed_logins`` None:
        no throttle (a host that serves one party, like a Temporal worker)."""
        self.per_account, self.idle_seconds, self.check_after = (
            per_account,
            idle_seconds,
            check_after,
        )
        self.per_tenant, self.max_sessions = per_tenant, max_sessions
        self.logins = (
            LoginThrottle(failed_logins, login_backoff) if failed_logins is not None else None
        )
        self._secret = os.urandom(32)
        self._lock = threading.Condition()
        self._by_key: dict[bytes, list[Pooled]] = {}
        self._by_account: dict[bytes, list[Pooled]] = {}
        self._by_tenant: dict[Hashable | None, int] = {}  # sessions (logging in too)
        self._idle: OrderedDict[Pooled, None] = OrderedDict()  # least recently used first
        self._tenant_idle: dict[Hashable | None, OrderedDict[Pooled, None]] = {}
        self._count = 0
        # Logged-in sessions (a step succeeded on them): what the caps keep in bounds.
        self._proven_by_tenant: dict[Hashable | None, int] = {}
        self._proven = 0
        self.hits = self.misses = self.evicted = 0
        self._closed = False
        self._on_change = on_change or (lambda: None)
        self._reaper = threading.Thread(target=self._reap, name="session-pool-reaper", daemon=True)
        self._reaper.start()

    # -- keys

    def keys(
        self,
        connector: str,
        connection: str,
        fields: dict,
        secret: set[str],
        tenant: Hashable | None = None,
    ) -> Keys:
        """Keyed hashes of the fields: all of them and the tenant (the session), the
        non-secret ones (the account), and those with the tenant (its failed logins)."""

        def digest(*parts: object) -> bytes:
            text = json.dumps(list(parts), sort_keys=True, default=str)
            data = text.encode("utf-8", "surrogatepass")
            return hmac.new(self._secret, data, hashlib.sha256).digest()

        public = {k: v for k, v in fields.items() if k not in secret}
        return Keys(
            session=digest("session", tenant, connector, connection, fields),
            account=digest("account", connector, connection, public),
            login=digest("login", tenant, connector, connection, public),
            tenant=tenant,
        )

    def check_login(self, keys: Keys) -> None:
        """RATE_LIMITED when a step of ``keys`` would need a new login and its tenant's
        logins to the account are refused for now (a host asks before queueing the step)."""
        if self.logins is None:
            return
        with self._lock:
            if self._idle_of(keys.session) is not None:
                return
        self.logins.check(keys.login)

    # -- lending

    def acquire(
        self,
        keys: Keys,
        open_session: Callable[[], Session],
        wait: float | None,
        cap: int | None = None,
    ) -> tuple[Pooled, bool]:
        """A session for ``keys``: an idle pooled one (hit), else a new one (miss) when the
        account is under its cap (``cap``, the connection's, within ``per_account``), else
        wait for one to free up. ``wait`` is one deadline for all of it: a reused session
        found dead is replaced within the same wait."""
        limit = min(cap, self.per_account) if cap is not None else self.per_account
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            pooled = self._take(keys, limit, deadline)
            self._on_change()
            session = pooled.session
            if session is None:
                return self._open(pooled, open_session), False
            checked = time.monotonic() - pooled.last_used > self.check_after
            if reusable(session, checked):
                return pooled, True
            self.discard(pooled)  # a new one the step never sees, within the same deadline
            with self._lock:
                self.hits -= 1

    def _take(self, keys: Keys, limit: int, deadline: float | None) -> Pooled:
        """An idle session of ``keys`` made busy, or a place held for a new one."""
        with self._lock:
            while True:
                if self._closed:
                    raise RuntimeError("the session pool is closed")
                pooled = self._idle_of(keys.session)
                if pooled is not None:
                    self._set_busy(pooled)
                    self.hits += 1
                    return pooled
                if self.logins is not None:
                    self.logins.check(keys.login)
                replacing = self._account_room(keys.account, limit)
                if replacing is not None:
                    self._check_room(keys.tenant)
                    pooled = Pooled(None, keys, limit, replacing=replacing)
                    self._add(pooled)
                    self.misses += 1
                    return pooled
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise Timeout(
                        f"All {limit} sessions of this account stayed busy: try "
                        "again, or raise the service's sessions per account."
                    )
                self._lock.wait(left)

    def _account_room(self, account: bytes, limit: int) -> bool | None:
        """Room for a new session of ``account`` (lock held): False under its cap, True
        over it by one, replacing an idle session of other fields once logged in; None
        when the step must wait."""
        mine = self._by_account.get(account, [])
        if len(mine) < limit:
            return False
        if any(not p.busy for p in mine) and not any(p.replacing for p in mine):
            return True
        return None

    def _check_room(self, tenant: Hashable | None) -> None:
        """RATE_LIMITED when the tenant, or the pool, is at its cap and no idle session
        could make room (lock held)."""
        if (
            self.per_tenant is not None
            and self._by_tenant.get(tenant, 0) >= self.per_tenant
            and tenant not in self._tenant_idle
        ):
            raise RateLimited(
                f"This tenant's {self.per_tenant} pooled sessions are all in use: try again "
                "shortly, or raise the service's sessions per tenant.",
                retry_after=FULL_RETRY_AFTER,
            )
        if self.max_sessions is not None and self._count >= self.max_sessions and not self._idle:
            raise RateLimited(
                f"All {self.max_sessions} pooled sessions of the service are in use: try "
                "again shortly.",
                retry_after=FULL_RETRY_AFTER,
            )

    def _open(self, pooled: Pooled, open_session: Callable[[], Session]) -> Pooled:
        try:
            pooled.session = open_session()
        except BaseException as exc:
            if isinstance(exc, AuthFailed) and self.logins is not None:
                self.logins.failed(pooled.keys.login)
            self._forget(pooled)
            raise
        return pooled

    def release(self, pooled: Pooled, *, ok: bool, failure: BaseException | None = None) -> None:
        """Back to the pool after a step (reset first), or closed when the step failed
        (``failure``: what it raised; a refused login on a new session counts as a failed
        login, its first success clears the count)."""
        if not pooled.proven and self.logins is not None:
            if ok:
                self.logins.succeeded(pooled.keys.login)
            elif isinstance(failure, AuthFailed):
                self.logins.failed(pooled.keys.login)
        if ok and pooled.session is not None:
            try:
                pooled.session.reset()
            except Exception:  # noqa: BLE001 - a session that cannot be reset is not reused
                ok = False
        if not ok or self._closed:
            self.discard(pooled)
            return
        with self._lock:
            if not pooled.proven:
                self._prove(pooled)
            self._set_idle(pooled)
            closing = self._make_room(pooled)
            self._lock.notify_all()
        for old in closing:
            threading.Thread(target=close_quietly, args=(old.session,), daemon=True).start()
        self._on_change()

    def discard(self, pooled: Pooled) -> None:
        self._forget(pooled)
        close_quietly(pooled.session)

    def _forget(self, pooled: Pooled) -> None:
        with self._lock:
            self._remove(pooled)
            self._lock.notify_all()
        self._on_change()

    def _make_room(self, pooled: Pooled) -> list[Pooled]:
        """Idle sessions to close now that ``pooled`` is back (lock held): while its account,
        its tenant or the pool holds more logged-in sessions than its cap, the least
        recently used idle one there (``pooled`` itself last: it was just used). Sessions
        still logging in are not counted: a login that fails must close nobody's session."""
        closing: list[Pooled] = []
        account = self._by_account.get(pooled.account, [])
        while sum(p.proven for p in account) > pooled.limit:
            spare = [p for p in account if not p.busy]
            if not spare:
                break
            closing.append(self._evict(min(spare, key=lambda p: p.last_used)))
        tenant = pooled.keys.tenant
        while (
            self.per_tenant is not None
            and self._proven_by_tenant.get(tenant, 0) > self.per_tenant
            and tenant in self._tenant_idle
        ):
            closing.append(self._evict(next(iter(self._tenant_idle[tenant]))))
        while self.max_sessions is not None and self._proven > self.max_sessions and self._idle:
            biggest = max(self._tenant_idle, key=lambda t: self._proven_by_tenant.get(t, 0))
            closing.append(self._evict(next(iter(self._tenant_idle[biggest]))))
        return closing

    def _evict(self, pooled: Pooled) -> Pooled:
        """An idle session out of the pool to make room (lock held); the caller closes it
        outside the lock."""
        self._remove(pooled)
        self.evicted += 1
        return pooled

    # -- the index (lock held)

    def _idle_of(self, key: bytes) -> Pooled | None:
        """The most recently used idle session of ``key`` (a key has a few sessions at most)."""
        idle = [p for p in self._by_key.get(key, ()) if not p.busy]
        return max(idle, key=lambda p: p.last_used) if idle else None

    def _add(self, pooled: Pooled) -> None:
        self._by_key.setdefault(pooled.key, []).append(pooled)
        self._by_account.setdefault(pooled.account, []).append(pooled)
        tenant = pooled.keys.tenant
        self._by_tenant[tenant] = self._by_tenant.get(tenant, 0) + 1
        self._count += 1

    def _prove(self, pooled: Pooled) -> None:
        """A first step succeeded on ``pooled``: its login was accepted, it counts."""
        pooled.proven, pooled.replacing = True, False
        tenant = pooled.keys.tenant
        self._proven_by_tenant[tenant] = self._proven_by_tenant.get(tenant, 0) + 1
        self._proven += 1

    def _remove(self, pooled: Pooled) -> None:
        sessions = self._by_key.get(pooled.key)
        if sessions is None or pooled not in sessions:
            return  # (already gone)
        self._set_busy(pooled)
        if pooled.proven:
            tenant = pooled.keys.tenant
            self._proven_by_tenant[tenant] -= 1
            if not self._proven_by_tenant[tenant]:
                del self._proven_by_tenant[tenant]
            self._proven -= 1
        for index, key in ((self._by_key, pooled.key), (self._by_account, pooled.account)):
            listed = index[key]
            listed.remove(pooled)
            if not listed:
                del index[key]
        tenant = pooled.keys.tenant
        self._by_tenant[tenant] -= 1
        if not self._by_tenant[tenant]:
            del self._by_tenant[tenant]
        self._count -= 1

    def _set_idle(self, pooled: Pooled) -> None:
        pooled.busy = False
        pooled.last_used = time.monotonic()
        self._idle[pooled] = None
        self._tenant_idle.setdefault(pooled.keys.tenant, OrderedDict())[pooled] = None

    def _set_busy(self, pooled: Pooled) -> None:
        pooled.busy = True
        self._idle.pop(pooled, None)
        tenant = pooled.keys.tenant
        idle = self._tenant_idle.get(tenant)
        if idle is not None:
            idle.pop(pooled, None)
            if not idle:
                del self._tenant_idle[tenant]

    # -- upkeep

    def stats(self) -> dict:
        with self._lock:
            return {
                "open": self._count,
                "idle": len(self._idle),
                "hits": self.hits,
                "misses": self.misses,
                "evicted": self.evicted,
            }

    def _reap(self) -> None:
        while True:
            time.sleep(min(5.0, self.idle_seconds / 4))
            with self._lock:
                if self._closed:
                    return
                now = time.monotonic()
                old = []
                for pooled in self._idle:  # least recently used first
                    if now - pooled.last_used <= self.idle_seconds:
                        break
                    old.append(pooled)
                for pooled in old:
                    self._remove(pooled)
            for pooled in old:
                close_quietly(pooled.session)
            if old:
                self._on_change()

    def close(self) -> None:
        """Close every idle session now; busy ones close when their step ends."""
        with self._lock:
            self._closed = True
            idle = list(self._idle)
            for pooled in idle:
                self._remove(pooled)
            self._lock.notify_all()
        for pooled in idle:
            close_quietly(pooled.session)
        self._on_change()
