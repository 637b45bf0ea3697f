"""Fair sharing: who may take a step thread, and when.

A step thread is taken only by a step that can run at once. Steps of one account wait for
one of the account's session slots *here*, on the event loop, in a bounded queue (beyond
it: RATE_LIMITED "account busy"); then for one of its tenant's ``per_tenant`` slots, the
same way. The service keys the account's queue by the pool's session key (the tenant and
the exact connection fields), so no step waits behind another tenant's, or a wrong
password's, steps for the same server user. So an account whose server is silent holds
its own slots and nothing else, and a tenant with many accounts holds at most its share of
the threads: other accounts' and other tenants' steps find threads free.

Slots are given back when the step's thread ends, not when its caller stops waiting: a
timed-out step still holds its session until its thread returns.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import RateLimited, Timeout

Release = Callable[[], None]


@dataclass
class _Account:
    running: int = 0
    slots: int = 0  # this key's own limit, when lower than the gate's (0: the gate's)
    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)


class Gate:
    """At most ``slots`` steps of one key (an account, a tenant) run at once; at most
    ``waiting`` wait, on the event loop."""

    def __init__(self, slots: int, waiting: int, what: str = "account"):
        self.slots, self.waiting, self.what = slots, waiting, what
        self._accounts: dict[Any, _Account] = {}  # only keys with running or waiting steps

    @property
    def accounts_waiting(self) -> int:
        return sum(1 for a in self._accounts.values() if a.waiters)

    @property
    def steps_waiting(self) -> int:
        return sum(len(a.waiters) for a in self._accounts.values())

    async def acquire(self, account: Any, timeout: float, slots: int | None = None) -> Release:
        """A slot of ``account`` (``slots`` of them, else the gate's); the returned function
        gives it back (from any thread)."""
        loop = asyncio.get_running_loop()
        entry = self._accounts.setdefault(account, _Account())
        if slots is not None:
            entry.slots = min(slots, self.slots)
        release = self._releaser(loop, account)
        if entry.running < (entry.slots or self.slots) and not entry.waiters:
            entry.running += 1
            return release
        if len(entry.waiters) >= self.waiting:
            self._forget_if_idle(account)
            raise RateLimited(
                f"This {self.what} is busy: {entry.slots or self.slots} of its steps are "
                f"running and {self.waiting} waiting. Try again shortly.",
                retry_after=2,
            )
        turn: asyncio.Future[None] = loop.create_future()
        entry.waiters.append(turn)
        try:
            await asyncio.wait_for(asyncio.shield(turn), timeout)
        except (TimeoutError, asyncio.CancelledError):
            if turn.done() and not turn.cancelled():
                release()  # the slot came as we gave up: pass it on
            else:
                turn.cancel()
                if turn in entry.waiters:
                    entry.waiters.remove(turn)
                self._forget_if_idle(account)
            raise Timeout(
                f"The {self.what}'s earlier steps kept it busy for {timeout:g} s: try again later."
            ) from None
        return release

    def _releaser(self, loop: asyncio.AbstractEventLoop, account: Any) -> Release:
        done = threading.Event()

        def release() -> None:
            if done.is_set():
                return
            done.set()
            loop.call_soon_threadsafe(self._release, account)

        return release

    def _release(self, account: Any) -> None:
        entry = self._accounts.get(account)
        if entry is None:
            return
        entry.running -= 1
        while entry.waiters:
            turn = entry.waiters.popleft()
            if not turn.done():
                entry.running += 1
                turn.set_result(None)
                break
        self._forget_if_idle(account)

    def _forget_if_idle(self, account: Any) -> None:
        entry = self._accounts.get(account)
        if entry is not None and entry.running <= 0 and not entry.waiters:
            del self._accounts[account]


class BusyThreads:
    """How many step threads are running a step (held inside the thread)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._busy = 0
        self._lock = threading.Lock()

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def saturated(self) -> bool:
        return self._busy >= self.capacity

    def __enter__(self) -> BusyThreads:
        with self._lock:
            self._busy += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._busy -= 1
