"""A generic runtime for declarative connectors: manifest, inputs, invocation, CLI, docs.

Nothing here knows any particular protocol; a connector is a manifest plus handlers.
"""

from .errors import (
    AlreadyExists,
    AuthFailed,
    ConnectionFailed,
    ConnectorError,
    InternalError,
    InvalidInput,
    ManifestError,
    NotFound,
    ServerError,
    Timeout,
    TlsError,
    UnknownAction,
    Unsupported,
)
from .runtime import Connector

__all__ = [
    "Connector",
    "ConnectorError",
    "InvalidInput",
    "UnknownAction",
    "AuthFailed",
    "TlsError",
    "ConnectionFailed",
    "Timeout",
    "NotFound",
    "AlreadyExists",
    "Unsupported",
    "ServerError",
    "InternalError",
    "ManifestError",
]
