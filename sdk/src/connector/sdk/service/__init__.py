"""``connector serve``: the connectors' steps over HTTP, with pooled sessions.

Starlette (routing, requests, responses) on uvicorn (the ASGI server): both small, widely
used and maintained, with graceful shutdown on SIGTERM and TLS built in. The rooms:

- ``settings``: what the operator chose (a frozen dataclass, passed to worker processes);
- ``auth``: service tokens;
- ``metrics``: Prometheus, labels from closed sets only;
- ``routes``: the HTTP routes, each step run on the step threads;
- ``strangers`` (with ``buckets``): requests without a valid token, a rate per client
  address; ``shares`` (with ``lag``): a tenant's fair share of the CPU, its turn;
- ``app``: the ASGI application that holds them together (``create_app``);
- the OpenAPI documents come from ``connector.sdk.export`` (no service needed);
- ``cli``: the ``serve`` command.

Nothing is imported here, so ``settings`` and ``headers`` load without the serve extra.

Not for connectors: a host of theirs, run by ``connector serve``. A connector never
imports it (an import contract checks the IMAP connector); it may change in any release.
"""
