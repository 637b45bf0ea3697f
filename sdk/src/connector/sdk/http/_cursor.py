"""A trigger's cursor over a list ordered by a timestamp (``updated_at``...): a high-water
mark, with ties. ``ListPoller`` (``polling``) does the whole poll (first poll, pages, limit)
with it; this is the part for a trigger that fetches its own items.

Items whose mark equals the last one seen may come again (a second resolution, several
updated in the same second): the ids already emitted at the mark are remembered, so each
item is emitted once and none is skipped.

    cursor = HighWaterMark.of(state, mark="updated_at", id="id")
    new = cursor.new(items)                  # oldest first, never emitted before
    return {"records": new, "state": cursor.advance(new), "hasMore": ...}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._polling import Cursor, order_key


@dataclass
class HighWaterMark:
    mark_field: str
    id_field: str
    mark: Any = None  # the highest mark emitted so far (comparable: ISO text, numbers)
    seen: list[Any] = field(default_factory=list)  # ids emitted at exactly that mark

    @classmethod
    def of(cls, state: dict, *, mark: str, id: str) -> HighWaterMark:  # noqa: A002 - a field name
        return cls(mark, id, state.get("mark"), list(state.get("seen") or []))

    def new(self, items: list[dict]) -> list[dict]:
        """The items not emitted yet, oldest first (marks compared as instants or numbers,
        ties in id order: 2 before 10)."""
        cursor = Cursor(self.mark, self.seen)
        fresh = [i for i in items if not cursor.old(i[self.mark_field], i[self.id_field])]
        return sorted(
            fresh,
            key=lambda item: (order_key(item[self.mark_field]), order_key(item[self.id_field])),
        )

    def advance(self, emitted: list[dict]) -> dict:
        """The state after ``emitted`` (what ``new`` returned, or the part of it handed out)."""
        cursor = Cursor(self.mark, list(self.seen))
        for item in emitted:
            cursor.advance(item[self.mark_field], item[self.id_field])
        self.mark, self.seen = cursor.mark, cursor.seen
        return cursor.state()
