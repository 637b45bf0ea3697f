"""The HTTP toolkit (connector.sdk.http) against the SDK's fake service, over real sockets:
the status table, Retry-After in both forms, retries for idempotent requests only, the
response-size cap, paginators, the trigger cursor with ties, the egress policy, and a
refused OAuth token refreshed once by the runtime, from an action's own request."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from connector.sdk import Connector
from connector.sdk._egress import EgressPolicy, applied
from connector.sdk.errors import (
    AlreadyExists,
    AuthFailed,
    ConnectionFailed,
    DestinationNotAllowed,
    InvalidInput,
    NotFound,
    RateLimited,
    ServerError,
    Timeout,
)
from connector.sdk.http import (
    ApiKey,
    Basic,
    Bearer,
    CursorField,
    HighWaterMark,
    HttpClient,
    LinkHeader,
    Offset,
    PageNumber,
    retry_after,
)
from connector.sdk.testing import FakeHttpServer, Harness, Reply
from tests.helpers import ROOT


@pytest.fixture
def api():
    with FakeHttpServer() as fake:
        yield fake


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [
        (401, AuthFailed, False),
        (403, AuthFailed, False),
        (404, NotFound, False),
        (410, NotFound, False),
        (409, AlreadyExists, False),
        (400, InvalidInput, False),
        (422, InvalidInput, False),
        (418, ServerError, False),
        (500, ServerError, True),
        (503, ServerError, True),
    ],
)
def test_the_status_table(api, status, error, retryable):
    api.route("POST", "/thing", json={"message": "what the service said"}, status=status)
    with pytest.raises(error) as info:
        HttpClient(api.url, retries=0).post("/thing", json={})
    assert info.value.retryable is retryable
    assert (
        "POST /thing: HTTP" in info.value.message and "what the service said" in info.value.message
    )


def test_429_is_rate_limited_with_retry_after_in_seconds_or_as_a_date(api):
    api.route("POST", "/a", status=429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as info:
        HttpClient(api.url).post("/a")
    assert info.value.details == [{"retryAfterSeconds": 7.0}]
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (retry_after({"retry-after": later}) or 0) <= 31
    assert retry_after({"retry-after": "soon"}) is None and retry_after({}) is None


def test_idempotent_requests_are_retried_others_are_not(api):
    api.route("GET", "/items", json=[1])
    api.route("POST", "/items", json={"id": 1}, status=201)
    api.fail("GET", "/items", status=503, times=2)
    client = HttpClient(api.url, retries=2, backoff=0.01)
    assert client.get("/items") == [1]
    assert len([r for r in api.requests if r.method == "GET"]) == 3
    api.fail("POST", "/items", status=503, times=1)
    with pytest.raises(ServerError):
        client.post("/items", json={})
    assert len([r for r in api.requests if r.method == "POST"]) == 1
    api.fail("POST", "/items", status=429, times=1, retry_after=0)
    assert client.post("/items", json={}, idempotent=True) == {"id": 1}  # (when it is)


def test_a_dropped_connection_and_a_slow_answer(api):
    api.route("GET", "/x", json={"ok": True})
    api.drop("GET", "/x", times=1)
    assert HttpClient(api.url, retries=1, backoff=0.01).get("/x") == {"ok": True}  # retried
    api.drop("GET", "/x", times=5)
    with pytest.raises(ConnectionFailed):
        HttpClient(api.url, retries=1, backoff=0.01).get("/x")
    api.route("GET", "/slow", json=1)
    api.slow("GET", "/slow", 1)
    with pytest.raises(Timeout):
        HttpClient(api.url, timeout=0.1, retries=0).get("/slow")  # (it answers in 1 s)


def test_the_response_size_cap(api):
    api.route("GET", "/big", respond=lambda r: Reply(200, body=b"x" * 5000))
    with pytest.raises(ServerError, match="over 1000 bytes"):
        HttpClient(api.url, max_response_bytes=1000).get("/big")


def test_auth_styles_are_sent_as_asked(api):
    api.route("GET", "/me", respond=lambda r: {"headers": r.headers, "params": r.params})
    key = HttpClient(api.url, auth=ApiKey("k1", header="X-Key")).get("/me")
    assert key["headers"]["x-key"] == "k1"
    query = HttpClient(api.url, auth=ApiKey("k2", header=None, query="api_key")).get("/me")
    assert query["params"] == {"api_key": "k2"}
    bearer = HttpClient(api.url, auth=Bearer("t")).get("/me")
    assert bearer["headers"]["authorization"] == "Bearer t"
    basic = HttpClient(api.url, auth=Basic("ann", "pw")).get("/me")
    assert basic["headers"]["authorization"] == "Basic YW5uOnB3"
    assert bearer["headers"]["user-agent"].startswith("connector-sdk/")


def test_a_base_url_that_is_not_http_is_invalid_input():
    with pytest.raises(InvalidInput):
        HttpClient("ftp://files.example")


def numbered(count: int) -> list[dict]:
    return [{"id": i} for i in range(count)]


def test_paginators(api):
    items = numbered(250)

    def by_link(request):
        page = int(request.params.get("page", 1))
        headers = {}
        if page * 100 < len(items):
            headers["Link"] = f'<{api.url}/link?page={page + 1}>; rel="next"'
        return Reply(200, items[(page - 1) * 100 : page * 100], headers=headers)

    def by_cursor(request):
        start = int(request.params.get("cursor", 0))
        nxt = start + 100 if start + 100 < len(items) else None
        return {"data": items[start : start + 100], "next_cursor": nxt}

    def by_page(request):
        page, size = int(request.params["page"]), int(request.params["per_page"])
        return items[(page - 1) * size : page * size]

    def by_offset(request):
        offset, limit = int(request.params["offset"]), int(request.params["limit"])
        return {"result": {"items": items[offset : offset + limit]}}

    for path, respond in (("/link", by_link), ("/cursor", by_cursor), ("/page", by_page)):
        api.route("GET", path, respond=respond)
    api.route("GET", "/offset", respond=by_offset)
    client = HttpClient(api.url)
    assert list(client.paginate("/link", LinkHeader())) == items
    assert list(client.paginate("/cursor", CursorField())) == items
    assert list(client.paginate("/page", PageNumber(size=60))) == items
    assert list(client.paginate("/offset", Offset(size=70, items_at="result.items"))) == items
    assert len(list(client.paginate("/link", LinkHeader(), limit=120))) == 120


def test_the_high_water_mark_keeps_ties(api):
    cursor = HighWaterMark.of({}, mark="t", id="id")
    first = [{"id": "a", "t": 1}, {"id": "b", "t": 2}]
    assert cursor.new(first) == first
    state = cursor.advance(first)
    again = HighWaterMark.of(state, mark="t", id="id")
    later = [{"id": "b", "t": 2}, {"id": "c", "t": 2}, {"id": "d", "t": 3}]
    assert [i["id"] for i in again.new(later)] == ["c", "d"]  # b came at t=2 already
    assert again.advance(again.new(later)) == {"mark": 3, "seen": ["d"]}


def test_the_egress_policy_applies_to_the_client(api):
    api.route("GET", "/x", json=1)
    with applied(EgressPolicy()):  # the hosted default: no loopback
        with pytest.raises(DestinationNotAllowed):
            HttpClient(api.url).get("/x")
    allowed = EgressPolicy.create(allow_hosts=["127.0.0.1"])
    with applied(allowed):
        assert HttpClient(api.url).get("/x") == 1


REST_MANIFEST = """\
manifestVersion: 1
key: rest_sample
label: REST Sample
description: A REST connector for the toolkit's tests
version: 0.1.0
icon: icon.png
connections:
  - key: oauth
    label: OAuth
    description: A bearer token
    handler: tests.sdk.test_http:open_client
    oauth2:
      presets:
        custom:
          authorizationUrl: https://auth.example/authorize
          tokenUrl: https://auth.example/token
          scopes: [read]
    inputs:
      - {key: baseUrl, label: Base URL, type: string, required: true}
      - {key: accessToken, label: Access Token, type: password, required: true}
      - {key: refreshToken, label: Refresh Token, type: password}
      - {key: clientId, label: Client ID, type: string}
      - {key: clientSecret, label: Client Secret, type: password}
      - {key: provider, label: Provider, type: string, default: custom}
      - {key: tokenUrl, label: Token URL, type: string}
      - {key: expiresAt, label: Expires At, type: date-time}
actions:
  - key: me
    label: Me
    description: Who the token belongs to
    handler: tests.sdk.test_http:me
    inputs: []
    output:
      schema: {type: object}
      example: {login: ann}
"""


def open_client(base_url: str, access_token: str, context, **_) -> HttpClient:
    return HttpClient(base_url, auth=Bearer(access_token), context=context)


def me(client: HttpClient) -> dict:
    return client.get("/me")


def test_an_actions_401_refreshes_the_token_once_and_runs_again(api, tmp_path):
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    (tmp_path / "m.yaml").write_text(REST_MANIFEST)
    connector = Connector.load(tmp_path / "m.yaml")
    api.oauth(client_id="app", client_secret="sec-123456789", refresh_token="r-1")

    def who(request):
        if not api.authorized(request):
            return Reply(401, {"message": f"token {request.bearer} refused"})
        return {"login": "ann"}

    api.route("GET", "/me", respond=who)
    fields = {
        "baseUrl": api.url,
        "accessToken": "stale-access-token",
        "refreshToken": "r-1",
        "clientId": "app",
        "clientSecret": "sec-123456789",
        "tokenUrl": f"{api.url}/oauth/token",
    }
    envelope = Harness(connector, {"key": "oauth", "fields": fields}).invoke("me")
    assert envelope["ok"] and envelope["data"] == {"login": "ann"}, envelope
    assert [r.path for r in api.requests] == ["/me", "/oauth/token", "/me"]
    update = envelope["connectionUpdate"]["fields"]
    assert update["accessToken"] in api.valid_tokens and update["refreshToken"] != "r-1"
    # Refused again after the refresh: AUTH_FAILED, and the token is never echoed.
    api.valid_tokens.clear()
    failed = Harness(connector, {"key": "oauth", "fields": fields}).invoke("me")
    assert failed["error"]["code"] == "AUTH_FAILED"
    assert "stale-access-token" not in str(failed) and "sec-123456789" not in str(failed)
