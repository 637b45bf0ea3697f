"""The service's settings: what the operator chose on the command line, frozen.

uvicorn starts each worker process anew (``--workers N``): the settings travel to them as
JSON in an environment variable.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass

from .._egress import EgressPolicy
from .._pool import IDLE_SECONDS, LOGIN_BACKOFF, PER_ACCOUNT

CONFIG_ENV = "CONNECTOR_SERVE_CONFIG"
MB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    connectors: tuple[str, ...] | None = None  # names; None: every installed connector
    token_file: str | None = None
    metrics_token_file: str | None = None  # the operator's metrics tokens (service.auth)
    no_auth: bool = False
    workers: int = 1
    # Steps
    threads: int = 32  # steps running at once: a hard cap, held by the step's own thread
    per_account: int = PER_ACCOUNT  # pooled sessions per account, for all workers together
    account_queue: int | None = None  # steps waiting per account (None: 2 x per_account)
    per_tenant: int = 16  # steps at once per tenant (a token, or the tokens of a tenant)
    tenant_queue: int | None = None  # a tenant's steps waiting (None: 4 x per_tenant)
    idle_seconds: float = IDLE_SECONDS
    # What a tenant may hold: pooled sessions, and failed logins (connector.sdk._pool)
    sessions_per_tenant: int = 64  # pooled sessions of one tenant, all workers together
    max_sessions: int = 256  # pooled sessions in all, all workers together
    failed_logins: int = 3  # a tenant's failed logins to one account in a row, then a pause
    login_backoff: float = LOGIN_BACKOFF  # that pause, doubled by each further failure (to 15 min)
    max_step_timeout: float = 120.0  # what a step may last, whatever its connection asks
    connect_timeout: float = 15.0  # opening a connection (TCP, TLS, greeting, login)
    # The HTTP edge
    max_body: int = 64 * MB  # a 40 MB attachment in base64 inside JSON, with room to spare
    # JSON elements of a body (service.body): counted before parsing; a parsed element costs
    # ~70 bytes or more, so 45 MB of "{}," cost 1.2 GB. A real step's body holds a few
    # hundred; the largest, a trigger poll at every cap (100 mailboxes, their full cursors,
    # 1,000 recent Message-IDs, 500 filters), 6,800
    # (tests/imap/unit/test_body_budget.py). Counting costs ~0.4 us an element: a body over
    # the cap is refused after ~4 ms (60,000 keywords took ~40 ms at 100,000).
    max_body_elements: int = 10_000
    header_timeout: float = 10.0  # a request's headers, from its first byte
    body_timeout: float = 60.0  # a request's body, from the end of its headers
    keepalive: float = 5.0  # an idle connection: a new one before its first byte, or kept-alive
    max_connections: int = 1000
    # Open connections from one client address (an IPv6 /64), so that one client cannot hold
    # them all; 0: no such cap (behind a proxy, where every client has the proxy's address).
    max_connections_per_client: int = 256
    # Requests without a valid token (401s, /healthz...) per client address (an IPv6 /64):
    # a second, and at once (0: no such limit, as behind a proxy that limits them itself).
    unauthenticated_rate: float = 100.0
    unauthenticated_burst: int = 200
    # Fair shares of the CPU (service.shares): while the service is contended (its event
    # loop's ticks ran contended_lag late or more, on average over 200 ms: service.lag), a
    # tenant using more than the mean of the active tenants, and more than share_floor
    # cores (~75 pooled steps a second), waits for its turn before its body is read. Quiet,
    # ticks ran ~0.2 ms late; under an unpaced flood of refusals, ~2.5 ms (median).
    fair_share: bool = True
    share_floor: float = 0.1
    contended_lag: float = 0.001
    # A request refused by one of those budgets is answered after this pause, so that a
    # client retrying at once cannot make the service spin on refusals.
    refusal_pause: float = 1.0
    # Egress: where steps may connect (connector.sdk._egress)
    allow_hosts: tuple[str, ...] = ()
    deny_hosts: tuple[str, ...] = ()
    allow_ports: tuple[int, ...] | None = None  # None: the ports the manifests declare
    any_port: bool = False
    allow_private: bool = False
    studio: bool = False  # /studio: the steps' forms in a browser (off unless asked for)

    @property
    def account_slots(self) -> int:
        """Sessions per account in this worker process: the cap is divided among workers,
        so all of them together stay within it (and within the server's own limit)."""
        return max(1, self.per_account // max(1, self.workers))

    @property
    def tenant_sessions(self) -> int:
        """Pooled sessions per tenant in this worker process (the cap divided among them)."""
        return max(1, self.sessions_per_tenant // max(1, self.workers))

    @property
    def pool_sessions(self) -> int:
        """Pooled sessions in all in this worker process (the cap divided among them)."""
        return max(1, self.max_sessions // max(1, self.workers))

    @property
    def account_waiting(self) -> int:
        return self.account_queue if self.account_queue is not None else 2 * self.account_slots

    @property
    def tenant_waiting(self) -> int:
        return self.tenant_queue if self.tenant_queue is not None else 4 * self.per_tenant

    def egress(self, declared_ports: Iterable[int]) -> EgressPolicy:
        """The hosted policy: restricted; ports as given, else those the manifests declare
        (any, when none declares ports)."""
        if self.any_port:
            ports = None
        elif self.allow_ports is not None:
            ports = frozenset(self.allow_ports)
        else:
            ports = frozenset(declared_ports) or None
        return EgressPolicy.create(
            allow_hosts=self.allow_hosts,
            deny_hosts=self.deny_hosts,
            allow_ports=ports,
            allow_private=self.allow_private,
        )

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls) -> Settings:
        values = json.loads(os.environ.get(CONFIG_ENV, "{}"))
        for name in ("connectors", "allow_hosts", "deny_hosts", "allow_ports"):
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
