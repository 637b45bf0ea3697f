"""A token bucket per key (a client address): ``rate`` requests a second, ``burst`` at once.

The service charges requests without a valid token to their client address here
(``service.strangers``): a client that sends them faster than a load balancer's probes or a
misconfigured platform would is held back, whatever it asks for.

Memory is bounded whatever the number of addresses: a key whose bucket has filled up again
is the same as a key never seen, so it is forgotten; at most ``keys`` are remembered (the
least recently charged go first: forgetting one only gives its client a full bucket back).
Used on the event loop only (no lock).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

KEYS = 65_536  # client addresses remembered at most (~100 bytes each)


class TokenBuckets:
    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        keys: int = KEYS,
        clock: Callable[[], float] = time.monotonic,
    ):
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a rate over 0 and a burst of at least 1")
        self.rate, self.burst, self.keys, self.clock = rate, float(burst), keys, clock
        # key -> (tokens, as of): least recently charged first
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    def take(self, key: Hashable) -> float:
        """Takes a token of ``key``'s bucket and returns 0; when it has none, takes nothing
        and returns the seconds until it has one."""
        now = self.clock()
        self._forget_full(now)
        tokens = self._tokens(key, now)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1 if not wait else tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.keys:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, key: Hashable, now: float) -> float:
        held = self._buckets.get(key)
        if held is None:
            return self.burst
        tokens, at = held
        return min(self.burst, tokens + (now - at) * self.rate)

    def _forget_full(self, now: float) -> None:
        """Forget the buckets that filled up again, from the least recently charged on, up to
        the first one that is not full (those after it are forgotten later, or past ``keys``)."""
        while self._buckets:
            key, (tokens, at) = next(iter(self._buckets.items()))
            if tokens + (now - at) * self.rate < self.burst:
                return
            del self._buckets[key]
