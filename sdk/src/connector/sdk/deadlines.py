"""A step's deadline, enforced however the remote side trickles its answer.

A socket's timeout bounds each read, not the step: a server sending a byte a second keeps
every read short and a step going for as long as it likes. The runtime therefore watches
each step's session and, at the step's deadline, calls its ``interrupt()`` (cut the
connection, from another thread), so the blocked read fails at once. A connector whose own
waits need the same guarantee (a line that must arrive within N seconds, a command whose
whole answer must) asks for a watch of its own: ``watch(session, deadline)``. One thread
of the process serves every watch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _deadlines
from ._deadlines import Watch

__all__ = ["Watch", "watch"]


def watch(
    session: Any, deadline: float, renew: Callable[[float], float | None] | None = None
) -> Watch:
    """Call ``session.interrupt()`` at ``deadline`` (a ``time.monotonic()`` value) unless the
    returned ``Watch`` is disarmed first; ``Watch.disarm()`` says whether the cut came first.

    With ``renew``, a deadline that moves: when it comes, ``renew(now)`` says what it is now
    (a later time: look again then; None: cut now; ``math.inf``: stop watching). It runs on
    the watchdog's thread under its lock: it must only read a few attributes, never block."""
    return _deadlines.WATCHDOG.watch(session, deadline, renew)
