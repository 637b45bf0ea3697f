"""Fair shares of the service's CPU: what each tenant made this process spend lately, and
whose next request waits for its turn.

Each request is charged to its tenant: the CPU time of its body (counted as it arrives,
then parsed), of its admission and of its step (``time.thread_time`` of the threads doing
that work, ``Meter``), and ``REQUEST_CPU`` for the HTTP exchange around it. A tenant's use
decays exponentially (time constant ``window``), so it reads as its recent CPU rate, in
cores.

Before a tenant's body is read (``turn``): a tenant goes at once unless the service is
contended (``service.lag``: its event loop runs late) and the tenant uses more than its share:
the mean of the active tenants (those seen in the last ``active_for`` seconds), or ``floor``
if more (Settings.share_floor). Then it waits, looking again every RECHECK seconds at most,
until it is within its share or the service is no longer contended. So a tenant alone has
the whole service, light tenants never wait, and under contention the heaviest wait first,
whatever their requests cost (a refusal at 0.3 ms, a 10,000-element body at 4 ms, a step at
any price).

At most ``queue`` requests of a tenant wait; a request beyond them, or one whose turn would
come after its deadline, is refused with RATE_LIMITED and ``retryAfterSeconds``, answered
after ``pause`` seconds: a client that retries at once, refused, cannot make the service
spin on its refusals.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..errors import RateLimited

WINDOW = 1.0  # use decays by e every second: a tenant's rate over about the last second
ACTIVE_FOR = 10.0  # a tenant seen this recently counts among the active ones
# What a request costs beyond what is measured (the HTTP exchange, routing, the token, the
# reply and its log line): a refused request measured 0.2 to 0.3 ms on a shared 2-core machine.
REQUEST_CPU = 0.0003
RECHECK = 0.1  # a waiting request looks again at least this often
SOON = 0.01  # and at most this often (its use decays to its share: not in ever smaller steps)


@dataclass
class _Use:
    value: float = 0.0  # CPU seconds, decayed, as of ``at``
    at: float = 0.0
    seen: float = 0.0  # the latest request or charge


class Meter:
    """Thread CPU time spent for one request, added up section by section: ``with meter:``
    around work that does not await, on whichever thread does it (one at a time)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __enter__(self) -> Meter:
        self._started = time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds += time.thread_time() - self._started


class CpuShares:
    def __init__(
        self,
        contended: Callable[[], bool],
        *,
        floor: float,
        queue: int = 64,
        pause: float = 1.0,
        window: float = WINDOW,
        active_for: float = ACTIVE_FOR,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.contended, self.queue, self.pause = contended, queue, pause
        self.window, self.active_for, self.floor = window, active_for, floor
        self.clock, self.sleep = clock, sleep
        self._lock = threading.Lock()  # charges come from step threads
        self._use: OrderedDict[str, _Use] = OrderedDict()  # least recently seen first
        self._total = _Use()
        self._waiting: dict[str, int] = {}  # (the event loop's only)

    def charge(self, tenant: str, seconds: float) -> None:
        """Adds ``seconds`` of CPU to ``tenant``'s use (from any thread)."""
        now = self.clock()
        with self._lock:
            use = self._touch(tenant, now)
            use.value, use.at = self._decayed(use, now) + seconds, now
            total = self._total
            total.value, total.at = self._decayed(total, now) + seconds, now

    def rate(self, tenant: str) -> float:
        """``tenant``'s recent CPU rate (cores)."""
        now = self.clock()
        with self._lock:
            use = self._use.get(tenant)
            return 0.0 if use is None else self._decayed(use, now) / self.window

    def wait(self, tenant: str) -> float:
        """0 when ``tenant`` may go now; else how long until it may (at its current use),
        at most RECHECK (by then the service may no longer be contended)."""
        now = self.clock()
        with self._lock:
            self._forget(now)
            use = self._touch(tenant, now)
            active = len(self._use)
            if active < 2 or not self.contended():
                return 0.0
            share = max(self.floor, self._decayed(self._total, now) / self.window / active)
            mine = self._decayed(use, now) / self.window
        if mine <= share:
            return 0.0
        return min(RECHECK, max(SOON, self.window * math.log(mine / share)))

    async def turn(self, tenant: str, timeout: float) -> None:
        """Returns when ``tenant`` may start a request (at once, unless it must wait);
        raises RateLimited, after ``pause``, when too many of its requests wait already or
        its turn would not come within ``timeout`` seconds."""
        wait = self.wait(tenant)
        if not wait:
            return
        if self._waiting.get(tenant, 0) >= self.queue:
            await self._refuse(wait)
        ends = self.clock() + timeout
        self._waiting[tenant] = self._waiting.get(tenant, 0) + 1
        try:
            while wait:
                if self.clock() + wait > ends:
                    await self._refuse(wait)
                await self.sleep(wait)
                wait = self.wait(tenant)
        finally:
            self._waiting[tenant] -= 1
            if not self._waiting[tenant]:
                del self._waiting[tenant]

    async def _refuse(self, wait: float) -> None:
        await self.sleep(self.pause)
        raise RateLimited(
            "This tenant's requests used more than its share of the service lately, and "
            "too many of them are waiting for their turn: try again shortly.",
            retry_after=max(1, math.ceil(wait)),
        )

    def _touch(self, tenant: str, now: float) -> _Use:
        """The tenant's entry, seen now (lock held)."""
        use = self._use.get(tenant)
        if use is None:
            use = self._use[tenant] = _Use(at=now)
        use.seen = now
        self._use.move_to_end(tenant)
        return use

    def _forget(self, now: float) -> None:
        """Tenants not seen for ``active_for`` seconds are no longer active (lock held)."""
        while self._use:
            tenant, oldest = next(iter(self._use.items()))
            if now - oldest.seen <= self.active_for:
                return
            del self._use[tenant]

    def _decayed(self, use: _Use, now: float) -> float:
        return use.value * math.exp(-max(0.0, now - use.at) / self.window)
