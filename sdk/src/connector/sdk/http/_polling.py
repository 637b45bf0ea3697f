"""A polling trigger over a list endpoint sorted by a mark (``updated_at``, an id, or both),
right by construction: no item handed off twice, none lost.

    ISSUES = ListPoller(
        mark="updated_at", id="id", since="since",             # since: filters mark >= value
        params={"sort": "updated", "direction": "asc"},        # oldest first
        newest_first={"direction": "desc"},                    # the first poll: one request
        paginator=LinkHeader(size_param="per_page"),
    )

    def updated_issues(client, state, repo, limit):
        return ISSUES.poll(client, f"/repos/{repo}/issues", state, limit=limit, record=shape)

What it does, and why:

- **The first poll** hands off nothing: it bookmarks what exists, the newest mark and every
  id tied at it (several items in one second are one mark), so none of them comes back as
  new. With ``newest_first`` it reads from the newest end until the mark drops; without, it
  walks the list once.
- **Each poll** asks for ``since`` = the mark and hands off, oldest first in the API's own
  order, what is past the mark or at it and not among the ids kept (``seen``). The state is
  ``{"mark", "seen"}``: the ids at the newest mark only, so it stays small.
- **Pages**: after a page it asks again from that page's newest mark (``since``): items
  that move while it reads (an update sends one to the end) cannot slip between pages. A
  page entirely at one mark is asked again bigger (up to the paginator's ``size``), and only
  a run of ties longer than that is followed by the paginator's next page, by number or
  cursor; no page is asked for twice in one poll, and a service that sends the same cursor
  twice is an error, not a loop.
- **A limit** per poll: the rest comes with the next poll, and ``hasMore`` says so.
- **Order**: marks compare as numbers (``"10"`` after ``"9"``), timestamps as instants
  (``...:00.5Z`` after ``...:00Z``; a naive one is UTC), other text as text. A list that
  comes back out of ascending order (a wrong sort parameter) is a SERVER_ERROR that says
  so, never a silent loss.

Limits: an API whose ``since`` is strictly after (``>``) misses items that arrive later at
the mark already handed off; without ``since`` every poll reads the whole list (and items
changed while it reads can shift between pages). Inside a run of ties longer than the
biggest page, an API paged by number or offset shifts the ties when one of them changes
meanwhile (a cursor that encodes the last item read cannot).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import ServerError
from ._pagination import MAX_PAGES, LinkHeader, Paginator, Requester, dig

Mark = str | tuple[str, ...]


def order_key(value: Any) -> tuple:
    """How marks and ids compare: numbers (and digit strings) as numbers, ISO 8601
    timestamps as instants, lists item by item, other text as text."""
    if isinstance(value, bool) or value is None:
        return (4, str(value))
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            return (0, int(value))
        if "T" in value or ":" in value:
            try:
                when = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                aware = when if when.tzinfo else when.replace(tzinfo=UTC)
                return (1, aware.timestamp())
        return (2, value)
    if isinstance(value, list | tuple):
        return (3, tuple(order_key(part) for part in value))
    return (4, str(value))


@dataclass
class Cursor:
    """Where a poll stands: the newest mark handed off and the ids handed off at it."""

    mark: Any = None
    seen: list = field(default_factory=list)

    def old(self, mark: Any, ident: Any) -> bool:
        if self.mark is None:
            return False
        here, there = order_key(mark), order_key(self.mark)
        return here < there or (here == there and ident in self.seen)

    def advance(self, mark: Any, ident: Any) -> None:
        if self.mark is None or order_key(mark) > order_key(self.mark):
            self.mark, self.seen = mark, [ident]
        elif ident not in self.seen:
            self.seen.append(ident)

    def state(self) -> dict:
        return {"mark": self.mark, "seen": list(self.seen)}


@dataclass(frozen=True)
class ListPoller:
    """A trigger's poll of a list sorted oldest first by ``mark`` (a field's dotted path, or
    a tuple of them the API sorts by, such as ``("updated_at", "id")``)."""

    mark: Mark
    id: str = "id"
    since: str | None = None  # the query parameter filtering mark >= value (the first field)
    params: dict[str, Any] = field(default_factory=dict)  # what sorts the list oldest first
    newest_first: dict[str, Any] | None = None  # what sorts it newest first (first poll)
    paginator: Paginator = field(default_factory=LinkHeader)

    def poll(
        self,
        client: Requester,
        path: str,
        state: dict | None,
        *,
        limit: int = 100,
        record: Callable[[Any], Any] | None = None,
    ) -> dict:
        """One poll: ``{"records", "state", "hasMore"}`` for the trigger to return.
        ``record`` shapes each item handed off (the mark and id are read before it)."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        state = state or {}
        if "mark" not in state:
            return {"records": [], "state": self._bookmark(client, path).state(), "hasMore": False}
        cursor = Cursor(state["mark"], list(state.get("seen") or []))
        records: list = []
        more = False
        size = min(self.paginator.size, limit + len(cursor.seen) + 1)
        for item in self._ascending(client, path, self._since_of(cursor.mark), size):
            mark, ident = self._mark(item), self._id(item)
            if cursor.old(mark, ident):
                continue
            if len(records) >= limit:
                more = True
                break
            records.append(record(item) if record is not None else item)
            cursor.advance(mark, ident)
        return {"records": records, "state": cursor.state(), "hasMore": more}

    # -- the parts

    def _mark(self, item: Any) -> Any:
        if isinstance(self.mark, str):
            return self._field(item, self.mark)
        return [self._field(item, name) for name in self.mark]

    def _id(self, item: Any) -> Any:
        return self._field(item, self.id)

    def _since_of(self, mark: Any) -> Any:
        """The value of the ``since`` parameter for a mark: its first field."""
        return mark[0] if isinstance(mark, list) and not isinstance(self.mark, str) else mark

    @staticmethod
    def _field(item: Any, name: str) -> Any:
        value = dig(item, name)
        if value is None:
            raise ServerError(f"An item of the list has no {name!r}.")
        return value

    def _bookmark(self, client: Requester, path: str) -> Cursor:
        """The first poll: the newest mark and every id at it; nothing is handed off."""
        cursor = Cursor()
        if self.newest_first is None:
            for item in self._ascending(client, path, None, self.paginator.size):
                mark, ident = self._mark(item), self._id(item)
                if not cursor.old(mark, ident):
                    cursor.advance(mark, ident)
            return cursor
        query = {**self.params, **self.newest_first}
        for page in self.paginator.pages(client, path, query, size=self.paginator.size):
            for item in page.items:
                mark, ident = self._mark(item), self._id(item)
                if cursor.mark is not None and order_key(mark) < order_key(cursor.mark):
                    return cursor  # past the newest mark's ties: the bookmark is complete
                if cursor.mark is not None and order_key(mark) > order_key(cursor.mark):
                    raise self._disorder(path, query, "newest first")
                cursor.advance(mark, ident)
        return cursor

    def _ascending(self, client: Requester, path: str, since: Any, size: int) -> Iterator[Any]:
        """The items from ``since`` on, oldest first, asking again from each page's newest
        mark, following the next page only through a page of ties."""
        floor, requests = since, 0
        while True:
            previous = None  # (a query asked again starts below the last one's newest)
            query = dict(self.params)
            if self.since and floor is not None:
                query[self.since] = floor
            for page in self.paginator.pages(client, path, query, size=size):
                requests += 1
                if requests > MAX_PAGES:
                    raise ServerError(f"GET {path}: over {MAX_PAGES} pages in one poll.")
                for item in page.items:
                    mark = self._mark(item)
                    if floor is not None and order_key(self._since_of(mark)) < order_key(floor):
                        continue  # before the since asked for: a loose filter, old anyway
                    if previous is not None and order_key(mark) < order_key(previous):
                        raise self._disorder(path, query, "oldest first")
                    previous = mark
                    yield item
                if page.last:
                    return
                newest = self._since_of(previous) if previous is not None else None
                if (
                    self.since
                    and newest is not None
                    and (floor is None or order_key(newest) > order_key(floor))
                ):
                    floor = newest
                    break  # ask again from the newest mark read
                if self.since and size < self.paginator.size:
                    # A page of ties: read the run in one page if the service allows, so
                    # an item that changes meanwhile cannot shift one out of sight.
                    size = min(self.paginator.size, size * 4)
                    break
            else:
                return

    def _disorder(self, path: str, query: dict, order: str) -> ServerError:
        return ServerError(
            f"GET {path}: the list is not sorted {order} by {self.mark!r} with the parameters "
            f"{sorted(query)}: the connector's poll would lose items, so it stopped."
        )
