"""Retry policy per request: ``retry_on`` statuses (a POST retried when throttled only),
Retry-After honoured up to ``max_wait``, ``RateLimited.retry_after``, and a lost answer sent
again only for an idempotent request, a connection that never opened for any. Against
FakeHttpServer over real sockets."""

from __future__ import annotations

import socket

import pytest

from connector.sdk.errors import ConnectionFailed, RateLimited, ServerError
from connector.sdk.http import HttpClient
from connector.sdk.testing import FakeHttpServer


@pytest.fixture
def api():
    with FakeHttpServer() as fake:
        fake.route("POST", "/tickets", json={"id": 1}, status=201)
        fake.route("GET", "/tickets", json=[])
        yield fake


def sent(api: FakeHttpServer, method: str) -> int:
    return len([r for r in api.requests if r.method == method])


def test_a_post_retried_on_429_only_when_asked(api):
    client = HttpClient(api.url, backoff=0.01)
    api.fail("POST", "/tickets", status=429, retry_after=0)
    with pytest.raises(RateLimited):
        client.post("/tickets", json={})  # a POST: no status retried by default
    assert sent(api, "POST") == 1
    api.fail("POST", "/tickets", status=429, retry_after=0)
    assert client.post("/tickets", json={}, retry_on={429}) == {"id": 1}
    assert sent(api, "POST") == 3
    api.fail("POST", "/tickets", status=503)
    with pytest.raises(ServerError):
        client.post("/tickets", json={}, retry_on={429})  # 503 is not in its policy
    assert sent(api, "POST") == 4


def test_a_clients_own_policy_applies_to_every_request(api):
    client = HttpClient(api.url, backoff=0.01, retry_on={429})
    api.fail("POST", "/tickets", status=429, retry_after=0)
    assert client.post("/tickets", json={}) == {"id": 1}
    api.fail("GET", "/tickets", status=503)
    with pytest.raises(ServerError):
        client.get("/tickets")
    assert sent(api, "GET") == 1


def test_a_lost_answer_is_asked_again_only_when_idempotent(api):
    client = HttpClient(api.url, backoff=0.01)
    api.drop("POST", "/tickets")
    with pytest.raises(ConnectionFailed, match="the answer was lost"):
        client.post("/tickets", json={}, retry_on={429, 503})  # it may have been created
    assert sent(api, "POST") == 1
    api.drop("POST", "/tickets")
    assert client.post("/tickets", json={}, idempotent=True) == {"id": 1}
    assert sent(api, "POST") == 3
    api.drop("GET", "/tickets")
    assert client.get("/tickets") == []
    assert sent(api, "GET") == 2


class Counting(HttpClient):
    waits: list[int]

    def _wait(self, attempt: int, asked: float | None) -> bool:
        self.waits = [*getattr(self, "waits", []), attempt]
        return True


def test_a_connection_that_never_opened_is_tried_again_for_any_request():
    with socket.socket() as probe:  # a port with nothing listening: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = Counting(f"http://127.0.0.1:{port}", retries=2)
    with pytest.raises(ConnectionFailed, match="cannot reach the service"):
        client.post("/tickets", json={})
    assert client.waits == [0, 1]  # nothing went out: a POST too


def test_retry_after_is_honoured_up_to_max_wait_and_kept_on_the_error(api):
    api.fail("POST", "/tickets", status=429, retry_after=7)
    with pytest.raises(RateLimited) as info:
        HttpClient(api.url).post("/tickets", json={})
    assert info.value.retry_after == 7.0
    assert info.value.details == [{"retryAfterSeconds": 7.0}]
    api.fail("GET", "/tickets", status=429, retry_after=120, times=3)
    with pytest.raises(RateLimited) as info:
        HttpClient(api.url, max_wait=60).get("/tickets")  # not two minutes in a step
    assert info.value.retry_after == 120.0 and sent(api, "GET") == 1
    assert RateLimited("slow down").retry_after is None
