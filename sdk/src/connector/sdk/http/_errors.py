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

The message keeps the API's own words, shortened (the runtime masks the request's secrets in
it): ``POST /tickets: HTTP 422 (requester_email: is not a valid email): the service refused
the inputs.`` They are found at ``message``, ``error_description``, ``detail``, ``error``,
``title``, ``description`` or ``errors`` of a JSON body, else the body's start; a connector
whose API keeps them elsewhere says where with ``HttpClient(error_message=...)``: a dotted
path (``"details"``, ``"errors.0.detail"``) or a function of the response. A connector
overrides the codes with its own ``error_map`` (a function of the response that returns an
error, or None for this table).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

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


MESSAGE_KEYS = ("message", "error_description", "detail", "error", "title", "description")
Words = str | Callable[[httpx.Response], str | None]


def said(response: httpx.Response, where: Words | None = None) -> str:
    """What the server said, short: at ``where`` (a dotted path into the JSON body, or a
    function of the response) when given, else a JSON error's message, else the body's start."""
    if callable(where):
        text = where(response)
        return shorten(" ".join(str(text).split()), REMOTE_CHARS) if text else ""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return shorten(" ".join(response.text.split()), REMOTE_CHARS)
    if where is not None:
        found = _at(body, where)
        if found not in (None, "", [], {}):
            return shorten(" ".join(words(found).split()), REMOTE_CHARS)
    if isinstance(body, dict):
        for key in (*MESSAGE_KEYS, "errors"):
            value = body.get(key)
            if value not in (None, "", [], {}) and not isinstance(value, bool | int | float):
                return shorten(" ".join(words(value).split()), REMOTE_CHARS)
    return shorten(json.dumps(body, ensure_ascii=False), REMOTE_CHARS)


def words(value: Any) -> str:
    """An error value as a sentence: a field's list of problems as ``field: problem``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "; ".join(filter(None, (words(item) for item in value)))
    if isinstance(value, dict):
        for key in MESSAGE_KEYS:
            if isinstance(value.get(key), str) and value[key]:
                field = value.get("field") or value.get("path") or value.get("pointer")
                return f"{field}: {value[key]}" if isinstance(field, str) else value[key]
            if isinstance(value.get(key), dict):
                return words(value[key])
        return "; ".join(f"{key}: {words(item)}" for key, item in value.items())
    return json.dumps(value, ensure_ascii=False)


def _at(body: Any, path: str) -> Any:
    found = body
    for part in path.split("."):
        if isinstance(found, dict):
            found = found.get(part)
        elif isinstance(found, list) and part.isdigit() and int(part) < len(found):
            found = found[int(part)]
        else:
            return None
    return found


def status_error(response: httpx.Response, message: Words | None = None) -> ConnectorError:
    """The default meaning of an HTTP error status, with the API's words (at ``message``,
    as ``said`` finds them)."""
    status = response.status_code
    request = response.request
    where = f"{request.method} {request.url.path}: HTTP {status}"
    text = said(response, message)
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
