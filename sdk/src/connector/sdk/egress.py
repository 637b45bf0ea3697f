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

import os
import socket
import sys

from . import _sockets

__all__ = ["connect"]

# The environment of a policy (connector.sdk._egress reads it; a test keeps the two equal).
_POLICY_ENVIRONMENT = (
    "CONNECTOR_ALLOW_HOSTS",
    "CONNECTOR_DENY_HOSTS",
    "CONNECTOR_ALLOW_PORTS",
    "CONNECTOR_ALLOW_PRIVATE",
    "CONNECTOR_EGRESS",
)
_POLICY_MODULE = "connector.sdk._egress"


def connect(host: str, port: int, *, timeout: float | None) -> socket.socket:
    """A TCP connection to ``host``:``port`` if the host's egress policy allows it, to the
    checked addresses only, in the order the resolver gave them (the first that answers).
    Raises ``DestinationNotAllowed`` when the policy refuses, ``OSError`` when no address
    answers (``timeout``: seconds for each attempt, as ``socket.settimeout``)."""
    if _no_policy():
        # What the permissive policy of an empty environment allows: every address. Its
        # module (tables of address classes, dataclasses) is ~1.5 ms a one-step process
        # need not pay.
        return _sockets.connect_first(_sockets.resolve(host, port), timeout)
    from . import _egress  # noqa: PLC0415 - only when a policy may apply

    return _egress.connect(host, port, timeout=timeout)


def _no_policy() -> bool:
    """No policy can apply: none in the environment, and none applied to this step (a
    policy is applied only through connector.sdk._egress, so not before it is imported)."""
    if any(os.environ.get(name) for name in _POLICY_ENVIRONMENT):
        return False
    return _POLICY_MODULE not in sys.modules
