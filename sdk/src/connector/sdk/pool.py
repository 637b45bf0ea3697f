"""Logged-in sessions kept between steps, for a long-running host (``connector serve``).

A step whose connection fields equal an earlier step's reuses that step's session instead
of connecting and logging in again. What the pool asks of a session (all optional):

- ``reset()``: after a step, return to a neutral state without losing anything (IMAP:
  UNSELECT where offered; never CLOSE, which would expunge). An error discards the session.
- ``stale()``: before every reuse, without a round trip when nothing is amiss: True when
  the session must not be reused (IMAP: the server closed the socket or said BYE).
- ``check()``: before reusing a session idle for more than ``check_after`` seconds, a cheap
  round trip that fails on a dead connection (IMAP: NOOP).
- ``close()``: log out.

Keys are keyed hashes (HMAC-SHA256, a key drawn per process) of the fields, never the
fields themselves. An *account* is the connection's non-secret fields: at most
``per_account`` sessions each, under what servers allow one user (Gmail 15, Dovecot 10).
One step at a time per session; any error discards the session; idle ones close after
``idle_seconds``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from .errors import Timeout
from .push import reusable


class Pooled:
    """A session in the pool, and what the pool knows of it."""

    def __init__(self, session: Any, key: bytes, account: bytes, *, replacing: bool = False):
        self.session, self.key, self.account = session, key, account
        self.busy = True
        self.last_used = time.monotonic()
        # Over the account's cap by one while it logs in: it replaces an idle session of
        # other fields only once its login succeeded (a wrong password evicts nobody).
        self.replacing = replacing


class SessionPool:
    def __init__(
        self,
        *,
        per_account: int = 3,
        idle_seconds: float = 60.0,
        check_after: float = 5.0,
        on_change: Callable[[], None] | None = None,
    ):
        self.per_account, self.idle_seconds, self.check_after = (
            per_account,
            idle_seconds,
            check_after,
        )
        self._secret = os.urandom(32)
        self._lock = threading.Condition()
        self._sessions: list[Pooled] = []
        self.hits = self.misses = 0
        self._closed = False
        self._on_change = on_change or (lambda: None)
        self._reaper = threading.Thread(target=self._reap, name="session-pool-reaper", daemon=True)
        self._reaper.start()

    # -- keys

    def keys(self, connector: str, connection: str, fields: dict, secret: set[str]) -> tuple:
        """(session key, account key): keyed hashes of all fields, and of the non-secret ones."""

        def digest(values: dict) -> bytes:
            text = json.dumps([connector, connection, values], sort_keys=True, default=str)
            data = text.encode("utf-8", "surrogatepass")
            return hmac.new(self._secret, data, hashlib.sha256).digest()

        public = {k: v for k, v in fields.items() if k not in secret}
        return digest(fields), digest(public)

    # -- lending

    def acquire(
        self,
        key: bytes,
        account: bytes,
        open_session: Callable[[], Any],
        wait: float | None,
        cap: int | None = None,
    ) -> tuple[Pooled, bool]:
        """A session for ``key``: an idle pooled one (hit), else a new one (miss) when the
        account is under its cap (``cap``, the connection's, within ``per_account``), else
        wait up to ``wait`` seconds for one to free up."""
        limit = min(cap, self.per_account) if cap is not None else self.per_account
        deadline = None if wait is None else time.monotonic() + wait
        with self._lock:
            while True:
                if self._closed:
                    raise RuntimeError("the session pool is closed")
                idle = [p for p in self._sessions if p.key == key and not p.busy]
                if idle:
                    pooled = max(idle, key=lambda p: p.last_used)
                    pooled.busy = True
                    self.hits += 1
                    break
                mine = [p for p in self._sessions if p.account == account]
                if len(mine) < limit:
                    pooled = Pooled(None, key, account)  # a place held while connecting
                    self._sessions.append(pooled)
                    self.misses += 1
                    break
                spare = [p for p in mine if not p.busy]  # idle, but for other fields
                if spare and not any(p.replacing for p in mine):
                    pooled = Pooled(None, key, account, replacing=True)
                    self._sessions.append(pooled)
                    self.misses += 1
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise Timeout(
                        f"All {limit} sessions of this account stayed busy: try "
                        "again, or raise the service's sessions per account."
                    )
                self._lock.wait(left)
        self._on_change()
        if pooled.session is None:
            try:
                pooled.session = open_session()
            except BaseException:
                self._forget(pooled)
                raise
            if pooled.replacing:
                self._replace_idle(pooled)
            return pooled, False
        checked = time.monotonic() - pooled.last_used > self.check_after
        if not reusable(pooled.session, checked):  # discarded; a new one the step never sees
            self.discard(pooled)
            with self._lock:
                self.hits -= 1
            return self.acquire(key, account, open_session, wait, cap)
        return pooled, True

    def release(self, pooled: Pooled, *, ok: bool) -> None:
        """Back to the pool after a step (reset first), or closed when the step failed."""
        if ok:
            reset = getattr(pooled.session, "reset", None)
            try:
                if reset is not None:
                    reset()
            except Exception:  # noqa: BLE001 - a session that cannot be reset is not reused
                ok = False
        if not ok or self._closed:
            self.discard(pooled)
            return
        with self._lock:
            pooled.busy = False
            pooled.last_used = time.monotonic()
            self._lock.notify_all()
        self._on_change()

    def discard(self, pooled: Pooled) -> None:
        self._forget(pooled)
        _close(pooled.session)

    def _forget(self, pooled: Pooled) -> None:
        with self._lock:
            if pooled in self._sessions:
                self._sessions.remove(pooled)
            self._lock.notify_all()
        self._on_change()

    def _replace_idle(self, pooled: Pooled) -> None:
        """A new session of other fields logged in: the account's oldest idle session of
        other fields makes room (none idle any more: the cap is exceeded until one is)."""
        with self._lock:
            pooled.replacing = False
            spare = [
                p
                for p in self._sessions
                if p.account == pooled.account and p.key != pooled.key and not p.busy
            ]
            if spare:
                self._drop(min(spare, key=lambda p: p.last_used))
        self._on_change()

    def _drop(self, pooled: Pooled) -> None:
        """Close an idle session (lock held): its socket work happens outside the lock."""
        self._sessions.remove(pooled)
        threading.Thread(target=_close, args=(pooled.session,), daemon=True).start()

    # -- upkeep

    def stats(self) -> dict:
        with self._lock:
            return {
                "open": len(self._sessions),
                "idle": sum(1 for p in self._sessions if not p.busy),
                "hits": self.hits,
                "misses": self.misses,
            }

    def _reap(self) -> None:
        while True:
            time.sleep(min(5.0, self.idle_seconds / 4))
            with self._lock:
                if self._closed:
                    return
                now = time.monotonic()
                old = [
                    p
                    for p in self._sessions
                    if not p.busy and now - p.last_used > self.idle_seconds
                ]
                for pooled in old:
                    self._sessions.remove(pooled)
            for pooled in old:
                _close(pooled.session)
            if old:
                self._on_change()

    def close(self) -> None:
        """Close every idle session now; busy ones close when their step ends."""
        with self._lock:
            self._closed = True
            idle = [p for p in self._sessions if not p.busy]
            for pooled in idle:
                self._sessions.remove(pooled)
            self._lock.notify_all()
        for pooled in idle:
            _close(pooled.session)
        self._on_change()


def _close(session: Any) -> None:
    close = getattr(session, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001,S110 - saying goodbye to a dead session
            pass
