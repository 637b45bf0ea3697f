"""What a trigger's push may open beyond its first session: more of the same connection.

A source that reports changes on one line per watched thing (IMAP IDLE: one mailbox per
connection) asks ``sessions.open()`` for each further session, within the room the host's
push hub has left (connector.sdk._pushhub): past it, ``open()`` raises ``RateLimited`` and
the push watches fewer things (the others are seen at the next poll). Until the push
returns its lines, the runtime owns every session opened: a push that fails half-way
cannot leak one (``close()``); the lines returned own theirs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from . import _egress as egress_policy
from ._egress import EgressPolicy
from ._session import Session, close_quietly
from .errors import RateLimited


class PushSessions:
    """``open()`` -> another session of the push's connection (egress-checked, like the
    first), at most ``room`` in all; ``all``: every session opened, the first one first."""

    def __init__(
        self,
        first: Session,
        opener: Callable[[], Session],
        *,
        room: int = 1,
        policy: EgressPolicy | None = None,
    ):
        self._opener, self._room = opener, max(1, room)
        self._policy = policy or egress_policy.current()
        self._lock = threading.Lock()
        self.all: list[Session] = [first]

    def open(self) -> Session:
        with self._lock:
            if len(self.all) >= self._room:
                raise RateLimited(
                    f"This host holds as many push lines as it may ({self._room} more for "
                    "this push): what it cannot watch is seen at the next poll."
                )
        with egress_policy.applied(self._policy):
            session = self._opener()
        with self._lock:
            self.all.append(session)
        return session

    def close(self) -> None:
        """Close every session opened (a push that failed before returning its lines)."""
        with self._lock:
            sessions, self.all = self.all, []
        for session in sessions:
            close_quietly(session)
