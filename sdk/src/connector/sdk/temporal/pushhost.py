"""A worker's side of push: its push hub (connector.sdk._pushhub) holding the lines of the
watchers that leased them here, and the activities that lease, release and watch it.

- ``connector.pushLease`` (shared task queue, any worker): a watcher asks for its lines;
  the hub opens them (on its own threads) and the answer comes at once: ``new`` or
  ``renewed`` (held here already); past ``--max-push-lines`` it fails as ``CAPACITY``,
  retried at once on whichever worker takes it, and after the last attempt the watcher
  says ``waiting: capacity``, polls, and asks again later. It names this worker's own task
  queue, where the watcher sends ``connector.pushRelease``.
- What the hub says (idling, change, waiting and why, unsupported) goes to the watcher as
  the signal ``push_event``: new mail is a signal, not an activity that ends.
- ``connector.pushHubAlive`` (own queue), held by the workflow ``connector.PushHubWatch``
  the worker starts: it heartbeats with the watchers leased here, so when the worker dies
  they are told (``lost``) within the heartbeat timeout and lease on another. A lease is
  answered only once Temporal has recorded a heartbeat naming its watcher (sent by this
  host's client and awaited, not the SDK's throttled heartbeat, which sent the list once
  per 80% of the timeout: a watcher leased in the seconds before a SIGKILL was in no list,
  was never told, and said ``idling`` with no line, polled only).
- A lease lives as long as its watcher runs and names this worker (its memo's
  ``pushHost``): checked every LEASE_CHECK seconds (jittered) with a describe, which writes
  nothing, so an idle line costs Temporal no event at all.
- ``connector.push`` (runs of an earlier version, which hold a push activity): the same
  lines through the hub, held until a change or the time asked, without a thread.

Lease activities take a step's slot for a moment and no thread (they are coroutines): a
push never delays a step.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
import uuid
from typing import Any

from temporalio import activity
from temporalio.client import (
    AsyncActivityCancelledError,
    AsyncActivityHandle,
    Client,
    WorkflowExecutionStatus,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from .. import _envelope as envelope
from .._egress import EgressPolicy
from .._pushhub import PushEvent, PushHub
from ..errors import ConnectorError, Unsupported
from . import activities
from .workflows import CAPACITY, HUB_ALIVE, LEASE, PUSH, PUSH_EVENT, RELEASE, REOPEN

log = logging.getLogger("connector.worker")
# A lease is checked this often (less up to a fifth, at random): its watcher still runs and
# still names this worker, or its lines are closed.
LEASE_CHECK = 300.0
# A lease waits at most this long for the heartbeat naming its watcher (pushHubAlive not
# running yet, or Temporal not answering): then it fails, and the watcher leases again.
RECORDED_WITHIN = 10.0


class PushHost:
    """The push hub of one worker process, and what Temporal needs of it."""

    def __init__(
        self,
        client: Client,
        hub: PushHub,
        task_queue: str,
        egress: EgressPolicy,
        heartbeat_seconds: float,
    ):
        self.client, self.hub, self.egress = client, hub, egress
        self.id = uuid.uuid4().hex[:12]
        self.task_queue = task_queue
        self.queue = f"{task_queue}/push-{self.id}"  # this worker's own
        self.heartbeat_seconds = heartbeat_seconds
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()
        self._signals: dict[str, asyncio.Task] = {}  # each watcher's last signal, in order
        self._checks: list[tuple[float, str]] = []  # (due, watcher)
        self._check_woken = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        # pushHubAlive's heartbeats, sent here in rounds: a round's watchers are read when it
        # is sent, after every caller waiting on it asked (_recorded).
        self._alive: AsyncActivityHandle | None = None
        self._alive_running = asyncio.Event()
        self._round: asyncio.Future[None] | None = None  # the next round's, while asked for
        self._sending: asyncio.Task | None = None
        self._keeping: asyncio.Task | None = None  # _keep_alive, from pushHubAlive's start

    @property
    def workflow_id(self) -> str:
        return f"push-hub-{self.id}"

    async def start(self) -> None:
        """Watched from now on (``connector.PushHubWatch``); leases are checked."""
        self.loop = asyncio.get_running_loop()
        self._spawn(self._check_leases())
        await self._start_watch()

    async def _start_watch(self) -> None:
        await self.client.start_workflow(
            "connector.PushHubWatch",
            {"host": self.id, "queue": self.queue, "heartbeatSeconds": self.heartbeat_seconds},
            id=self.workflow_id,
            task_queue=self.task_queue,
        )

    async def _watch_again(self) -> None:
        """A new watch, once the one before ended: pushHubAlive is gone while this worker
        runs (Temporal timed its heartbeat out: the server, or this process, stalled past
        the timeout; or the watch was terminated). Without one, every lease here waited for
        a heartbeat nothing could record and failed as UNWATCHED, for ever: no watcher had a
        line until the worker restarted."""
        wait = 0.5
        while not self._stopping.is_set():
            try:
                await self._start_watch()
                return
            except WorkflowAlreadyStartedError:
                pass  # (the old watch still tells its watchers: started again once it ended)
            except RPCError as exc:
                log.warning('{"event": "push hub watch not started", "code": "%s"}', exc.status)
            try:
                await asyncio.wait_for(self._stopping.wait(), wait)
            except TimeoutError:
                wait = min(wait * 2, activities.HEARTBEAT_SECONDS * 4)

    async def stop(self, wait: float = 5.0) -> None:
        """The worker stops: ``pushHubAlive`` completes, and the watch tells the watchers."""
        self._stopping.set()
        if self._keeping is not None:
            await asyncio.wait({self._keeping}, timeout=wait)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- activities

    @activity.defn(name=LEASE)
    async def lease(self, args: dict) -> dict:
        """``{"watcher", "connector", "trigger", "connection", "inputs", "state",
        "renewSeconds"}`` -> ``{"lease": "new"|"renewed"|"capacity"|"unsupported",
        "host", "queue", "push"}``."""
        watcher = str(args["watcher"])
        request = {
            "trigger": args["trigger"],
            "connection": args["connection"],
            "inputs": args.get("inputs") or {},
            "state": args.get("state") or {},
        }
        reply: dict[str, Any] = {"host": self.id, "queue": self.queue}
        try:
            target = activities.connector(str(args["connector"]))
            opener, describe = target.push_opener(request, egress=self.egress)
        except (LookupError, OSError) as exc:
            return {
                **reply,
                "lease": "refused",
                "error": {"code": "UNKNOWN_ACTION", "message": str(exc)},
            }
        except Unsupported as exc:
            return {**reply, "lease": "unsupported", "error": envelope.error(exc)["error"]}
        except ConnectorError as exc:
            return {**reply, "lease": "refused", "error": envelope.error(exc)["error"]}
        renew = args.get("renewSeconds")
        answer = self.hub.lease(
            watcher,
            opener,
            self._events(watcher),
            describe=describe,
            renew_every=float(renew) if renew else None,
        )
        if answer == "capacity":
            # Retried by the watcher's lease policy, on whichever worker takes it: another
            # may have room (its last attempt's failure says "capacity" to the watcher).
            raise ApplicationError(
                f"This worker holds all the push lines it may ({self.hub.max_lines}: "
                "--max-push-lines).",
                type=CAPACITY,
            )
        try:
            # (once the worker dies, its watch tells the watchers in its last heartbeat)
            await asyncio.wait_for(asyncio.shield(self._recorded()), RECORDED_WITHIN)
        except (TimeoutError, RPCError, AsyncActivityCancelledError):
            self.hub.release(watcher)
            raise ApplicationError(
                "This worker's push hub could not say it holds the lease (its heartbeat was "
                "not recorded): lease on another worker.",
                type="UNWATCHED",
            ) from None
        if answer == "new":
            self._check_later(watcher)
        return {**reply, "lease": answer, "push": self.hub.status(watcher)}

    @activity.defn(name=REOPEN)
    async def reopen(self, args: dict) -> bool:
        """The watcher's poll found what its lines watch replaced (a mailbox deleted and
        created again): they are opened again, for the state it sends. False when this
        worker holds no lease of that watcher (it moved: its new lines are new anyway)."""
        request = {
            "trigger": args["trigger"],
            "connection": args["connection"],
            "inputs": args.get("inputs") or {},
            "state": args.get("state") or {},
        }
        try:
            target = activities.connector(str(args["connector"]))
            opener, _ = target.push_opener(request, egress=self.egress)
        except (LookupError, OSError, ConnectorError):
            return False  # (the lines stay as they are; the polls still see every message)
        return self.hub.reopen(str(args["watcher"]), opener)

    @activity.defn(name=RELEASE)
    async def release(self, args: dict) -> None:
        """The watcher no longer wants its lines here (paused, moved)."""
        self.hub.release(str(args["watcher"]))

    @activity.defn(name=HUB_ALIVE)
    async def alive(self, args: dict) -> dict:
        """Heartbeat with the watchers leased here until the worker stops: then their
        names, for the watch to tell them. Cancelled (the watch was terminated), or failed:
        every lease here ends and their watchers are told, here, to lease again.

        Completed asynchronously, by ``_keep_alive``: its heartbeats go through the client,
        each awaited (``_recorded``). The SDK's own are throttled to one per 80% of the
        timeout, and a lease must not be answered before Temporal holds a list naming its
        watcher (the SDK also cancels an activity it heard no heartbeat of)."""
        handle = self.client.get_async_activity_handle(task_token=activity.info().task_token)
        self._keeping = asyncio.ensure_future(self._keep_alive(handle))
        activity.raise_complete_async()

    async def _keep_alive(self, handle: AsyncActivityHandle) -> None:
        self._alive = handle
        self._alive_running.set()
        try:
            while not self._stopping.is_set():
                try:
                    await asyncio.shield(self._recorded())
                except AsyncActivityCancelledError:
                    self._abandon()  # (the watch asked it to stop)
                    return
                except RPCError as exc:
                    if exc.status == RPCStatusCode.NOT_FOUND:
                        self._abandon()  # (timed out, or the watch is gone: terminated)
                        return
                    log.warning('{"event": "push hub heartbeat failed", "code": "%s"}', exc.status)
                try:
                    await asyncio.wait_for(self._stopping.wait(), activities.HEARTBEAT_SECONDS)
                except TimeoutError:
                    pass
        finally:
            self._alive_running.clear()
            self._alive = None
        try:
            await handle.complete({"watchers": self.hub.keys()})
        except RPCError as exc:
            log.warning('{"event": "push hub stop not recorded", "code": "%s"}', exc.status)

    def _recorded(self) -> asyncio.Future[None]:
        """Done once Temporal has recorded a heartbeat of pushHubAlive listing the watchers
        leased here, read after this call (callers at the same time share one heartbeat).
        Its exception: the heartbeat's (RPCError; AsyncActivityCancelledError)."""
        if self._round is None:
            self._round = asyncio.get_running_loop().create_future()
            self._round.add_done_callback(_retrieved)
        if self._sending is None:
            self._sending = asyncio.ensure_future(self._send_rounds())
        return self._round

    async def _send_rounds(self) -> None:
        try:
            while self._round is not None:
                await self._alive_running.wait()
                alive, done = self._alive, self._round
                self._round = None  # (a caller from here on waits for the next round)
                if alive is None:  # (ended meanwhile)
                    self._round = done
                    continue
                try:
                    await alive.heartbeat({"watchers": self.hub.keys()})
                except (RPCError, AsyncActivityCancelledError) as exc:
                    done.set_exception(exc)
                else:
                    done.set_result(None)
        finally:
            self._sending = None

    def _abandon(self) -> None:
        for watcher in self.hub.keys():
            self.hub.release(watcher)
            self._spawn(self._signal(watcher, {"event": "lost"}))
        self._spawn(self._watch_again())  # (this worker still runs: it can hold lines)

    @activity.defn(name=PUSH, no_thread_cancel_exception=True)
    async def legacy_push(self, request: dict) -> dict:
        """A run of an earlier version holding its push: ``{"connector", "trigger",
        "connection", "inputs", "state", "timeoutSeconds"}`` -> ``{"ok": true, "data":
        {"woke": "change"|"timeout"|"unsupported"}}``, its lines held by the hub meanwhile
        (heartbeating, "idling" once confirmed, as that version's status reads)."""
        body = dict(request)
        name = body.pop("connector", None)
        timeout = float(body.pop("timeoutSeconds"))
        target = activities.connector(str(name))
        try:
            opener, describe = target.push_opener(body, egress=self.egress)
        except Unsupported:
            return {"ok": True, "data": {"woke": "unsupported"}}
        except ConnectorError as exc:
            return activities.raised(envelope.error(exc))
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[PushEvent] = loop.create_future()
        idling = False

        def on_event(event: PushEvent) -> None:
            nonlocal idling
            idling = idling or event.kind == "idling"
            if event.kind in ("change", "unsupported", "failed", "ended"):
                loop.call_soon_threadsafe(_settle, ended, event)

        key = f"legacy-{activity.info().workflow_id}-{uuid.uuid4().hex[:8]}"
        if self.hub.lease(key, opener, on_event, retry=False, describe=describe) == "capacity":
            return activities.raised(
                {
                    "ok": False,
                    "error": {
                        "code": "RATE_LIMITED",
                        "message": "No push line free.",
                        "retryable": True,
                    },
                }
            )
        deadline = time.monotonic() + timeout
        try:
            while (left := deadline - time.monotonic()) > 0 and not ended.done():
                activity.heartbeat(activities.PUSH_IDLING if idling else activities.PUSH_CONNECTING)
                await asyncio.wait({ended}, timeout=min(left, activities.HEARTBEAT_SECONDS))
        finally:
            self.hub.release(key)
        if not ended.done():
            return {"ok": True, "data": {"woke": "timeout"}}
        event = ended.result()
        if event.kind == "failed" and event.error:
            return activities.raised({"ok": False, "error": event.error})
        woke = {"change": "change", "unsupported": "unsupported"}.get(event.kind, "timeout")
        return {"ok": True, "data": {"woke": woke}}

    # -- what the hub says, to the watcher (hub thread -> event loop)

    def _events(self, watcher: str) -> Any:
        def on_event(event: PushEvent) -> None:
            if event.kind == "ended":
                return  # (the hub closed: the worker stops, and its watch tells them)
            said: dict[str, Any] = {"event": event.kind}
            if event.reason:
                said["reason"] = event.reason
            if event.error:
                said["error"] = {
                    "code": event.error.get("code"),
                    "message": event.error.get("message"),
                }
            if self.loop is not None:
                self.loop.call_soon_threadsafe(self._post, watcher, said)

        return on_event

    def _post(self, watcher: str, said: dict) -> None:
        previous = self._signals.get(watcher)
        task = asyncio.ensure_future(self._signal(watcher, said, previous))
        self._signals[watcher] = task
        task.add_done_callback(lambda done: self._forget_signal(watcher, done))

    def _forget_signal(self, watcher: str, task: asyncio.Task) -> None:
        if self._signals.get(watcher) is task:
            del self._signals[watcher]

    async def _signal(self, watcher: str, said: dict, previous: asyncio.Task | None = None) -> None:
        """``push_event`` to the watcher, after the one before (signals keep their order);
        a watcher that is gone releases its lines."""
        if previous is not None:
            await asyncio.wait({previous})
        try:
            await self.client.get_workflow_handle(watcher).signal(
                PUSH_EVENT, {"host": self.id, "queue": self.queue, **said}
            )
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                self.hub.release(watcher)
            else:
                log.warning('{"event": "push signal failed", "code": "%s"}', exc.status)

    # -- leases checked: their watcher runs, and names this worker

    def _check_later(self, watcher: str) -> None:
        due = time.monotonic() + LEASE_CHECK * random.uniform(0.8, 1.0)  # noqa: S311 - spread
        heapq.heappush(self._checks, (due, watcher))
        self._check_woken.set()

    async def _check_leases(self) -> None:
        while True:
            self._check_woken.clear()
            delay = self._checks[0][0] - time.monotonic() if self._checks else None
            if delay is None or delay > 0:
                try:
                    await asyncio.wait_for(self._check_woken.wait(), delay)
                except TimeoutError:
                    pass
                continue
            _, watcher = heapq.heappop(self._checks)
            if not self.hub.holds(watcher):
                continue
            if await self._still_ours(watcher):
                self._check_later(watcher)
            else:
                self.hub.release(watcher)

    async def _still_ours(self, watcher: str) -> bool:
        try:
            described = await self.client.get_workflow_handle(watcher).describe()
        except RPCError as exc:
            return exc.status != RPCStatusCode.NOT_FOUND  # (another failure: look again later)
        if described.status != WorkflowExecutionStatus.RUNNING:
            return False
        try:
            host = await described.memo_value("pushHost", None)
        except Exception:  # noqa: BLE001 - an unreadable memo: keep, look again later
            return True
        return host in (None, self.id)


def _retrieved(future: asyncio.Future) -> None:
    """(a round's failure needs no waiter: the next round tries again)"""
    if not future.cancelled():
        future.exception()


def _settle(future: asyncio.Future, event: PushEvent) -> None:
    if not future.done():
        future.set_result(event)
