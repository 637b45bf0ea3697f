"""The step activity: any step of any installed connector, its envelope as the result."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from .. import envelope
from ..egress import EgressPolicy
from ..errors import UnknownAction
from ..runtime import Connector

STEP = "connector.step"
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


def run_envelope(request: dict) -> dict:
    """The step's envelope: ``{"connector", "action"|"trigger"|"dataSource"|"testConnection",
    "connection", "inputs", "state"}``."""
    body = dict(request)
    name = body.pop("connector", None)
    try:
        target = connector(str(name))
    except (LookupError, OSError) as exc:
        return envelope.error(UnknownAction(f"Unknown connector {name!r}: {exc}"))
    info = activity.info() if activity.in_activity() else None
    execution = f"{info.workflow_id}/{info.activity_id}" if info else None
    return target.invoke(
        body,
        execution_id=execution,
        pool=_pool,
        egress=_egress,
        connect_timeout=_connect_timeout,
    )


@activity.defn(name=STEP)
def run_step(request: dict) -> dict:
    """An ok envelope is the result; an error envelope is raised as an ApplicationError whose
    type is the error code, carrying the envelope: non-retryable errors stop at once, the
    others follow the caller's retry policy (RATE_LIMITED: after retryAfterSeconds)."""
    result = run_envelope(request)
    if result.get("ok"):
        return result
    error = result["error"]
    after = envelope.retry_after(result)
    delay = timedelta(seconds=after) if after is not None else None
    raise ApplicationError(
        error["message"],
        result,
        type=error["code"],
        non_retryable=not error.get("retryable"),
        next_retry_delay=delay,
    )
