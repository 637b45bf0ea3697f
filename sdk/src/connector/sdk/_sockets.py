"""A TCP connection to the first of some resolved addresses that answers.

Shared by the egress policy (``connector.sdk._egress``: to the addresses it checked) and
the fast path of ``connector.sdk.egress.connect`` (no policy at all: a one-step process
connects without importing the policy's tables).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

AddrInfo = tuple[Any, Any, Any, Any, Any]


def connect_first(infos: Sequence[AddrInfo], timeout: float | None) -> socket.socket:
    """Connect to each address in the resolver's order; the first that answers, else the
    last address's OSError (``infos`` is never empty: the callers refuse that first)."""
    last: OSError | None = None
    for family, kind, proto, _canonical, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    assert last is not None  # noqa: S101 - the callers never pass an empty list
    raise last


def resolve(host: str, port: int) -> list[AddrInfo]:
    """``host``:``port`` resolved once, for a stream socket; OSError when it does not."""
    infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    if not infos:
        raise OSError(f"{host} does not resolve")
    return infos
