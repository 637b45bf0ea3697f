"""A durable watcher's health as ``watch-status`` prints it: the workflow's ``status`` query,
checked against the execution itself, which no query can reflect. A watcher that Temporal
terminated (its history over the limit, an operator), that timed out or failed is ``dead``,
with the reason and the cursor it saved; a poll or a push being retried shows its attempt
and last error (Temporal's pending activities); the push is ``idling`` only once the server
confirmed it (the push activity's heartbeats say so)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.api.failure.v1 import Failure
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.exceptions import TimeoutError as TimedOut
from temporalio.service import RPCError, RPCStatusCode

from ..text import shorten
from .activities import POLL, PUSH, PUSH_IDLING, STEP

CLOSED = {
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "timed out",
    WorkflowExecutionStatus.CANCELED: "canceled",
    WorkflowExecutionStatus.COMPLETED: "completed",
}
# A run of an earlier version kept no cursor in its memo: the last poll's is looked for
# this far back from the end of its history (its last poll's hand-offs come after it).
HISTORY_PAGES, HISTORY_PAGE = 20, 500
QUERY_SECONDS = 10.0  # a running watcher no worker answers for is reported as such
REASON_CHARS = 300


async def watcher_status(client: Client, workflow_id: str, *, resume: bool = False) -> dict:
    """The watcher's health; ``state`` is ``polling``, ``paused``, ``dead`` or ``unknown``
    (no such watcher, or no worker answered)."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        described = await handle.describe()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        return {
            "workflowId": workflow_id,
            "state": "unknown",
            "reason": "No watcher has this workflow id (in this namespace).",
        }
    if described.status != WorkflowExecutionStatus.RUNNING:
        return await dead(client, described)
    if resume:
        await handle.signal("resume")
    try:
        health: dict = await handle.query("status", rpc_timeout=timedelta(seconds=QUERY_SECONDS))
    except RPCError as exc:
        return {
            "workflowId": workflow_id,
            "state": "unknown",
            "reason": f"The watcher runs but no worker answered: {shorten(str(exc), 200)}",
            "cursor": await described.memo_value("cursor", None),
        }
    await overlay(client, described, health)
    return health


async def dead(client: Client, described: WorkflowExecutionDescription) -> dict:
    """A watcher that is no longer running: why, when, and the cursor it saved last."""
    status = described.status
    how = CLOSED.get(status, str(status)) if status is not None else "closed"
    return {
        "workflowId": described.id,
        "state": "dead",
        "status": how,
        "reason": await close_reason(client, described, how),
        "closedAt": described.close_time.isoformat() if described.close_time else None,
        **await saved_cursor(client, described),
        "resume": "watch again with this --workflow-id: it resumes from this cursor",
    }


async def saved_cursor(client: Client, described: WorkflowExecutionDescription) -> dict:
    """``{"cursor", "cursorFrom"}``: the state the run saved in its memo, or (a run of an
    earlier version, which kept none) the state its last poll started from, read backwards
    from the end of its history; ``{"cursor": None}`` when neither is there."""
    cursor = await described.memo_value("cursor", None)
    if cursor is not None:
        return {"cursor": cursor, "cursorFrom": "memo"}
    token = b""
    for _ in range(HISTORY_PAGES):
        reply = await client.workflow_service.get_workflow_execution_history_reverse(
            GetWorkflowExecutionHistoryReverseRequest(
                namespace=client.namespace,
                execution=WorkflowExecution(workflow_id=described.id, run_id=described.run_id),
                maximum_page_size=HISTORY_PAGE,
                next_page_token=token,
            )
        )
        for event in reply.history.events:
            if not event.HasField("activity_task_scheduled_event_attributes"):
                continue
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name not in (POLL, STEP):
                continue
            (request,) = await client.data_converter.decode(scheduled.input.payloads)
            request = request.get("request", request) if isinstance(request, dict) else {}
            if "trigger" in request and isinstance(request.get("state"), dict):
                return {"cursor": request["state"], "cursorFrom": "history"}
        token = reply.next_page_token
        if not token:
            break
    return {"cursor": None}


async def close_reason(client: Client, described: WorkflowExecutionDescription, how: str) -> str:
    """What the last event of the run says (read backwards: one event, however long the
    history that got the watcher terminated)."""
    reply = await client.workflow_service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(
            namespace=client.namespace,
            execution=WorkflowExecution(workflow_id=described.id, run_id=described.run_id),
            maximum_page_size=1,
        )
    )
    events = list(reply.history.events)
    if not events:
        return how
    last = events[0]
    if last.HasField("workflow_execution_terminated_event_attributes"):
        said = last.workflow_execution_terminated_event_attributes.reason
        return f"terminated: {shorten(said, REASON_CHARS)}" if said else "terminated"
    if last.HasField("workflow_execution_failed_event_attributes"):
        error = await failure(client, last.workflow_execution_failed_event_attributes.failure)
        return f"failed: {error['code']}: {error['message']}"
    if last.HasField("workflow_execution_timed_out_event_attributes"):
        return "timed out: the workflow's execution or run timeout passed"
    return how


async def overlay(client: Client, described: WorkflowExecutionDescription, health: dict) -> None:
    """What the running activities say beside the query: a poll being retried, a push's
    line (confirmed or not, reconnecting)."""
    for pending in described.raw_description.pending_activities:
        kind = pending.activity_type.name
        last_error = (
            await failure(client, pending.last_failure)
            if pending.HasField("last_failure")
            else None
        )
        if kind in (POLL, STEP) and (pending.attempt > 1 or last_error):
            health["retrying"] = {
                "attempt": pending.attempt,
                "lastError": last_error,
                "waiting": pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED,
            }
        elif kind == PUSH and health.get("push") in ("idling", "waiting"):
            said = await heartbeat_word(client, pending)
            if said == PUSH_IDLING:
                health.update(push="idling", pushWaiting=None)
            elif pending.attempt > 1 or last_error:
                health.update(
                    push="waiting",
                    pushWaiting=f"reconnecting (attempt {pending.attempt})",
                    lastPushError=last_error or health.get("lastPushError"),
                )
            else:
                health.update(push="waiting", pushWaiting="connecting")


async def heartbeat_word(client: Client, pending: Any) -> str | None:
    if not pending.HasField("heartbeat_details") or not pending.heartbeat_details.payloads:
        return None
    try:
        values = await client.data_converter.decode(pending.heartbeat_details.payloads)
    except Exception:  # noqa: BLE001 - an unreadable heartbeat says nothing
        return None
    return values[0] if values and isinstance(values[0], str) else None


async def failure(client: Client, raw: Failure) -> dict:
    """A failure as ``{"code", "message"}`` (decrypted: the codec encrypts messages)."""
    copied = Failure()
    copied.CopyFrom(raw)
    try:
        error = await client.data_converter.decode_failure(copied)
    except Exception:  # noqa: BLE001 - a failure we cannot read is still a failure
        return {"code": "UNKNOWN", "message": "(unreadable: another payload key?)"}
    if isinstance(error, ApplicationError):
        code = error.type or "UNKNOWN"
        return {"code": code, "message": shorten(error.message, REASON_CHARS)}
    if isinstance(error, TimedOut):
        return {
            "code": "TIMEOUT",
            "message": f"{error.type.name if error.type else 'timeout'}: the worker stopped "
            "answering (it died, or was too busy); retried on another",
        }
    return {"code": type(error).__name__, "message": shorten(str(error), REASON_CHARS)}
