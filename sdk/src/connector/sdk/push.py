"""What a trigger's push may hold beyond its first session: more of the same connection,
and the lines a host keeps from one wait to the next.

A source that reports changes on one line per watched thing (IMAP IDLE: one mailbox per
connection) asks ``sessions.open()`` for each further line. The runtime owns them all: it
cuts every one when the wait is stopped and, when the push returns, closes every one or
gives them to the host's ``PushLines`` (a wait that ended well), so a push cannot leak a
connection whichever way it ends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from . import egress as egress_policy


class PushStopped(Exception):
    """The wait was stopped while a push was opening another session."""


class PushSessions:
    """``open()`` -> another session of the push's connection (egress-checked, like the
    first, from whichever thread asks); ``confirm()``: the source confirmed it is watching
    (IMAP: the server's go-ahead for IDLE), for a host that reports it (``on_watching``,
    called from the push's thread, once or more)."""

    def __init__(
        self,
        first: Any,
        opener: Callable[[], Any],
        spare: list[Any] | None = None,
        on_watching: Callable[[], None] | None = None,
    ):
        self.on_watching = on_watching
        self._opener = opener
        self._policy = egress_policy.current()  # (a ContextVar: threads do not inherit it)
        self._lock = threading.Lock()
        self._stopped = False
        self._spare = list(spare or [])  # kept from the last wait: handed out before new ones
        self.all: list[Any] = [first]

    def open(self) -> Any:
        if self._stopped:
            raise PushStopped("the push was stopped")
        with self._lock:
            kept = self._spare.pop(0) if self._spare else None
        if kept is not None:
            session = kept
        else:
            with egress_policy.applied(self._policy):
                session = self._opener()
        with self._lock:
            self.all.append(session)
            stopped = self._stopped
        if stopped:
            interrupt(session)
            raise PushStopped("the push was stopped")
        return session

    def confirm(self) -> None:
        if self.on_watching is not None:
            self.on_watching()

    def interrupt(self) -> None:
        """Cut every session's connection (from another thread): the push's reads fail."""
        with self._lock:
            self._stopped = True
            sessions = list(self.all)
        for session in sessions:
            interrupt(session)

    def close(self) -> None:
        for session in self.release():
            close_quietly(session)

    def release(self) -> list[Any]:
        """Every session, the push's first one first, no longer this object's to close."""
        with self._lock:
            sessions, self.all = [*self.all, *self._spare], []
            self._spare = []
        return sessions


class PushLines:
    """A push's sessions kept from one wait to the next, for a host that waits again and
    again (``listen``, a worker): a line logs in once, not once per wait or renewal.

    ``take(key)`` hands a wait the lines the last wait of that connection gave back with
    ``give(key, sessions)``, each checked first as a pooled session is: ``stale()``, and
    ``check()`` (a round trip) after ``check_after`` seconds kept; a line that fails is
    closed. Lines kept longer than ``idle_seconds`` are closed (a reaper thread). Keys are
    keyed hashes of the connection (``key(...)``), never its fields; one wait at a time
    holds a connection's lines (a second wait of the same connection opens its own, and
    what it gives back beside kept lines is closed).
    """

    def __init__(self, idle_seconds: float = 120.0, check_after: float = 5.0):
        self.idle_seconds, self.check_after = idle_seconds, check_after
        self._secret = os.urandom(32)
        self._lock = threading.Lock()
        self._kept: dict[bytes, tuple[float, list[Any]]] = {}
        self._closed = False
        self._reaper: threading.Thread | None = None

    def key(self, *parts: Any) -> bytes:
        text = json.dumps(parts, sort_keys=True, default=str).encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, text, hashlib.sha256).digest()

    def take(self, key: bytes) -> list[Any]:
        with self._lock:
            since, sessions = self._kept.pop(key, (0.0, []))
        checked = time.monotonic() - since > self.check_after
        live = []
        for session in sessions:
            if reusable(session, checked):
                live.append(session)
            else:
                close_quietly(session)
        return live

    def give(self, key: bytes, sessions: list[Any]) -> None:
        dead = [s for s in sessions if not reusable(s, checked=False)]  # (cut lines)
        sessions = [s for s in sessions if s not in dead]
        for session in dead:
            close_quietly(session)
        with self._lock:
            extra = sessions if self._closed or key in self._kept else []
            if not extra and sessions:
                self._kept[key] = (time.monotonic(), sessions)
                if self._reaper is None:
                    self._reaper = threading.Thread(
                        target=self._reap, name="push-lines-reaper", daemon=True
                    )
                    self._reaper.start()
        for session in extra:
            close_quietly(session)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            kept, self._kept = self._kept, {}
        for _, sessions in kept.values():
            for session in sessions:
                close_quietly(session)

    def _reap(self) -> None:
        while not self._closed:
            time.sleep(max(0.5, self.idle_seconds / 4))
            cutoff = time.monotonic() - self.idle_seconds
            with self._lock:
                old = [k for k, (since, _) in self._kept.items() if since < cutoff]
                expired = [self._kept.pop(k)[1] for k in old]
            for sessions in expired:
                for session in sessions:
                    close_quietly(session)


def reusable(session: Any, checked: bool) -> bool:
    """Whether a kept session (a push's line, a pooled step session) may be used again: not
    dropped by its server (``stale()``), and, when ``checked``, answering a round trip
    (``check()``)."""
    stale = getattr(session, "stale", None)
    check = getattr(session, "check", None)
    try:
        if stale is not None and stale():
            return False
        if checked and check is not None:
            check()
    except Exception:  # noqa: BLE001 - a session that fails its check is not reused
        return False
    return True


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
