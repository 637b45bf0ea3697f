"""The service's parts on their own (the service itself runs in tests/system): the admission
gates, the settings and their egress policy, tokens and tenants, metrics labels, envelopes."""

from __future__ import annotations

import asyncio
import json

import pytest

from connector.sdk import _envelope as envelope
from connector.sdk.errors import DestinationNotAllowed, RateLimited, Timeout
from connector.sdk.service.admission import BusyThreads, Gate
from connector.sdk.service.auth import TokenCheck, TokenFileError, read_tokens
from connector.sdk.service.metrics import Metrics
from connector.sdk.service.settings import CONFIG_ENV, Settings


def test_a_gate_runs_its_slots_queues_a_few_and_refuses_the_rest():
    async def scenario() -> list:
        gate = Gate(slots=2, waiting=1, what="account")
        first = await gate.acquire(b"a", 1)
        second = await gate.acquire(b"a", 1)
        waiter = asyncio.create_task(gate.acquire(b"a", 5))
        await asyncio.sleep(0.01)
        assert gate.steps_waiting == 1 and gate.accounts_waiting == 1
        with pytest.raises(RateLimited, match="account is busy") as busy:
            await gate.acquire(b"a", 1)
        assert busy.value.details == [{"retryAfterSeconds": 2}]
        other = await gate.acquire(b"b", 1)  # another account is not held up
        first()  # a slot frees: the waiter gets it
        third = await asyncio.wait_for(waiter, 1)
        with pytest.raises(Timeout):
            await gate.acquire(b"a", 0.05)
        for release in (second, third, other):
            release()
            release()  # (twice is harmless)
        await asyncio.sleep(0.01)
        return list(gate._accounts)

    assert asyncio.run(scenario()) == []  # nothing kept once idle


def test_a_gate_takes_a_keys_own_lower_limit():
    async def scenario() -> None:
        gate = Gate(slots=3, waiting=0)
        await gate.acquire(b"a", 1, slots=1)
        with pytest.raises(RateLimited):
            await gate.acquire(b"a", 1, slots=1)

    asyncio.run(scenario())


def test_busy_threads_count_inside_the_thread():
    busy = BusyThreads(1)
    with busy:
        assert busy.busy == 1 and busy.saturated
    assert busy.busy == 0 and not busy.saturated


def test_settings_travel_to_workers_and_derive_their_limits(monkeypatch):
    settings = Settings(per_account=3, workers=2, per_tenant=4, allow_hosts=("10.0.0.0/8",))
    assert settings.account_slots == 1 and settings.account_waiting == 2
    assert settings.tenant_waiting == 16
    monkeypatch.setenv(CONFIG_ENV, settings.to_env())
    assert Settings.from_env() == settings
    policy = settings.egress([143, 993])
    assert policy.allow_ports == {143, 993} and policy.restricted
    assert Settings(any_port=True).egress([993]).allow_ports is None
    assert Settings(allow_ports=(1143,)).egress([993]).allow_ports == {1143}
    assert Settings().egress([]).allow_ports is None  # no port declared: any
    with pytest.raises(DestinationNotAllowed):
        policy.addresses("imap.example.com", 22)


def test_tokens_name_their_tenants(tmp_path, monkeypatch):
    monkeypatch.setenv("CONNECTOR_SERVICE_TOKEN", "env-service-token")
    tokens = tmp_path / "tokens"
    tokens.write_text(
        "# comment\nplain-service-token\nacme: acme-service-token\nglobex:globex-service-token\n"
    )
    found = read_tokens(str(tokens))
    assert found == {
        b"env-service-token": "default",
        b"plain-service-token": "default",
        b"acme-service-token": "acme",
        b"globex-service-token": "globex",
    }
    check = TokenCheck(found)
    assert check.tenant("Bearer acme-service-token") == "acme"
    assert check.tenant("bearer  globex-service-token") == "globex"
    assert check.tenant("Bearer nope") is None and check.tenant(None) is None
    assert check.tenant("Basic acme-service-token") is None
    assert check.tenants == ["acme", "default", "globex"]
    assert TokenCheck({}, required=False).tenant(None) == "default"
    tokens.write_text("bad tenant!: x\n")
    with pytest.raises(TokenFileError, match="tokens:1"):
        read_tokens(str(tokens))


def test_metrics_labels_come_from_closed_sets():
    metrics = Metrics({"imap": ["action:getStatus"]}, ["acme", "default"])
    assert metrics.labels("imap", "action:getStatus") == ("imap", "action:getStatus")
    assert metrics.labels("imap", "action:nope") == ("imap", "unknown")
    assert metrics.labels("x" * 100, "y") == ("unknown", "unknown")
    metrics.step("imap", "action:getStatus", "OK", "acme", 0.01, "hit")
    metrics.step("imap", "action:zzz", "WHATEVER", "stranger", 0.01, "miss")
    text = metrics.text().decode()
    assert 'tenant="acme"' in text and 'tenant="unknown"' in text and 'code="unknown"' in text
    assert "zzz" not in text and "stranger" not in text and "WHATEVER" not in text
    assert "connector_pool_hits_total 1.0" in text and "connector_pool_misses_total 1.0" in text


def test_envelopes_from_codes_and_their_statuses():
    limited = envelope.of_code("RATE_LIMITED", "slow down")
    assert limited["error"]["retryable"] is True and envelope.http_status(limited) == 429
    assert envelope.code_of(limited) == "RATE_LIMITED" and envelope.code_of({"ok": True}) == "OK"
    assert envelope.http_status({"ok": True, "data": 1}) == 200
    assert envelope.http_status(envelope.of_code("NOT_A_CODE", "x")) == 500
    later = envelope.error(RateLimited("wait", retry_after=3))
    assert envelope.retry_after(later) == 3.0 and envelope.retry_after({"ok": True}) is None
    denied = envelope.error(DestinationNotAllowed("no"))
    assert envelope.http_status(denied) == 403 and json.dumps(denied)
