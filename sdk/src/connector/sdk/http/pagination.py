"""Pages of a list, the usual ways: ``client.paginate(path, LinkHeader())`` yields every item.

- ``LinkHeader(items_at=None)``: RFC 8288 ``Link: <...>; rel="next"`` (GitHub, GitLab...);
- ``CursorField("next_cursor", param="cursor", items_at="data")``: the next page's cursor in
  the body;
- ``PageNumber(param="page", size_param="per_page", size=100)`` and
  ``Offset(param="offset", size_param="limit", size=100)``: until a page comes back short.

``items_at`` names the body's list (a dotted path such as ``"result.items"``); None: the body
is the list.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import ServerError

MAX_PAGES = 10_000  # a service that never says "last page" cannot loop a step for ever


class Requester(Protocol):
    def request(self, method: str, path: str, *, params: dict[str, Any] | None = ...) -> Any: ...


def pick(body: Any, items: str | None) -> list:
    found = body
    for part in (items or "").split(".") if items else []:
        found = found.get(part) if isinstance(found, dict) else None
    if not isinstance(found, list):
        raise ServerError(f"The page has no list at {items or 'the top'!r}.")
    return found


@dataclass(frozen=True)
class LinkHeader:
    items_at: str | None = None

    def items(self, client: Requester, path: str, params: dict[str, Any]) -> Iterator[Any]:
        url: str | None = path
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = client.request("GET", url, params=params if url == path else None)
            yield from pick(response.json(), self.items_at)
            url = response.links.get("next", {}).get("url")


@dataclass(frozen=True)
class CursorField:
    field: str = "next_cursor"
    param: str = "cursor"
    items_at: str | None = "data"

    def items(self, client: Requester, path: str, params: dict[str, Any]) -> Iterator[Any]:
        cursor = None
        for _ in range(MAX_PAGES):
            query = {**params, **({self.param: cursor} if cursor else {})}
            body = client.request("GET", path, params=query).json()
            yield from pick(body, self.items_at)
            cursor = body.get(self.field) if isinstance(body, dict) else None
            if not cursor:
                return


@dataclass(frozen=True)
class PageNumber:
    param: str = "page"
    size_param: str = "per_page"
    size: int = 100
    first: int = 1
    items_at: str | None = None

    def items(self, client: Requester, path: str, params: dict[str, Any]) -> Iterator[Any]:
        for number in range(self.first, self.first + MAX_PAGES):
            query = {**params, self.param: number, self.size_param: self.size}
            page = pick(client.request("GET", path, params=query).json(), self.items_at)
            yield from page
            if len(page) < self.size:
                return


@dataclass(frozen=True)
class Offset:
    param: str = "offset"
    size_param: str = "limit"
    size: int = 100
    items_at: str | None = None

    def items(self, client: Requester, path: str, params: dict[str, Any]) -> Iterator[Any]:
        for index in range(MAX_PAGES):
            query = {**params, self.param: index * self.size, self.size_param: self.size}
            page = pick(client.request("GET", path, params=query).json(), self.items_at)
            yield from page
            if len(page) < self.size:
                return
