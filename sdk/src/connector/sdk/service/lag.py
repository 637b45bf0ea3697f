"""Whether the service is contended: its event loop runs late, on average.

A timer due every ``every`` seconds notes how late it runs. Late means that something held
the loop (bodies being counted, requests arriving faster than they are answered, the
interpreter lock held by step threads) or that the machine gave the process no CPU: either
way, a request arriving now waits. The lag is averaged over the last ``span`` ticks (a
moving mean: 200 ms by default), so that one late tick (a burst of requests, a garbage
collection) is not contention, while a sustained flood is; the service counts as contended
while that mean is ``late`` seconds or more (Settings.contended_lag). That is when tenants
over their share wait (``service.shares``).

Measured on a shared 2-core machine (ticks every 25 ms, load 3 to 6): quiet, ticks ran
0.2 ms late (median; 0.5 ms at the 90th percentile); one tenant stepping as fast as it can,
0.3 ms (0.7 ms); bursts of 64 refused steps, 0.2 ms (one tick in 50 over 5 ms); 12 loops of
unpaced refusals, 2.5 ms (8 ms). With the threshold at 1 ms (the default), such a flood is
held back to where the mean stays near 1 ms; at 2 ms it was held back much less (another
tenant's median step went from 4 to 16 ms, against 6 ms).
"""

from __future__ import annotations

import asyncio

EVERY = 0.025  # a tick every 25 ms (40 wake-ups a second: nothing measurable)
SPAN = 8  # ticks the mean lag is taken over (200 ms)


class LoopLag:
    def __init__(self, *, late: float, every: float = EVERY, span: int = SPAN):
        self.every, self.span, self.late = every, span, late
        self.mean = 0.0  # the moving mean of the ticks' lag (seconds)
        self.worst = 0.0  # the largest lag since ``taken`` (seconds): a metric
        self._timer: asyncio.TimerHandle | None = None

    def contended(self) -> bool:
        return self.mean >= self.late

    def noted(self, lag: float) -> None:
        """A tick ran ``lag`` seconds late."""
        self.mean += (lag - self.mean) / self.span
        self.worst = max(self.worst, lag)

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
