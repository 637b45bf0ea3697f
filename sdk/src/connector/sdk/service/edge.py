"""The HTTP edge: uvicorn's h11 protocol with deadlines on reading each request and a cap
on open connections (slowloris: a client that sends its headers, or its body, a byte at a
time, or stops, holds nothing for long).

- a request's headers must arrive within ``header_timeout`` of its first byte (of the
  connection, for the first request);
- its body within ``body_timeout`` of the end of its headers;
- an idle kept-alive connection closes after ``keepalive`` (uvicorn's own timer);
- beyond ``max_connections`` open connections, a new one is closed at once (uvicorn's
  ``limit_concurrency`` also answers 503 to requests beyond it).

A connection past its deadline is closed; the step it was sending never starts.
"""

from __future__ import annotations

import asyncio
from functools import cache
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .settings import Settings


@cache
def _settings() -> Settings:
    return Settings.from_env()  # each worker process reads the operator's settings once


class GuardedH11Protocol(H11Protocol):
    _read_timer: asyncio.TimerHandle | None = None
    _reading: str | None = None  # "headers" or "body": what the timer waits for

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if len(self.connections) > _settings().max_connections:
            self.transport.close()  # over the cap: no request is read
            return
        self._expect("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
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
        seconds = settings.header_timeout if what == "headers" else settings.body_timeout
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
