"""Paginators sized from ``limit`` (``paginate(..., limit=5)`` asks for pages of 5), page-size
parameters for cursor and link paginators, and services that would loop a step: the same
cursor or next link twice, a next link to another host (the credentials would go there)."""

from __future__ import annotations

import pytest

from connector.sdk.errors import ServerError
from connector.sdk.http import CursorField, HttpClient, LinkHeader, Offset, PageNumber
from connector.sdk.testing import FakeHttpServer, Reply

ITEMS = [{"id": i} for i in range(40)]


@pytest.fixture
def api():
    with FakeHttpServer() as fake:
        fake.route(
            "GET",
            "/pages",
            lambda r: ITEMS[(int(r.params["page"]) - 1) * int(r.params["per_page"]) :][
                : int(r.params["per_page"])
            ],
        )
        fake.route(
            "GET",
            "/offset",
            lambda r: ITEMS[
                int(r.params["offset"]) : int(r.params["offset"]) + int(r.params["limit"])
            ],
        )

        def by_cursor(request):
            start, size = int(request.params.get("cursor", 0)), int(request.params.get("limit", 10))
            nxt = start + size if start + size < len(ITEMS) else None
            return {"data": ITEMS[start : start + size], "meta": {"next": nxt}}

        fake.route("GET", "/cursor", by_cursor)
        yield fake


def asked(api: FakeHttpServer, path: str) -> list[dict]:
    return [r.params for r in api.requests if r.path == path]


def test_page_number_and_offset_ask_for_pages_of_the_limit(api):
    client = HttpClient(api.url)
    assert list(client.paginate("/pages", PageNumber(), limit=5)) == ITEMS[:5]
    assert asked(api, "/pages") == [{"page": "1", "per_page": "5"}]
    assert len(list(client.paginate("/pages", PageNumber(size=15)))) == 40
    assert [p["per_page"] for p in asked(api, "/pages")[1:]] == ["15"] * 3
    assert list(client.paginate("/offset", Offset(size=30), limit=12)) == ITEMS[:12]
    assert asked(api, "/offset") == [{"offset": "0", "limit": "12"}]


def test_a_cursor_paginator_sends_its_page_size(api):
    client = HttpClient(api.url)
    paginator = CursorField(field="meta.next", size_param="limit", size=25)
    assert list(client.paginate("/cursor", paginator)) == ITEMS
    assert [p.get("limit") for p in asked(api, "/cursor")] == ["25", "25"]
    assert list(client.paginate("/cursor", paginator, limit=7)) == ITEMS[:7]
    assert asked(api, "/cursor")[-1] == {"limit": "7"}
    list(client.paginate("/cursor", CursorField(field="meta.next")))  # no size_param: none sent
    assert "limit" not in asked(api, "/cursor")[-1]


def test_a_link_paginator_sends_its_page_size_once(api):
    def linked(request):
        page = int(request.params.get("page", 1))
        size = int(request.params["per_page"])
        more = page * size < len(ITEMS)
        link = f'<{api.url}/linked?page={page + 1}&per_page={size}>; rel="next"'
        return Reply(
            200, ITEMS[(page - 1) * size : page * size], headers={"Link": link} if more else {}
        )

    api.route("GET", "/linked", linked)
    client = HttpClient(api.url)
    assert (
        list(client.paginate("/linked", LinkHeader(size_param="per_page"), limit=15)) == ITEMS[:15]
    )
    assert asked(api, "/linked") == [{"per_page": "15"}]


def test_a_next_link_twice_or_to_another_host_stops(api):
    api.route(
        "GET",
        "/loop",
        lambda r: Reply(200, [1], headers={"Link": f'<{api.url}/loop?p=2>; rel="next"'}),
    )
    with pytest.raises(ServerError, match="same next link twice"):
        list(HttpClient(api.url).paginate("/loop", LinkHeader()))
    api.route(
        "GET",
        "/away",
        lambda r: Reply(200, [1], headers={"Link": '<https://elsewhere.example/x>; rel="next"'}),
    )
    with pytest.raises(ServerError, match="another host"):
        list(HttpClient(api.url).paginate("/away", LinkHeader()))
    assert not [r for r in api.requests if r.path == "/x"]
