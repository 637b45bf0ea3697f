"""What an HTTP answer means, as the SDK's error codes.

    401, 403        AUTH_FAILED (a refused token is refreshed once, when the connection
                    declares OAuth 2.0, and the step runs again)
    404, 410        NOT_FOUND
    409             ALREADY_EXISTS
    400, 422        INVALID_INPUT
    429             RATE_LIMITED, with Retry-After (seconds or an HTTP date)
    5xx             SERVER_ERROR, retryable
    other 4xx       SERVER_ERROR
    no connection   CONNECTION_FAILED; no answer in time: TIMEOUT

A connector overrides any of it with its own ``error_map`` (a function of the response that
returns an error, or None for this table).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping

import httpx

from ..errors import (
    AlreadyExists,
    AuthFailed,
    ConnectorError,
    InvalidInput,
    NotFound,
    RateLimited,
    ServerError,
)
from ..text import REMOTE_CHARS, shorten


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Retry-After in seconds: ``120``, or an HTTP date (``Wed, 21 Oct 2026 07:28:00 GMT``)."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def said(response: httpx.Response) -> str:
    """What the server said, short: a JSON error's message, else the start of the body."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return shorten(" ".join(response.text.split()), REMOTE_CHARS)
    if isinstance(body, dict):
        for key in ("message", "error_description", "detail", "error", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return shorten(value, REMOTE_CHARS)
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return shorten(value["message"], REMOTE_CHARS)
    return shorten(json.dumps(body, ensure_ascii=False), REMOTE_CHARS)


def status_error(response: httpx.Response) -> ConnectorError:
    """The default meaning of an HTTP error status."""
    status = response.status_code
    request = response.request
    where = f"{request.method} {request.url.path}: HTTP {status}"
    text = said(response)
    message = f"{where} ({text})" if text else where
    if status in (401, 403):
        return AuthFailed(f"{message}: check the connection's credentials.")
    if status in (404, 410):
        return NotFound(f"{message}: what the step names does not exist.")
    if status == 409:
        return AlreadyExists(f"{message}.")
    if status in (400, 422):
        return InvalidInput(f"{message}: the service refused the inputs.")
    if status == 429:
        return RateLimited(
            f"{message}: try again later.", retry_after=retry_after(response.headers)
        )
    return ServerError(f"{message}.", retryable=status >= 500)
