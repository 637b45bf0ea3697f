"""The worker's metrics (``worker --metrics-port``): steps by code; trigger polls that failed
(after their retries) and every poll attempt, by code; trigger records; the push hub's
leases and lines (``connector_push{what}``); and when each watcher last polled successfully
(alert on ``time() - connector_trigger_last_success_timestamp_seconds``: a watcher that
died stops moving it).

Labels are the installed connectors' own names, the error codes, and the watchers' workflow
ids: at most MAX_WATCHERS of them per worker (the first seen; later ones are counted as
``other``), each cut to WATCHER_CHARS, so the series stay bounded whatever runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from .._error_table import ERRORS

UNKNOWN = "unknown"
OTHER = "other"
MAX_WATCHERS = 500
WATCHER_CHARS = 120
REGISTRY = CollectorRegistry()
STEPS = Counter(
    "connector_worker_steps",
    "Steps the worker ran, by connector, kind, operation and code",
    ["connector", "kind", "operation", "code"],
    registry=REGISTRY,
)
FAILED_POLLS = Counter(
    "connector_trigger_failed_polls",
    "Trigger polls that failed (after the step's retries), by watcher and code",
    ["connector", "trigger", "watcher", "code"],
    registry=REGISTRY,
)
POLL_ATTEMPTS = Counter(
    "connector_trigger_poll_attempts",
    "Trigger poll attempts (each retry counts), by watcher and code (OK for a success)",
    ["connector", "trigger", "watcher", "code"],
    registry=REGISTRY,
)
RECORDS = Counter(
    "connector_trigger_records",
    "Records trigger polls returned, each handed off to its workflow",
    ["connector", "trigger", "watcher"],
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "connector_trigger_last_success_timestamp_seconds",
    "When a poll of this watcher last succeeded (Unix time)",
    ["connector", "trigger", "watcher"],
    registry=REGISTRY,
)
PUSH = Gauge(
    "connector_push",
    "The worker's push hub: leases (watchers), lines, idling leases, maxLines, threads",
    ["what"],
    registry=REGISTRY,
)
_known: dict[str, set[str]] = {}
_watchers: set[str] = set()
_lock = threading.Lock()


def configure(operations: Mapping[str, Iterable[str]]) -> None:
    """The connectors and operations labels may name (the worker's installed connectors)."""
    _known.clear()
    _known.update({name: set(ops) for name, ops in operations.items()})


def push_hub(stats: Callable[[], dict]) -> None:
    """The push hub's figures, read when scraped (``PushHub.stats``)."""

    def figure(what: str) -> Callable[[], float]:
        return lambda: float(stats()[what])

    for what in ("leases", "lines", "idling", "maxLines", "threads"):
        PUSH.labels(what).set_function(figure(what))


def serve(port: int, host: str = "127.0.0.1") -> None:
    start_http_server(port, addr=host, registry=REGISTRY)


def _labels(connector: str, operation: str) -> tuple[str, str]:
    if connector not in _known:
        return UNKNOWN, UNKNOWN
    return connector, operation if operation in _known[connector] else UNKNOWN


def _code(envelope: dict) -> str:
    if envelope.get("ok"):
        return "OK"
    code = str(envelope.get("error", {}).get("code"))
    return code if code in ERRORS else UNKNOWN


def watcher_label(watcher: object) -> str:
    """A watcher's label: its workflow id (cut), among the first MAX_WATCHERS; else other."""
    if not isinstance(watcher, str) or not watcher:
        return UNKNOWN
    label = watcher[:WATCHER_CHARS]
    with _lock:
        if label in _watchers:
            return label
        if len(_watchers) >= MAX_WATCHERS:
            return OTHER
        _watchers.add(label)
    return label


def step(connector: str, kind: str, operation: str, envelope: dict) -> None:
    name, op = _labels(connector, operation)
    STEPS.labels(name, kind, op, _code(envelope)).inc()


def poll(
    connector: str, trigger: str, watcher: object, envelope: dict, *, last_attempt: bool
) -> None:
    """One attempt of a trigger's poll; ``last_attempt``: no retry follows it (a failure
    then counts as a failed poll)."""
    name, op = _labels(connector, trigger)
    who, code = watcher_label(watcher), _code(envelope)
    POLL_ATTEMPTS.labels(name, op, who, code).inc()
    if envelope.get("ok"):
        RECORDS.labels(name, op, who).inc(len(envelope.get("data") or []))
        LAST_SUCCESS.labels(name, op, who).set(time.time())
    elif last_attempt:
        FAILED_POLLS.labels(name, op, who, code).inc()
