"""Where a step may connect: ``connect()``, the one way a connector opens a TCP connection.

The host decides where hosted steps may go (``connector serve`` and the worker refuse
loopback, private ranges, cloud metadata and undeclared ports unless the operator allows
them; the CLI and the Python API allow everything unless the environment says otherwise).
``connect()`` applies the policy of the step running in this thread: it resolves the name
once, checks every address, and connects to a checked one (never a second lookup, which DNS
rebinding would answer differently). Verify TLS against the *name* the user gave, not the
address. A refusal is ``DestinationNotAllowed`` (403), naming the rule, never the addresses.

A REST connector's ``connector.sdk.http.HttpClient`` already connects this way.
"""

from __future__ import annotations

import socket

from . import _egress

__all__ = ["connect"]


def connect(host: str, port: int, *, timeout: float | None) -> socket.socket:
    """A TCP connection to ``host``:``port`` if the host's egress policy allows it, to the
    checked addresses only, in the order the resolver gave them (the first that answers).
    Raises ``DestinationNotAllowed`` when the policy refuses, ``OSError`` when no address
    answers (``timeout``: seconds for each attempt, as ``socket.settimeout``)."""
    return _egress.connect(host, port, timeout=timeout)
