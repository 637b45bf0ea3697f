"""``PushSessions``: the sessions a push opens beyond its first, within the room its host's
hub has left, and the ``Session`` protocol the pool and push depend on."""

from __future__ import annotations

import pytest

from connector.sdk._push import PushSessions
from connector.sdk._session import Session, missing, reusable
from connector.sdk.errors import RateLimited


class Kept(Session):
    def __init__(self, *, stale: bool = False, fails_check: bool = False):
        self.closed = self.checks = 0
        self._stale, self.fails_check = stale, fails_check

    def stale(self) -> bool:
        return self._stale

    def check(self) -> None:
        self.checks += 1
        if self.fails_check:
            raise OSError("no answer")

    def close(self) -> None:
        self.closed += 1


def test_a_push_opens_sessions_within_its_room_then_is_refused():
    opened: list[Kept] = []

    def opener() -> Kept:
        opened.append(Kept())
        return opened[-1]

    first = Kept()
    sessions = PushSessions(first, opener, room=3)
    second, third = sessions.open(), sessions.open()
    assert sessions.all == [first, second, third] and opened == [second, third]
    with pytest.raises(RateLimited, match="as many push lines as it may"):
        sessions.open()
    sessions.close()
    assert [s.closed for s in (first, second, third)] == [1, 1, 1] and sessions.all == []


def test_a_session_is_reused_only_when_fresh_and_answering():
    assert reusable(Kept(), checked=False)
    assert not reusable(Kept(stale=True), checked=False)
    assert reusable(Kept(fails_check=True), checked=False)  # (no round trip asked)
    assert not reusable(Kept(fails_check=True), checked=True)


def test_missing_names_what_a_session_lacks():
    class Partial:
        def close(self) -> None: ...

    assert missing(Kept()) == []  # (the protocol's defaults count)
    assert missing(Partial()) == ["reset", "stale", "check", "interrupt"]
    assert isinstance(Kept(), Session) and not isinstance(Partial(), Session)
