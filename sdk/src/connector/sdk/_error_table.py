"""The one table of error codes, built from the classes of ``errors`` (each is its row): the
codes a step can end with, the service's own, and their HTTP statuses."""

from __future__ import annotations

from .errors import (
    AlreadyExists,
    AuthFailed,
    ConnectionFailed,
    ConnectorError,
    DestinationNotAllowed,
    InternalError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    Timeout,
    TlsError,
    Unauthorized,
    UnknownAction,
    Unsupported,
)

# The codes a step can end with (a manifest's errorCodes name some of them)...
ERROR_TYPES: tuple[type[ConnectorError], ...] = (
    InvalidInput,
    UnknownAction,
    AuthFailed,
    TlsError,
    ConnectionFailed,
    Timeout,
    RateLimited,
    NotFound,
    AlreadyExists,
    Unsupported,
    ServerError,
    InternalError,
    DestinationNotAllowed,
)
ERROR_CODES = tuple(cls.code for cls in ERROR_TYPES)
# ...and the service's own refusals, in the same envelope.
SERVICE_ERROR_TYPES: tuple[type[ConnectorError], ...] = (
    Unauthorized,
    MethodNotAllowed,
    PayloadTooLarge,
)
# The table: code -> class (its code, retryable, status and meaning).
ERRORS: dict[str, type[ConnectorError]] = {
    cls.code: cls for cls in (*ERROR_TYPES, *SERVICE_ERROR_TYPES)
}


def status_of(code: str) -> int:
    """The HTTP status of an error code (500 for a code nobody declared)."""
    cls = ERRORS.get(code)
    return cls.status if cls else 500
