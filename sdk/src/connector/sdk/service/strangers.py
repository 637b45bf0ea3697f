"""Requests without a valid token, charged to their client address (ASGI middleware).

Every request's token is checked once, here: a tenant's request goes on (its tenant noted in
the scope for the routes; its CPU is the business of ``service.shares``), and so does the
operator's (a metrics token). Any other request (no token, a wrong one, a probe of
/healthz) takes a token of its client address's bucket (``service.buckets``; an IPv6
client: its /64). An address out of tokens is answered ``429 RATE_LIMITED`` with
``retryAfterSeconds``, after ``pause`` seconds: a client that retries at once, refused,
cannot make the service spin on 401s. A request over a Unix socket has no address: it is
not counted.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ConnectorError, RateLimited
from .auth import TokenCheck
from .buckets import TokenBuckets
from .edge import client_key

TENANT = "connector.tenant"  # the scope's key for the request's tenant (None: none)


def tenant_of(scope: Scope, auth: TokenCheck) -> str | None:
    """The request's tenant: as this middleware found it, else checked now."""
    if TENANT in scope:
        tenant: str | None = scope[TENANT]
        return tenant
    return auth.tenant(Headers(scope=scope).get("authorization"))


class Strangers:
    def __init__(
        self,
        app: ASGIApp,
        *,
        auth: TokenCheck,
        buckets: TokenBuckets | None,
        pause: float,
        refuse: Callable[[ConnectorError], Response],
        refused: Callable[[], None],
    ):
        """``buckets`` None: no limit. ``refuse`` makes the 429; ``refused`` counts it."""
        self.app, self.auth, self.buckets, self.pause = app, auth, buckets, pause
        self.refuse, self.refused = refuse, refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = Headers(scope=scope).get("authorization")
        scope[TENANT] = tenant = self.auth.tenant(authorization)
        if self.buckets is None or tenant is not None or self.auth.operator(authorization):
            await self.app(scope, receive, send)
            return
        key = client_key(scope.get("client"))
        wait = 0.0 if key is None else self.buckets.take(key)
        if not wait:
            await self.app(scope, receive, send)
            return
        self.refused()
        await asyncio.sleep(self.pause)
        response = self.refuse(
            RateLimited(
                "Too many requests without a valid service token from this address: give "
                "a service token (Authorization: Bearer TOKEN), or slow down.",
                retry_after=max(1, math.ceil(wait)),
            )
        )
        await response(scope, receive, send)
