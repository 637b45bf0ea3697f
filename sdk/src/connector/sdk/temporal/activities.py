"""The step activity: any step of any installed connector, its envelope as the result.

It heartbeats while the step runs (a dead worker's step is retried elsewhere within the
heartbeat timeout), logs one line per failed step (scrubbed, as the envelope is), and
counts steps and trigger records for the worker's metrics (``telemetry``).
"""

from __future__ import annotations

import json
import logging
import threading
from asyncio import CancelledError
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .. import envelope
from ..egress import EgressPolicy
from ..errors import UnknownAction
from ..push import PushLines
from ..requests import REQUEST_KINDS
from ..runtime import Connector
from . import telemetry

STEP = "connector.step"
PUSH = "connector.push"
HEARTBEAT_SECONDS = 5.0
log = logging.getLogger("connector.worker")
_connectors: dict[str, Any] = {}
_pool: Any = None  # the worker's session pool (set by worker.run)
_egress: EgressPolicy | None = None  # where steps may connect (the hosted default)
_connect_timeout: float | None = None
_push_lines: PushLines | None = None  # the pushes' lines kept between waits (worker.run)


def configure(
    pool: Any,
    egress: EgressPolicy,
    connect_timeout: float | None,
    push_lines: PushLines | None = None,
) -> None:
    global _pool, _egress, _connect_timeout, _push_lines
    _pool, _egress, _connect_timeout, _push_lines = pool, egress, connect_timeout, push_lines


def connector(name: str) -> Connector:
    if name not in _connectors:
        _connectors[name] = Connector.load(name)
    return _connectors[name]


def run_envelope(request: dict, execution: str | None = None) -> dict:
    """The step's envelope: ``{"connector", "action"|"trigger"|"dataSource"|"testConnection",
    "connection", "inputs", "state"}`` (``watcher``: the poller asking, for the log)."""
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
        pool=_pool,
        egress=_egress,
        connect_timeout=_connect_timeout,
    )


def heartbeating(request: dict, execution: str | None) -> dict:
    """The step on a thread of its own while this (the activity's) thread heartbeats."""
    result: dict[str, dict] = {}
    done = threading.Event()

    def work() -> None:
        try:
            result["envelope"] = run_envelope(request, execution)
        finally:
            done.set()

    threading.Thread(target=work, name="step-work", daemon=True).start()
    while not done.wait(HEARTBEAT_SECONDS):
        activity.heartbeat()
    return result["envelope"]


# (no_thread_cancel_exception: cancellation is read from is_cancelled, so the connection
# is cut by us, not left to an exception raised at a random point of this thread)
@activity.defn(name=PUSH, no_thread_cancel_exception=True)
def wait_for_change(request: dict) -> dict:
    """A trigger's push (IMAP IDLE), held until its source changes or ``timeoutSeconds``:
    ``{"connector", "trigger", "connection", "inputs", "state", "timeoutSeconds"}`` ->
    ``{"ok": true, "data": {"woke": "change"|"timeout"|"unsupported"|"stopped"}}``.

    One worker runs it at a time; it heartbeats, so a worker that dies holding it is
    noticed within the heartbeat timeout and the push is retried on another. Cancelled
    (the watcher polled, or continued as new), it cuts its connection at once. An error
    is raised as ``run_step`` raises it, for the caller's retry policy."""
    body = dict(request)
    name = body.pop("connector", None)
    timeout = float(body.pop("timeoutSeconds"))
    try:
        target = connector(str(name))
    except (LookupError, OSError) as exc:
        return _raised(envelope.error(UnknownAction(f"Unknown connector {name!r}: {exc}")))
    stop = threading.Event()
    result: dict[str, dict] = {}
    done = threading.Event()

    def work() -> None:
        try:
            result["envelope"] = target.wait_for_change(
                body, timeout, egress=_egress, stop=stop, lines=_push_lines
            )
        finally:
            done.set()

    threading.Thread(target=work, name="push-work", daemon=True).start()
    while not done.wait(1.0):  # a cancellation arrives with a heartbeat's answer
        activity.heartbeat()
        if activity.is_cancelled() or activity.is_worker_shutdown():
            stop.set()
    if activity.is_cancelled():
        raise CancelledError()
    if result["envelope"].get("ok"):
        return result["envelope"]
    return _raised(result["envelope"])


def _raised(result: dict) -> dict:
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
    if info is not None and not info.is_local:  # (a local activity cannot heartbeat)
        result = heartbeating(request, execution)
    else:
        result = run_envelope(request, execution)
    kind = next((k for k in REQUEST_KINDS if k in request), "action")
    telemetry.step(str(request.get("connector")), kind, str(request.get(kind)), result)
    if result.get("ok"):
        return result
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
    return _raised(result)
