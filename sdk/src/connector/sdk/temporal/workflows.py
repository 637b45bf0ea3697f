"""Workflows: one step (``RunStep``), a trigger as a durable poller (``PollTrigger``), the
hand-off of one record with its follow-up (``HandleRecord``), and a handler to try a
watcher with before writing yours (``LogRecord``).

Workflow code is replayed: it only calls Temporal (activities, timers, child workflows)
and deterministic standard-library code, and imports nothing that does I/O.
"""

from __future__ import annotations

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
PUSH = "connector.push"  # activities.PUSH
POLL = "connector.poll"  # activities.POLL: a trigger's poll and the hand-off of its records
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
# Codes a retry cannot fix (the others are retried by the step's policy, then polled again).
RETRYABLE_CODES = {"CONNECTION_FAILED", "TIMEOUT", "RATE_LIMITED"}

# What a watcher may carry (every budget has one owner; the README lists them). Temporal
# terminates a workflow whose history passes 50 MB or 51,200 events, and fails a payload
# over 2 MB. A watcher's history holds no record: the poll activity hands each record to its
# workflow itself and returns only the trigger's state and counts. The trigger bounds the
# records of one poll (the IMAP trigger: maxPerPoll, at most 1,000, and 1 MiB of JSON).
HISTORY_BYTES = 4 * 1024 * 1024  # a run continues as new past this much history
HISTORY_EVENTS = 5_000  # ... or this many events
POLLS_PER_RUN = 100  # ... or this many polls
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


@workflow.defn(name="connector.PollTrigger")
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
        self.push: Any = None  # the push activity's handle, while one runs
        self.push_failures = 0  # pushes that failed in a row (their backoff)
        self.push_retry_at: datetime | None = None  # no push before this, after a failure
        self.push_asked, self.push_started = 0.0, datetime.min  # set by start_push
        self.saved: Any = None  # the state in the memo

    @workflow.signal
    def resume(self) -> None:
        self.wake = True
        self.push_failures, self.push_retry_at = 0, None
        if self.health.get("push") == "unsupported":  # (worth another look, when asked)
            self.health.update(push="waiting", pushWaiting="starting")

    @workflow.signal
    def poll_now(self) -> None:
        self.wake = True

    @workflow.query
    def status(self) -> dict:
        return dict(self.health)

    @workflow.run
    async def run(self, args: dict) -> None:
        state = dict(args.get("state") or {})
        every = float(args.get("everySeconds", 60))
        per_run = int(args.get("pollsPerRun", POLLS_PER_RUN))
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
                wait = 0.0 if data.get("hasMore") else every
            else:
                wait = await self.failed(args, me, envelope, every)
            if wait > 0:
                await self.wait(args, state, wait, heartbeat)
            if polls >= per_run or self.history_full():
                break
        if self.push is not None:
            self.push.cancel()  # (it cuts its connection when its heartbeat hears of it)
        workflow.continue_as_new({**args, "state": state, "health": self._carried()})

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
        )
        return {k: self.health[k] for k in keep}

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
            if args.get("onFailure"):
                await self.alert(args, me)
        failures = self.health["consecutiveFailures"]
        return min(PAUSE_MAX, PAUSE_FIRST * 2 ** min(failures - 1, 12))

    async def alert(self, args: dict, me: Any) -> None:
        """Start the operator's workflow once per pause, with what the status query says."""
        try:
            await workflow.start_child_workflow(
                args["onFailure"],
                {"watcher": me.workflow_id, "status": dict(self.health)},
                id=f"{me.workflow_id}/paused-{self.health['pauses']}",
                task_queue=args.get("handlerTaskQueue") or me.task_queue,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            pass


@workflow.defn(name="connector.HandleRecord")
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


@workflow.defn(name="connector.LogRecord")
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
