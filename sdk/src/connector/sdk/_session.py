"""What a host may ask of a connector's session, and of a push's line: two typed protocols.

A *session* is what a connection handler returns (IMAP: a logged-in connection). Hosts that
keep sessions between steps (the pool: ``connector serve``, a worker) or cut them (a step's
deadline, a push stopped) depend on ``Session``; a connection that declares ``pooling`` in
its manifest returns one (the runtime checks). A *push line* (``PushLine``) is one
connection a trigger's push holds open to hear of changes (IMAP: one IDLE, or one NOTIFY
for several mailboxes), driven by the process's push hub (connector.sdk._pushhub): one
thread reads every line of the process when it has something to say; what blocks
(starting, renewing, closing a line) runs on a few worker threads.

Neither protocol names a protocol of the wire: a REST connector's session, or a line that
is a websocket or a long poll, fits them as well.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Session(Protocol):
    """A connection's session as hosts use it between and around steps."""

    def reset(self) -> None:
        """After a step, back to a neutral state without losing anything (IMAP: UNSELECT,
        never CLOSE, which expunges). Raises when the session cannot be reused."""
        return None

    def stale(self) -> bool:
        """Before a reuse, without a round trip when nothing is amiss: True when the session
        must not be reused (the server closed it, said goodbye)."""
        return False

    def check(self) -> None:
        """A cheap round trip that raises on a dead connection (IMAP: NOOP), before reusing
        a session idle for a while."""
        return None

    def interrupt(self) -> None:
        """From another thread: cut the connection, so a blocked read returns at once (a
        step past its deadline, a push stopped). The session is unusable after."""
        return None

    def close(self) -> None:
        """Say goodbye and release the connection; never waits long."""
        return None


@runtime_checkable
class PushLine(Protocol):
    """One connection a push holds open to hear of changes, as the push hub drives it.

    ``start()`` and ``renew()`` block (a round trip or a few) and run on the hub's worker
    threads; ``on_readable()`` runs on the hub's one thread when ``fileno()`` is readable
    and must not block: it reads what arrived and says whether it reports a change. Any
    of the three raises when the line is dead (the hub closes every line of that push and
    opens them again after a pause). A change reported is only a hint: the poll decides
    what is new, so a line that lies or dies costs latency, never records.
    """

    # Seconds of quiet after which the hub calls ``renew()`` (jittered, so lines started
    # together do not renew together); it also proves the line alive.
    renew_every: float

    def fileno(self) -> int:
        """The socket the hub waits on (registered once ``start()`` returned)."""
        ...

    def start(self) -> bool:
        """Blocking: bring the line to where the source confirmed it watches (IMAP: the
        server's "+" to IDLE). True when a change is already known (mail that came after
        the last poll). Raises ``connector.sdk.errors.Unsupported`` when the source
        refuses to watch (the push is then off, not retried)."""
        ...

    def on_readable(self) -> bool:
        """Non-blocking: read what arrived; True when it reports a change."""
        ...

    def renew(self) -> bool:
        """Blocking: end the wait and start it again (IMAP: DONE, NOOP, IDLE), proving the
        line alive; True when a change was reported meanwhile."""
        ...

    def interrupt(self) -> None:
        """From another thread: cut the connection (a blocked ``renew()`` fails at once)."""
        ...

    def close(self) -> None:
        """Say goodbye; never waits long."""
        ...


def missing(session: object) -> list[str]:
    """The ``Session`` methods a session lacks (empty: it is one)."""
    names = ("reset", "stale", "check", "interrupt", "close")
    return [name for name in names if not callable(getattr(session, name, None))]


def reusable(session: Session, checked: bool) -> bool:
    """Whether a kept session may be used again: not dropped by its server (``stale()``),
    and, when ``checked``, answering a round trip (``check()``)."""
    try:
        if session.stale():
            return False
        if checked:
            session.check()
    except Exception:  # noqa: BLE001 - a session that fails its check is not reused
        return False
    return True


def interrupt(session: object) -> None:
    """Cut a session's connection where it can be (any connector's session: a ``Session``
    has ``interrupt()``, another may not)."""
    cut = getattr(session, "interrupt", None)
    if callable(cut):
        cut()


def close_quietly(session: object) -> None:
    """Close any connector's session (a ``Session``, or whatever its connection handler
    returned); a failure to say goodbye must not hide the action's outcome."""
    close = getattr(session, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # noqa: BLE001,S110 - the action's result or error matters, not this
            pass
