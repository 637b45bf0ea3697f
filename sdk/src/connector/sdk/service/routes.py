"""The service's routes: authentication, the body, the step on a step thread, the envelope
as the body and its code as the status, one log line and the metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import envelope
from ..errors import (
    ConnectorError,
    InvalidInput,
    MethodNotAllowed,
    PayloadTooLarge,
    Timeout,
    Unauthorized,
    UnknownAction,
)
from ..pool import SessionPool
from ..runtime import Connector
from .auth import TokenCheck
from .metrics import Metrics
from .openapi import document
from .settings import Settings

log = logging.getLogger("connector.service")


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
            }
        )
        self.pool = SessionPool(
            per_account=settings.per_account,
            idle_seconds=settings.idle_seconds,
            on_change=lambda: self.metrics.pool(self.pool),
        )
        # The step threads: a hard cap. A step past its timeout is answered TIMEOUT at once,
        # but its thread (and the pooled session it holds) stays counted until it returns.
        self.threads = ThreadPoolExecutor(settings.threads, thread_name_prefix="step")
        self.openapi = document(connectors, auth=auth.required)

    def close(self) -> None:
        self.pool.close()
        self.threads.shutdown(wait=False, cancel_futures=True)

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

    def authorized(self, request: Request) -> bool:
        return self.auth.allows(request.headers.get("authorization"))

    async def read_body(self, request: Request) -> dict:
        limit = self.settings.max_body
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The body is over {limit} bytes.")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The body is over {limit} bytes.")
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks) or b"{}")
        except (ValueError, RecursionError):
            raise InvalidInput("The body must be a JSON object.") from None
        if not isinstance(body, dict):
            raise InvalidInput("The body must be a JSON object.")
        return body

    # -- routes

    def step_route(self, kind: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self.step(request, kind)

        return endpoint

    async def step(self, request: Request, kind: str) -> Response:
        started = time.monotonic()
        name = request.path_params["connector"]
        key = request.path_params.get("key")
        outcome: dict[str, Any] = {"connector": name, "kind": kind, "operation": key}
        try:
            if not self.authorized(request):
                raise Unauthorized("Give a service token: Authorization: Bearer TOKEN.")
            connector = self.connectors.get(name)
            if connector is None:
                known = ", ".join(self.connectors) or "none"
                raise UnknownAction(f"Unknown connector {name!r}. Known: {known}.")
            step_request = dict(await self.read_body(request))
            step_request[kind] = key if key is not None else True
            holder: dict[str, Any] = {}
            result = await self.run(connector, step_request, holder)
            outcome["pool"] = holder.get("pool")
        except ConnectorError as exc:
            result = envelope.error(exc)
        response = self.respond(result)
        code = envelope.code_of(result)
        seconds = time.monotonic() - started
        self.metrics.step(name, f"{kind}:{key}" if key else kind, code, seconds)
        outcome.update(code=code, status=response.status_code, ms=round(seconds * 1000, 1))
        log.info(json.dumps(outcome))
        return response

    async def run(self, connector: Connector, step_request: dict, report: dict) -> dict:
        """The step on a step thread, within the step timeout."""
        timeout = self.settings.step_timeout

        def call() -> dict:
            return connector.invoke(step_request, timeout=timeout, pool=self.pool, report=report)

        future = asyncio.get_running_loop().run_in_executor(self.threads, call)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return envelope.error(Timeout(f"The step did not finish within {timeout:g} s."))

    async def manifest_route(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.refuse(Unauthorized("Give a service token: Authorization: Bearer TOKEN."))
        name = request.path_params["connector"]
        if name not in self.connectors:
            return self.refuse(UnknownAction(f"Unknown connector {name!r}."))
        return JSONResponse(self.connectors[name].manifest.data)

    async def openapi_route(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.refuse(Unauthorized("Give a service token: Authorization: Bearer TOKEN."))
        return JSONResponse(self.openapi)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "connectors": list(self.connectors)})

    async def metrics_route(self, request: Request) -> Response:
        if not self.authorized(request):
            return self.refuse(Unauthorized("Give a service token: Authorization: Bearer TOKEN."))
        self.metrics.pool(self.pool)
        return Response(self.metrics.text(), media_type="text/plain; version=0.0.4")

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return self.refuse(UnknownAction(f"No route {request.url.path}."))

    async def not_allowed(self, request: Request, exc: Exception) -> Response:
        return self.refuse(MethodNotAllowed(f"{request.method} is not allowed here."))
