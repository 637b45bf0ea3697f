"""A step's deadline, enforced after its session is open: at the deadline the session's
connection is cut.

A read timeout bounds each wait, not the step: a server that answers one byte a second
keeps every read short and a step going for as long as it likes (measured: a 3 s step
held its thread 4.5 minutes). So while a handler runs on a session, the session is
*watched*: one thread for the whole process keeps the steps' deadlines in a heap and, when
one passes, calls that session's ``interrupt()`` (the hook a push's stop already uses: cut
the connection, from another thread). The step's blocked read then fails at once, its
thread comes back, and ``watching`` turns whatever that read raised into TIMEOUT; the
runtime discards the session (a pool never lends it again). A session without
``interrupt()`` is not watched.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from .errors import Timeout


class Watch:
    """One step's watch over its session: ``disarm()`` ends it, and says whether the
    deadline came first (the connection was cut, or is being cut).

    With ``renew``, a deadline that moves: when it comes, ``renew(now)`` says what it is now
    (a later time: look again then; None: cut now; ``math.inf``: stop watching). It runs
    on the watchdog's thread under its lock: it must only read a few attributes."""

    def __init__(
        self, session: Any, deadline: float, renew: Callable[[float], float | None] | None = None
    ):
        self.session: Any = session  # (None once disarmed: the heap keeps no session alive)
        self.deadline = deadline
        self.renew = renew
        self.state = "armed"  # then "fired" or "disarmed": changed under the watchdog's lock

    def disarm(self) -> bool:
        """End the watch: True when the deadline came first (the connection was cut, or is
        being cut), False when the watch ended in time."""
        return WATCHDOG.disarm(self)


class Watchdog:
    """The process's one thread that cuts sessions whose step's deadline has passed."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()  # (ties: never compare two Watch objects)
        self._thread: threading.Thread | None = None

    def watch(
        self,
        session: Any,
        deadline: float,
        renew: Callable[[float], float | None] | None = None,
    ) -> Watch:
        watch = Watch(session, deadline, renew)
        with self._lock:
            heapq.heappush(self._heap, (deadline, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="step-deadlines", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is watch:  # the earliest now: the thread's wait is too long
                self._lock.notify()
        return watch

    def disarm(self, watch: Watch) -> bool:
        with self._lock:
            if watch.state == "armed":
                watch.state = "disarmed"  # (left in the heap: dropped when its time comes)
                watch.session = watch.renew = None
            return watch.state == "fired"

    def _run(self) -> None:
        while True:
            due: list[Watch] = []
            with self._lock:
                while self._heap and self._heap[0][2].state != "armed":
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._lock.wait()
                    continue
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    watch = heapq.heappop(self._heap)[2]
                    if watch.state != "armed":
                        continue
                    try:
                        later = watch.renew(now) if watch.renew is not None else None
                    except Exception:  # noqa: BLE001 - a renew that fails: cut (never die)
                        later = None
                    if later is None:
                        watch.state = "fired"
                        due.append(watch)
                    elif later == math.inf:
                        watch.state = "disarmed"
                        watch.session = watch.renew = None
                    else:
                        watch.deadline = max(later, now + 0.001)
                        heapq.heappush(self._heap, (watch.deadline, next(self._order), watch))
                if not due:
                    if self._heap:  # (a renew may have emptied it: look again from the top)
                        self._lock.wait(self._heap[0][0] - now)
                    continue
            for watch in due:  # (outside the lock: a cut is a system call)
                session, watch.session = watch.session, None
                try:
                    session.interrupt()
                except Exception:  # noqa: BLE001,S110 - a session already closed
                    pass


WATCHDOG = Watchdog()


@contextmanager
def watching(session: Any, deadline: float | None, seconds: float | None) -> Iterator[None]:
    """Run the block with ``session`` cut at ``deadline`` (a ``time.monotonic()`` value; None:
    no deadline). When the deadline came first, the block's outcome, whatever it was, is
    TIMEOUT: the connection was cut, so the session must not be used again."""
    if deadline is None or getattr(session, "interrupt", None) is None:
        yield
        return
    watch = WATCHDOG.watch(session, deadline)
    try:
        yield
    except BaseException:
        if watch.disarm():
            raise timed_out(seconds) from None
        raise
    if watch.disarm():
        raise timed_out(seconds)


def seconds_left(limits: list[tuple[timedelta | None, datetime]], now: datetime) -> float | None:
    """The least time left of ``(timeout, since)`` limits (a host's timeouts, each counted
    from its own start; None: no limit) at ``now``; None when there is none at all."""
    left = [
        timeout.total_seconds() - (now - since).total_seconds()
        for timeout, since in limits
        if timeout
    ]
    return max(0.001, min(left)) if left else None


def timed_out(seconds: float | None) -> Timeout:
    within = f" within {seconds:g} s" if seconds is not None else ""
    return Timeout(
        f"The step did not finish{within}, the longest this host lets a step run: its "
        "connection was closed. Try again, or ask for less in one step."
    )
