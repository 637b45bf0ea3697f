"""The exception hierarchy handlers raise: each class is a row of the one table of error codes.

Every error a caller can see is a ConnectorError with a stable ``code``. Each class *is*
its row of the table: ``code``, ``retryable`` (the default; an instance may override it),
``status`` (the HTTP status the service answers with) and its docstring (the meaning, shown
in the docs and the OpenAPI description). Handlers raise the subclasses; the runtime turns
them into envelopes, everywhere (runtime, CLI, service, Temporal). ``Unauthorized``,
``MethodNotAllowed`` and ``PayloadTooLarge`` are the service's own refusals, in the same
envelope; ``ManifestError`` is a developer's, found when the manifest loads.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "AuthFailed",
    "ConnectionFailed",
    "ConnectorError",
    "DestinationNotAllowed",
    "InternalError",
    "InvalidInput",
    "ManifestError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServerError",
    "Timeout",
    "TlsError",
    "Unauthorized",
    "UnknownAction",
    "Unsupported",
]


class ConnectorError(Exception):
    """Base of every error that reaches a caller as an error envelope."""

    code = "INTERNAL_ERROR"
    retryable = False
    status = 500

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
    status = 400

    def __init__(self, message: str, *, path: str | None = None, details: list[dict] | None = None):
        if details is None and path is not None:
            details = [{"path": path, "message": message}]
        super().__init__(message, details=details)


class UnknownAction(ConnectorError):
    """The request names an action, trigger or data source the connector does not have."""

    code = "UNKNOWN_ACTION"
    status = 404


class AuthFailed(ConnectorError):
    """The credentials (password or token) were refused."""

    code = "AUTH_FAILED"
    status = 502  # the remote side refused the credentials: not the service's caller


class TlsError(ConnectorError):
    """The secure connection could not be set up: certificate, TLS version or key sizes."""

    code = "TLS_ERROR"
    status = 502


class ConnectionFailed(ConnectorError):
    """The server could not be reached, or the connection was lost."""

    code = "CONNECTION_FAILED"
    status = 503
    retryable = True


class Timeout(ConnectorError):
    """The server did not answer in time."""

    code = "TIMEOUT"
    status = 504
    retryable = True


class RateLimited(ConnectorError):
    """The remote side refused for load or connection limits: try again later; when it says how long, `details` holds `{"retryAfterSeconds": N}` for the platform's retry policy."""  # noqa: E501

    code = "RATE_LIMITED"
    status = 429
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        details: list[dict] | dict | None = None,
    ):
        # details as a dict ({"retryAfterSeconds": n}) is taken too: a common way to write it.
        self.retry_after = retry_after  # seconds the remote side asked to wait, or None
        listed = [details] if isinstance(details, dict) else list(details or [])
        if retry_after is not None:
            listed = [d for d in listed if "retryAfterSeconds" not in d]
            listed.append({"retryAfterSeconds": retry_after})
        super().__init__(message, details=listed)


class DestinationNotAllowed(ConnectorError):
    """The connection's host or port is one this service does not connect to (its egress policy: loopback, private and link-local addresses, ports the connector does not use); the message names the rule."""  # noqa: E501

    code = "DESTINATION_NOT_ALLOWED"
    status = 403


class NotFound(ConnectorError):
    """What the request names (a folder, a record, a part...) does not exist."""

    code = "NOT_FOUND"
    status = 422  # what the request names is missing: the caller's input, not the route

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        details: list[dict] | None = None,
        retryable: bool | None = None,
    ):
        # path="inputs.KEY": the input that names what is missing (a UI marks it).
        if details is None and path is not None:
            details = [{"path": path, "message": message}]
        super().__init__(message, details=details, retryable=retryable)


class AlreadyExists(ConnectorError):
    """The name is taken."""

    code = "ALREADY_EXISTS"
    status = 409


class Unsupported(ConnectorError):
    """The remote side lacks a capability the request needs."""

    code = "UNSUPPORTED"
    status = 502


class ServerError(ConnectorError):
    """The remote side refused the request for a reason no other code covers."""

    code = "SERVER_ERROR"
    status = 502


class InternalError(ConnectorError):
    """A bug in the connector: never expected."""

    code = "INTERNAL_ERROR"
    status = 500


class Unauthorized(ConnectorError):
    """The Authorization header is missing or holds no valid service token."""

    code = "UNAUTHORIZED"
    status = 401


class MethodNotAllowed(ConnectorError):
    """The route does not take this HTTP method."""

    code = "METHOD_NOT_ALLOWED"
    status = 405


class PayloadTooLarge(ConnectorError):
    """The request body is over the service's limit."""

    code = "PAYLOAD_TOO_LARGE"
    status = 413


class ManifestError(Exception):
    """The manifest itself is broken: a developer error, found at load time."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid manifest:\n" + "\n".join(f"  - {p}" for p in problems))
