"""A generic runtime for declarative connectors: manifest, inputs, invocation, CLI, docs.

Nothing here knows any particular protocol; a connector is a manifest plus handlers.

What connectors may import is declared: the names in ``__all__`` here and in the public
modules (``errors``, ``context``, ``session``, ``push``, ``egress``, ``deadlines``,
``text``, ``http``, ``testing``, ``cli``), listed with their signatures in
``sdk/public-api.txt``. Modules whose names start with ``_``, and ``service``,
``temporal``, ``export`` and the console's command modules, are the SDK's own: they may
change in any release (docs/writing-a-connector.md, "The public API").
"""

import typing

from ._inputs import File
from ._runtime import Connector
from .errors import (
    AlreadyExists,
    AuthFailed,
    ConnectionFailed,
    ConnectorError,
    InternalError,
    InvalidInput,
    ManifestError,
    NotFound,
    RateLimited,
    ServerError,
    Timeout,
    TlsError,
    UnknownAction,
    Unsupported,
)

if typing.TYPE_CHECKING:
    from .testing import Harness

__version__ = "0.3.1"

__all__ = [
    "AlreadyExists",
    "AuthFailed",
    "ConnectionFailed",
    "Connector",
    "ConnectorError",
    "File",
    "Harness",
    "InternalError",
    "InvalidInput",
    "ManifestError",
    "NotFound",
    "RateLimited",
    "ServerError",
    "Timeout",
    "TlsError",
    "UnknownAction",
    "Unsupported",
]


def __getattr__(name: str) -> typing.Any:
    # Harness (the test helper) is loaded on first use: a one-step process never needs it.
    if name == "Harness":
        from .testing import Harness  # noqa: PLC0415 - jsonschema: only for tests

        return Harness
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
