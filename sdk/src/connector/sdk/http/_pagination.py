"""Pages of a list, the usual ways: ``client.paginate(path, LinkHeader())`` yields every item.

- ``LinkHeader(items_at=None, size_param=None)``: RFC 8288 ``Link: <...>; rel="next"``
  (GitHub, GitLab...); the page size goes in the first request only (the next links carry
  it);
- ``CursorField("next_cursor", param="cursor", items_at="data", size_param=None)``: the next
  page's cursor in the body (a dotted path such as ``"meta.next"``);
- ``PageNumber(param="page", size_param="per_page", size=100)`` and
  ``Offset(param="offset", size_param="limit", size=100)``: until a page comes back short.

``items_at`` names the body's list (a dotted path such as ``"result.items"``); None: the body
is the list. ``size`` is the most a page may hold; ``client.paginate(..., limit=5)`` asks for
pages of 5. Each paginator's ``pages(client, path, params, size=)`` yields ``Page``s: what
``ListPoller`` (``polling``) reads page by page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from ..errors import ServerError

MAX_PAGES = 10_000  # a service that never says "last page" cannot loop a step for ever


class Requester(Protocol):
    def request(
        self, method: str, path: str, *, params: dict[str, Any] | None = ...
    ) -> httpx.Response: ...


@dataclass(frozen=True)
class Page:
    """One page: its items, and whether the service said it is the last."""

    items: list
    last: bool


class Paginator(Protocol):
    """How a list is paged: ``LinkHeader``, ``CursorField``, ``PageNumber``, ``Offset``, or a
    class of your own with ``size`` and ``pages()`` (``HttpClient.paginate`` takes any)."""

    @property
    def size(self) -> int: ...  # the most a page may hold

    def pages(
        self, client: Requester, path: str, params: dict[str, Any], *, size: int | None = None
    ) -> Iterator[Page]: ...


def pick(body: Any, items: str | None) -> list:
    found = dig(body, items)
    if not isinstance(found, list):
        raise ServerError(f"The page has no list at {items or 'the top'!r}.")
    return found


def dig(body: Any, path: str | None) -> Any:
    """``body["a"]["b"]`` for ``"a.b"``; None where a part is missing; the body for None."""
    found = body
    for part in path.split(".") if path else []:
        found = found.get(part) if isinstance(found, dict) else None
    return found


def items(
    paginator: Paginator, client: Requester, path: str, params: dict[str, Any], size: int | None
) -> Iterator[Any]:
    """Every item of every page."""
    if not hasattr(paginator, "pages"):  # a connector's own paginator of the first release
        yield from paginator.items(client, path, params)  # type: ignore[attr-defined]
        return
    for page in paginator.pages(client, path, params, size=size):
        yield from page.items


def _sized(default: int, size: int | None) -> int:
    return max(1, min(default, size)) if size else default


def _repeated(where: str, what: str) -> ServerError:
    # A service that hands back a page already read would loop a step (or a poll) for ever.
    return ServerError(f"GET {where}: the service sent the same {what} twice; stopped there.")


@dataclass(frozen=True)
class LinkHeader:
    items_at: str | None = None
    size_param: str | None = None  # such as "per_page": sent with the first request
    size: int = 100

    def items(self, client: Requester, path: str, params: dict[str, Any]) -> Iterator[Any]:
        return items(self, client, path, params, None)

    def pages(
        self, client: Requester, path: str, params: dict[str, Any], *, size: int | None = None
    ) -> Iterator[Page]:
        query = {
            **params,
            **({self.size_param: _sized(self.size, size)} if self.size_param else {}),
        }
        response = client.request("GET", path, params=query)
        origin, asked = response.request.url, {str(response.request.url)}
        for _ in range(MAX_PAGES):
            found = response.links.get("next", {}).get("url")
            nxt = origin.join(found) if found else None
            yield Page(pick(response.json(), self.items_at), nxt is None)
            if nxt is None:
                return
            if (nxt.scheme, nxt.host, nxt.port) != (origin.scheme, origin.host, origin.port):
                # The credentials go with every request: never to another host.
                raise ServerError(f"GET {path}: the next page's link leads to another host.")
            if str(nxt) in asked:
                raise _repeated(path, "next link")
            asked.add(str(nxt))
            response = client.request("GET", str(nxt))


@dataclass(frozen=True)
class CursorField:
    field: str = "next_cursor"
    param: str = "cursor"
    items_at: str | None = "data"
    size_param: str | None = None  # such as "limit" or "page_size"
    size: int = 100

    def items(self, client: Requester, path: str, params: dict[str, Any]) -> Iterator[Any]:
        return items(self, client, path, params, None)

    def pages(
        self, client: Requester, path: str, params: dict[str, Any], *, size: int | None = None
    ) -> Iterator[Page]:
        cursor, used = None, set()
        sized = {self.size_param: _sized(self.size, size)} if self.size_param else {}
        for _ in range(MAX_PAGES):
            query = {**params, **sized, **({self.param: cursor} if cursor else {})}
            body = client.request("GET", path, params=query).json()
            cursor = dig(body, self.field)
            yield Page(pick(body, self.items_at), not cursor)
            if not cursor:
                return
            if str(cursor) in used:
                raise _repeated(path, "cursor")
            used.add(str(cursor))


@dataclass(frozen=True)
class PageNumber:
    param: str = "page"
    size_param: str = "per_page"
    size: int = 100
    first: int = 1
    items_at: str | None = None

    def items(self, client: Requester, path: str, params: dict[str, Any]) -> Iterator[Any]:
        return items(self, client, path, params, None)

    def pages(
        self, client: Requester, path: str, params: dict[str, Any], *, size: int | None = None
    ) -> Iterator[Page]:
        per_page = _sized(self.size, size)
        for number in range(self.first, self.first + MAX_PAGES):
            query = {**params, self.param: number, self.size_param: per_page}
            page = pick(client.request("GET", path, params=query).json(), self.items_at)
            yield Page(page, len(page) < per_page)
            if len(page) < per_page:
                return


@dataclass(frozen=True)
class Offset:
    param: str = "offset"
    size_param: str = "limit"
    size: int = 100
    items_at: str | None = None

    def items(self, client: Requester, path: str, params: dict[str, Any]) -> Iterator[Any]:
        return items(self, client, path, params, None)

    def pages(
        self, client: Requester, path: str, params: dict[str, Any], *, size: int | None = None
    ) -> Iterator[Page]:
        per_page = _sized(self.size, size)
        for index in range(MAX_PAGES):
            query = {**params, self.param: index * per_page, self.size_param: per_page}
            page = pick(client.request("GET", path, params=query).json(), self.items_at)
            yield Page(page, len(page) < per_page)
            if len(page) < per_page:
                return
