"""The step watchdog's cuts (connector.sdk._deadlines), each at its real deadline, with the
interruptible lines of tests/sdk/test_deadlines.py: a session cut at its step's deadline and
never before, deadlines kept in order, a moving deadline asked again when it comes."""

from __future__ import annotations

import math
import time

import pytest

from connector.sdk._deadlines import WATCHDOG, watching
from connector.sdk.errors import Timeout
from tests.sdk.test_deadlines import Line

# What a cut may lag its deadline by on a shared machine (measured: about a millisecond).
MARGIN = 0.5


def test_a_session_is_cut_at_its_deadline_and_the_step_is_a_timeout():
    line = Line()
    deadline = time.monotonic() + 0.3
    with pytest.raises(Timeout) as raised, watching(line, deadline, 0.3):
        line.read(30)
    assert line.cut_at is not None and deadline <= line.cut_at < deadline + MARGIN
    assert "within 0.3 s" in str(raised.value)
    assert raised.value.retryable is True


def test_a_step_done_in_time_is_never_cut():
    line = Line()
    with watching(line, time.monotonic() + 0.2, 0.2):
        assert line.read(0) == "data"
    time.sleep(0.4)
    assert not line.cut.is_set()


def test_deadlines_are_kept_in_order_whatever_order_they_come_in():
    lines = [Line() for _ in range(5)]
    now = time.monotonic()
    deadlines = [now + offset for offset in (0.6, 0.05, 0.5, 0.1, 0.4)]
    watches = [WATCHDOG.watch(line, at) for line, at in zip(lines, deadlines, strict=True)]
    assert watches[4].disarm() is False  # disarmed before its time: never cut
    for line in lines[:4]:
        assert line.cut.wait(5)
    cuts = {i: line.cut_at for i, line in enumerate(lines[:4])}
    for i, cut_at in cuts.items():  # each at its own time: never before, at most MARGIN after
        assert cut_at is not None and deadlines[i] <= cut_at < deadlines[i] + MARGIN, (i, cuts)
    assert sorted(cuts, key=lambda i: (cuts[i], deadlines[i])) == [1, 3, 2, 0]  # in time order
    assert time.monotonic() > deadlines[4] and not lines[4].cut.is_set()  # (past its time)
    assert all(w.disarm() for i, w in enumerate(watches) if i != 4)  # (fired: said so)


def test_a_moving_deadline_is_asked_again_when_it_comes():
    """``renew``: a deadline that moves (a line's, renewed while lines keep coming)."""
    line, asked = Line(), []
    start = time.monotonic()

    def renew(now: float) -> float | None:
        asked.append(now - start)
        return start + 0.4 if len(asked) == 1 else None  # later once, then: cut

    WATCHDOG.watch(line, start + 0.1, renew)
    assert line.cut.wait(5)
    assert len(asked) == 2 and 0.1 <= asked[0] < 0.1 + MARGIN
    assert line.cut_at is not None and start + 0.4 <= line.cut_at < start + 0.4 + MARGIN


def test_a_moving_deadline_may_say_there_is_nothing_left_to_watch():
    line = Line()
    watch = WATCHDOG.watch(line, time.monotonic() + 0.05, lambda now: math.inf)
    time.sleep(0.3)
    assert not line.cut.is_set()
    assert watch.disarm() is False and watch.session is None
    after = Line()  # (the watchdog goes on: an emptied heap once stopped its thread)
    WATCHDOG.watch(after, time.monotonic() + 0.05)
    assert after.cut.wait(5)
