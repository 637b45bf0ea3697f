"""An HTTP client built from a connection: base URL, authentication, timeouts within the
step's deadline, the egress policy, a response-size cap, retries for idempotent requests,
and errors that say what happened in the SDK's codes (``errors``)."""

from __future__ import annotations

import base64
import random
import ssl
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .. import __version__
from .._context import Context
from ..errors import (
    AuthFailed,
    ConnectionFailed,
    ConnectorError,
    InvalidInput,
    ServerError,
    Timeout,
)
from ._errors import Words, retry_after, status_error
from ._pagination import Paginator, items
from ._transport import PolicedTransport

IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
RETRY_STATUSES = frozenset({429, 502, 503, 504})
ErrorMap = Callable[[httpx.Response], ConnectorError | None]
# A multipart upload: field -> bytes, or (file name, bytes or a binary file, content type).
Files = Mapping[str, Any]


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
    response itself) or raise the SDK's errors.

    Retries, per request: a status in ``retry_on`` is asked again after Retry-After (at most
    ``max_wait`` seconds) or ``backoff`` seconds doubling, ``retries`` times, within the
    step's deadline. ``retry_on`` defaults to 429, 502, 503 and 504 for idempotent requests
    (GET, HEAD, OPTIONS, PUT, DELETE, or ``idempotent=True``) and to nothing for the others:
    ``post(..., retry_on={429})`` retries a refused POST only when throttled. An answer lost
    after the request went out is asked again only for an idempotent request (a POST could
    create twice); a connection that never opened, for any.
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
        retry_on: Collection[int] | None = None,
        max_wait: float = 60.0,
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
        self.retry_on = frozenset(retry_on) if retry_on is not None else None
        self.max_wait = max_wait  # the longest Retry-After waited for; longer: the error
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
        files: Files | None = None,
        content: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        idempotent: bool | None = None,
        retry_on: Collection[int] | None = None,
    ) -> httpx.Response:
        """One request, retried as its policy says (see the class); the response, or the
        SDK's error for its status. ``files`` is a multipart upload (``{"file": (name,
        bytes, content_type)}``, with ``data`` as its other fields); ``content`` a raw body."""
        method = method.upper()
        safe = (method in IDEMPOTENT) if idempotent is None else idempotent
        if retry_on is None:
            retry_on = self.retry_on if self.retry_on is not None else self._default_retry(safe)
        body = Body(params, json, data, _read_files(files), content, headers)
        attempt = 0
        while True:
            try:
                response = self._send(method, path, body)
            except NotSent as unsent:  # no connection: nothing went out, safe to send again
                if not (attempt < self.retries and self._wait(attempt, None)):
                    raise unsent.error from None
                attempt += 1
                continue
            except (ConnectionFailed, Timeout) as exc:
                # Sent, and the answer lost: only an idempotent request may go again (a POST
                # could create twice).
                if not (safe and attempt < self.retries and self._wait(attempt, None)):
                    raise exc from None
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            if response.status_code in retry_on and attempt < self.retries:
                if self._wait(attempt, retry_after(response.headers)):
                    attempt += 1
                    continue
            raise self._error(response)

    @staticmethod
    def _default_retry(safe: bool) -> frozenset[int]:
        return RETRY_STATUSES if safe else frozenset()

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

    def _send(self, method: str, path: str, body: Body) -> httpx.Response:
        query, sent = dict(body.params or {}), dict(body.headers or {})
        if self.auth is not None:
            self.auth.apply(sent, query)
        left = self._time_left()
        timeout = self.timeout if left is None else max(0.001, min(self.timeout, left))
        try:
            with self._http.stream(
                method,
                path,
                params=query or None,
                json=body.json,
                data=body.data,
                files=body.files,
                content=body.content,
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
        except (httpx.ConnectTimeout, httpx.PoolTimeout):
            raise NotSent(
                Timeout(f"{method} {path}: no connection within {timeout:g} s.")
            ) from None
        except httpx.TimeoutException:
            raise Timeout(f"{method} {path}: no answer within {timeout:g} s.") from None
        except httpx.ConnectError as exc:
            raise NotSent(
                ConnectionFailed(f"{method} {path}: cannot reach the service ({exc}).")
            ) from None
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"{method} {path}: the answer was lost ({exc}).") from None

    def _wait(self, attempt: int, asked: float | None) -> bool:
        """Back off before retry ``attempt + 1``; False when the deadline leaves no time."""
        jitter = 1 + random.random() / 4  # noqa: S311 - not a secret
        delay = asked if asked is not None else self.backoff * 2**attempt * jitter
        if delay > self.max_wait:
            return False  # the platform's retry, told retryAfterSeconds, waits better
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


@dataclass(frozen=True)
class Body:
    """What a request sends, kept as is for each attempt."""

    params: dict[str, Any] | None
    json: Any
    data: Any
    files: Any
    content: bytes | str | None
    headers: dict[str, str] | None


def _read_files(files: Files | None) -> Any:
    """Each file's bytes read once, so a retry sends them again (a stream would be spent)."""
    if files is None:
        return None
    read: dict[str, Any] = {}
    for field, value in files.items():
        if isinstance(value, tuple):
            name, body, *rest = value
            read[field] = (name, body.read() if hasattr(body, "read") else body, *rest)
        else:
            read[field] = value.read() if hasattr(value, "read") else value
    return read


class NotSent(Exception):  # a signal inside the client, never raised out of it
    """The request never left (no connection): any request may be sent again."""

    def __init__(self, error: ConnectorError):
        super().__init__(error.message)
        self.error = error


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ServerError(
            f"{response.request.method} {response.request.url.path}: the answer is not JSON."
        ) from None
