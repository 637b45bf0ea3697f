"""Whether the service is contended: its event loop runs late.

A timer due every ``every`` seconds notes how late it runs. Late means that something held
the loop (a body being counted, a burst of requests, the interpreter lock held by a step
thread) or that the machine gave the process no CPU: either way, a request arriving now
waits. The service counts as contended for ``hold`` seconds after a tick ``late`` seconds
late or more (Settings.contended_lag); that is when tenants over their share wait
(``service.shares``).

Measured on a shared 2-core machine (load 3 to 4): a quiet service's ticks ran 1 to 2 ms
late (the worst of 250 ms: under 5 ms); under 12 loops of unpaced refusals, 10 ms (median)
to 30 or 140 ms (worst).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

EVERY = 0.025  # a tick every 25 ms (40 wake-ups a second: nothing measurable)
LATE = 0.005  # a tick this late, or later, means requests wait behind something
HOLD = 0.5  # contended for this long after such a tick


class LoopLag:
    def __init__(
        self,
        *,
        every: float = EVERY,
        late: float = LATE,
        hold: float = HOLD,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.every, self.late, self.hold, self.clock = every, late, hold, clock
        self.worst = 0.0  # the largest lag since ``taken`` (seconds): a metric
        self._until = float("-inf")  # contended until then (clock)
        self._timer: asyncio.TimerHandle | None = None

    def contended(self) -> bool:
        return self.clock() < self._until

    def noted(self, lag: float) -> None:
        """A tick ran ``lag`` seconds late."""
        self.worst = max(self.worst, lag)
        if lag >= self.late:
            self._until = self.clock() + self.hold

    def taken(self) -> float:
        """The largest lag since the previous call."""
        worst, self.worst = self.worst, 0.0
        return worst

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Ticks on ``loop`` until ``stop``."""
        if self._timer is None:
            self._schedule(loop)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        due = loop.time() + self.every
        self._timer = loop.call_at(due, self._tick, loop, due)

    def _tick(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        self.noted(max(0.0, loop.time() - due))
        self._schedule(loop)
