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
STEP_TIMEOUT = timedelta(minutes=5)
# A step heartbeats while it runs: a dead worker's step is retried elsewhere this soon.
HEARTBEAT_TIMEOUT = timedelta(seconds=30)
# A paused watcher (a failure retrying cannot fix: a rotated password, a deleted mailbox)
# polls again after 1, 2, 4... minutes, at most an hour: never a tight loop.
PAUSE_FIRST, PAUSE_MAX = 60.0, 3600.0
# Codes a retry cannot fix (the others are retried by the step's policy, then polled again).
RETRYABLE_CODES = {"CONNECTION_FAILED", "TIMEOUT", "RATE_LIMITED"}


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
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.details:
            return cause.details[0]  # the error envelope
        if cause is not None:
            # No envelope: the step timed out (a worker died and its retries ran out).
            # An envelope all the same, so a durable poller records it and goes on.
            return {
                "ok": False,
                "error": {
                    "code": "TIMEOUT",
                    "message": f"The step did not complete: {cause}",
                    "retryable": True,
                    "details": [],
                },
            }
        raise


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


def record_id(record: Any) -> str:
    """A record's identity for its hand-off: a hash of its canonical JSON."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _retry_after(envelope: dict) -> float | None:
    for detail in envelope.get("error", {}).get("details") or []:
        seconds = detail.get("retryAfterSeconds") if isinstance(detail, dict) else None
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            return float(seconds)
    return None


@workflow.defn(name="connector.PollTrigger")
class PollTrigger:
    """A trigger, polled every ``everySeconds``, each record handed to a child workflow.

    Args: ``{"connector", "trigger", "connection", "inputs", "state", "everySeconds",
    "handler" (a workflow type), "handlerTaskQueue", "pollsPerRun", "retry", "onFailure",
    "heartbeatSeconds"}``.
    The trigger's state lives in the workflow and moves on only after every record of a
    poll was handed off. Each record starts the handler as a child workflow whose id is
    derived from the record (``<this workflow's id>/<record id>``) and may never be reused:
    after a worker dies at any moment, the replay hands off what was not yet handed off,
    and a record delivered again is refused by Temporal rather than handled twice. A record
    with follow-ups (the trigger's afterSuccess/afterFailure) goes to ``HandleRecord``,
    which runs the handler and then the follow-up. After ``pollsPerRun`` polls the
    workflow continues as new, so its history stays bounded.

    Push (``"push": true``, for a trigger whose manifest names one: IMAP IDLE): while it
    waits, the watcher holds one push activity (its own IMAP connection), which ends when
    the server reports new mail: the watcher then polls at once. Only the workflow starts
    it, one at a time, so two workers never hold it; it heartbeats, so a worker that dies
    holding it is replaced within the heartbeat timeout. The poll stays the authority (every
    ``everySeconds`` whatever the push does): a push that fails costs latency, never a
    record. A push failure retrying cannot fix (a server refusing IDLE) turns it off.

    Health: the query ``status`` returns the last poll and success times, consecutive
    failures, the last error, records handed off and the cursor; with push, ``push``
    (``idling``, ``reconnecting``, ``unsupported`` or ``off``), ``lastPushAt`` (when it
    last woke the watcher), ``pushReconnects`` and ``lastPushError``. A failure retrying cannot
    fix pauses the watcher (``paused``: polls every 1 to 60 minutes; ``onFailure`` names
    a workflow started once per pause); the signal ``resume`` (or ``poll_now``) polls at
    once.
    """

    def __init__(self) -> None:
        self.wake = False
        self.health: dict[str, Any] = {}
        self.push: Any = None  # the push activity's handle, while one runs
        self.push_rests = False  # after a failed push: none until the next poll
        self.push_asked, self.push_started = 0.0, datetime.min  # set by start_push

    @workflow.signal
    def resume(self) -> None:
        self.wake = True

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
        per_run = int(args.get("pollsPerRun", 100))
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
            "push": "idling" if args.get("push") else "off",
            "lastPushAt": None,
            "pushReconnects": 0,
            "lastPushError": None,
            **(args.get("health") or {}),
        }
        for _ in range(per_run):
            envelope = await step(
                {
                    "connector": args["connector"],
                    "trigger": args["trigger"],
                    "connection": args["connection"],
                    "inputs": args.get("inputs") or {},
                    "state": state,
                    "watcher": me.workflow_id,
                },
                retry=args.get("retry"),
                heartbeat_timeout=heartbeat,
            )
            self.health["lastPollAt"] = workflow.now().isoformat()
            if envelope.get("ok"):
                follow_ups = envelope.get("followUps") or []
                for index, record in enumerate(envelope["data"]):
                    follow = follow_ups[index] if index < len(follow_ups) else None
                    await self.hand_off(args, me, record, follow)
                    self.health["recordsHandedOff"] += 1
                state = envelope["state"]
                self.health.update(
                    state="polling",
                    lastSuccessAt=self.health["lastPollAt"],
                    consecutiveFailures=0,
                    lastError=None,
                    cursor=state,
                )
                wait = 0.0 if envelope.get("hasMore") else every
            else:
                wait = await self.failed(args, me, envelope, every)
            if wait > 0:
                await self.wait(args, state, wait, heartbeat)
        if self.push is not None:
            self.push.cancel()  # (it cuts its connection when its heartbeat hears of it)
        workflow.continue_as_new({**args, "state": state, "health": self._carried()})

    async def wait(self, args: dict, state: dict, wait: float, heartbeat: timedelta) -> None:
        """Until ``wait`` seconds pass, a signal, or the push says the source changed."""
        self.wake = False
        self.push_rests = False
        end = workflow.now() + timedelta(seconds=wait)
        while not self.wake and (left := (end - workflow.now()).total_seconds()) > 0:
            pushing = self.health["push"] in ("idling", "reconnecting") and not self.push_rests
            if pushing and self.push is None:
                self.push = self.start_push(args, state, wait, heartbeat)
            push = self.push
            try:
                await workflow.wait_condition(
                    partial(self._woken, push), timeout=timedelta(seconds=left)
                )
            except TimeoutError:
                return
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
            cause = exc.cause
            envelope = (
                cause.details[0] if isinstance(cause, ApplicationError) and cause.details else {}
            )
            error = envelope.get("error") or {"message": str(cause), "retryable": True}
            self.health["lastPushError"] = {
                "code": str(error.get("code", "TIMEOUT")),
                "message": str(error.get("message")),
            }
            if error.get("retryable"):
                self.health["push"] = "reconnecting"
                self.health["pushReconnects"] += 1
                self.push_rests = True  # retried after the next poll: never a tight loop
            else:
                self.health["push"] = "unsupported"  # e.g. IDLE answered BAD
            return "failed"
        if woke == "unsupported":
            self.health["push"] = "unsupported"
        elif woke == "change":
            self.health.update(push="idling", lastPushAt=workflow.now().isoformat())
        else:
            self.health["push"] = "idling"
            if (workflow.now() - self.push_started).total_seconds() < self.push_asked / 2:
                self.push_rests = True  # it timed out long before asked: never a tight loop
        return woke

    def _carried(self) -> dict:
        keep = (
            *("lastSuccessAt", "consecutiveFailures", "lastError", "recordsHandedOff", "pauses"),
            *("push", "lastPushAt", "pushReconnects", "lastPushError"),
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

    async def hand_off(self, args: dict, me: Any, record: Any, follow: dict | None) -> None:
        child_id = f"{me.workflow_id}/{record_id(record)}"
        queue = args.get("handlerTaskQueue") or me.task_queue
        has_follow_up = bool(follow and (follow.get("success") or follow.get("failure")))
        try:
            if has_follow_up:
                await workflow.start_child_workflow(
                    "connector.HandleRecord",
                    {
                        "handler": args["handler"],
                        "handlerTaskQueue": queue,
                        "record": record,
                        "followUp": follow,
                        "connector": args["connector"],
                        "connection": args["connection"],
                        "retry": args.get("retry"),
                    },
                    id=child_id,
                    task_queue=me.task_queue,
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                )
            else:
                await workflow.start_child_workflow(
                    args["handler"],
                    record,
                    id=child_id,
                    task_queue=queue,
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                )
        except WorkflowAlreadyStartedError:
            pass  # handed off already (by an earlier run of this poller)


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
