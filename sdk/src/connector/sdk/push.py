"""What a trigger's push may hold beyond its first session: more of the same connection.

A source that reports changes on one line per watched thing (IMAP IDLE: one mailbox per
connection) asks ``sessions.open()`` for each further line. The runtime owns them all: it
cuts every one when the wait is stopped and closes every one when the push returns, so a
push cannot leak a connection whichever way it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from . import egress as egress_policy


class PushStopped(Exception):
    """The wait was stopped while a push was opening another session."""


class PushSessions:
    """``open()`` -> another session of the push's connection (egress-checked, like the
    first, from whichever thread asks)."""

    def __init__(self, first: Any, opener: Callable[[], Any]):
        self._opener = opener
        self._policy = egress_policy.current()  # (a ContextVar: threads do not inherit it)
        self._lock = threading.Lock()
        self._stopped = False
        self.all: list[Any] = [first]

    def open(self) -> Any:
        if self._stopped:
            raise PushStopped("the push was stopped")
        with egress_policy.applied(self._policy):
            session = self._opener()
        with self._lock:
            self.all.append(session)
            stopped = self._stopped
        if stopped:
            interrupt(session)
            raise PushStopped("the push was stopped")
        return session

    def interrupt(self) -> None:
        """Cut every session's connection (from another thread): the push's reads fail."""
        with self._lock:
            self._stopped = True
            sessions = list(self.all)
        for session in sessions:
            interrupt(session)

    def close(self) -> None:
        with self._lock:
            sessions, self.all = list(self.all), []
        for session in sessions:
            close_quietly(session)


def interrupt(session: Any) -> None:
    cut = getattr(session, "interrupt", None)
    if cut is not None:
        cut()


def close_quietly(session: Any) -> None:
    """Close a session; a failure to say goodbye must not hide the action's outcome."""
    close = getattr(session, "close", None)
    if close is not None:
        try:
            close()
        except Exception:  # noqa: BLE001,S110 - the action's result or error matters, not this
            pass
