"""Failed logins, counted per (tenant, account): after a few in a row, that pair's new
logins are refused for a while, so a tenant with a wrong password cannot hammer a server,
nor keep its account's sessions busy, in a tight loop.

A refusal is RATE_LIMITED with ``retryAfterSeconds``, for that tenant only: another
tenant logging in to the same account is not affected (each pair is its own key). The
refusal lasts ``backoff`` seconds and doubles with each failure after it (not with those of
tries that started before it), up to ``longest``; a successful login clears the count, and
a count with no failure for ``forget_after`` seconds is forgotten. At most ``entries``
pairs are remembered (the oldest go first), so a tenant varying user names cannot grow it
without bound.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from .errors import RateLimited

LONGEST = 900.0  # the longest refusal (15 min), however many failures
FORGET_AFTER = 900.0  # a count with no failure for this long is forgotten
REMEMBERED = 10_000  # (tenant, account) pairs remembered at most: the oldest go first


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0  # the latest failure (monotonic)
    until: float = 0.0  # new logins refused until then (monotonic)
    pauses: int = 0  # refusals so far: each lasts twice the one before


class LoginThrottle:
    def __init__(
        self,
        allowed: int,
        backoff: float,
        *,
        longest: float = LONGEST,
        forget_after: float = FORGET_AFTER,
        entries: int = REMEMBERED,
    ):
        self.allowed, self.backoff, self.longest = allowed, backoff, longest
        self.forget_after, self.entries = max(forget_after, longest), entries
        self._lock = threading.Lock()
        self._failures: OrderedDict[Hashable, _Failures] = OrderedDict()  # oldest failure first

    def check(self, key: Hashable) -> None:
        """Raise RATE_LIMITED while ``key``'s new logins are refused."""
        now = time.monotonic()
        with self._lock:
            entry = self._failures.get(key)
            left = 0.0 if entry is None else entry.until - now
        if left > 0:
            seconds = math.ceil(left)
            raise RateLimited(
                f"Too many failed logins to this account: new logins are refused for "
                f"{seconds} s. Check Username and Password before trying again.",
                retry_after=seconds,
            )

    def failed(self, key: Hashable) -> None:
        now = time.monotonic()
        with self._lock:
            self._forget_old(now)
            entry = self._failures.pop(key, None) or _Failures()
            entry.count += 1
            entry.last = now
            # A failure of a login that started before the pause (tries that overlapped)
            # does not lengthen it; the first one after it does.
            if entry.count >= self.allowed and now >= entry.until:
                pause = self.backoff * 2 ** min(entry.pauses, 32)
                entry.until, entry.pauses = now + min(self.longest, pause), entry.pauses + 1
            self._failures[key] = entry  # (moved to the end: the newest failure)
            while len(self._failures) > self.entries:
                self._failures.popitem(last=False)

    def succeeded(self, key: Hashable) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)

    def _forget_old(self, now: float) -> None:
        """Drop counts whose latest failure is older than ``forget_after`` (lock held):
        those come first, as each failure moves its key to the end."""
        while self._failures:
            key, oldest = next(iter(self._failures.items()))
            if now - oldest.last <= self.forget_after:
                return
            del self._failures[key]
