"""The push hub's own clock (connector.sdk._pushhub): what it does after a second or more
(a line reopened after its pause, renewals, a lease's term, a one-shot lease never retried,
an idle hub asleep), with the socket-pair lines of tests/sdk/test_pushhub.py."""

from __future__ import annotations

import threading
import time

import pytest

from connector.sdk._pushhub import PushHub
from tests.sdk.test_pushhub import Events, Line, opener


@pytest.fixture
def hub():
    made = PushHub(max_lines=3, workers=2, name="t")
    yield made
    made.close()


def test_a_line_that_dies_is_reopened_after_a_pause_and_says_why(hub):
    first, second = Line(), Line()
    lines = iter([first, second])
    events = Events()
    hub.lease("w", lambda room: [next(lines)], events)
    events.wait_for("idling")
    first.server.send(b"x")
    waiting = events.wait_for("waiting")
    assert waiting.reason == "reconnecting after CONNECTION_FAILED", waiting
    assert waiting.error and waiting.error["code"] == "CONNECTION_FAILED"
    events.wait_for("idling", 2, timeout=5)  # after about a second (jittered)
    assert first.closed == 1 and second.started == 1
    second.server.send(b"c")
    events.wait_for("change")


def test_lines_are_renewed_on_a_worker_and_still_report(hub):
    line, events = Line(renew_every=0.2), Events()
    hub.lease("w", opener([line]), events, renew_every=0.2)
    events.wait_for("idling")
    time.sleep(1.0)
    assert 3 <= line.renewed <= 10, line.renewed  # every 0.16-0.2 s, the first sooner
    line.server.send(b"c")
    events.wait_for("change")


def test_a_lease_ends_at_its_term_unless_renewed_and_release_closes_its_lines(hub):
    short, kept = Line(), Line()
    hub.lease("short", opener([short]), Events(), seconds=0.3)
    hub.lease("kept", opener([kept]), Events(), seconds=0.3)
    for _ in range(4):
        time.sleep(0.15)
        assert hub.lease("kept", opener([kept]), Events(), seconds=0.3) == "renewed"
    assert short.closed == 1 and not hub.holds("short")
    assert hub.holds("kept") and kept.closed == 0
    hub.release("kept")
    deadline = time.monotonic() + 2
    while not kept.closed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert kept.closed == 1


def test_a_one_shot_lease_fails_once_and_ends(hub):
    events = Events()
    line = Line()
    hub.lease("w", opener([line]), events, retry=False)
    events.wait_for("idling")
    line.server.close()  # EOF: dropped by its server
    failed = events.wait_for("failed")
    assert failed.error and failed.error["code"] == "CONNECTION_FAILED"
    time.sleep(1.5)
    assert line.started == 1 and "waiting" not in events.kinds()


def test_threads_do_not_grow_with_leases_and_an_idle_hub_does_not_wake():
    hub = PushHub(max_lines=300, workers=2, name="n")
    events = Events()
    before = threading.active_count()
    try:
        lines = [Line(renew_every=3600) for _ in range(200)]
        for i, line in enumerate(lines):
            hub.lease(f"w{i}", opener([line]), events)
        events.wait_for("idling", 200, timeout=20)
        assert threading.active_count() - before <= 3  # the hub's thread and 2 workers
        started = time.thread_time()
        cpu = _thread_cpu(hub)
        time.sleep(1.0)
        assert _thread_cpu(hub) - cpu < 0.01  # asleep: no timer due, nothing to read
        assert time.thread_time() >= started
    finally:
        hub.close()


def _thread_cpu(hub: PushHub) -> float:
    """CPU seconds of the hub's thread (Linux: its /proc entry)."""
    native = hub._thread.native_id
    with open(f"/proc/self/task/{native}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    return ticks / 100
