"""One push hub per process: every line of every push (IMAP IDLE, NOTIFY) on one selector
thread, and a few worker threads for what blocks (opening, renewing, closing a line).

Idle connections are cheap; threads are not (ARCHITECTURE.md). A push used to hold a
thread (and, on Temporal, an activity slot) for its whole wait, plus a thread that woke
five times a second to see whether to stop it: a worker with 16 steps' slots held 16 pushes
and nothing else. Here a push is a *lease*: ``lease(key, opener, on_event)`` asks the hub
to hold the lines ``opener`` opens (connector.sdk._session.PushLine) until the lease ends
(``release``, or its term passes unless renewed), and to report what happens on them:

- ``idling``: every line of the lease confirmed it watches (IMAP: the server's "+");
- ``change``: a line reported a change (the host polls);
- ``waiting``: no line for now, with the reason (``reconnecting after CODE``): a line died
  or could not be opened, and is opened again after 1, 2, 4... seconds, at most a minute
  (jittered: lines that died together do not come back together);
- ``unsupported``: the source refuses to watch (the lease ends);
- ``failed``: a lease that asked not to be retried (``retry=False``) failed (it ends);
- ``ended``: the hub closed (the host should lease elsewhere).

Events are called on the hub's thread and must not block (a host posts them on).

The hub holds at most ``max_lines`` lines: a lease it has no room for is refused
(``lease`` says ``capacity``) and the host polls without push, or asks elsewhere. A line
whose push asks for more connections than the room left gets fewer (the source's other
things are seen at the next poll).

Nothing here wakes on a clock but what is due: the selector waits for a readable line, a
call from another thread (a socket pair) or the next timer (a line's renewal, a lease's
term, a reconnection), whichever is first.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import random
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._session import PushLine, close_quietly
from .errors import ConnectionFailed, ConnectorError

log = logging.getLogger("connector.sdk.pushhub")

# Lines one process holds by default (a worker's --max-push-lines).
MAX_LINES = 2000
# Threads for what blocks (open, renew, close): few, whatever the number of lines. An
# opening takes a few round trips; a renewal one.
WORKERS = 4
# A line that died is opened again after 1, 2, 4... seconds, at most this.
RETRY_MAX = 60.0


@dataclass(frozen=True)
class PushEvent:
    """What happened to a lease: ``kind`` (see the module's docstring), ``reason`` (for
    ``waiting``), ``error`` (``{"code", "message"}``: why a line died or was refused)."""

    kind: str
    reason: str | None = None
    error: dict | None = None


Opener = Callable[[int], list[PushLine]]
"""Opens a lease's lines (blocking, on a worker thread), at most the given number."""


def describe_error(exc: BaseException) -> dict:
    """``{"code", "message"}`` for an exception a line raised (a host passes its own, which
    maps library exceptions and masks secrets)."""
    if isinstance(exc, ConnectorError):
        return {"code": exc.code, "message": exc.message}
    return {
        "code": ConnectionFailed.code,
        "message": f"The push's line failed ({type(exc).__name__}).",
    }


class _Lease:
    def __init__(
        self,
        key: str,
        opener: Opener,
        on_event: Callable[[PushEvent], None],
        describe: Callable[[BaseException], dict],
        expires: float | None,
        retry: bool,
        renew_cap: float | None,
    ):
        self.key, self.opener, self.on_event, self.describe = key, opener, on_event, describe
        self.expires, self.retry, self.renew_cap = expires, retry, renew_cap
        self.lines: list[PushLine] = []
        self.fds: dict[int, int] = {}  # id(line) -> the fd it is registered with
        self.busy: set[int] = set()  # id(line) of lines in a renewal on a worker thread
        self.held = 1  # lines counted against the hub's cap (one is reserved while opening)
        self.status = "connecting"
        self.failures = 0
        self.generation = 0  # bumped when its lines are dropped: older results are ignored
        self.ended = False


class PushHub:
    """The process's push lines. ``lease`` and ``release`` may be called from any thread;
    everything else happens on the hub's thread (started at once) and its workers."""

    def __init__(self, *, max_lines: int = MAX_LINES, workers: int = WORKERS, name: str = "push"):
        self.max_lines = max_lines
        self._lock = threading.Lock()
        self._leases: dict[str, _Lease] = {}
        self._held = 0  # lines held or reserved, all leases together
        self._selector = selectors.DefaultSelector()
        self._waker, self._wake_end = socket.socketpair()
        self._waker.setblocking(False)
        self._wake_end.setblocking(False)
        self._selector.register(self._wake_end, selectors.EVENT_READ, None)
        self._calls: deque[tuple[Callable[..., None], tuple]] = deque()
        self._woken = False
        self._timers: list[tuple[float, int, Callable[..., None], tuple]] = []
        self._order = itertools.count()
        self._jobs: queue.SimpleQueue[tuple[Callable[..., None], tuple] | None] = (
            queue.SimpleQueue()
        )
        self._workers: list[threading.Thread] = []
        self._most_workers, self._idle_workers = workers, 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"{name}-hub", daemon=True)
        self._name = name
        self._thread.start()

    # -- what hosts call (any thread)

    def lease(
        self,
        key: str,
        opener: Opener,
        on_event: Callable[[PushEvent], None],
        *,
        seconds: float | None = None,
        retry: bool = True,
        describe: Callable[[BaseException], dict] = describe_error,
        renew_every: float | None = None,
    ) -> str:
        """Hold ``opener``'s lines for ``key`` for ``seconds`` (None: until released):
        ``"new"``; for a key already held, its term, opener (what it opens the next time
        its lines come back) and callbacks are replaced and its lines kept: ``"renewed"``;
        ``"capacity"`` when the hub has no room (nothing is held). ``renew_every`` caps its
        lines' own (``PushLine.renew_every``)."""
        expires = time.monotonic() + seconds if seconds is not None else None
        with self._lock:
            if self._closed:
                return "capacity"
            lease = self._leases.get(key)
            if lease is not None and not lease.ended:
                lease.opener, lease.on_event, lease.describe = opener, on_event, describe
                lease.retry, lease.renew_cap = retry, renew_every
                timer = expires is not None and lease.expires is None
                lease.expires = expires  # (a timer set looks again at the new term)
                answer = "renewed"
            elif self._held + 1 > self.max_lines:
                return "capacity"
            else:
                lease = _Lease(key, opener, on_event, describe, expires, retry, renew_every)
                self._leases[key] = lease
                self._held += 1
                timer, answer = expires is not None, "new"
        if answer == "new":
            self._call(self._start, lease, lease.generation)
        if timer:
            self._call(self._at, expires, self._expire, lease)
        return answer

    def reopen(self, key: str, opener: Opener) -> bool:
        """Close ``key``'s lines and open them again with ``opener``: what they watch was
        replaced (a mailbox deleted and created again), and the old ones would hear nothing
        of the new. False when ``key`` holds no lease."""
        with self._lock:
            lease = self._leases.get(key)
            if lease is None or lease.ended:
                return False
            lease.opener = opener
        self._call(self._reopen, lease)
        return True

    def release(self, key: str) -> None:
        """End ``key``'s lease (its lines are closed); nothing when none is held."""
        with self._lock:
            lease = self._leases.get(key)
        if lease is not None:
            self._call(self._end, lease, None)

    def holds(self, key: str) -> bool:
        with self._lock:
            lease = self._leases.get(key)
            return lease is not None and not lease.ended

    def status(self, key: str) -> str | None:
        """A held lease's ``connecting``, ``idling`` or ``waiting``; None when not held."""
        with self._lock:
            lease = self._leases.get(key)
            return lease.status if lease is not None and not lease.ended else None

    def keys(self) -> list[str]:
        """The keys of the leases held (waiting ones too)."""
        with self._lock:
            return sorted(k for k, lease in self._leases.items() if not lease.ended)

    def stats(self) -> dict:
        with self._lock:
            leases = [lease for lease in self._leases.values() if not lease.ended]
            return {
                "leases": len(leases),
                "lines": sum(len(lease.lines) for lease in leases),
                "held": self._held,
                "idling": sum(lease.status == "idling" for lease in leases),
                "maxLines": self.max_lines,
                "threads": len(self._workers) + 1,
            }

    def close(self, wait: float = 5.0) -> None:
        """End every lease (``ended`` events), close every line, stop the threads."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._call(self._shutdown)
        end = time.monotonic() + wait
        self._thread.join(wait)
        for worker in list(self._workers):  # (closing the lines: a LOGOUT each, not awaited)
            worker.join(max(0.0, end - time.monotonic()))

    # -- the hub's thread

    def _run(self) -> None:
        while True:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            for key, _ in self._selector.select(timeout):
                if key.data is None:
                    self._drain_waker()
                else:
                    self._guarded(self._readable, *key.data)
            while True:
                with self._lock:
                    if not self._calls:
                        self._woken = False
                        break
                    call, args = self._calls.popleft()
                self._guarded(call, *args)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, call, args = heapq.heappop(self._timers)
                self._guarded(call, *args)
            if self._closed and not self._busy():
                break
        for _ in self._workers:
            self._jobs.put(None)
        self._selector.close()
        self._waker.close()
        self._wake_end.close()

    def _guarded(self, call: Callable[..., None], *args: Any) -> None:
        try:
            call(*args)
        except Exception:  # the hub's thread never dies of one lease's trouble
            log.exception("push hub: %s failed", getattr(call, "__name__", call))

    def _busy(self) -> bool:
        with self._lock:
            return bool(self._leases)

    def _call(self, call: Callable[..., None], *args: Any) -> None:
        """Run ``call(*args)`` on the hub's thread, soon (from any thread)."""
        with self._lock:
            self._calls.append((call, args))
            if self._woken:
                return
            self._woken = True
        try:
            self._waker.send(b"\0")
        except OSError:  # (closed: the hub stopped)
            pass

    def _drain_waker(self) -> None:
        try:
            while self._wake_end.recv(4096):
                pass
        except OSError:
            pass

    def _at(self, when: float, call: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self._timers, (when, next(self._order), call, args))

    def _submit(self, job: Callable[..., None], *args: Any) -> None:
        """Run ``job(*args)`` on a worker thread (started as needed, ``WORKERS`` at most)."""
        with self._lock:
            start = self._idle_workers == 0 and len(self._workers) < self._most_workers
            if start:
                self._idle_workers += 1
        if start:
            thread = threading.Thread(target=self._work, name=f"{self._name}-work", daemon=True)
            self._workers.append(thread)
            thread.start()
        self._jobs.put((job, args))

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            with self._lock:
                self._idle_workers -= 1
            job, args = item
            try:
                job(*args)
            except Exception:
                log.exception("push hub: a job failed")
            finally:
                with self._lock:
                    self._idle_workers += 1

    # -- a lease's life (hub thread)

    def _emit(self, lease: _Lease, event: PushEvent) -> None:
        try:
            lease.on_event(event)
        except Exception:
            log.exception("push hub: an event handler failed")

    def _start(self, lease: _Lease, generation: int) -> None:
        if lease.ended or generation != lease.generation:
            return
        with self._lock:
            room = max(1, self.max_lines - self._held + lease.held)
        self._submit(self._open_job, lease, generation, room)

    def _open_job(self, lease: _Lease, generation: int, room: int) -> None:
        lines: list[PushLine] = []
        try:
            lines = lease.opener(room)
            if len(lines) > room:  # (an opener that ignored its room)
                _close_all(lines[room:])
                lines = lines[:room]
            changed = False
            for line in lines:
                changed = line.start() or changed
        except Exception as exc:  # noqa: BLE001 - reported as the lease's event
            for line in lines:
                close_quietly(line)
            self._call(self._opened, lease, generation, [], False, exc)
            return
        self._call(self._opened, lease, generation, lines, changed, None)

    def _opened(
        self,
        lease: _Lease,
        generation: int,
        lines: list[PushLine],
        changed: bool,
        error: BaseException | None,
    ) -> None:
        if lease.ended or generation != lease.generation:
            self._submit(_close_all, lines)
            return
        if error is not None or not lines:
            self._failed(lease, error or ConnectionFailed("The push opened no line."))
            return
        with self._lock:
            # (leases opening together were each offered the room left: the last ones in
            # keep one line each, past the cap by none)
            room = max(1, self.max_lines - self._held + lease.held)
            extra, lines = lines[room:], lines[:room]
            self._held += len(lines) - lease.held
            lease.held = len(lines)
        if extra:
            self._submit(_close_all, extra)
        lease.lines = lines
        for line in lines:
            self._register(lease, line)
            self._renew_later(lease, line, first=True)
        lease.failures = 0
        lease.status = "idling"
        self._emit(lease, PushEvent("idling"))
        if changed:
            self._emit(lease, PushEvent("change"))

    def _register(self, lease: _Lease, line: PushLine) -> None:
        fd = line.fileno()
        lease.fds[id(line)] = fd
        self._selector.register(fd, selectors.EVENT_READ, (lease, line))

    def _unregister(self, lease: _Lease, line: PushLine) -> None:
        fd = lease.fds.pop(id(line), None)
        if fd is not None:
            try:
                self._selector.unregister(fd)
            except (KeyError, ValueError):
                pass

    def _renew_later(self, lease: _Lease, line: PushLine, first: bool = False) -> None:
        every = line.renew_every
        if lease.renew_cap is not None:
            every = min(every, lease.renew_cap)
        # Jittered: lines opened together (a worker's start, a server's restart) spread
        # their renewals, the first ones over half the interval.
        every *= random.uniform(0.5 if first else 0.8, 1.0)  # noqa: S311 - not for secrets
        self._at(time.monotonic() + every, self._renew_due, lease, line, lease.generation)

    def _readable(self, lease: _Lease, line: PushLine) -> None:
        if lease.ended or id(line) not in lease.fds:
            self._unregister(lease, line)
            return
        try:
            changed = line.on_readable()
        except Exception as exc:  # noqa: BLE001 - the line is dead: reconnect
            self._failed(lease, exc)
            return
        if changed:
            self._emit(lease, PushEvent("change"))

    def _renew_due(self, lease: _Lease, line: PushLine, generation: int) -> None:
        if lease.ended or generation != lease.generation or id(line) not in lease.fds:
            return
        self._unregister(lease, line)  # (the worker thread reads it meanwhile)
        lease.busy.add(id(line))
        self._submit(self._renew_job, lease, line, generation)

    def _renew_job(self, lease: _Lease, line: PushLine, generation: int) -> None:
        try:
            changed = line.renew()
        except Exception as exc:  # noqa: BLE001 - the line is dead: reconnect
            self._call(self._renewed, lease, line, generation, False, exc)
            return
        self._call(self._renewed, lease, line, generation, changed, None)

    def _renewed(
        self,
        lease: _Lease,
        line: PushLine,
        generation: int,
        changed: bool,
        error: BaseException | None,
    ) -> None:
        lease.busy.discard(id(line))
        if lease.ended or generation != lease.generation:
            self._submit(_close_all, [line])  # (dropped meanwhile: it was cut, never closed)
            return
        if error is not None:
            self._failed(lease, error)
            return
        self._register(lease, line)
        self._renew_later(lease, line)
        if changed:
            self._emit(lease, PushEvent("change"))

    def _drop_lines(self, lease: _Lease) -> None:
        """Unregister and close a lease's lines; a line in a renewal is cut, and closed when
        its worker gives it back (``_renewed``)."""
        lease.generation += 1
        closing = []
        for line in lease.lines:
            self._unregister(lease, line)
            if id(line) in lease.busy:
                line.interrupt()
            else:
                closing.append(line)
        lease.lines = []
        if closing:
            self._submit(_close_all, closing)

    def _failed(self, lease: _Lease, exc: BaseException) -> None:
        self._drop_lines(lease)
        try:
            error = lease.describe(exc)
        except Exception:  # noqa: BLE001 - a describe that fails still reports a failure
            error = describe_error(exc)
        with self._lock:
            self._held -= lease.held - 1  # one stays reserved for the reconnection
            lease.held = 1
        if error.get("code") == "UNSUPPORTED":
            lease.status = "unsupported"
            self._emit(lease, PushEvent("unsupported", error=error))
            self._end(lease, None)
            return
        if not lease.retry:
            self._emit(lease, PushEvent("failed", error=error))
            self._end(lease, None)
            return
        lease.failures += 1
        delay = min(RETRY_MAX, 2.0 ** min(lease.failures - 1, 10))
        delay *= random.uniform(0.75, 1.0)  # noqa: S311 - spread, not a secret
        lease.status = "waiting"
        self._emit(
            lease, PushEvent("waiting", reason=f"reconnecting after {error['code']}", error=error)
        )
        self._at(time.monotonic() + delay, self._start, lease, lease.generation)

    def _reopen(self, lease: _Lease) -> None:
        if lease.ended:
            return
        self._drop_lines(lease)
        with self._lock:
            self._held -= lease.held - 1  # one stays reserved for the new lines
            lease.held = 1
        lease.status = "connecting"
        self._emit(lease, PushEvent("waiting", reason="reopening: the source was replaced"))
        self._start(lease, lease.generation)

    def _expire(self, lease: _Lease) -> None:
        if lease.ended:
            return
        expires = lease.expires
        if expires is None:
            return
        if expires > time.monotonic():  # renewed meanwhile: look again then
            self._at(expires, self._expire, lease)
            return
        self._end(lease, None)

    def _end(self, lease: _Lease, event: PushEvent | None) -> None:
        if lease.ended:
            return
        lease.ended = True
        self._drop_lines(lease)
        with self._lock:
            if self._leases.get(lease.key) is lease:
                del self._leases[lease.key]
            self._held -= lease.held
            lease.held = 0
        if event is not None:
            self._emit(lease, event)

    def _shutdown(self) -> None:
        with self._lock:
            leases = list(self._leases.values())
        for lease in leases:
            self._end(lease, PushEvent("ended"))


def _close_all(lines: list[PushLine]) -> None:
    for line in lines:
        close_quietly(line)
