"""The step activity: any step of any installed connector, its envelope as the result; and a
durable trigger's poll, which hands each record to its workflow itself (``connector.poll``).
A trigger's push is the worker's push hub's (``pushhost``).

They heartbeat while they run (a dead worker's step is retried elsewhere within the
heartbeat timeout), log one line per failed step (scrubbed, as the envelope is), and count
steps, polls and trigger records for the worker's metrics (``telemetry``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from asyncio import CancelledError
from collections.abc import Awaitable
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from .. import _envelope as envelope
from .._deadlines import seconds_left
from .._egress import EgressPolicy
from .._requests import REQUEST_KINDS
from .._runtime import Connector
from ..errors import ConnectionFailed, InternalError, UnknownAction
from . import telemetry
from .workflows import HAND_OFFS_AT_ONCE, RECORD_BYTES, record_id

STEP = "connector.step"
PUSH = "connector.push"
POLL = "connector.poll"
# What a push activity's heartbeats say (runs of an earlier version: ``pushhost``).
PUSH_IDLING, PUSH_CONNECTING = "idling", "connecting"
# Often enough for a heartbeat timeout of a few seconds (the SDK sends at most one per 80%
# of the timeout, whatever we call).
HEARTBEAT_SECONDS = 2.0
T = TypeVar("T")
log = logging.getLogger("connector.worker")
_connectors: dict[str, Any] = {}
_pool: Any = None  # the worker's session pool (set by worker.run)
_egress: EgressPolicy | None = None  # where steps may connect (the hosted default)
_connect_timeout: float | None = None
_executor: Executor | None = None  # the step threads (worker.run): a poll's step runs there


def configure(
    pool: Any,
    egress: EgressPolicy,
    connect_timeout: float | None,
    executor: Executor | None = None,
) -> None:
    global _pool, _egress, _connect_timeout, _executor
    _pool, _egress, _connect_timeout, _executor = pool, egress, connect_timeout, executor


def connector(name: str) -> Connector:
    if name not in _connectors:
        _connectors[name] = Connector.load(name)
    return _connectors[name]


def run_envelope(request: dict, execution: str | None = None, timeout: float | None = None) -> dict:
    """The step's envelope: ``{"connector", "action"|"trigger"|"dataSource"|"testConnection",
    "connection", "inputs", "state"}`` (``watcher``: the poller asking, for the log).
    ``timeout``: the step's deadline, in seconds (``time_left``)."""
    body = dict(request)
    name = body.pop("connector", None)
    body.pop("watcher", None)
    try:
        target = connector(str(name))
    except (LookupError, OSError) as exc:
        return envelope.error(UnknownAction(f"Unknown connector {name!r}: {exc}"))
    return target.invoke(
        body,
        execution_id=execution,
        timeout=timeout,
        pool=_pool,
        egress=_egress,
        connect_timeout=_connect_timeout,
    )


def time_left(info: activity.Info) -> float | None:
    """What the activity has left of its start-to-close and schedule-to-close timeouts: the
    step's deadline, so that a server answering a byte at a time cannot hold the step (and
    its worker thread) past the moment Temporal gives up on it (connector.sdk._deadlines)."""
    return seconds_left(
        [
            (info.start_to_close_timeout, info.started_time),
            (info.schedule_to_close_timeout, info.scheduled_time),
        ],
        datetime.now(UTC),
    )


def heartbeating(request: dict, execution: str | None, timeout: float | None = None) -> dict:
    """The step on a thread of its own while this (the activity's) thread heartbeats."""
    result: dict[str, dict] = {}
    done = threading.Event()

    def work() -> None:
        try:
            result["envelope"] = run_envelope(request, execution, timeout)
        finally:
            done.set()

    threading.Thread(target=work, name="step-work", daemon=True).start()
    while not done.wait(HEARTBEAT_SECONDS):
        activity.heartbeat()
    return result["envelope"]


def raised(result: dict) -> dict:
    """An error envelope as the ApplicationError Temporal's retry policy reads."""
    error = result["error"]
    after = envelope.retry_after(result)
    raise ApplicationError(
        error["message"],
        result,
        type=error["code"],
        non_retryable=not error.get("retryable"),
        next_retry_delay=timedelta(seconds=after) if after is not None else None,
    )


@activity.defn(name=STEP)
def run_step(request: dict) -> dict:
    """An ok envelope is the result; an error envelope is raised as an ApplicationError whose
    type is the error code, carrying the envelope: non-retryable errors stop at once, the
    others follow the caller's retry policy (RATE_LIMITED: after retryAfterSeconds)."""
    info = activity.info() if activity.in_activity() else None
    execution = f"{info.workflow_id}/{info.activity_id}" if info else None
    timeout = time_left(info) if info is not None else None
    if info is not None and not info.is_local:  # (a local activity cannot heartbeat)
        result = heartbeating(request, execution, timeout)
    else:
        result = run_envelope(request, execution, timeout)
    kind = next((k for k in REQUEST_KINDS if k in request), "action")
    telemetry.step(str(request.get("connector")), kind, str(request.get(kind)), result)
    if kind == "trigger":
        telemetry.poll(
            str(request.get("connector")),
            str(request.get("trigger")),
            request.get("watcher"),
            result,
            last_attempt=info is None or last_attempt(info, result),
        )
    if result.get("ok"):
        return result
    log_failure(request, kind, info, result)
    return raised(result)


@activity.defn(name=POLL)
async def poll_and_hand_off(args: dict) -> dict:
    """A durable trigger's poll, then each record started as its workflow, here:
    ``{"request": the trigger's step request, "handOff": {"watcher", "handler",
    "handlerTaskQueue", "taskQueue", "retry"}}`` -> ``{"ok": true, "data": {"state",
    "hasMore", "records", "handedOff"}}``.

    The records never go back to the watcher, so its history holds none of them, however
    big or many they are. Each record's workflow id is ``<watcher>/<record id>`` (from the
    trigger's recordKey) and is never reused: this activity repeated after a worker died
    hands off what was not yet handed off, and what was is refused by Temporal (counted in
    ``records``, not in ``handedOff``). The hand-offs run HAND_OFFS_AT_ONCE at a time.
    ``legacyIds`` (the first poll of a watcher resumed from a run of an earlier version):
    a record whose workflow that version started, under a hash of the whole record, is not
    started again. A failed poll is raised as ``run_step`` raises it, for the caller's
    retry policy."""
    request, to = args["request"], args["handOff"]
    info = activity.info()
    name, key = str(request.get("connector")), str(request.get("trigger"))
    loop = asyncio.get_running_loop()
    execution = f"{info.workflow_id}/{info.activity_id}"
    poll = loop.run_in_executor(_executor, run_envelope, request, execution, time_left(info))
    result = await _heartbeating(poll)
    telemetry.step(name, "trigger", key, result)
    telemetry.poll(name, key, to.get("watcher"), result, last_attempt=last_attempt(info, result))
    if not result.get("ok"):
        log_failure(request, "trigger", info, result)
        return raised(result)
    records = result["data"]
    follow_ups = result.get("followUps") or [None] * len(records)
    operation = connector(name).manifest.table("trigger").get(key)
    handed = await _heartbeating(
        hand_off(
            activity.client(),
            to,
            {"connector": name, "connection": request.get("connection")},
            records,
            follow_ups,
            operation.record_key if operation is not None else (),
        )
    )
    return {
        "ok": True,
        "data": {
            "state": result["state"],
            "hasMore": bool(result.get("hasMore")),
            "records": len(records),
            "handedOff": handed,
            "sourceChanged": bool(result.get("sourceChanged")),
        },
    }


async def hand_off(
    client: Client,
    to: dict,
    source: dict,
    records: list,
    follow_ups: list,
    record_key: tuple[str, ...],
) -> int:
    """Start each record's workflow (HAND_OFFS_AT_ONCE at a time); how many were new."""
    starts = []
    for index, record in enumerate(records):
        size = len(json.dumps(record, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        if size > RECORD_BYTES:
            raised(
                envelope.error(
                    InternalError(
                        f"Record {index + 1} of this poll is {size} bytes of JSON, over the "
                        f"{RECORD_BYTES} bytes a record may carry to its workflow: the "
                        "trigger must keep its records within that."
                    )
                )
            )
        follow = follow_ups[index] if index < len(follow_ups) else None
        child = f"{to['watcher']}/{record_id(record, record_key)}"
        if follow and (follow.get("success") or follow.get("failure")):
            starts.append(
                (
                    "connector.HandleRecord",
                    {
                        "handler": to["handler"],
                        "handlerTaskQueue": to["handlerTaskQueue"],
                        "record": record,
                        "followUp": follow,
                        **source,
                        "retry": to.get("retry"),
                    },
                    child,
                    to["taskQueue"],
                )
            )
        else:
            starts.append((to["handler"], record, child, to["handlerTaskQueue"]))
    gate = asyncio.Semaphore(HAND_OFFS_AT_ONCE)
    legacy = {
        child: f"{to['watcher']}/{record_id(record)}"
        for record, (_, _, child, _) in zip(records, starts, strict=True)
        if to.get("legacyIds")
    }

    async def start(workflow: str, arg: Any, child: str, queue: str) -> bool:
        async with gate:
            if child in legacy and await exists(client, legacy[child]):
                return False  # handed off by an earlier version (its ids hashed the record)
            try:
                await client.start_workflow(
                    workflow,
                    arg,
                    id=child,
                    task_queue=queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                )
            except WorkflowAlreadyStartedError:
                return False  # handed off already (by an earlier attempt or run)
            return True

    outcomes = await asyncio.gather(*(start(*s) for s in starts), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raised(
                envelope.error(
                    ConnectionFailed(f"Handing a record off to Temporal failed: {outcome}")
                )
            )
    return sum(1 for outcome in outcomes if outcome is True)


async def exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _heartbeating(work: Awaitable[T]) -> T:
    """``work``, heartbeating every HEARTBEAT_SECONDS until it is done."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_SECONDS)
            if done:
                return task.result()
            activity.heartbeat()
    except CancelledError:
        task.cancel()  # (a step already on its thread finishes there; its result is dropped)
        raise


def last_attempt(info: activity.Info, result: dict) -> bool:
    """Whether this failed attempt is the last its retry policy allows (a failed poll, not
    an attempt): non-retryable, or the attempts are used up."""
    if result.get("ok") or not result["error"].get("retryable"):
        return True
    policy = info.retry_policy
    most = policy.maximum_attempts if policy is not None else 0
    return bool(most) and info.attempt >= most


def log_failure(request: dict, kind: str, info: activity.Info | None, result: dict) -> None:
    error = result["error"]
    log.warning(
        json.dumps(
            {
                "event": "step failed",
                "watcher": request.get("watcher"),
                "workflowId": info.workflow_id if info else None,
                "connector": request.get("connector"),
                kind: request.get(kind),
                "code": error["code"],
                "message": error["message"],  # scrubbed of the request's secrets
                "attempt": info.attempt if info else None,
            }
        )
    )
