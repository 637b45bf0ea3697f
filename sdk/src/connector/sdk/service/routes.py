"""The service's routes: authentication, the tenant's turn (its fair share of the CPU), the
body, admission (account, then tenant), the step on a step thread, the envelope as the body
and its code as the status, one log line and the metrics; the CPU each request cost is
charged to its tenant."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from .. import _envelope as envelope
from .._egress import EgressPolicy
from .._pool import SessionPool
from .._requests import split_connection
from .._runtime import Connector, log_unexpected
from .._scrub import Scrubber
from ..errors import (
    ConnectorError,
    InternalError,
    InvalidInput,
    MethodNotAllowed,
    RateLimited,
    Timeout,
    Unauthorized,
    UnknownAction,
)
from ..export import openapi30
from ..export.openapi import document
from .admission import BusyThreads, Gate, Release
from .auth import TokenCheck
from .body import MAX_BODY_DEPTH, read_json_object
from .buckets import TokenBuckets
from .headers import connection_from_headers
from .lag import LoopLag
from .metrics import Metrics
from .settings import Settings
from .shares import REQUEST_CPU, CpuShares, Meter
from .strangers import tenant_of

log = logging.getLogger("connector.service")
NO_TOKEN = "Give a service token: Authorization: Bearer TOKEN."  # noqa: S105 - a hint


class Service:
    """What every route shares: connectors, settings, tokens, the pool, the step threads."""

    def __init__(self, connectors: dict[str, Connector], settings: Settings, auth: TokenCheck):
        self.connectors, self.settings, self.auth = connectors, settings, auth
        self.metrics = Metrics(
            {
                name: [
                    "testConnection",
                    *(
                        f"{kind}:{key}"
                        for kind in ("action", "trigger", "dataSource")
                        for key in connector.manifest.table(kind)
                    ),
                ]
                for name, connector in connectors.items()
            },
            auth.tenants,
        )
        self.egress: EgressPolicy = settings.egress(
            port for c in connectors.values() for port in c.manifest.ports
        )
        self.pool = SessionPool(
            per_account=settings.account_slots,
            idle_seconds=settings.idle_seconds,
            per_tenant=settings.tenant_sessions,
            max_sessions=settings.pool_sessions,
            failed_logins=settings.failed_logins,
            login_backoff=settings.login_backoff,
            on_change=self.update_gauges,
        )
        # The step threads: a hard cap. A step past its timeout is answered TIMEOUT at once,
        # but its thread (and the pooled session it holds) stays counted until it returns.
        self.threads = ThreadPoolExecutor(settings.threads, thread_name_prefix="step")
        # Bodies are parsed here, off the event loop (and off the step threads).
        self.parsers = ThreadPoolExecutor(2, thread_name_prefix="body")
        self.busy = BusyThreads(settings.threads)
        # Steps queue per session key (a tenant's exact credentials): a step never waits
        # behind another tenant's steps, nor behind a wrong password's, for the same account.
        self.accounts = Gate(settings.account_slots, settings.account_waiting, "account")
        self.tenants = Gate(settings.per_tenant, settings.tenant_waiting, "tenant")
        self.openapi = document(connectors, auth=auth.required)
        self.openapi30 = openapi30.convert(self.openapi)
        # Rendered once: a GET of a document costs its caller a copy, not a serialization.
        self.rendered_openapi = rendered(self.openapi)
        self.rendered_openapi30 = rendered(self.openapi30)
        self.rendered_manifests = {
            name: rendered(c.manifest.data) for name, c in connectors.items()
        }
        # What a tenant, or a client without a token, may make the service spend.
        self.lag = LoopLag(late=settings.contended_lag)
        self.shares = CpuShares(
            self.lag.contended if settings.fair_share else lambda: False,
            queue=settings.tenant_waiting,
            pause=settings.refusal_pause,
            floor=settings.share_floor,
        )
        self.strangers: TokenBuckets | None = None
        if settings.unauthenticated_rate > 0:
            self.strangers = TokenBuckets(
                settings.unauthenticated_rate, settings.unauthenticated_burst
            )

    def close(self) -> None:
        self.lag.stop()
        self.pool.close()
        self.threads.shutdown(wait=False, cancel_futures=True)
        self.parsers.shutdown(wait=False, cancel_futures=True)

    def update_gauges(self) -> None:
        def sample() -> dict[str, int]:
            stats = self.pool.stats()
            return {
                "open": stats["open"],
                "idle": stats["idle"],
                "busy": self.busy.busy,
                "accountsWaiting": self.accounts.accounts_waiting,
                "stepsWaiting": self.accounts.steps_waiting,
            }

        self.metrics.gauges(sample)

    # -- helpers

    def respond(self, result: dict) -> JSONResponse:
        status = envelope.http_status(result)
        headers = {}
        if status == 429:
            after = envelope.retry_after(result)
            headers["Retry-After"] = str(max(1, int(after)) if after is not None else 1)
        return JSONResponse(result, status_code=status, headers=headers)

    def refuse(self, exc: ConnectorError) -> JSONResponse:
        return self.respond(envelope.error(exc))

    def tenant(self, request: Request) -> str | None:
        tenant = tenant_of(request.scope, self.auth)
        if tenant is None:
            self.metrics.unauthorized.inc()
        return tenant

    def charge(self, tenant: str, seconds: float) -> None:
        """``seconds`` of CPU spent for ``tenant``: its fair share, and its metric."""
        self.shares.charge(tenant, seconds)
        self.metrics.cpu(tenant, seconds)

    async def read_body(self, request: Request, meter: Meter) -> dict:
        return await read_json_object(
            request,
            max_bytes=self.settings.max_body,
            max_elements=self.settings.max_body_elements,
            max_depth=MAX_BODY_DEPTH,
            parser=self.parsers,
            meter=meter,
        )

    # -- routes

    def step_route(self, kind: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self.step(request, kind)

        return endpoint

    async def step(self, request: Request, kind: str) -> Response:
        started = time.monotonic()
        name = request.path_params["connector"]
        key = request.path_params.get("key")
        operation = f"{kind}:{key}" if key else kind
        labels = self.metrics.labels(name, operation)
        outcome: dict[str, Any] = {"connector": labels[0], "operation": labels[1]}
        tenant = self.tenant(request)
        if tenant is None:  # one counter, one log line: nothing a stranger can grow
            log.info(json.dumps({**outcome, "code": "UNAUTHORIZED", "status": 401}))
            return self.refuse(Unauthorized(NO_TOKEN))
        outcome["tenant"] = tenant
        releases: list[Release] = []
        step_request: dict[str, Any] = {kind: key if key is not None else True}
        connector: Connector | None = None
        meter = Meter()  # the CPU this request costs here (its step thread charges its own)
        deadline = started + self.settings.max_step_timeout
        try:
            # Its turn comes before its body is read: a tenant over its share waits here.
            await self.shares.turn(tenant, deadline - time.monotonic())
            connector = self.connectors.get(name)
            if connector is None:
                known = ", ".join(self.connectors) or "none"
                raise UnknownAction(f"Unknown connector. Known: {known}.")
            step_request = {**await self.read_body(request, meter), **step_request}
            with meter:
                if "connection" not in step_request:
                    from_headers = connection_from_headers(connector, request.headers.items())
                    if from_headers is not None:
                        step_request["connection"] = from_headers
                pooled = connector.pool_keys(step_request, self.pool, tenant)
                if pooled is not None:
                    self.pool.check_login(pooled[0])  # (a tenant refused new logins: at once)
            queued = time.monotonic()
            try:
                if pooled is not None:
                    keys, cap = pooled
                    releases.append(
                        await self.accounts.acquire(keys.session, deadline - queued, cap)
                    )
                releases.append(await self.tenants.acquire(tenant, deadline - time.monotonic()))
            finally:
                self.metrics.queue_wait.observe(time.monotonic() - queued)
                self.update_gauges()
            holder: dict[str, Any] = {}
            result = await self.run(connector, step_request, holder, deadline, releases, tenant)
            outcome["pool"] = holder.get("pool")
        except ClientDisconnect:
            result = envelope.error(InvalidInput("The request body was cut off."))
        except ConnectorError as exc:
            result = envelope.error(exc)
        except Exception as exc:  # noqa: BLE001 - a bug outside the runtime: logged, answered
            log_unexpected(exc, step_request, secrets_of(request, connector, step_request))
            result = envelope.error(
                InternalError(f"Unexpected {type(exc).__name__} in the service (logged).")
            )
        finally:
            for release in releases:  # (run() took over the releases of a step it started)
                release()
        with meter:
            response = self.respond(result)
            code = envelope.code_of(result)
            seconds = time.monotonic() - started
            self.metrics.step(name, operation, code, tenant, seconds, outcome.get("pool"))
            outcome.update(code=code, status=response.status_code, ms=round(seconds * 1000, 1))
            log.info(json.dumps(outcome))
        self.charge(tenant, meter.seconds + REQUEST_CPU)
        return response

    async def run(
        self,
        connector: Connector,
        step_request: dict,
        report: dict,
        deadline: float,
        releases: list[Release],
        tenant: str,
    ) -> dict:
        """The step on a step thread, within the step's deadline. The thread gives back the
        tenant's and the account's slots when it ends (after the answer, on a timeout)."""
        held = list(releases)
        releases.clear()
        timeout = max(0.001, deadline - time.monotonic())
        settings = self.settings

        def call() -> dict:
            spent = Meter()
            try:
                with self.busy, spent:
                    self.update_gauges()
                    return connector.invoke(
                        step_request,
                        timeout=timeout,
                        pool=self.pool,
                        report=report,
                        egress=self.egress,
                        connect_timeout=settings.connect_timeout,
                        tenant=tenant,
                    )
            finally:
                for release in held:
                    release()
                self.update_gauges()
                self.charge(tenant, spent.seconds)

        try:
            future = asyncio.get_running_loop().run_in_executor(self.threads, call)
        except RuntimeError:  # shutting down: the executor takes no more work
            for release in held:
                release()
            raise
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return envelope.error(Timeout(f"The step did not finish within {timeout:g} s."))

    async def manifest_route(self, request: Request) -> Response:
        tenant = self.tenant(request)
        if tenant is None:
            return self.refuse(Unauthorized(NO_TOKEN))
        name = request.path_params["connector"]
        if name not in self.connectors:
            return self.refuse(UnknownAction("Unknown connector."))
        try:
            await self.shares.turn(tenant, self.settings.max_step_timeout)
        except RateLimited as exc:
            return self.refuse(exc)
        finally:
            self.charge(tenant, REQUEST_CPU)
        return Response(self.rendered_manifests[name], media_type="application/json")

    # The documents hold no secret (the manifests' shapes, the status table): no token, so
    # a platform can import them from their URL.
    async def openapi_route(self, request: Request) -> Response:
        return Response(self.rendered_openapi, media_type="application/json")

    async def openapi30_route(self, request: Request) -> Response:
        return Response(self.rendered_openapi30, media_type="application/json")

    async def healthz(self, request: Request) -> Response:
        """Liveness: the process answers."""
        return JSONResponse({"ok": True, "connectors": list(self.connectors)})

    async def readyz(self, request: Request) -> Response:
        """Readiness: 503 while every step thread is busy (a balancer should send elsewhere)."""
        ready = not self.busy.saturated
        body = {"ok": ready, "busyThreads": self.busy.busy, "threads": self.busy.capacity}
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics_route(self, request: Request) -> Response:
        """Every series for the operator (a metrics token); a tenant's own series for its
        token (service.metrics.TenantView)."""
        view: str | None = None
        if not self.auth.operator(request.headers.get("authorization")):
            view = self.tenant(request)
            if view is None:
                return self.refuse(Unauthorized(NO_TOKEN))
            self.charge(view, REQUEST_CPU)
        else:
            self.metrics.loop_lag.set(self.lag.taken())  # (the operator's scrape only)
        self.update_gauges()
        return Response(self.metrics.text(view), media_type="text/plain; version=0.0.4")

    async def not_found(self, request: Request, exc: Exception) -> Response:
        if self.tenant(request) is None:
            return self.refuse(Unauthorized(NO_TOKEN))
        return self.refuse(UnknownAction("No such route."))

    async def not_allowed(self, request: Request, exc: Exception) -> Response:
        return self.refuse(MethodNotAllowed(f"{request.method} is not allowed here."))


def rendered(value: Any) -> bytes:
    """``value`` as JSONResponse renders it."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def secrets_of(request: Request, connector: Connector | None, step_request: dict) -> Scrubber:
    """What a log line about this request must not show: the service token and the
    connection's secret fields (the runtime masks the same within a step)."""
    scrubber = Scrubber()
    scrubber.add((request.headers.get("authorization") or "").partition(" ")[2].strip())
    if connector is not None:
        try:
            conn_op, fields = split_connection(connector.manifest, step_request.get("connection"))
        except ConnectorError:
            return scrubber
        for key in conn_op.secret_keys:
            scrubber.add(fields.get(key))
    return scrubber
