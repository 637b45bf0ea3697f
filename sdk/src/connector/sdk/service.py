"""``connector serve``: the connectors' steps over HTTP, with pooled sessions.

Starlette (routing, requests, responses) on uvicorn (the ASGI server): both small, widely
used and maintained, with graceful shutdown on SIGTERM and TLS built in. Handlers are
synchronous: each step runs in a bounded thread pool. Routes:

    POST /v1/{connector}/actions/{key}         {"connection", "inputs"}
    POST /v1/{connector}/triggers/{key}/poll   {"connection", "inputs", "state"}
    POST /v1/{connector}/data-sources/{key}    {"connection", "inputs"}
    POST /v1/{connector}/test-connection       {"connection"}
    GET  /v1/{connector}   GET /openapi.json   GET /healthz   GET /metrics

Every body is the envelope of ``invoke``; the status follows its error code
(``openapi.STATUS_BY_CODE``). Every route but /healthz needs ``Authorization: Bearer
TOKEN`` (tokens from CONNECTOR_SERVICE_TOKEN, comma-separated, or --token-file).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from .openapi import SERVICE_STATUS, STATUS_BY_CODE, document

log = logging.getLogger("connector.service")
TOKEN_ENV = "CONNECTOR_SERVICE_TOKEN"  # noqa: S105 - the variable's name, not a token
CONFIG_ENV = "CONNECTOR_SERVE_CONFIG"  # the settings, for worker processes
DEFAULTS = {
    "connectors": None,  # names; None: every installed connector
    "token_file": None,
    "no_auth": False,
    "threads": 32,
    "per_account": 3,
    "idle_seconds": 60.0,
    "step_timeout": 300.0,
    "max_body": 64 * 1024 * 1024,
}


class Settings(dict):
    def __getattr__(self, name: str) -> Any:
        return self[name]


def settings_from_env() -> Settings:
    return Settings({**DEFAULTS, **json.loads(os.environ.get(CONFIG_ENV, "{}"))})


def read_tokens(token_file: str | None) -> list[bytes]:
    tokens = [t for t in os.environ.get(TOKEN_ENV, "").replace(",", " ").split() if t]
    if token_file:
        lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        tokens += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [t.encode("utf-8") for t in tokens]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def request_log() -> None:
    """One JSON line per request on stderr, in every worker process (each configures its own:
    uvicorn starts workers as new processes). No secret is ever in it: see step()."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def error_envelope(code: str, message: str, *, retryable: bool = False) -> dict:
    return {
        "ok": False,
        "error": {"code": code, "message": message, "retryable": retryable, "details": []},
    }


def create_app(settings: Settings | None = None):
    """The ASGI application (uvicorn calls this in each worker: ``factory=True``)."""
    import anyio
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from .pool import SessionPool
    from .runtime import Connector, installed_connectors

    settings = settings or settings_from_env()
    request_log()
    names = settings.connectors or sorted(installed_connectors())
    connectors = {name: Connector.load(name) for name in names}
    tokens = [] if settings.no_auth else read_tokens(settings.token_file)
    if not tokens and not settings.no_auth:
        raise SystemExit(
            f"connector serve: no service token: set {TOKEN_ENV} or --token-file "
            "(or --no-auth, on a loopback address only)"
        )

    registry = CollectorRegistry()
    latency = Histogram(
        "connector_step_seconds",
        "Step duration",
        ["connector", "operation"],
        registry=registry,
    )
    errors = Counter(
        "connector_step_errors", "Failed steps by code", ["connector", "code"], registry=registry
    )
    pool_open = Gauge("connector_pool_sessions_open", "Pooled sessions", registry=registry)
    pool_idle = Gauge("connector_pool_sessions_idle", "Idle pooled sessions", registry=registry)
    pool_hits = Gauge("connector_pool_hits", "Steps on a reused session", registry=registry)
    pool_misses = Gauge("connector_pool_misses", "Steps that opened a session", registry=registry)

    pool: SessionPool | None = None

    def pool_changed() -> None:
        if pool is not None:
            stats = pool.stats()
            pool_open.set(stats["open"])
            pool_idle.set(stats["idle"])
            pool_hits.set(stats["hits"])
            pool_misses.set(stats["misses"])

    pool = SessionPool(
        per_account=settings.per_account,
        idle_seconds=settings.idle_seconds,
        on_change=pool_changed,
    )
    limiter = anyio.CapacityLimiter(settings.threads)
    openapi = document(connectors, auth=not settings.no_auth)

    def authorized(request: Request) -> bool:
        if settings.no_auth:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            return False
        offered = given.strip().encode("utf-8", "replace")
        matches = [hmac.compare_digest(offered, token) for token in tokens]  # every one
        return any(matches)

    def respond(envelope: dict, status: int | None = None) -> JSONResponse:
        if status is None:
            status = 200 if envelope.get("ok") else _status(envelope["error"]["code"])
        headers = {}
        if status == 429:
            after = _retry_after(envelope)
            headers["Retry-After"] = str(after if after is not None else 1)
        return JSONResponse(envelope, status_code=status, headers=headers)

    def refused(code: str, message: str) -> JSONResponse:
        return respond(error_envelope(code, message), SERVICE_STATUS.get(code) or _status(code))

    async def read_body(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > settings.max_body:
            raise _Refusal("PAYLOAD_TOO_LARGE", f"The body is over {settings.max_body} bytes.")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body:
                raise _Refusal("PAYLOAD_TOO_LARGE", f"The body is over {settings.max_body} bytes.")
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks) or b"{}")
        except (ValueError, RecursionError):
            raise _Refusal("INVALID_INPUT", "The body must be a JSON object.") from None
        if not isinstance(body, dict):
            raise _Refusal("INVALID_INPUT", "The body must be a JSON object.")
        return body

    def make_step(kind: str):
        async def endpoint(request: Request) -> Response:
            return await step(request, kind)

        return endpoint

    async def step(request: Request, kind: str) -> Response:
        started = time.monotonic()
        name = request.path_params["connector"]
        key = request.path_params.get("key")
        outcome: dict[str, Any] = {"connector": name, "kind": kind, "operation": key}
        try:
            if not authorized(request):
                raise _Refusal("UNAUTHORIZED", "Give a service token: Authorization: Bearer TOKEN.")
            connector = connectors.get(name)
            if connector is None:
                raise _Refusal(
                    "UNKNOWN_ACTION",
                    f"Unknown connector {name!r}. Known: {', '.join(connectors) or 'none'}.",
                )
            body = await read_body(request)
            step_request = dict(body)
            step_request[kind] = key if key is not None else True
            holder: dict[str, Any] = {}

            def run() -> dict:
                return connector.invoke(
                    step_request, timeout=settings.step_timeout, pool=pool, report=holder
                )

            with anyio.move_on_after(settings.step_timeout) as scope:
                envelope = await anyio.to_thread.run_sync(
                    run, limiter=limiter, abandon_on_cancel=True
                )
            if scope.cancelled_caught:
                envelope = error_envelope(
                    "TIMEOUT",
                    f"The step did not finish within {settings.step_timeout:g} s.",
                    retryable=True,
                )
            outcome["pool"] = holder.get("pool")
            response = respond(envelope)
        except _Refusal as refusal:
            envelope = error_envelope(refusal.code, refusal.message)
            response = respond(envelope, SERVICE_STATUS.get(refusal.code) or _status(refusal.code))
        code = envelope["error"]["code"] if not envelope.get("ok") else "OK"
        seconds = time.monotonic() - started
        label = f"{kind}:{key}" if key else kind
        if name in connectors:
            latency.labels(name, label).observe(seconds)
            if code != "OK":
                errors.labels(name, code).inc()
        outcome.update(code=code, status=response.status_code, ms=round(seconds * 1000, 1))
        log.info(json.dumps(outcome))
        return response

    async def manifest(request: Request) -> Response:
        if not authorized(request):
            return refused("UNAUTHORIZED", "Give a service token: Authorization: Bearer TOKEN.")
        name = request.path_params["connector"]
        if name not in connectors:
            return refused("UNKNOWN_ACTION", f"Unknown connector {name!r}.")
        return JSONResponse(connectors[name].manifest.data)

    async def openapi_route(request: Request) -> Response:
        if not authorized(request):
            return refused("UNAUTHORIZED", "Give a service token: Authorization: Bearer TOKEN.")
        return JSONResponse(openapi)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, "connectors": list(connectors)})

    async def metrics(request: Request) -> Response:
        if not authorized(request):
            return refused("UNAUTHORIZED", "Give a service token: Authorization: Bearer TOKEN.")
        pool_changed()
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    async def not_found(request: Request, exc: Exception) -> Response:
        return refused("UNKNOWN_ACTION", f"No route {request.url.path}.")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return refused("METHOD_NOT_ALLOWED", f"{request.method} is not allowed here.")

    @asynccontextmanager
    async def lifespan(app):
        yield
        pool.close()  # after in-flight steps finished: LOGOUT every pooled session

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi_route, methods=["GET"]),
        Route("/v1/{connector}", manifest, methods=["GET"]),
        Route("/v1/{connector}/test-connection", make_step("testConnection"), methods=["POST"]),
        Route("/v1/{connector}/actions/{key}", make_step("action"), methods=["POST"]),
        Route("/v1/{connector}/triggers/{key}/poll", make_step("trigger"), methods=["POST"]),
        Route("/v1/{connector}/data-sources/{key}", make_step("dataSource"), methods=["POST"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_allowed},
    )
    app.state.pool = pool
    return app


class _Refusal(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def _status(code: str) -> int:
    return STATUS_BY_CODE.get(code) or SERVICE_STATUS.get(code) or 500


def _retry_after(envelope: dict) -> int | None:
    for detail in envelope.get("error", {}).get("details", []):
        seconds = detail.get("retryAfterSeconds") if isinstance(detail, dict) else None
        if isinstance(seconds, (int, float)):
            return max(1, int(seconds))
    return None


def main(argv: list[str], *, connectors: list[str] | None = None, prog: str = "connector") -> int:
    """``connector serve`` (every installed connector, or --connector NAME...) and the
    shortcut ``imap-connector serve`` (that connector)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog=f"{prog} serve", description="Run connector steps over HTTP, with pooled sessions."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (8080)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    parser.add_argument("--certfile", help="serve HTTPS with this certificate chain (PEM)")
    parser.add_argument("--keyfile", help="the certificate's private key (PEM)")
    parser.add_argument("--token-file", help=f"service tokens, one per line (also ${TOKEN_ENV})")
    parser.add_argument(
        "--no-auth", action="store_true", help="no service token (loopback addresses only)"
    )
    if connectors is None:
        parser.add_argument(
            "--connector", action="append", help="serve only this connector (repeatable)"
        )
    parser.add_argument("--threads", type=int, default=DEFAULTS["threads"], help="steps at once")
    parser.add_argument(
        "--sessions-per-account",
        type=int,
        default=DEFAULTS["per_account"],
        help="pooled sessions per account (3)",
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=DEFAULTS["idle_seconds"], help="idle close (60)"
    )
    parser.add_argument(
        "--step-timeout", type=float, default=DEFAULTS["step_timeout"], help="per step (300 s)"
    )
    parser.add_argument(
        "--max-body-mb", type=float, default=64, help="request body limit in MB (64)"
    )
    args = parser.parse_args(argv)
    if args.no_auth and not is_loopback(args.host):
        print(f"{prog} serve: --no-auth is allowed on a loopback address only", file=sys.stderr)
        return 2
    if not args.no_auth and not read_tokens(args.token_file):
        print(
            f"{prog} serve: no service token: set {TOKEN_ENV} or --token-file "
            "(or --no-auth on a loopback address)",
            file=sys.stderr,
        )
        return 2
    if bool(args.certfile) != bool(args.keyfile):
        print(f"{prog} serve: give --certfile and --keyfile together", file=sys.stderr)
        return 2
    settings = {
        "connectors": connectors if connectors is not None else args.connector,
        "token_file": args.token_file,
        "no_auth": args.no_auth,
        "threads": args.threads,
        "per_account": args.sessions_per_account,
        "idle_seconds": args.idle_seconds,
        "step_timeout": args.step_timeout,
        "max_body": int(args.max_body_mb * 1024 * 1024),
    }
    os.environ[CONFIG_ENV] = json.dumps(settings)  # read by each worker's create_app

    import uvicorn

    uvicorn.run(
        "connector.sdk.service:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    return 0
