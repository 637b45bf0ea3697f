"""An HTTP client built from a connection: base URL, authentication, timeouts within the
step's deadline, the egress policy, a response-size cap, retries for idempotent requests,
and errors that say what happened in the SDK's codes (``errors``)."""

from __future__ import annotations

import base64
import random
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from .. import __version__
from ..context import Context
from ..errors import (
    AuthFailed,
    ConnectionFailed,
    ConnectorError,
    InvalidInput,
    ServerError,
    Timeout,
)
from .errors import Words, retry_after, status_error
from .pagination import Paginator, items
from .transport import PolicedTransport

IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
RETRY_STATUSES = {429, 502, 503, 504}
ErrorMap = Callable[[httpx.Response], ConnectorError | None]


@dataclass(frozen=True)
class ApiKey:
    """An API key in a header (``header="X-Api-Key"``) or a query parameter (``query=``)."""

    value: str
    header: str | None = "X-Api-Key"
    query: str | None = None
    prefix: str = ""  # such as "Token " for "Authorization: Token KEY"

    def __post_init__(self) -> None:
        if not isinstance(self.value, str) or not self.value:
            raise AuthFailed("There is no API key to send: give the connection's key.")

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        if self.query:
            params[self.query] = self.value
        elif self.header:
            headers[self.header] = f"{self.prefix}{self.value}"


@dataclass(frozen=True)
class Bearer:
    """``Authorization: Bearer TOKEN`` (an OAuth 2.0 access token, too)."""

    token: str

    def __post_init__(self) -> None:
        # Never "Authorization: Bearer None": a connection without a token says so.
        if not isinstance(self.token, str) or not self.token:
            raise AuthFailed("There is no access token to send: connect the account again.")

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        headers["Authorization"] = f"Bearer {self.token}"


@dataclass(frozen=True)
class Basic:
    user: str
    password: str

    def apply(self, headers: dict[str, str], params: dict[str, Any]) -> None:
        pair = f"{self.user}:{self.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")


Auth = ApiKey | Bearer | Basic


class HttpClient:
    """``HttpClient(base_url, auth=Bearer(token), context=context)``; returned by a
    connection handler, it is the session each action handler gets.

    ``get/post/put/patch/delete(path, ...)`` answer the response's JSON (``request`` the
    response itself) or raise the SDK's errors. Idempotent requests (GET, HEAD, OPTIONS,
    PUT, DELETE; or ``idempotent=True``) are retried on 429, 502, 503, 504 and connection
    failures, ``backoff`` seconds doubling (or as Retry-After says), within the step's
    deadline.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        context: Context | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_response_bytes: int = 16 * 1024 * 1024,
        headers: dict[str, str] | None = None,
        error_map: ErrorMap | None = None,
        error_message: Words | None = None,
        verify: ssl.SSLContext | bool = True,
        user_agent: str | None = None,
    ):
        url = httpx.URL(base_url)
        if url.scheme not in ("https", "http") or not url.host:
            raise InvalidInput(
                f"The base URL must be http(s)://host/...: {base_url!r:.80}",
                path="connection.baseUrl",
            )
        self.auth, self.context, self.timeout = auth, context, timeout
        self.retries, self.backoff, self.error_map = retries, backoff, error_map
        self.error_message = error_message  # where the API's own words are (errors.said)
        self.max_response_bytes = max_response_bytes
        default_headers = {
            "User-Agent": user_agent or f"connector-sdk/{__version__}",
            "Accept": "application/json",
            **(headers or {}),
        }
        self._http = httpx.Client(
            base_url=base_url,
            headers=default_headers,
            transport=PolicedTransport(verify=verify),
            follow_redirects=False,
        )

    # -- requests

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        method = method.upper()
        retry = (method in IDEMPOTENT) if idempotent is None else idempotent
        attempt = 0
        while True:
            try:
                response = self._send(method, path, params, json, data, headers)
            except (ConnectionFailed, Timeout) as exc:
                if not (retry and attempt < self.retries and self._wait(attempt, None)):
                    raise exc from None
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            if retry and response.status_code in RETRY_STATUSES and attempt < self.retries:
                if self._wait(attempt, retry_after(response.headers)):
                    attempt += 1
                    continue
            raise self._error(response)

    def get(self, path: str, **kwargs: Any) -> Any:
        return _json(self.request("GET", path, **kwargs))

    def post(self, path: str, **kwargs: Any) -> Any:
        return _json(self.request("POST", path, **kwargs))

    def put(self, path: str, **kwargs: Any) -> Any:
        return _json(self.request("PUT", path, **kwargs))

    def patch(self, path: str, **kwargs: Any) -> Any:
        return _json(self.request("PATCH", path, **kwargs))

    def delete(self, path: str, **kwargs: Any) -> Any:
        return _json(self.request("DELETE", path, **kwargs))

    def paginate(
        self,
        path: str,
        paginator: Paginator,
        *,
        params: dict[str, Any] | None = None,
        limit: int = 0,
    ) -> Iterator[Any]:
        """Every item of every page (``pagination``); at most ``limit`` when given, asking
        for pages no bigger than that."""
        if limit <= 0:
            yield from items(paginator, self, path, dict(params or {}), None)
            return
        count = 0
        for item in items(paginator, self, path, dict(params or {}), limit):
            yield item
            count += 1
            if count >= limit:
                return

    def close(self) -> None:
        self._http.close()

    # -- the parts

    def _time_left(self) -> float | None:
        return self.context.time_left() if self.context is not None else None

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        json: Any,
        data: Any,
        headers: dict[str, str] | None,
    ) -> httpx.Response:
        query, sent = dict(params or {}), dict(headers or {})
        if self.auth is not None:
            self.auth.apply(sent, query)
        left = self._time_left()
        timeout = self.timeout if left is None else max(0.001, min(self.timeout, left))
        try:
            with self._http.stream(
                method,
                path,
                params=query or None,
                json=json,
                data=data,
                headers=sent,
                timeout=timeout,
            ) as response:
                size, chunks = 0, []
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_response_bytes:
                        raise ServerError(
                            f"{method} {response.request.url.path}: the answer is over "
                            f"{self.max_response_bytes} bytes."
                        )
                    chunks.append(chunk)
                return httpx.Response(
                    response.status_code,
                    headers=response.headers,
                    content=b"".join(chunks),
                    request=response.request,
                )
        except httpx.TimeoutException:
            raise Timeout(f"{method} {path}: no answer within {timeout:g} s.") from None
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{method} {path}: cannot reach the service ({exc}).") from None

    def _wait(self, attempt: int, asked: float | None) -> bool:
        """Back off before retry ``attempt + 1``; False when the deadline leaves no time."""
        jitter = 1 + random.random() / 4  # noqa: S311 - not a secret
        delay = asked if asked is not None else self.backoff * 2**attempt * jitter
        left = self._time_left()
        if left is not None and delay >= left - 0.5:
            return False
        time.sleep(delay)
        return True

    def _error(self, response: httpx.Response) -> ConnectorError:
        if self.error_map is not None:
            mapped = self.error_map(response)
            if mapped is not None:
                return mapped
        return status_error(response, self.error_message)


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ServerError(
            f"{response.request.method} {response.request.url.path}: the answer is not JSON."
        ) from None
