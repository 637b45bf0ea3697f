"""The addresses the operator's denied host names resolve to, so that a deny rule holds
whatever name or spelling a step gives for the same server.

``--deny-hosts mail.example.com`` refuses that name, and also every address it resolves to:
a step giving the address, or another name resolving to it, is refused the same. The names
are resolved when a step is checked (with the policy's resolver), and their addresses kept
``ttl`` seconds (getaddrinfo gives no DNS TTL: a minute follows a renumbered server soon
enough and costs one lookup per name a minute). A name that stops resolving keeps the
addresses it last had: refusing what it was beats opening it while DNS fails. A wildcard
(``*.example.com``) names no address and is matched by name only: deny its network too.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ._addresses import IPAddress, ipv4_forms

log = logging.getLogger("connector.sdk")

TTL = 60.0  # seconds a denied name's addresses are used before it is resolved again
RETRY = 5.0  # seconds before a name that did not resolve is tried again


class DeniedNames:
    """Resolves denied names to addresses, each kept ``ttl`` seconds; thread-safe."""

    def __init__(
        self,
        ttl: float = TTL,
        retry: float = RETRY,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.ttl, self.retry, self.clock = ttl, retry, clock
        self._lock = threading.Lock()
        # name -> (when to resolve again, its addresses and their IPv4 forms)
        self._known: dict[str, tuple[float, frozenset[IPAddress]]] = {}
        self._resolving: dict[str, threading.Lock] = {}

    def addresses(self, names: Iterable[str], resolver: Callable[..., Any]) -> set[IPAddress]:
        """Every address the names resolve to (fresh, or the last known)."""
        out: set[IPAddress] = set()
        for name in names:
            out |= self._of(name, resolver)
        return out

    def _of(self, name: str, resolver: Callable[..., Any]) -> frozenset[IPAddress]:
        with self._lock:
            due, known = self._known.get(name, (0.0, frozenset()))
            resolving = self._resolving.setdefault(name, threading.Lock())
        if self.clock() < due:
            return known
        # One lookup per name at a time, outside the main lock (a slow name holds up only
        # the steps that need it); the others wait for its answer rather than check
        # without it.
        with resolving:
            with self._lock:
                due, known = self._known.get(name, (0.0, frozenset()))
            now = self.clock()
            if now < due:
                return known
            found = _resolve(name, resolver)
            if found:
                entry = (now + self.ttl, found)
            else:
                log.warning(
                    "the denied host %s does not resolve: refused by name%s",
                    name,
                    " and by the addresses it last had" if known else "",
                )
                entry = (now + self.retry, known)
            with self._lock:
                self._known[name] = entry
            return entry[1]


def _resolve(name: str, resolver: Callable[..., Any]) -> frozenset[IPAddress]:
    """The name's addresses and the IPv4 addresses their IPv6 spellings reach."""
    try:
        infos = resolver(name, None, 0, socket.SOCK_STREAM)
        return frozenset(
            form
            for info in infos
            for form in ipv4_forms(ipaddress.ip_address(str(info[4][0]).split("%")[0]))
        )
    except (OSError, UnicodeError, ValueError):
        return frozenset()
