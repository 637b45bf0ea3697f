"""The exception hierarchy handlers raise, and the error codes of the envelope.

Every error a caller can see is a ConnectorError with a stable ``code``.
Handlers raise the subclasses; the runtime turns them into envelopes.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every error that reaches a caller as an error envelope."""

    code = "INTERNAL_ERROR"
    retryable = False

    def __init__(
        self, message: str, *, details: list[dict] | None = None, retryable: bool | None = None
    ):
        super().__init__(message)
        self.message = message
        self.details = list(details or [])
        if retryable is not None:
            self.retryable = retryable

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "details": self.details,
        }


class InvalidInput(ConnectorError):
    """An input is missing, malformed, or not allowed. Names the input."""

    code = "INVALID_INPUT"

    def __init__(self, message: str, *, path: str | None = None, details: list[dict] | None = None):
        if details is None and path is not None:
            details = [{"path": path, "message": message}]
        super().__init__(message, details=details)


class UnknownAction(ConnectorError):
    """The request names an action, trigger or data source the connector does not have."""

    code = "UNKNOWN_ACTION"


class AuthFailed(ConnectorError):
    """The credentials (password or token) were refused."""

    code = "AUTH_FAILED"


class TlsError(ConnectorError):
    """The secure connection could not be set up: certificate, TLS version or key sizes."""

    code = "TLS_ERROR"


class ConnectionFailed(ConnectorError):
    """The server could not be reached, or the connection was lost."""

    code = "CONNECTION_FAILED"
    retryable = True


class Timeout(ConnectorError):
    """The server did not answer in time."""

    code = "TIMEOUT"
    retryable = True


class RateLimited(ConnectorError):
    """The remote side refused for load or connection limits: try again later; when it says how long, `details` holds `{"retryAfterSeconds": N}` for the platform's retry policy."""  # noqa: E501

    code = "RATE_LIMITED"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None):
        details = [{"retryAfterSeconds": retry_after}] if retry_after is not None else None
        super().__init__(message, details=details)


class NotFound(ConnectorError):
    """What the request names (a folder, a record, a part...) does not exist."""

    code = "NOT_FOUND"


class AlreadyExists(ConnectorError):
    """The name is taken."""

    code = "ALREADY_EXISTS"


class Unsupported(ConnectorError):
    """The remote side lacks a capability the request needs."""

    code = "UNSUPPORTED"


class ServerError(ConnectorError):
    """The remote side refused the request for a reason no other code covers."""

    code = "SERVER_ERROR"


class InternalError(ConnectorError):
    """A bug in the connector: never expected."""

    code = "INTERNAL_ERROR"


ERROR_TYPES = (
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
)
ERROR_CODES = tuple(cls.code for cls in ERROR_TYPES)


class ManifestError(Exception):
    """The manifest itself is broken: a developer error, found at load time."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid manifest:\n" + "\n".join(f"  - {p}" for p in problems))
