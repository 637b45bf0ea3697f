"""Workflows: one step (``RunStep``), and a trigger as a durable poller (``PollTrigger``).

Workflow code is replayed: it only calls Temporal (activities, timers, child workflows)
and deterministic standard-library code, and imports nothing that does I/O.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

STEP = "connector.step"  # activities.STEP (not imported: workflow code stays I/O-free)
STEP_TIMEOUT = timedelta(minutes=5)


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
) -> dict:
    """Run one step (``{"connector", "action"|..., "connection", "inputs"}``) as the step
    activity, from a workflow; its envelope, ok or the last error after the retries."""
    try:
        return await workflow.execute_activity(
            STEP,
            request,
            start_to_close_timeout=start_to_close_timeout,
            retry_policy=retry_policy(retry),
        )
    except ActivityError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.details:
            return cause.details[0]  # the error envelope
        raise


@workflow.defn(name="connector.RunStep")
class RunStep:
    """One step: ``{"request": {...}, "retry": {...}}`` -> its envelope."""

    @workflow.run
    async def run(self, args: dict) -> dict:
        seconds = float(args.get("timeoutSeconds", STEP_TIMEOUT.total_seconds()))
        return await step(
            args["request"],
            retry=args.get("retry"),
            start_to_close_timeout=timedelta(seconds=seconds),
        )


def record_id(record: Any) -> str:
    """A record's identity for its hand-off: a hash of its canonical JSON."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


@workflow.defn(name="connector.PollTrigger")
class PollTrigger:
    """A trigger, polled every ``everySeconds``, each record handed to a child workflow.

    Args: ``{"connector", "trigger", "connection", "inputs", "state", "everySeconds",
    "handler" (a workflow type), "handlerTaskQueue", "pollsPerRun", "retry"}``. The trigger's
    state lives in the workflow and moves on only after every record of a poll was handed
    off. Each record starts the handler as a child workflow whose id is derived from the
    record (``<this workflow's id>/<record id>``) and may never be reused: after a worker
    dies at any moment, the replay hands off what was not yet handed off, and a record
    delivered again is refused by Temporal rather than handled twice. After ``pollsPerRun``
    polls the workflow continues as new, so its history stays bounded.
    """

    @workflow.run
    async def run(self, args: dict) -> None:
        state = dict(args.get("state") or {})
        every = timedelta(seconds=float(args.get("everySeconds", 60)))
        per_run = int(args.get("pollsPerRun", 100))
        me = workflow.info()
        for _ in range(per_run):
            envelope = await step(
                {
                    "connector": args["connector"],
                    "trigger": args["trigger"],
                    "connection": args["connection"],
                    "inputs": args.get("inputs") or {},
                    "state": state,
                },
                retry=args.get("retry"),
            )
            more = False
            if envelope.get("ok"):
                for record in envelope["data"]:
                    await self.hand_off(args, me, record)
                state = envelope["state"]
                more = bool(envelope.get("hasMore"))
            if not more:
                await workflow.sleep(every)
        workflow.continue_as_new({**args, "state": state})

    async def hand_off(self, args: dict, me: Any, record: Any) -> None:
        try:
            await workflow.start_child_workflow(
                args["handler"],
                record,
                id=f"{me.workflow_id}/{record_id(record)}",
                task_queue=args.get("handlerTaskQueue") or me.task_queue,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            pass  # handed off already (by an earlier run of this poller)
