"""The step activity: any step of any installed connector, its envelope as the result."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

STEP = "connector.step"
_connectors: dict[str, Any] = {}
_pool: Any = None  # the worker's session pool (set by worker.run)


def configure(pool: Any) -> None:
    global _pool
    _pool = pool


def connector(name: str) -> Any:
    from ..runtime import Connector

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
        return {
            "ok": False,
            "error": {
                "code": "UNKNOWN_ACTION",
                "message": f"Unknown connector {name!r}: {exc}",
                "retryable": False,
                "details": [],
            },
        }
    info = activity.info() if activity.in_activity() else None
    execution = f"{info.workflow_id}/{info.activity_id}" if info else None
    return target.invoke(body, execution_id=execution, pool=_pool)


@activity.defn(name=STEP)
def run_step(request: dict) -> dict:
    """An ok envelope is the result; an error envelope is raised as an ApplicationError whose
    type is the error code, carrying the envelope: non-retryable errors stop at once, the
    others follow the caller's retry policy (RATE_LIMITED: after retryAfterSeconds)."""
    envelope = run_envelope(request)
    if envelope.get("ok"):
        return envelope
    error = envelope["error"]
    delay = None
    for detail in error.get("details") or []:
        seconds = detail.get("retryAfterSeconds") if isinstance(detail, dict) else None
        if isinstance(seconds, (int, float)):
            delay = timedelta(seconds=seconds)
    raise ApplicationError(
        error["message"],
        envelope,
        type=error["code"],
        non_retryable=not error.get("retryable"),
        next_retry_delay=delay,
    )
