"""The ASGI application: the served connectors, their session pool, the step threads, and
the routes (``routes.Service``). uvicorn calls ``create_app`` in each worker process."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from .._discovery import installed_connectors
from .._runtime import Connector
from . import studio
from .auth import TOKEN_ENV, TokenCheck, TokenFileError, read_metrics_tokens, read_tokens
from .routes import Service
from .settings import Settings
from .strangers import Strangers

log = logging.getLogger("connector.service")


def request_log() -> None:
    """One JSON line per request on stderr, in every worker process (each configures its own:
    uvicorn starts workers as new processes). No secret is ever in it (see routes)."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    problems_log()


class JsonLine(logging.Formatter):
    """A record as one JSON line, like the request log's: a traceback stays one line."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:  # (uvicorn's own errors; the connector's carry it in the message)
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def problems_log() -> None:
    """Warnings and errors of every "connector" logger (an unexpected exception: once, with
    its traceback, secrets masked: runtime.log_unexpected) as JSON lines on stderr. The
    console's ``--debug`` prints them already; without it they went nowhere."""
    root = logging.getLogger("connector")
    printed = any(
        isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
        for h in root.handlers
    )
    if printed:
        return  # (--debug, or a worker that configured it already)
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(JsonLine())
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.WARNING:
        root.setLevel(logging.WARNING)


def create_app(settings: Settings | None = None) -> Starlette:
    """The ASGI application (uvicorn calls this in each worker: ``factory=True``)."""
    settings = settings or Settings.from_env()
    request_log()
    names = settings.connectors or tuple(sorted(installed_connectors()))
    connectors = {name: Connector.load(name) for name in names}
    try:
        tokens = {} if settings.no_auth else read_tokens(settings.token_file)
        operators = [] if settings.no_auth else read_metrics_tokens(settings.metrics_token_file)
    except (OSError, TokenFileError) as exc:
        raise SystemExit(f"connector serve: {exc}") from None
    if not tokens and not settings.no_auth:
        raise SystemExit(
            f"connector serve: no service token: set {TOKEN_ENV} or --token-file "
            "(or --no-auth, on a loopback address only)"
        )
    auth = TokenCheck(tokens, required=not settings.no_auth, operators=operators)
    return app_for(Service(connectors, settings, auth), settings)


def app_for(service: Service, settings: Settings) -> Starlette:
    """The routes of ``service`` as an ASGI application."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.lag.start(asyncio.get_running_loop())  # (whether the service is contended)
        yield
        service.close()  # after in-flight steps finished: LOGOUT every pooled session

    routes = [
        Route("/healthz", service.healthz, methods=["GET"]),
        Route("/readyz", service.readyz, methods=["GET"]),
        Route("/metrics", service.metrics_route, methods=["GET"]),
        Route("/openapi.json", service.openapi_route, methods=["GET"]),
        Route("/openapi-3.0.json", service.openapi30_route, methods=["GET"]),
        Route("/v1/{connector}", service.manifest_route, methods=["GET"]),
        Route(
            "/v1/{connector}/test-connection",
            service.step_route("testConnection"),
            methods=["POST"],
        ),
        Route("/v1/{connector}/actions/{key}", service.step_route("action"), methods=["POST"]),
        Route(
            "/v1/{connector}/triggers/{key}/poll", service.step_route("trigger"), methods=["POST"]
        ),
        Route(
            "/v1/{connector}/data-sources/{key}", service.step_route("dataSource"), methods=["POST"]
        ),
    ]
    if settings.studio:
        routes += studio.routes()
    strangers = Middleware(
        Strangers,
        auth=service.auth,
        buckets=service.strangers,
        pause=settings.refusal_pause,
        refuse=service.refuse,
        refused=service.metrics.throttled.inc,
    )
    app = Starlette(
        routes=routes,
        middleware=[strangers],
        lifespan=lifespan,
        exception_handlers={404: service.not_found, 405: service.not_allowed},
    )
    app.state.pool = service.pool
    app.state.service = service
    log.info(json.dumps({"event": "started", "egress": service.egress.describe()}))
    return app
