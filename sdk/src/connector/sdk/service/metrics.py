"""Prometheus metrics of the service. Labels come from closed sets only (the served
connectors and their operations), so no caller can grow them."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ..pool import SessionPool

UNKNOWN = "unknown"


class Metrics:
    def __init__(self, operations: dict[str, Iterable[str]]):
        """``operations``: connector name -> the operation labels it may report."""
        self.known = {name: set(ops) for name, ops in operations.items()}
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "connector_step_seconds",
            "Step duration",
            ["connector", "operation"],
            registry=self.registry,
        )
        self.errors = Counter(
            "connector_step_errors",
            "Failed steps by code",
            ["connector", "code"],
            registry=self.registry,
        )
        self.pool_open = Gauge(
            "connector_pool_sessions_open", "Pooled sessions", registry=self.registry
        )
        self.pool_idle = Gauge(
            "connector_pool_sessions_idle", "Idle pooled sessions", registry=self.registry
        )
        self.pool_hits = Gauge(
            "connector_pool_hits", "Steps on a reused session", registry=self.registry
        )
        self.pool_misses = Gauge(
            "connector_pool_misses", "Steps that opened a session", registry=self.registry
        )

    def labels(self, connector: str, operation: str) -> tuple[str, str]:
        """(connector, operation) as labels: what the caller named only when it exists."""
        if connector not in self.known:
            return UNKNOWN, UNKNOWN
        return connector, operation if operation in self.known[connector] else UNKNOWN

    def step(self, connector: str, operation: str, code: str, seconds: float) -> None:
        name, op = self.labels(connector, operation)
        self.latency.labels(name, op).observe(seconds)
        if code != "OK":
            self.errors.labels(name, code).inc()

    def pool(self, pool: SessionPool) -> None:
        stats = pool.stats()
        self.pool_open.set(stats["open"])
        self.pool_idle.set(stats["idle"])
        self.pool_hits.set(stats["hits"])
        self.pool_misses.set(stats["misses"])

    def text(self) -> bytes:
        return generate_latest(self.registry)
