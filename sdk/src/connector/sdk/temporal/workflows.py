"""Workflows: one step (``RunStep``), a trigger as a durable poller (``PollTrigger``), the
hand-off of one record with its follow-up (``HandleRecord``), and a handler to try a
watcher with before writing yours (``LogRecord``).

Workflow code is replayed: it only calls Temporal (activities, timers, child workflows)
and deterministic standard-library code, and imports nothing that does I/O.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    ChildWorkflowError,
    WorkflowAlreadyStartedError,
)

STEP = "connector.step"  # activities.STEP (not imported: workflow code stays I/O-free)
PUSH = "connector.push"  # activities.PUSH: a push held by an activity (runs of 0.x, kept)
POLL = "connector.poll"  # activities.POLL: a trigger's poll and the hand-off of its records
# Push on a worker's push hub (temporal.pushhost): a watcher leases lines there.
LEASE = "connector.pushLease"  # on the shared task queue: any worker with room
RELEASE = "connector.pushRelease"  # on the worker's own queue (the lease's ``queue``)
REOPEN = "connector.pushReopen"  # the same: its lines opened again (the source was replaced)
HUB_ALIVE = "connector.pushHubAlive"  # held by PushHubWatch on the worker's own queue
PUSH_EVENT = "push_event"  # the signal a hub (or its watch) sends a watcher
CAPACITY = "CAPACITY"  # a lease refused: the worker holds all the lines it may
PUSH_HUB_PATCH = "push-hub"  # runs started before it hold a push activity instead
STEP_TIMEOUT = timedelta(minutes=5)
# A step heartbeats while it runs (every 2 s): a dead worker's step, poll or push is retried
# elsewhere this soon (plus the first retry's second).
HEARTBEAT_TIMEOUT = timedelta(seconds=8)
# A paused watcher (a failure retrying cannot fix: a rotated password, a deleted mailbox)
# polls again after 1, 2, 4... minutes, at most an hour: never a tight loop.
PAUSE_FIRST, PAUSE_MAX = 60.0, 3600.0
# A push that failed is started again after 1, 2, 4... seconds, at most this (or the poll
# interval): a line that keeps failing never becomes a tight loop.
PUSH_RETRY_MAX = 60.0
# A watcher whose push has no line this long (no worker with room, a line that keeps
# failing) says so (``pushAlert``) and starts ``onFailure``, as a pause does.
PUSH_LINE_WITHIN = 300.0
# Polls come every ``everySeconds`` less up to this share (the workflow's own random):
# watchers started together spread their polls.
POLL_JITTER = 0.1
# Codes a retry cannot fix (the others are retried by the step's policy, then polled again).
RETRYABLE_CODES = {"CONNECTION_FAILED", "TIMEOUT", "RATE_LIMITED"}

# What a watcher may carry (every budget has one owner; the README lists them). Temporal
# terminates a workflow whose history passes 50 MB or 51,200 events, and fails a payload
# over 2 MB. A watcher's history holds no record: the poll activity hands each record to its
# workflow itself and returns only the trigger's state and counts. The trigger bounds the
# records of one poll (the IMAP trigger: maxPerPoll, at most 1,000, and 1 MiB of JSON).
HISTORY_BYTES = 4 * 1024 * 1024  # a run continues as new past this much history
HISTORY_EVENTS = 5_000  # ... or this many events
# ... or this many polls: a run of 20 polls is ~250 events, replayed in ~35 ms by a worker
# that evicted it from its cache (worker.CACHED_RUNS); of 100, 1,120 events in ~150 ms.
POLLS_PER_RUN = 20
# A run whose input names no pollsPerRun (started by a client of its own, not `watch`) keeps
# 0.3.0's 100: a default changed under a run in flight would end it at another poll on
# replay than its history did (a nondeterminism error).
POLLS_PER_RUN_UNNAMED = 100
RECORD_BYTES = 1536 * 1024  # one record, the input of its workflow
HAND_OFFS_AT_ONCE = 32  # one poll's records started concurrently


def retry_policy(options: dict | None = None) -> RetryPolicy:
    """Retries of retryable errors (CONNECTION_FAILED, TIMEOUT, RATE_LIMITED...): by default
    5 attempts, 1 s apart and doubling up to a minute; non-retryable codes stop at once."""
    options = options or {}
    return RetryPolicy(
        initial_interval=timedelta(seconds=float(options.get("initialIntervalSeconds", 1))),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(seconds=float(options.get("maximumIntervalSeconds", 60))),
        maximum_attempts=int(options.get("maximumAttempts", 5)),
    )


async def step(
    request: dict,
    *,
    retry: dict | None = None,
    start_to_close_timeout: timedelta = STEP_TIMEOUT,
    heartbeat_timeout: timedelta | None = HEARTBEAT_TIMEOUT,
    local: bool = False,
) -> dict:
    """Run one step (``{"connector", "action"|..., "connection", "inputs"}``) as the step
    activity, from a workflow; its envelope, ok or the last error after the retries.

    ``local``: as a local activity, on the worker running the workflow, without a round
    trip through Temporal's task queue (about 3x faster for a short step). The trade-off:
    no heartbeats (a worker dying mid-step is noticed only when the workflow task times
    out, then the step runs again from the start), retries are run by that worker and
    recorded as one marker, and the step should stay short (seconds, not minutes)."""
    try:
        if local:
            return await workflow.execute_local_activity(
                STEP,
                request,
                start_to_close_timeout=start_to_close_timeout,
                retry_policy=retry_policy(retry),
            )
        return await workflow.execute_activity(
            STEP,
            request,
            start_to_close_timeout=start_to_close_timeout,
            heartbeat_timeout=heartbeat_timeout,
            retry_policy=retry_policy(retry),
        )
    except ActivityError as exc:
        return failed_envelope(exc)


def failed_envelope(exc: ActivityError) -> dict:
    """The error envelope of an activity that failed after its retries: the one it raised,
    or a TIMEOUT when none came (a worker died and the retries ran out), so a durable
    poller records it and goes on."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.details:
        return cause.details[0]  # the error envelope
    if cause is None:
        raise exc
    return {
        "ok": False,
        "error": {
            "code": "TIMEOUT",
            "message": f"The step did not complete: {cause}",
            "retryable": True,
            "details": [],
        },
    }


# Unsandboxed: its code is one awaited step, deterministic by construction, and the
# sandbox's per-run module set-up was half of a worker's time per step (bench W7: 15.8 ->
# 28.4 steps/s with one worker).
@workflow.defn(name="connector.RunStep", sandboxed=False)
class RunStep:
    """One step: ``{"request": {...}, "retry": {...}, "local": bool}`` -> its envelope."""

    @workflow.run
    async def run(self, args: dict) -> dict:
        seconds = float(args.get("timeoutSeconds", STEP_TIMEOUT.total_seconds()))
        return await step(
            args["request"],
            retry=args.get("retry"),
            start_to_close_timeout=timedelta(seconds=seconds),
            local=bool(args.get("local")),
        )


def record_id(record: Any, key: tuple[str, ...] | list[str] = ()) -> str:
    """A record's identity for its hand-off: a hash of the values of its trigger's
    ``recordKey`` (the same record polled again, its flags changed, keeps it), else of the
    whole record's canonical JSON."""
    identity = [record.get(k) for k in key] if key and isinstance(record, dict) else record
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _retry_after(envelope: dict) -> float | None:
    for detail in envelope.get("error", {}).get("details") or []:
        seconds = detail.get("retryAfterSeconds") if isinstance(detail, dict) else None
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            return float(seconds)
    return None


def _short_error(error: dict) -> dict | None:
    """``{"code", "message"}`` of an envelope's error (None when it has no code)."""
    if not error.get("code"):
        return None
    return {"code": str(error["code"]), "message": str(error.get("message", ""))}


# Unsandboxed: a watcher runs for as long as its trigger is watched, cached by its worker
# all along, and the sandbox's copy of the modules it imports cost ~0.9 MB per cached run
# (bench W10: 1,000 watchers, 982 KB each, of which the push line ~70 KB). Its code calls
# only Temporal (workflow.now, workflow.random, timers, activities, signals) and pure
# standard-library code: deterministic without the sandbox's guard.
@workflow.defn(name="connector.PollTrigger", sandboxed=False)
class PollTrigger:
    """A trigger, polled every ``everySeconds``, each record handed to a workflow of its own.

    Args: ``{"connector", "trigger", "connection", "inputs", "state", "everySeconds",
    "handler" (a workflow type), "handlerTaskQueue", "pollsPerRun", "retry", "onFailure",
    "heartbeatSeconds", "push", "pushRenewSeconds"}``.
    The trigger's state lives in the workflow and moves on only after every record of a
    poll was handed off. The poll activity (``connector.poll``) polls and starts the handler
    for each record, as a workflow whose id is derived from the record's identity (its
    trigger's ``recordKey``: ``<this workflow's id>/<record id>``) and may never be reused:
    a poll repeated after a worker died at any moment hands off what was not yet handed
    off, and a record delivered again is refused by Temporal rather than handled twice. A
    record with follow-ups (the trigger's afterSuccess/afterFailure) goes to
    ``HandleRecord``, which runs the handler and then the follow-up.

    What it carries (HISTORY_BYTES, HISTORY_EVENTS, POLLS_PER_RUN): records never pass
    through this workflow's history, only the state and counts; it continues as new when
    its history reaches a budget or after ``pollsPerRun`` polls. The state it saved last is
    also in its memo (``cursor``): ``watch`` with the same workflow id after this workflow
    was terminated, timed out or failed resumes from there, never from a fresh bookmark.

    Push (``"push": true``, for a trigger whose manifest names one: IMAP IDLE): while it
    waits, the watcher holds one push activity (its own IMAP connection), which ends when
    the server reports new mail: the watcher then polls at once. Only the workflow starts
    it, one at a time, so two workers never hold it; it heartbeats, so a worker that dies
    holding it is replaced within the heartbeat timeout. The poll stays the authority (every
    ``everySeconds`` whatever the push does): a push that fails costs latency, never a
    record. A push that fails is started again after 1, 2, 4... seconds (``waiting``); only
    a server that refuses IDLE turns it off (``unsupported``), until ``resume``.

    Health: the query ``status`` returns the last poll and success times, consecutive
    failures, the last error, records handed off and the cursor; with push, ``push``
    (``idling``, ``waiting`` with ``pushWaiting``: why, ``unsupported`` or ``off``),
    ``lastPushAt`` (when it last woke the watcher), ``pushReconnects`` and
    ``lastPushError``. A failure retrying cannot fix pauses the watcher (``paused``: polls
    every 1 to 60 minutes; ``onFailure`` names a workflow started once per pause); the
    signal ``resume`` (or ``poll_now``) polls at once, also when it comes during a poll.
    """

    def __init__(self) -> None:
        self.wake = False
        self.health: dict[str, Any] = {}
        self.push: Any = None  # (runs of 0.x) the push activity's handle, while one runs
        self.push_failures = 0  # pushes (or leases) that failed in a row (their backoff)
        self.push_retry_at: datetime | None = None  # no push before this, after a failure
        self.push_asked, self.push_started = 0.0, datetime.min  # set by start_push
        self.saved: Any = None  # the state in the memo
        self.hub = False  # push on a worker's hub (PUSH_HUB_PATCH), not a held activity
        self.lease: dict | None = None  # {"host", "queue"}: the hub holding our lines
        self.leasing = False  # a lease activity in flight: its hub's events are kept
        self.early: list[dict] = []  # ... here, until it says which hub it was
        self.stray: dict[str, str] = {}  # host -> queue of hubs we no longer lease from
        self.relet = False  # the lease was lost: the wait loop leases again at once
        self.waiting_since: datetime | None = None  # push without a line since then

    @workflow.signal
    def resume(self) -> None:
        self.wake = True
        self.push_failures, self.push_retry_at = 0, None
        if self.health.get("push") == "unsupported":  # (worth another look, when asked)
            self.health.update(push="waiting", pushWaiting="starting")

    @workflow.signal
    def poll_now(self) -> None:
        self.wake = True

    @workflow.signal(name=PUSH_EVENT)
    def push_event(self, event: dict) -> None:
        """What the hub holding our lines says (``host``, ``event``: idling, change,
        waiting with ``reason`` and ``error``, unsupported, ended), or its watch (``lost``:
        the worker died). A hub we no longer lease from is released."""
        host = str(event.get("host"))
        if self.leasing:
            self.early.append(event)  # (the lease's reply says which hub is ours)
            return
        if self.lease is None or host != self.lease["host"]:
            if event.get("event") not in ("lost", "ended", "unsupported") and event.get("queue"):
                self.stray[host] = str(event["queue"])
            return
        self.told(event)

    def told(self, event: dict) -> None:
        kind = event.get("event")
        now = workflow.now()
        if kind == "change":
            self.wake = True
            self.health["lastPushAt"] = now.isoformat()
        elif kind == "idling":
            self.health.update(push="idling", pushWaiting=None, pushAlert=None)
            self.waiting_since, self.push_failures = None, 0
        elif kind == "waiting":
            self.health.update(push="waiting", pushWaiting=event.get("reason") or "reconnecting")
            if event.get("error"):
                self.health["lastPushError"] = _short_error(event["error"])
            self.health["pushReconnects"] += 1
            self.waiting_since = self.waiting_since or now
        elif kind == "unsupported":
            self.health.update(
                push="unsupported",
                pushWaiting=None,
                lastPushError=_short_error(event.get("error") or {})
                or {"code": "UNSUPPORTED", "message": "The server refuses IDLE."},
            )
            self.lease, self.waiting_since = None, None
        elif kind in ("lost", "ended"):
            why = "its worker died" if kind == "lost" else "its worker stopped"
            self.health.update(push="waiting", pushWaiting=f"reconnecting ({why})")
            self.lease, self.relet = None, True
            self.waiting_since = self.waiting_since or now

    @workflow.query
    def status(self) -> dict:
        return dict(self.health)

    @workflow.run
    async def run(self, args: dict) -> None:
        state = dict(args.get("state") or {})
        every = float(args.get("everySeconds", 60))
        per_run = int(args.get("pollsPerRun", POLLS_PER_RUN_UNNAMED))
        heartbeat = timedelta(
            seconds=float(args.get("heartbeatSeconds", HEARTBEAT_TIMEOUT.total_seconds()))
        )
        me = workflow.info()
        self.health = {
            "workflowId": me.workflow_id,
            "connector": args["connector"],
            "trigger": args["trigger"],
            "state": "polling",
            "lastPollAt": None,
            "lastSuccessAt": None,
            "consecutiveFailures": 0,
            "lastError": None,
            "recordsHandedOff": 0,
            "pauses": 0,
            "cursor": state,
            "push": "waiting" if args.get("push") else "off",
            "pushWaiting": "starting" if args.get("push") else None,
            "lastPushAt": None,
            "pushReconnects": 0,
            "lastPushError": None,
            **(args.get("health") or {}),
        }
        self.saved = workflow.memo_value("cursor", None)
        self.save(state)
        self.hub = workflow.patched(PUSH_HUB_PATCH)
        self.lease = args.get("pushLease") if self.hub else None
        polls = 0
        while True:
            polls += 1
            self.wake = False  # a signal from here on (a hand-off, say) polls again after
            envelope = await self.poll(args, me, state, heartbeat)
            self.health["lastPollAt"] = workflow.now().isoformat()
            if envelope.get("ok"):
                data = envelope["data"]
                state = data["state"]
                args = {**args, "legacyIds": False}  # (one poll after an earlier version)
                self.health["recordsHandedOff"] += int(data.get("handedOff", 0))
                self.health.update(
                    state="polling",
                    lastSuccessAt=self.health["lastPollAt"],
                    consecutiveFailures=0,
                    lastError=None,
                    cursor=state,
                )
                self.save(state)
                if data.get("sourceChanged") and self.lease is not None:
                    self.reopen(args, state, self.lease["queue"])
                wait = 0.0 if data.get("hasMore") else self.jittered(every)
            else:
                wait = await self.failed(args, me, envelope, every)
            if wait > 0:
                if self.hub:
                    await self.wait_leased(args, me, state, wait)
                else:
                    await self.wait(args, state, wait, heartbeat)
            if polls >= per_run or self.history_full():
                break
        if self.push is not None:
            self.push.cancel()  # (it cuts its connection when its heartbeat hears of it)
        # (the lease goes on with the next run: same workflow id, same hub)
        carried = {**args, "state": state, "health": self._carried(), "pushLease": self.lease}
        workflow.continue_as_new(carried)

    def jittered(self, every: float) -> float:
        """The wait before the next poll: ``every`` less up to POLL_JITTER of it."""
        return every * (1.0 - POLL_JITTER * workflow.random().random())

    async def poll(self, args: dict, me: Any, state: dict, heartbeat: timedelta) -> dict:
        """Poll, and hand each record off (in the activity: records never come here)."""
        try:
            return await workflow.execute_activity(
                POLL,
                {
                    "request": {
                        "connector": args["connector"],
                        "trigger": args["trigger"],
                        "connection": args["connection"],
                        "inputs": args.get("inputs") or {},
                        "state": state,
                        "watcher": me.workflow_id,
                    },
                    "handOff": {
                        "watcher": me.workflow_id,
                        "handler": args["handler"],
                        "handlerTaskQueue": args.get("handlerTaskQueue") or me.task_queue,
                        "taskQueue": me.task_queue,
                        "retry": args.get("retry"),
                        "legacyIds": bool(args.get("legacyIds")),
                    },
                },
                start_to_close_timeout=STEP_TIMEOUT,
                heartbeat_timeout=heartbeat,
                retry_policy=retry_policy(args.get("retry")),
            )
        except ActivityError as exc:
            return failed_envelope(exc)

    def save(self, state: dict) -> None:
        """The state in the memo, where ``watch`` finds it after this workflow died."""
        if state != self.saved:
            workflow.upsert_memo({"cursor": state})
            self.saved = state

    @staticmethod
    def history_full() -> bool:
        info = workflow.info()
        return (
            info.get_current_history_size() > HISTORY_BYTES
            or info.get_current_history_length() > HISTORY_EVENTS
            or info.is_continue_as_new_suggested()
        )

    async def wait(self, args: dict, state: dict, wait: float, heartbeat: timedelta) -> None:
        """Until ``wait`` seconds pass, a signal, or the push says the source changed."""
        end = workflow.now() + timedelta(seconds=wait)
        while not self.wake and (left := (end - workflow.now()).total_seconds()) > 0:
            pushing = self.health["push"] in ("idling", "waiting")
            pushing = pushing and self.health["state"] == "polling"
            if pushing and self.push is None:
                retry_in = (
                    (self.push_retry_at - workflow.now()).total_seconds()
                    if self.push_retry_at is not None
                    else 0.0
                )
                if retry_in > 0:
                    left = min(left, retry_in)  # (then the push starts again)
                else:
                    self.push = self.start_push(args, state, wait, heartbeat)
            push = self.push
            try:
                await workflow.wait_condition(
                    partial(self._woken, push), timeout=timedelta(seconds=left)
                )
            except TimeoutError:
                continue
            if push is not None and push.done():
                self.push = None
                if self.pushed(push) == "change":
                    return

    def _woken(self, push: Any) -> bool:
        return self.wake or (push is not None and push.done())

    # -- push on a worker's hub (temporal.pushhost): lines leased, events signalled

    async def wait_leased(self, args: dict, me: Any, state: dict, wait: float) -> None:
        """Until ``wait`` seconds pass, a signal, or the hub says the source changed; the
        push's lines leased on a worker's hub meanwhile, again after a lost one."""
        end = workflow.now() + timedelta(seconds=wait)
        bound = float(args.get("pushLineSeconds", PUSH_LINE_WITHIN))
        while not self.wake and (left := (end - workflow.now()).total_seconds()) > 0:
            self.relet = False
            for host, queue in list(self.stray.items()):
                self.release(host, queue)
            self.stray.clear()
            wanted = self.health["push"] in ("idling", "waiting")
            wanted = wanted and self.health["state"] == "polling"
            if wanted and self.lease is None:
                retry_in = (
                    (self.push_retry_at - workflow.now()).total_seconds()
                    if self.push_retry_at is not None
                    else 0.0
                )
                if retry_in > 0:
                    left = min(left, retry_in)
                else:
                    await self.take_lease(args, me, state)
                    continue
            if wanted and self.health["push"] == "waiting" and self.waiting_since is not None:
                waited = (workflow.now() - self.waiting_since).total_seconds()
                if waited >= bound and not self.health.get("pushAlert"):
                    await self.push_alert(args, me, waited)
                elif waited < bound:
                    left = min(left, bound - waited)
            try:
                await workflow.wait_condition(
                    lambda: self.wake or self.relet, timeout=timedelta(seconds=left)
                )
            except TimeoutError:
                continue

    async def take_lease(self, args: dict, me: Any, state: dict) -> None:
        """Ask any worker with room to hold our lines (``connector.pushLease``)."""
        self.leasing, self.early = True, []
        self.waiting_since = self.waiting_since or workflow.now()
        try:
            reply = await workflow.execute_activity(
                LEASE,
                {
                    "watcher": me.workflow_id,
                    "connector": args["connector"],
                    "trigger": args["trigger"],
                    "connection": args["connection"],
                    "inputs": args.get("inputs") or {},
                    "state": state,
                    "renewSeconds": float(args.get("pushRenewSeconds", 1500)),
                },
                start_to_close_timeout=timedelta(seconds=30),
                # (a worker without room fails it: at once again, maybe on one with room)
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=0.5), maximum_attempts=4
                ),
            )
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == CAPACITY:
                reply = {"lease": "capacity"}
            else:
                reply = {"lease": "failed", "error": failed_envelope(exc)["error"]}
        finally:
            self.leasing = False
        answer = reply.get("lease")
        if answer in ("new", "renewed"):
            self.lease = {"host": reply["host"], "queue": reply["queue"]}
            workflow.upsert_memo({"pushHost": reply["host"]})
            self.push_retry_at = None
            if reply.get("push") == "idling":
                self.told({"event": "idling"})
            else:
                self.health.update(push="waiting", pushWaiting="connecting")
            for event in self.early:
                if event.get("host") == reply["host"]:
                    self.told(event)
                elif event.get("queue") and event.get("event") != "lost":
                    self.stray[str(event.get("host"))] = str(event["queue"])
        elif answer == "unsupported":
            self.told({"event": "unsupported", "error": reply.get("error")})
        else:
            # "capacity": no room on the worker that answered; or the lease failed: again
            # after 1, 2, 4... seconds (at most PUSH_RETRY_MAX), on any worker.
            reason = "capacity" if answer == "capacity" else "leasing again"
            self.health.update(push="waiting", pushWaiting=reason)
            if reply.get("error"):
                self.health["lastPushError"] = _short_error(reply["error"])
            self.push_later()
        self.early = []

    def reopen(self, args: dict, state: dict, queue: str) -> None:
        """Our lines opened again, with this state, on the hub that holds them: the poll
        says what they watch was replaced (not awaited: its events tell how it went; a hub
        that is gone is noticed by its watch)."""
        workflow.start_activity(
            REOPEN,
            {
                "watcher": workflow.info().workflow_id,
                "connector": args["connector"],
                "trigger": args["trigger"],
                "connection": args["connection"],
                "inputs": args.get("inputs") or {},
                "state": state,
            },
            task_queue=queue,
            schedule_to_start_timeout=timedelta(seconds=60),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )

    def release(self, host: str, queue: str) -> None:
        """Tell a hub to drop our lines (not awaited: a hub that is gone drops them anyway)."""
        workflow.start_activity(
            RELEASE,
            {"watcher": workflow.info().workflow_id, "host": host},
            task_queue=queue,
            schedule_to_start_timeout=timedelta(seconds=60),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )

    async def push_alert(self, args: dict, me: Any, waited: float) -> None:
        """No line for longer than the bound: said in the status, and alerted as a pause is."""
        reason = self.health.get("pushWaiting") or "waiting"
        self.health["pushAlert"] = {
            "since": self.waiting_since.isoformat() if self.waiting_since else None,
            "code": "PUSH_UNAVAILABLE",
            "message": f"No push line for {waited:.0f} s ({reason}): new mail waits for the "
            "polls. Add workers, or raise their --max-push-lines."
            if reason == "capacity"
            else f"No push line for {waited:.0f} s ({reason}): new mail waits for the polls.",
        }
        self.health["pushAlerts"] = self.health.get("pushAlerts", 0) + 1
        if args.get("onFailure"):
            await self.alert(args, me, f"push-{self.health['pushAlerts']}")

    def start_push(self, args: dict, state: dict, every: float, heartbeat: timedelta) -> Any:
        # Re-issued at least this often (servers drop an IDLE after 30 minutes).
        self.push_asked = min(every, float(args.get("pushRenewSeconds", 1500)))
        self.push_started = workflow.now()
        return workflow.start_activity(
            PUSH,
            {
                "connector": args["connector"],
                "trigger": args["trigger"],
                "connection": args["connection"],
                "inputs": args.get("inputs") or {},
                "state": state,
                "timeoutSeconds": self.push_asked,
            },
            start_to_close_timeout=timedelta(seconds=every) + STEP_TIMEOUT,
            heartbeat_timeout=heartbeat,
            retry_policy=retry_policy(args.get("retry")),
        )

    def pushed(self, push: Any) -> str:
        """What the push that ended said ("failed" when it did not end well)."""
        try:
            woke = str(push.result()["data"]["woke"])
        except ActivityError as exc:
            error = failed_envelope(exc)["error"]
            self.health["lastPushError"] = {
                "code": str(error.get("code")),
                "message": str(error.get("message")),
            }
            self.health.update(push="waiting", pushWaiting=f"reconnecting after {error['code']}")
            self.health["pushReconnects"] += 1
            self.push_later()
            return "failed"
        if woke == "unsupported":
            self.health.update(
                push="unsupported",
                pushWaiting=None,
                lastPushError={"code": "UNSUPPORTED", "message": "The server refuses IDLE."},
            )
            return woke
        self.health.update(push="idling", pushWaiting=None)
        if woke == "change":
            self.health["lastPushAt"] = workflow.now().isoformat()
            self.push_failures = 0
        elif (workflow.now() - self.push_started).total_seconds() < self.push_asked / 2:
            self.push_later()  # it timed out long before asked: never a tight loop
        else:
            self.push_failures = 0
        return woke

    def push_later(self) -> None:
        """No push for 1, 2, 4... seconds (at most PUSH_RETRY_MAX), polls going on."""
        self.push_failures += 1
        delay = min(PUSH_RETRY_MAX, 2.0 ** min(self.push_failures - 1, 10))
        self.push_retry_at = workflow.now() + timedelta(seconds=delay)

    def _carried(self) -> dict:
        keep = (
            *("lastSuccessAt", "consecutiveFailures", "lastError", "recordsHandedOff", "pauses"),
            *("push", "pushWaiting", "lastPushAt", "pushReconnects", "lastPushError"),
            *("pushAlert", "pushAlerts"),
        )
        return {k: self.health[k] for k in keep if k in self.health}

    async def failed(self, args: dict, me: Any, envelope: dict, every: float) -> float:
        """Record a failed poll; how long to wait before the next one."""
        error = envelope.get("error") or {}
        code = str(error.get("code"))
        self.health["consecutiveFailures"] += 1
        self.health["lastError"] = {"code": code, "message": str(error.get("message"))}
        if code in RETRYABLE_CODES or error.get("retryable"):
            self.health["state"] = "polling"
            return max(every, _retry_after(envelope) or 0.0)
        if self.health["state"] != "paused":
            self.health["state"] = "paused"
            self.health["pauses"] += 1
            self.health["pausedAt"] = workflow.now().isoformat()
            if self.push is not None:  # (paused: no line held until a poll succeeds)
                self.push.cancel()
                self.push = None
            if self.lease is not None:
                self.release(self.lease["host"], self.lease["queue"])
                self.lease = None
            if self.health["push"] in ("idling", "waiting"):
                self.health.update(push="waiting", pushWaiting="paused")
            if args.get("onFailure"):
                await self.alert(args, me, f"paused-{self.health['pauses']}")
        failures = self.health["consecutiveFailures"]
        return min(PAUSE_MAX, PAUSE_FIRST * 2 ** min(failures - 1, 12))

    async def alert(self, args: dict, me: Any, why: str) -> None:
        """Start the operator's workflow once per pause (or push gone), with what the status
        query says; ``why`` ends its id (``paused-N``, ``push-N``)."""
        try:
            await workflow.start_child_workflow(
                args["onFailure"],
                {"watcher": me.workflow_id, "status": dict(self.health)},
                id=f"{me.workflow_id}/{why}",
                task_queue=args.get("handlerTaskQueue") or me.task_queue,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            pass


@workflow.defn(name="connector.PushHubWatch", sandboxed=False)
class PushHubWatch:
    """One worker's push hub, watched: ``{"host", "queue", "heartbeatSeconds"}``.

    The worker starts it when it starts. It holds ``connector.pushHubAlive`` on the worker's
    own task queue, which heartbeats with the watchers whose lines the hub holds; when the
    worker dies (the heartbeat stops: ``lost``) or stops (``ended``), it tells each of them
    (signal ``push_event``), and they lease again on a worker alive: within the heartbeat
    timeout, for a cost of one heartbeat per worker, whatever the number of lines.
    Unsandboxed: it only awaits an activity and sends signals."""

    @workflow.run
    async def run(self, args: dict) -> dict:
        heartbeat = float(args.get("heartbeatSeconds", HEARTBEAT_TIMEOUT.total_seconds()))
        leased: list = []
        kind = "ended"  # (the worker stopped; "lost": it died)
        try:
            result = await workflow.execute_activity(
                HUB_ALIVE,
                args,
                task_queue=args["queue"],
                start_to_close_timeout=timedelta(days=3650),
                heartbeat_timeout=timedelta(seconds=heartbeat),
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
            leased = list(result.get("watchers") or [])
        except ActivityError as exc:
            kind = "lost"
            details = getattr(exc.cause, "last_heartbeat_details", None) or []
            if details and isinstance(details[0], dict):
                leased = list(details[0].get("watchers") or [])
        event = {"host": args["host"], "event": kind}
        told = await asyncio.gather(
            *(
                workflow.get_external_workflow_handle(watcher).signal(PUSH_EVENT, event)
                for watcher in leased
            ),
            return_exceptions=True,  # (a watcher gone meanwhile)
        )
        return {"told": sum(1 for outcome in told if not isinstance(outcome, BaseException))}


@workflow.defn(name="connector.HandleRecord", sandboxed=False)  # (as PollTrigger: one a record)
class HandleRecord:
    """One record: the handler as a child workflow, then the record's follow-up step
    (``followUp.success`` when the handler completed, ``followUp.failure`` when it failed
    after its retries). Durable in between: a worker that dies after the handler finished
    and before the follow-up ran leaves it to the next worker, and the follow-up actions
    are safe to repeat. A failed handler leaves this workflow failed too (after its
    follow-up), so the failure shows where people look."""

    @workflow.run
    async def run(self, args: dict) -> dict:
        me = workflow.info()
        follow = args.get("followUp") or {}
        try:
            result = await workflow.execute_child_workflow(
                args["handler"],
                args["record"],
                id=f"{me.workflow_id}/handler",
                task_queue=args.get("handlerTaskQueue") or me.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
            outcome, failure = "success", None
        except ChildWorkflowError as exc:
            result, outcome, failure = None, "failure", exc
        envelope = None
        chosen = follow.get(outcome)
        if chosen:
            envelope = await step(
                {
                    "connector": args["connector"],
                    "action": chosen["action"],
                    "connection": args["connection"],
                    "inputs": chosen["inputs"],
                },
                retry=args.get("retry"),
            )
        if failure is not None:
            raise ApplicationError(
                f"The handler failed; follow-up: {_said(envelope)}",
                {"followUp": envelope},
                type="HANDLER_FAILED",
                non_retryable=True,
            ) from failure
        return {"outcome": outcome, "result": result, "followUp": envelope}


def _said(envelope: dict | None) -> str:
    if envelope is None:
        return "none"
    return "done" if envelope.get("ok") else str(envelope.get("error", {}).get("code"))


@workflow.defn(name="connector.LogRecord", sandboxed=False)  # (as PollTrigger)
class LogRecord:
    """A handler to try ``watch --handler connector.LogRecord`` with: one line in the
    worker's log per record (where it is, never what it says) and, as its result, what
    identifies the record plus its subject. Replace it with your own workflow."""

    @workflow.run
    async def run(self, record: dict) -> dict:
        where = {key: record.get(key) for key in ("mailbox", "uidValidity", "uid")}
        workflow.logger.info("record %s", json.dumps(where))
        subject = (record.get("envelope") or {}).get("subject")
        return {**where, "subject": subject}
