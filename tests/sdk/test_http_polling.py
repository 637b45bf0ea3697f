"""ListPoller (connector.sdk.http._polling): over random streams of items with ties, updates,
pages of every kind and limits, no item is handed off twice and none is lost. The streams
run against an API model in this process (thousands of polls: HTTP would only add time);
the same poller over real sockets is in the rest template's own tests (its
tests/test___name__.py.tmpl, run by tests/system/test_scaffold_wheel.py)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from connector.sdk.errors import ServerError
from connector.sdk.http import CursorField, HighWaterMark, LinkHeader, ListPoller, PageNumber
from connector.sdk.http._polling import order_key
from tests.helpers import property_examples

BASE = datetime(2026, 12, 1, 10, tzinfo=UTC)
URL = "https://api.example/items"


def stamp(second: int) -> str:
    return (BASE + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Api:
    """A list endpoint sorted by ``t`` (then by arrival, or by id with ``by_id``), with an
    inclusive ``since``, ``direction=desc``, and pages by number, cursor or Link header."""

    style: str  # "page", "cursor" or "link"
    by_id: bool = False
    items: dict[int, dict] = field(default_factory=dict)
    clock: int = 0
    arrivals: int = 0
    versions: list[tuple[int, str, str]] = field(default_factory=list)  # (id, t, phase)
    phase: str = "before"
    intrusions: list[str | int | None] = field(default_factory=list)
    requests: int = 0

    def add(self, tie: bool) -> None:
        if not tie or self.clock == 0:
            self.clock += 1
        self._put(len(self.items) + 1)

    def update(self, which: int) -> None:
        if self.items:
            self.clock += 1
            self._put(which if which in self.items else sorted(self.items)[which % len(self.items)])

    def _put(self, ident: int) -> None:
        self.arrivals += 1
        self.items[ident] = {"id": ident, "t": stamp(self.clock), "arrival": self.arrivals}
        self.versions.append((ident, stamp(self.clock), self.phase))

    def rows(self, params: dict) -> list[dict]:
        """The list as the API sorts it, each row with its sort key (``key``)."""
        second = "id" if self.by_id else "arrival"
        rows = sorted(
            ({"id": r["id"], "t": r["t"], "key": [r["t"], r[second]]} for r in self.items.values()),
            key=lambda r: r["key"],
        )
        if "since" in params:
            rows = [r for r in rows if r["t"] >= params["since"]]
        if params.get("direction") == "desc":
            rows.reverse()
        return rows

    def request(self, method: str, path: str, *, params: dict | None = None) -> httpx.Response:
        url = httpx.URL(path) if path.startswith("https:") else httpx.URL(URL, params=params)
        query = dict(url.params)
        self.requests += 1
        if self.intrusions:  # something arrives while the poll reads
            intrusion = self.intrusions.pop(0)
            if isinstance(intrusion, int):
                self.update(intrusion)
            elif intrusion == "update":  # one of the newest: maybe on a page just read
                recent = sorted(self.items.values(), key=lambda r: r["arrival"])[-6:]
                self.update(recent[self.requests % len(recent)]["id"] if recent else 0)
            elif intrusion is not None:
                self.add(tie=intrusion == "tie")
        rows = self.rows(query)
        headers: dict[str, str] = {}
        if self.style == "keyset":  # the cursor is the last row's sort key: nothing shifts
            size, after = int(query["limit"]), query.get("cursor")
            if after is not None:
                t, second = after.split("/")
                last = [t, int(second)]
                desc = query.get("direction") == "desc"
                rows = [r for r in rows if (r["key"] < last if desc else r["key"] > last)]
            chunk, more = rows[:size], len(rows) > size
            nxt = "/".join(map(str, chunk[-1]["key"])) if more else None
            body: Any = {"data": chunk, "next": nxt}
        elif self.style == "cursor":
            start, size = int(query.get("cursor", 0)), int(query["limit"])
            more = start + size < len(rows)
            body = {"data": rows[start : start + size], "next": str(start + size) if more else None}
        else:
            number, size = int(query.get("page", 1)), int(query["per_page"])
            body = rows[(number - 1) * size : number * size]
            if self.style == "link" and number * size < len(rows):
                headers["Link"] = f'<{URL}?{urlencode({**query, "page": number + 1})}>; rel="next"'
        return httpx.Response(200, json=body, headers=headers, request=httpx.Request("GET", url))


def paginator(style: str, size: int) -> Any:
    if style == "page":
        return PageNumber(size=size)
    if style in ("cursor", "keyset"):
        return CursorField(
            field="next", param="cursor", items_at="data", size_param="limit", size=size
        )
    return LinkHeader(size_param="per_page", size=size)


def scenarios(adds: int = 12, ties: st.SearchStrategy | None = None) -> st.SearchStrategy:
    ties = st.booleans() if ties is None else ties
    return st.fixed_dictionaries(
        {
            "style": st.sampled_from(["page", "cursor", "link", "keyset"]),
            "by_id": st.booleans(),
            "since": st.booleans(),
            "newest_first": st.booleans(),
            "size": st.integers(1, 6),
            "initial": st.lists(ties, max_size=14),
            "steps": st.lists(
                st.one_of(
                    st.tuples(st.just("add"), st.integers(1, adds), ties),
                    st.tuples(st.just("update"), st.integers(0, 99)),
                    st.tuples(st.just("poll"), st.integers(1, 8)),
                ),
                max_size=20,
            ),
            "intrusions": st.lists(st.sampled_from([None, None, "tie", "new"]), max_size=40),
        }
    )


scenario = scenarios()
changes = st.lists(st.sampled_from([None, "tie", "new", "update", "update"]), max_size=40)


@settings(
    max_examples=property_examples(400), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(scenario)
def test_no_item_is_lost_and_none_comes_twice(case):
    """Items arrive while a poll reads and between polls; items change between polls."""
    runs(case)


@settings(
    max_examples=property_examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(scenario, changes)
def test_with_a_keyset_cursor_items_may_also_change_while_a_poll_reads(case, intrusions):
    """A cursor naming the last item read and an inclusive since: an item updated between
    two page requests (sent to the end) shifts nothing out of sight."""
    runs({**case, "style": "keyset", "since": True, "intrusions": intrusions})


@settings(
    max_examples=property_examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(scenarios(adds=2, ties=st.sampled_from([False, False, True])), changes)
def test_pages_asked_again_from_the_mark_so_nothing_shifts(case, intrusions):
    """Pages by number, offset cursor or link, items changing while a poll reads (an update
    sends one to the end, shifting the rest): asking again from each page's newest mark, and
    a page of ties again bigger, loses nothing while the biggest page holds a run of ties."""
    runs({**case, "since": True, "size": 6, "intrusions": intrusions}, max_ties=6)


def runs(case: dict, max_ties: int | None = None) -> Api:
    api = Api(case["style"], by_id=case["by_id"])
    for tie in case["initial"]:
        api.add(tie)
    poller = ListPoller(
        mark=("t", "id") if case["by_id"] else "t",
        id="id",
        since="since" if case["since"] else None,
        newest_first={"direction": "desc"} if case["newest_first"] else None,
        paginator=paginator(case["style"], case["size"]),
    )
    api.intrusions = list(case["intrusions"])
    api.phase = "during"
    first = poller.poll(api, "/items", {})
    api.phase = "after"
    assert first["records"] == [] and first["hasMore"] is False
    state = first["state"]
    emitted: list[tuple[int, str]] = []

    def poll(limit: int) -> dict:
        nonlocal state
        result = poller.poll(api, "/items", state, limit=limit)
        assert len(result["records"]) <= limit
        emitted.extend((r["id"], r["t"]) for r in result["records"])
        state = result["state"]
        return result

    for step in case["steps"]:
        if step[0] == "add":
            for _ in range(step[1]):
                api.add(step[2])
        elif step[0] == "update":
            api.update(step[1])
        else:
            poll(step[1])
    api.intrusions = []
    for _ in range(200):  # catch up
        if not poll(7)["hasMore"]:
            break
    else:
        pytest.fail("the poll never caught up")

    if max_ties is not None:  # (the property holds while the biggest page holds a run)
        assume(max(Counter(t for _, t, _ in api.versions).values(), default=0) <= max_ties)
    assert len(emitted) == len(set(emitted)), "an item was handed off twice"
    created = {(i, t): phase for i, t, phase in api.versions}
    assert all(created[version] != "before" for version in emitted), "an old item came"
    current = {(r["id"], r["t"]) for r in api.items.values()}
    lost = {v for v in current if created[v] == "after"} - set(emitted)
    assert not lost, f"never handed off: {sorted(lost)}"
    marks = [order_key(t) for _, t in emitted]
    assert marks == sorted(marks), "handed off out of order"
    assert len(state["seen"]) <= len(api.items)
    return api


def issues(count: int, second: int, start: int) -> list[dict]:
    return [{"id": start + i, "t": stamp(second)} for i in range(count)]


def test_the_reported_stream_two_old_then_150_at_one_second_then_one():
    """The issue's measurement: 2 old items at one second, then 150 at a later second and 1
    after, a page of 100 and a limit of 100: nothing old, 151 handed off, no stall."""
    api = Api("link")
    api.add(False)
    api.add(True)
    poller = ListPoller(mark="t", since="since", paginator=LinkHeader(size_param="per_page"))
    state = poller.poll(api, "/items", {})["state"]
    assert state == {"mark": stamp(1), "seen": [1, 2]}
    api.add(False)
    for _ in range(149):
        api.add(True)
    api.add(False)
    first = poller.poll(api, "/items", state, limit=100)
    assert len(first["records"]) == 100 and first["hasMore"] is True
    second = poller.poll(api, "/items", first["state"], limit=100)
    assert len(second["records"]) == 51 and second["hasMore"] is False
    handed = [r["id"] for r in first["records"] + second["records"]]
    assert handed == list(range(3, 154))
    assert second["state"] == {"mark": stamp(3), "seen": [153]}  # small again
    assert poller.poll(api, "/items", second["state"])["records"] == []


@pytest.mark.parametrize("style", ["page", "cursor", "link"])
def test_an_item_changed_between_two_pages_shifts_nothing_out_of_sight(style):
    """Pages of 3 by position; item 2 (on the first page) changes before the second page is
    asked for, so everything after it moves up one place: following the next page would
    skip item 4; asking again from the first page's newest mark does not."""
    api = Api(style)
    api.add(False)
    poller = ListPoller(mark="t", since="since", paginator=paginator(style, 3))
    state = poller.poll(api, "/items", {})["state"]
    for _ in range(6):
        api.add(False)
    api.intrusions = [None, 2]
    result = poller.poll(api, "/items", state, limit=8)
    assert [r["id"] for r in result["records"]] == [2, 3, 4, 5, 6, 7, 2]


def test_pages_are_sized_to_the_limit_and_never_asked_twice_in_a_poll():
    api = Api("page")
    asked: list[str] = []
    served = api.request

    def recording(method: str, path: str, *, params: dict | None = None) -> httpx.Response:
        response = served(method, path, params=params)
        asked.append(str(response.request.url))
        return response

    api.request = recording
    api.add(False)
    poller = ListPoller(mark="t", since="since", paginator=PageNumber(size=100))
    state = poller.poll(api, "/items", {})["state"]
    for _ in range(30):
        api.add(True)  # 30 ties at the bookmarked second: one is old
    asked.clear()
    result = poller.poll(api, "/items", state, limit=5)
    assert [r["id"] for r in result["records"]] == [2, 3, 4, 5, 6] and result["hasMore"]
    assert len(asked) == len(set(asked))
    assert all("per_page=7" in url for url in asked)  # limit + seen + 1: one request


def test_a_list_out_of_order_is_an_error_not_a_silent_loss():
    api = Api("page")
    for _ in range(5):
        api.add(False)
    wrong = ListPoller(
        mark="t", since="since", params={"direction": "desc"}, paginator=PageNumber()
    )
    with pytest.raises(ServerError, match="not sorted oldest first by 't'"):
        wrong.poll(api, "/items", {"mark": stamp(1), "seen": [1]})


def test_a_cursor_sent_twice_stops_the_poll():
    class Looping:
        def request(self, method: str, path: str, *, params: dict | None = None) -> httpx.Response:
            body = {"data": [{"id": 1, "t": stamp(1)}], "next": "same"}
            return httpx.Response(200, json=body, request=httpx.Request("GET", URL))

    poller = ListPoller(mark="t", paginator=CursorField(field="next", items_at="data"))
    with pytest.raises(ServerError, match="same cursor twice"):
        poller.poll(Looping(), "/items", {"mark": None, "seen": []})


def test_marks_and_ids_compare_as_numbers_and_instants():
    assert order_key("10") > order_key("9") and order_key(10) > order_key(9)
    assert order_key("2026-12-01T10:00:00.5Z") > order_key("2026-12-01T10:00:00Z")
    assert order_key("2026-12-01T11:00:00+01:00") == order_key("2026-12-01T10:00:00Z")
    assert order_key("b") > order_key("a")


def test_the_high_water_mark_orders_ties_by_number_and_marks_as_instants():
    cursor = HighWaterMark.of({}, mark="t", id="id")
    items = [{"id": n, "t": 1} for n in (10, 2, 1, 3)]
    assert [i["id"] for i in cursor.new(items)] == [1, 2, 3, 10]
    later = HighWaterMark.of({"mark": "2026-12-01T10:00:00Z", "seen": [1]}, mark="t", id="id")
    fractions = [{"id": 2, "t": "2026-12-01T10:00:00.5Z"}, {"id": 1, "t": "2026-12-01T10:00:00Z"}]
    assert later.new(fractions) == fractions[:1]  # (as text, ".5Z" sorts before "Z")
