"""The HTTP edge: uvicorn's h11 protocol with deadlines on reading each request and caps
on open connections (slowloris: a client that sends its headers, or its body, a byte at a
time, or stops, or opens a thousand sockets and sends nothing, holds nothing for long).

- a new connection must send its first byte within ``keepalive``, like an idle kept-alive
  one (uvicorn's own timer, between requests);
- a request's headers must arrive within ``header_timeout`` of its first byte;
- its body within ``body_timeout`` of the end of its headers;
- beyond ``max_connections_per_client`` open connections from one client address (an IPv6
  client: its /64), a new one from that address is closed at once, so one client cannot
  take the connections everyone else needs;
- beyond ``max_connections`` open connections in all, a new one is closed at once
  (uvicorn's ``limit_concurrency`` also answers 503 to requests beyond it).

A connection past its deadline is closed; the step it was sending never starts. The counts
are per worker process.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from functools import cache
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import Settings


@cache
def _settings() -> Settings:
    return Settings.from_env()  # each worker process reads the operator's settings once


def client_key(peer: Any) -> str | None:
    """Whose connection this is, for the per-client cap: the IPv4 address, or the /64 of an
    IPv6 one (one host commonly holds a whole /64); None for a Unix socket."""
    if not isinstance(peer, (tuple, list)) or not peer:
        return None
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def raise_open_file_limit() -> tuple[int, int]:
    """The soft limit on open files raised to the hard one (each connection holds a file):
    at Linux's usual soft 1,024, ~1,100 idle sockets left none for anyone else. Returns
    (soft, hard) as they are afterwards."""
    try:
        import resource  # noqa: PLC0415 - Unix only
    except ImportError:  # pragma: no cover - not Unix: nothing to raise
        return (-1, -1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if resource.RLIM_INFINITY not in (soft, hard) and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass  # (some systems cap it lower than they say: keep what we have)
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# Open connections per client key, in this worker process.
_open_by_client: Counter[str] = Counter()


class GuardedH11Protocol(H11Protocol):
    _read_timer: asyncio.TimerHandle | None = None
    _reading: str | None = None  # "idle", "headers" or "body": what the timer waits for
    _client_key: str | None = None  # counted in _open_by_client while open

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        settings = _settings()
        if len(self.connections) > settings.max_connections:
            self.transport.close()  # over the cap: no request is read
            return
        key = client_key(transport.get_extra_info("peername"))
        per_client = settings.max_connections_per_client
        if key is not None and per_client:
            if _open_by_client[key] >= per_client:
                self.transport.close()  # this client holds its share already
                return
            _open_by_client[key] += 1
            self._client_key = key
        self._expect("idle")

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        key, self._client_key = self._client_key, None
        if key is not None:
            _open_by_client[key] -= 1
            if _open_by_client[key] <= 0:
                del _open_by_client[key]
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.IDLE:
            # Between requests: the first bytes of the next one start its header deadline.
            if self._reading != "headers" and self.conn.trailing_data[0]:
                self._expect("headers")
        elif state is h11.SEND_BODY:
            if self._reading != "body":
                self._expect("body")
        else:  # DONE (or closed): the request is read; the step's own timeout applies
            self._stop_timer()

    def on_response_complete(self) -> None:
        self._stop_timer()
        super().on_response_complete()

    def _expect(self, what: str) -> None:
        self._stop_timer()
        settings = _settings()
        seconds = {
            "idle": settings.keepalive,
            "headers": settings.header_timeout,
            "body": settings.body_timeout,
        }[what]
        self._reading = what
        self._read_timer = self.loop.call_later(seconds, self._too_slow)

    def _stop_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
        self._read_timer, self._reading = None, None

    def _too_slow(self) -> None:
        self._read_timer = None
        if not self.transport.is_closing():
            self.transport.close()
