"""The push hub (connector.sdk._pushhub) with lines over socket pairs: the far end of each
pair plays the server (a byte ``c`` is a change, ``x`` a line that dies, EOF a drop).
What waits on the hub's clock (a lease's term, pauses) is in tests/timing/test_pushhub_waits.py."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from connector.sdk._pushhub import PushEvent, PushHub
from connector.sdk._session import PushLine
from connector.sdk.errors import RateLimited, Unsupported


class Line:
    """A push line whose server is the other end of a socket pair."""

    def __init__(self, renew_every: float = 60.0, *, changed: bool = False, refuse: bool = False):
        self.mine, self.server = socket.socketpair()
        self.renew_every = renew_every
        self.changed, self.refuse = changed, refuse
        self.started = self.renewed = self.closed = 0
        self.readers: set[str] = set()  # the threads that read it

    def fileno(self) -> int:
        return self.mine.fileno()

    def start(self) -> bool:
        self.started += 1
        if self.refuse:
            raise Unsupported("This source refuses to watch.")
        return self.changed

    def on_readable(self) -> bool:
        self.readers.add(threading.current_thread().name)
        data = self.mine.recv(100)
        if not data or b"x" in data:
            raise ConnectionResetError("the line died")
        return b"c" in data

    def renew(self) -> bool:
        self.renewed += 1
        return False

    def interrupt(self) -> None:
        self.mine.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.closed += 1
        self.mine.close()


class Events:
    def __init__(self) -> None:
        self.seen: list[PushEvent] = []
        self.cond = threading.Condition()

    def __call__(self, event: PushEvent) -> None:
        with self.cond:
            self.seen.append(event)
            self.cond.notify_all()

    def kinds(self) -> list[str]:
        return [e.kind for e in self.seen]

    def wait_for(self, kind: str, count: int = 1, timeout: float = 5.0) -> PushEvent:
        with self.cond:
            assert self.cond.wait_for(lambda: self.kinds().count(kind) >= count, timeout), (
                f"{count} {kind}: {self.kinds()}"
            )
            return [e for e in self.seen if e.kind == kind][count - 1]


@pytest.fixture
def hub():
    made = PushHub(max_lines=3, workers=2, name="t")
    yield made
    made.close()


def opener(lines: list[Line]):
    def open_lines(room: int) -> list[PushLine]:
        return list(lines)

    return open_lines


def test_a_lease_idles_reports_changes_and_reads_on_the_hub_thread_only(hub):
    line, events = Line(), Events()
    assert isinstance(line, PushLine)
    assert hub.lease("w1", opener([line]), events) == "new"
    events.wait_for("idling")
    for _ in range(3):
        line.server.send(b"c")
        time.sleep(0.05)
    events.wait_for("change", 3)
    line.server.send(b"-")  # something that is not a change (an "* OK Still here")
    time.sleep(0.1)
    assert events.kinds().count("change") == 3
    assert line.readers == {"t-hub"}
    assert hub.stats()["lines"] == 1 and hub.stats()["idling"] == 1


def test_a_change_known_at_start_is_reported_after_idling(hub):
    events = Events()
    hub.lease("w", opener([Line(changed=True)]), events)
    events.wait_for("change")
    assert events.kinds()[:2] == ["idling", "change"]


def test_a_source_that_refuses_is_unsupported_and_frees_its_room(hub):
    events = Events()
    hub.lease("w", opener([Line(refuse=True)]), events)
    event = events.wait_for("unsupported")
    assert event.error == {"code": "UNSUPPORTED", "message": "This source refuses to watch."}
    deadline = time.monotonic() + 2
    while hub.holds("w") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not hub.holds("w") and hub.stats()["held"] == 0


def test_past_its_lines_the_hub_refuses_a_lease_and_says_capacity(hub):
    held = [Line() for _ in range(3)]
    for i, line in enumerate(held):
        assert hub.lease(f"w{i}", opener([line]), Events()) == "new"
    assert hub.lease("one-too-many", opener([Line()]), Events()) == "capacity"
    assert hub.lease("w0", opener([held[0]]), Events()) == "renewed"  # (its own: kept)
    hub.release("w1")
    deadline = time.monotonic() + 2
    while hub.holds("w1") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hub.lease("one-too-many", opener([Line()]), Events()) == "new"


def test_a_lease_offered_less_room_than_it_asks_gets_what_is_left(hub):
    asked: list[int] = []
    lines = [Line() for _ in range(5)]

    def greedy(room: int) -> list[PushLine]:
        asked.append(room)
        return list(lines)  # (more than its room: the hub closes the rest)

    events = Events()
    hub.lease("w", greedy, events)
    events.wait_for("idling")
    assert asked == [3] and hub.stats()["lines"] == 3
    deadline = time.monotonic() + 2
    while sum(line.closed for line in lines) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [line.closed for line in lines] == [0, 0, 0, 1, 1]


def test_close_ends_every_lease_and_closes_every_line():
    hub = PushHub(max_lines=10, workers=2, name="c")
    lines, events = [Line() for _ in range(4)], Events()
    for i, line in enumerate(lines):
        hub.lease(f"w{i}", opener([line]), events)
    events.wait_for("idling", 4)
    hub.close()
    assert [line.closed for line in lines] == [1, 1, 1, 1]
    assert events.kinds().count("ended") == 4
    assert hub.lease("late", opener([Line()]), events) == "capacity"


def test_an_event_handler_that_fails_does_not_stop_the_hub(hub):
    line, events = Line(), Events()

    def broken(event: PushEvent) -> None:
        events(event)
        raise RuntimeError("a host's bug")

    hub.lease("w", opener([line]), broken)
    events.wait_for("idling")
    line.server.send(b"c")
    events.wait_for("change")
    assert hub.lease("other", opener([Line()]), events) == "new"
    events.wait_for("idling", 2)


def test_an_opener_refused_for_room_reports_waiting_not_a_crash(hub):
    def refused(room: int) -> list[PushLine]:
        raise RateLimited("The server has too many connections.")

    events = Events()
    hub.lease("w", refused, events)
    event = events.wait_for("waiting")
    assert event.reason == "reconnecting after RATE_LIMITED"


def test_reopen_closes_the_lines_and_opens_the_new_openers_at_once(hub):
    """The source was replaced (a mailbox deleted and created again): the old lines would
    hear nothing of the new one, so they are closed and the new opener's opened, at once
    (no reconnection pause), and no room is lost."""
    old, new, events = Line(), Line(), Events()
    hub.lease("w", opener([old]), events)
    events.wait_for("idling")
    assert hub.reopen("w", opener([new])) is True
    waiting = events.wait_for("waiting")
    assert waiting.error is None and "replaced" in (waiting.reason or "")
    events.wait_for("idling", 2, timeout=2)  # (a reconnection would pause about a second)
    assert old.closed == 1 and new.started == 1
    new.server.send(b"c")
    events.wait_for("change")
    assert hub.stats()["held"] == 1
    assert hub.reopen("nobody", opener([Line()])) is False
