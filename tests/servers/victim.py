"""The victim tenant of tests/servers/attacks.py, as a process of its own: the attack's
fakes and clients in the test process must not slow the victim's client down (one GIL),
so that what it measures is the service.

``python -m tests.servers.victim URL`` reads the step's body (JSON) on its first stdin
line, steps three times (its pooled session, warm), then runs a phase per command line:
``quiet`` (SAMPLES paced getStatus steps) or ``attacked`` (the same, and more until the
line ``enough`` arrives); each phase answers one JSON line ``{"latencies", "errors"}``.
It steps from its own client address, VICTIM_ADDRESS.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.servers.service import UNCAPPED

# A connection per step, as a platform's fresh workers would: an attack on connections
# (idle sockets) reaches it, where a kept-alive one would slip past.
VICTIM = {"Authorization": "Bearer victim-service-token", "Connection": "close"}
VICTIM_ADDRESS = "127.0.0.2"  # the victim's own client address (attackers come from 127.0.0.1)
SAMPLES = 30  # victim steps per phase, one every PACE seconds (a phase spans ~2 s at least)
PACE = 0.075
PHASE_BUDGET = 15.0  # seconds a phase may take: a wedged service ends it (not within)


def answer(reply: httpx.Response) -> str:
    """``200``, or the status and the envelope's code (the status alone when not JSON)."""
    if reply.status_code == 200:
        return "200"
    try:
        return f"{reply.status_code} {reply.json()['error']['code']}"
    except (ValueError, KeyError, TypeError):
        return str(reply.status_code)


def phase(
    client: httpx.Client, body: dict, samples: int, done: Callable[[], bool]
) -> dict[str, Any]:
    """``samples`` paced getStatus steps at least, and more until ``done()``; a phase over
    PHASE_BUDGET seconds ends early."""
    latencies: list[float] = []
    errors: list[str] = []
    ends = time.monotonic() + PHASE_BUDGET
    while len(latencies) < samples or not done():
        started = time.perf_counter()
        try:
            reply = client.post("/v1/imap/actions/getStatus", json=body)
            if reply.status_code != 200:
                errors.append(answer(reply))
        except httpx.HTTPError as exc:
            errors.append(type(exc).__name__)
        took = time.perf_counter() - started
        latencies.append(took)
        if time.monotonic() > ends:
            break
        time.sleep(max(0.0, PACE - took))
    return {"latencies": latencies, "errors": errors}


class Lines:
    """Command lines from stdin, read unbuffered: a blocking ``next()`` and a
    non-blocking ``seen()`` (a buffered reader would hide a line ``select`` cannot see)."""

    def __init__(self) -> None:
        self.buffer = b""

    def _fill(self, timeout: float | None) -> bool:
        ready, _, _ = select.select([0], [], [], timeout)
        if not ready:
            return False
        data = os.read(0, 4096)
        self.buffer += data if data else b"\n"  # (end of input: an empty line)
        return True

    def next(self) -> str:
        while b"\n" not in self.buffer:
            self._fill(None)
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode().strip()

    def seen(self, word: str) -> bool:
        while b"\n" not in self.buffer and self._fill(0):
            pass
        if b"\n" not in self.buffer:
            return False
        return self.next() in (word, "")


def main(url: str) -> None:
    lines = Lines()
    body = json.loads(lines.next())
    transport = httpx.HTTPTransport(local_address=VICTIM_ADDRESS, limits=UNCAPPED)
    with httpx.Client(base_url=url, timeout=15, headers=VICTIM, transport=transport) as client:
        phase(client, body, 3, lambda: True)  # its pooled session, warm
        print("ready", flush=True)
        while (command := lines.next()) in ("quiet", "attacked", "enough"):
            if command == "enough":
                continue  # (it came after its phase ended: over its budget)
            if command == "attacked":
                done: Callable[[], bool] = lambda: lines.seen("enough")  # noqa: E731
            else:
                done = lambda: True  # noqa: E731
            print(json.dumps(phase(client, body, SAMPLES, done)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
