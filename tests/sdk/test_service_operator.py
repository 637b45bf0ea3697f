"""What the operator sees and a tenant does not (issue 36): /metrics by token (a metrics token
reads every series, a tenant's token its own), and an unexpected exception, inside a step or
around it in the service, logged once with its traceback and no secret. The service runs in
this process on the sample connector (tests/sample_connector.py)."""

from __future__ import annotations

import asyncio
import logging
import shutil

import httpx
import pytest

from connector.sdk import Connector
from connector.sdk.service.app import app_for
from connector.sdk.service.auth import TokenCheck, TokenFileError, read_metrics_tokens
from connector.sdk.service.metrics import Metrics
from connector.sdk.service.routes import Service
from connector.sdk.service.settings import Settings
from tests.helpers import ROOT
from tests.sample_connector import MANIFEST

SECRET = "s3cr3t-connection-token"
TOKENS = {b"acme-token": "acme", b"globex-token": "globex"}
OPERATOR = b"operator-token"


def test_a_tenant_view_holds_only_its_own_series():
    metrics = Metrics({"imap": ["action:getStatus"]}, ["acme", "globex"])
    metrics.step("imap", "action:getStatus", "OK", "acme", 0.01, "hit")
    metrics.step("imap", "action:getStatus", "TIMEOUT", "globex", 0.01, "miss")
    everything = metrics.text().decode()
    own = metrics.text("acme").decode()
    assert 'tenant="globex"' in everything and "connector_pool_hits_total" in everything
    assert 'connector_steps_total{code="OK",connector="imap",operation="action:getStatus",' in own
    assert 'tenant="acme"' in own
    assert "globex" not in own and "TIMEOUT" not in own
    for shared in ("connector_pool", "connector_step_seconds", "connector_unauthorized"):
        assert shared not in own  # service-wide figures mix every tenant's
    assert metrics.text("nobody").decode() == ""


def test_metrics_tokens_are_the_operators_only(tmp_path, monkeypatch):
    monkeypatch.setenv("CONNECTOR_METRICS_TOKEN", "from-env-metrics-token, second-metrics-token")
    path = tmp_path / "metrics-tokens"
    path.write_text("# the scraper\nfrom-file-metrics-token\n")
    assert read_metrics_tokens(str(path)) == [
        b"from-env-metrics-token",
        b"second-metrics-token",
        b"from-file-metrics-token",
    ]
    path.write_text("acme: a-tenant-token\n")
    with pytest.raises(TokenFileError, match="one metrics token per line"):
        read_metrics_tokens(str(path))
    check = TokenCheck(TOKENS, operators=[OPERATOR])
    assert check.operator("Bearer operator-token")
    assert not check.operator("Bearer acme-token") and not check.operator(None)
    assert check.tenant("Bearer operator-token") is None  # it runs no step
    assert TokenCheck({}, required=False).operator(None)  # --no-auth: loopback, the operator


class Client:
    """Requests to the service's ASGI app, on one event loop of this test's own."""

    def __init__(self, service: Service):
        self.service = service
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app_for(service, Settings()))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://service")

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        return self.loop.run_until_complete(self.http.post(path, **kwargs))  # type: ignore[arg-type]

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return self.loop.run_until_complete(self.http.get(path, **kwargs))  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.close()
        self.service.close()


@pytest.fixture
def client(tmp_path, monkeypatch):
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    (tmp_path / "m.yaml").write_text(MANIFEST)
    monkeypatch.syspath_prepend(str(ROOT))
    service = Service(
        {"sample": Connector.load(tmp_path / "m.yaml")},
        Settings(),
        TokenCheck(TOKENS, operators=[OPERATOR]),
    )
    running = Client(service)
    yield running
    running.close()


def post(client, path: str, body: dict, token: bytes = b"acme-token"):
    return client.post(path, json=body, headers={"Authorization": f"Bearer {token.decode()}"})


def get_metrics(client, token: bytes) -> str:
    reply = client.get("/metrics", headers={"Authorization": f"Bearer {token.decode()}"})
    assert reply.status_code == 200, reply.text
    return reply.text


def test_metrics_by_token(client):
    body = {"connection": {"user": "u", "token": SECRET}, "inputs": {}}
    assert post(client, "/v1/sample/actions/echo", body).status_code == 200
    assert post(client, "/v1/sample/actions/echo", body, b"globex-token").status_code == 200
    operator = get_metrics(client, OPERATOR)
    assert 'tenant="acme"' in operator and 'tenant="globex"' in operator
    assert "connector_step_threads_busy" in operator
    acme = get_metrics(client, b"acme-token")
    assert 'tenant="acme"' in acme and "globex" not in acme
    assert "connector_step_threads_busy" not in acme
    assert client.get("/metrics").status_code == 401
    refused = post(client, "/v1/sample/actions/echo", body, OPERATOR)
    assert refused.status_code == 401  # a metrics token runs no step


def unexpected(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("connector") and "Unexpected" in r.msg]


def test_a_bug_in_a_step_is_logged_once_with_its_traceback_and_no_secret(client, caplog):
    body = {"connection": {"user": "u", "token": SECRET}, "inputs": {"kind": "bug"}}
    with caplog.at_level(logging.INFO):
        reply = post(client, "/v1/sample/actions/fail", body)
    assert reply.status_code == 500 and reply.json()["error"]["code"] == "INTERNAL_ERROR"
    [record] = unexpected(caplog)
    text = record.getMessage()
    assert record.levelno == logging.ERROR
    assert "Traceback (most recent call last)" in text and "KeyError" in text
    assert SECRET not in text + reply.text


def test_an_exception_around_the_step_is_logged_once_and_answered_500(client, caplog):
    connector = client.service.connectors["sample"]

    def out_of_memory(request, pool, tenant):
        raise MemoryError(f"no room for {request['connection']['token']}")

    connector.pool_keys = out_of_memory  # (a fault where no step runs yet)
    body = {"connection": {"user": "u", "token": SECRET}, "inputs": {}}
    with caplog.at_level(logging.INFO):
        reply = post(client, "/v1/sample/actions/echo", body)
    error = reply.json()["error"]
    assert reply.status_code == 500 and error["code"] == "INTERNAL_ERROR", reply.text
    assert "MemoryError" in error["message"] and SECRET not in reply.text
    [record] = unexpected(caplog)
    text = record.getMessage()
    assert record.levelno == logging.ERROR and "Traceback (most recent call last)" in text
    assert "MemoryError" in text and "action 'echo'" in text
    assert SECRET not in text and "acme-token" not in text
