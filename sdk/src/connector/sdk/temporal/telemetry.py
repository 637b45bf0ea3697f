"""The worker's metrics (``worker --metrics-port``): steps by code, failed polls by code,
trigger records handed off, and when each trigger last polled successfully (alert on
``time() - connector_trigger_last_success_timestamp_seconds``). Labels are the installed
connectors' own names and the error codes: a closed set."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from ..errors import ERRORS

UNKNOWN = "unknown"
REGISTRY = CollectorRegistry()
STEPS = Counter(
    "connector_worker_steps",
    "Steps the worker ran, by connector, kind, operation and code",
    ["connector", "kind", "operation", "code"],
    registry=REGISTRY,
)
FAILED_POLLS = Counter(
    "connector_trigger_failed_polls",
    "Trigger polls that failed (after the step's retries), by code",
    ["connector", "trigger", "code"],
    registry=REGISTRY,
)
RECORDS = Counter(
    "connector_trigger_records",
    "Records trigger polls returned, each handed off to its workflow",
    ["connector", "trigger"],
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "connector_trigger_last_success_timestamp_seconds",
    "When a poll of this trigger last succeeded (Unix time)",
    ["connector", "trigger"],
    registry=REGISTRY,
)
_known: dict[str, set[str]] = {}


def configure(operations: Mapping[str, Iterable[str]]) -> None:
    """The connectors and operations labels may name (the worker's installed connectors)."""
    _known.clear()
    _known.update({name: set(ops) for name, ops in operations.items()})


def serve(port: int, host: str = "127.0.0.1") -> None:
    start_http_server(port, addr=host, registry=REGISTRY)


def _labels(connector: str, operation: str) -> tuple[str, str]:
    if connector not in _known:
        return UNKNOWN, UNKNOWN
    return connector, operation if operation in _known[connector] else UNKNOWN


def step(connector: str, kind: str, operation: str, envelope: dict) -> None:
    name, op = _labels(connector, operation)
    ok = bool(envelope.get("ok"))
    code = "OK" if ok else str(envelope.get("error", {}).get("code"))
    code = code if code == "OK" or code in ERRORS else UNKNOWN
    STEPS.labels(name, kind, op, code).inc()
    if kind != "trigger":
        return
    if ok:
        RECORDS.labels(name, op).inc(len(envelope.get("data") or []))
        LAST_SUCCESS.labels(name, op).set(time.time())
    else:
        FAILED_POLLS.labels(name, op, code).inc()
