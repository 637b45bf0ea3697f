"""The step activity: any step of any installed connector, its envelope as the result.

It heartbeats while the step runs (a dead worker's step is retried elsewhere within the
heartbeat timeout), logs one line per failed step (scrubbed, as the envelope is), and
counts steps and trigger records for the worker's metrics (``telemetry``).
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .. import envelope
from ..egress import EgressPolicy
from ..errors import UnknownAction
from ..requests import REQUEST_KINDS
from ..runtime import Connector
from . import telemetry

STEP = "connector.step"
HEARTBEAT_SECONDS = 5.0
log = logging.getLogger("connector.worker")
_connectors: dict[str, Any] = {}
_pool: Any = None  # the worker's session pool (set by worker.run)
_egress: EgressPolicy | None = None  # where steps may connect (the hosted default)
_connect_timeout: float | None = None


def configure(pool: Any, egress: EgressPolicy, connect_timeout: float | None) -> None:
    global _pool, _egress, _connect_timeout
    _pool, _egress, _connect_timeout = pool, egress, connect_timeout


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
    after = envelope.retry_after(result)
    delay = timedelta(seconds=after) if after is not None else None
    raise ApplicationError(
        error["message"],
        result,
        type=error["code"],
        non_retryable=not error.get("retryable"),
        next_retry_delay=delay,
    )
