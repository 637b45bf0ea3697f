"""httpx through the egress policy: every connection goes to an address the policy checked
(one lookup; TLS still verifies the name), as ``egress.connect`` does for raw sockets."""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from .. import _egress as egress


class PolicedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to the addresses the policy allows."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for info in egress.current().addresses(host, port):
            try:
                # The checked address, not the name: no second lookup. httpcore sends the
                # origin's name for TLS (SNI and certificate checks), not this address.
                return super().connect_tcp(
                    str(info[4][0]), port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        assert last is not None  # noqa: S101 - addresses() never returns an empty list
        raise last


class PolicedTransport(httpx.HTTPTransport):
    """httpx's transport on ``PolicedBackend``, with no proxy from the environment."""

    def __init__(self, verify: ssl.SSLContext | bool = True, **limits: Any):
        # One context for both pools: each made from ``verify=True`` loads the CA bundle
        # (~20 ms of CPU), and httpx's own pool, replaced below, made a second one.
        context = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify)
        super().__init__(verify=context, trust_env=False)
        # (httpx builds its pool with its own socket backend; the one replaced attribute.)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context, network_backend=PolicedBackend(), **limits
        )
