"""The step watchdog: sessions cut at their step's deadline, from one thread (generic: any
session with ``interrupt()``). The cuts themselves, which wait for real deadlines, are in
tests/timing/test_deadline_cuts.py."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from connector.sdk._deadlines import WATCHDOG, seconds_left, watching


class Line:
    """A session whose ``interrupt()`` ends a blocked ``read()``, as a cut socket does."""

    def __init__(self) -> None:
        self.cut = threading.Event()
        self.cut_at: float | None = None

    def interrupt(self) -> None:
        self.cut_at = time.monotonic()
        self.cut.set()

    def read(self, wait: float) -> str:
        if self.cut.wait(wait):
            raise ConnectionResetError("the line was cut")
        return "data"


def test_a_session_without_interrupt_and_a_step_without_deadline_are_not_watched():
    class Plain:
        pass

    with watching(Plain(), time.monotonic() - 1, 1.0):  # (past its deadline already)
        pass
    line = Line()
    with watching(line, None, None):
        pass
    assert not line.cut.is_set()


def test_the_watchdog_keeps_no_session_once_a_step_ended():
    line = Line()
    watch = WATCHDOG.watch(line, time.monotonic() + 60)
    watch.disarm()
    assert watch.session is None  # (the heap keeps the entry until its time, not the session)


def test_a_temporal_steps_deadline_is_the_least_time_its_activity_has_left():
    now = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    minute = timedelta(minutes=1)
    started = now - timedelta(seconds=20)
    scheduled = now - timedelta(seconds=50)
    assert seconds_left([(minute, started), (None, scheduled)], now) == 40.0
    assert seconds_left([(minute, started), (minute, scheduled)], now) == 10.0
    assert seconds_left([(minute, now - 2 * minute)], now) == 0.001  # (already past)
    assert seconds_left([(None, started), (None, scheduled)], now) is None
