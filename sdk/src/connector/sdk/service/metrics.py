"""Prometheus metrics of the service, which no caller can inflate, and no tenant can read
another's: a metrics token (the operator's) reads every series, a tenant's token only the
series labelled with its own tenant (``TenantView``).

Every label comes from a closed set: the served connectors, their operations, the error
codes of the table, the tenants of the token file; anything else is ``unknown``. A request
without a valid token only increments one counter. Latency is end to end (queue wait and
step), with the queue wait on its own; saturation shows as gauges (busy step threads,
accounts with steps waiting: counts, never an account).

With ``--workers N`` every worker writes its values to a shared directory
(prometheus-client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR) and one scrape sums them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric

from .._error_table import ERRORS

UNKNOWN = "unknown"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Steps last from milliseconds (a pooled getStatus) to minutes (a 30 MB download).
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENV))


class Metrics:
    def __init__(self, operations: dict[str, Iterable[str]], tenants: Iterable[str]):
        """``operations``: connector name -> the operation labels it may report."""
        self.known = {name: set(ops) for name, ops in operations.items()}
        self.tenants = set(tenants)
        shared = multiprocess_mode()
        # In multiprocess mode values live in files; a scrape collects them all.
        self.registry: CollectorRegistry | None = None if shared else CollectorRegistry()
        registry = self.registry
        self.steps = Counter(
            "connector_steps",
            "Steps answered, by connector, operation, code and tenant",
            ["connector", "operation", "code", "tenant"],
            registry=registry,
        )
        self.latency = Histogram(
            "connector_step_seconds",
            "End-to-end step duration (queue wait + step), as the caller saw it",
            ["connector", "operation"],
            buckets=SECONDS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "connector_queue_wait_seconds",
            "Time a step waited for its account's session slot before running",
            buckets=SECONDS,
            registry=registry,
        )
        self.unauthorized = Counter(
            "connector_unauthorized_requests",
            "Requests refused for a missing or wrong service token",
            registry=registry,
        )
        self.throttled = Counter(
            "connector_unauthenticated_throttled_requests",
            "Requests without a valid token refused for their client address's rate",
            registry=registry,
        )
        self.loop_lag = Gauge(
            "connector_event_loop_lag_seconds",
            "How late the event loop ran a timer, at worst, since the previous scrape",
            registry=registry,
            multiprocess_mode="max",
        )
        self.tenant_cpu = Counter(
            "connector_tenant_cpu_seconds",
            "CPU time the service spent for each tenant (bodies, admission, steps)",
            ["tenant"],
            registry=registry,
        )
        self.pool_hits = Counter(
            "connector_pool_hits", "Steps that reused a logged-in session", registry=registry
        )
        self.pool_misses = Counter(
            "connector_pool_misses", "Steps that opened a session", registry=registry
        )
        self.pool_open = Gauge(
            "connector_pool_sessions_open",
            "Pooled sessions",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.pool_idle = Gauge(
            "connector_pool_sessions_idle",
            "Idle pooled sessions",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.busy_threads = Gauge(
            "connector_step_threads_busy",
            "Step threads running a step",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.accounts_waiting = Gauge(
            "connector_accounts_waiting",
            "Accounts with steps waiting for a session slot (a count)",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.steps_waiting = Gauge(
            "connector_steps_waiting",
            "Steps waiting for their account's session slot",
            registry=registry,
            multiprocess_mode="livesum",
        )

    def labels(self, connector: str, operation: str) -> tuple[str, str]:
        """(connector, operation) as labels: what the caller named only when it exists."""
        if connector not in self.known:
            return UNKNOWN, UNKNOWN
        return connector, operation if operation in self.known[connector] else UNKNOWN

    def step(
        self,
        connector: str,
        operation: str,
        code: str,
        tenant: str,
        seconds: float,
        pool: str | None,
    ) -> None:
        name, op = self.labels(connector, operation)
        self.latency.labels(name, op).observe(seconds)
        self.steps.labels(
            name,
            op,
            code if code == "OK" or code in ERRORS else UNKNOWN,
            tenant if tenant in self.tenants else UNKNOWN,
        ).inc()
        if pool == "hit":
            self.pool_hits.inc()
        elif pool == "miss":
            self.pool_misses.inc()

    def cpu(self, tenant: str, seconds: float) -> None:
        self.tenant_cpu.labels(tenant if tenant in self.tenants else UNKNOWN).inc(seconds)

    def gauges(self, sample: Callable[[], dict[str, int]]) -> None:
        values = sample()
        self.pool_open.set(values["open"])
        self.pool_idle.set(values["idle"])
        self.busy_threads.set(values["busy"])
        self.accounts_waiting.set(values["accountsWaiting"])
        self.steps_waiting.set(values["stepsWaiting"])

    def text(self, tenant: str | None = None) -> bytes:
        """The exposition: every series, or (``tenant``) only that tenant's own."""
        source: CollectorRegistry
        if self.registry is not None:
            source = self.registry
        else:
            source = CollectorRegistry()
            multiprocess.MultiProcessCollector(source)
        if tenant is None:
            return generate_latest(source)
        return generate_latest(TenantView(source, tenant))  # (a registry: anything with collect())


class TenantView:
    """The series of one tenant (those labelled with it): what a tenant's token reads. The
    rest (other tenants' steps, and the service-wide latency, pool and thread figures, which
    mix every tenant's) is the operator's."""

    def __init__(self, source: CollectorRegistry, tenant: str):
        self.source, self.tenant = source, tenant

    def collect(self) -> Iterator[Metric]:
        for family in self.source.collect():
            samples = [s for s in family.samples if s.labels.get("tenant") == self.tenant]
            if samples:
                own = Metric(family.name, family.documentation, family.type, family.unit)
                own.samples = samples
                yield own
