"""What a tenant may hold in the service, as a hostile tenant meets it (the real service as
a subprocess, Dovecot behind it): failed logins throttled per (tenant, account), pooled
sessions capped per tenant and in all."""

from __future__ import annotations

import json
import multiprocessing
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.servers import fake
from tests.servers.service import UNCAPPED, Service

STATUS = "/v1/imap/actions/getStatus"
VICTIM = {"Authorization": "Bearer victim-service-token"}
MALLORY = {"Authorization": "Bearer mallory-service-token"}
# Each loop's pause between tries: none, each try is sent as soon as the last is answered
# (the tenant's fair share of the CPU holds such a flood back: service.shares).
PACE = 0


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def timed_steps(service: Service, body: dict, count: int, headers: dict) -> list[float]:
    out = []
    for _ in range(count):
        started = time.monotonic()
        reply = service.post(STATUS, body, headers=headers)
        out.append(time.monotonic() - started)
        assert reply.status_code == 200, reply.text
    return out


def flood(url: str, headers: dict, body: dict, threads: int, stop, results) -> None:
    """``threads`` loops posting ``body`` until ``stop``; puts "started", then every reply's
    (code, details, Retry-After)."""
    replies: list = []
    lock = threading.Lock()
    with httpx.Client(base_url=url, timeout=60, limits=UNCAPPED) as client:

        def loop() -> None:
            while not stop.wait(PACE):
                reply = client.post(STATUS, json=body, headers=headers)
                error = reply.json()["error"]
                with lock:
                    replies.append(
                        (error["code"], error["details"], reply.headers.get("Retry-After"))
                    )

        results.put("started")
        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(loop) for _ in range(threads)]:
                future.result()
    results.put(replies)


def log_lines(service: Service) -> list[dict]:
    return [json.loads(x) for x in service.log().splitlines() if x.startswith("{")]


def test_a_wrong_password_flood_on_the_victims_account_only_throttles_the_offender(
    tmp_path, dovecot_server
):
    """12 loops of wrong-password steps on the victim's own host and user: the victim, with
    an idle logged-in session and the right password, is never refused nor queued behind
    them: its steps reuse its session at their pace (p99 within twice the quiet p99, or
    250 ms over it: this 2-core machine is shared, as in test_service_tenants). The
    offender gets AUTH_FAILED for its first few tries, then 429 with retryAfterSeconds,
    and the server sees no more of its logins."""
    service = Service(
        tmp_path, tokens={"victim": "victim-service-token", "mallory": "mallory-service-token"}
    )
    try:
        victim = {
            "connection": dovecot_server.connection("bob", secure=False),
            "inputs": {"mailbox": "INBOX"},
        }
        wrong = {**victim, "connection": {**victim["connection"], "pass": "guess"}}
        timed_steps(service, victim, 3, VICTIM)  # the pooled session, warm
        quiet = timed_steps(service, victim, 100, VICTIM)
        # The flood runs in a process of its own: its 12 threads and this one would share
        # one interpreter lock, and the victim's latency would measure that.
        context = multiprocessing.get_context("spawn")
        stop, results = context.Event(), context.Queue()
        flooding = context.Process(
            target=flood, args=(service.url, MALLORY, wrong, 12, stop, results)
        )
        flooding.start()
        try:
            assert results.get(timeout=60) == "started"
            time.sleep(0.5)  # the flood is in
            busy = timed_steps(service, victim, 200, VICTIM)
        finally:
            stop.set()
            replies = results.get(timeout=60)
            flooding.join(30)
        codes = [code for code, _, _ in replies]
        # The first 3 failures (a few more may have been in flight at once) reached the
        # server; every other try was refused here, with a time to wait.
        assert 3 <= codes.count("AUTH_FAILED") <= 6, codes.count("AUTH_FAILED")
        assert set(codes) == {"AUTH_FAILED", "RATE_LIMITED"} and len(codes) > 50, len(codes)
        for code, details, header in replies:
            if code == "RATE_LIMITED":
                (detail,) = details
                assert 1 <= detail["retryAfterSeconds"] <= 60, detail
                assert int(header) >= 1
        assert p99(busy) <= max(2 * p99(quiet), p99(quiet) + 0.25), (p99(quiet), p99(busy))
        steps = [x for x in log_lines(service) if x.get("tenant") == "victim"]
        assert steps[-200:] and all(x["pool"] == "hit" for x in steps[-200:])  # its session
        assert "guess" not in service.log()
    finally:
        service.stop()


@pytest.fixture
def counted(dovecot_server):
    """Dovecot behind a proxy that counts open connections: what the service holds."""
    with fake.CapturingProxy(dovecot_server.starttls_port) as proxy:
        yield proxy


def body_for(dovecot_server, port: int, user: str, name: str) -> dict:
    """A step as ``name@...``: Dovecot logs in ``user`` (its user names drop the domain),
    while for the service each name is another account."""
    conn = dovecot_server.connection(user, secure=False, port=port, startTls="never")
    return {"connection": {**conn, "user": f"{user}@{name}"}, "inputs": {"mailbox": "INBOX"}}


def closed_down_to(proxy: fake.CapturingProxy, count: int) -> bool:
    """Evicted sessions log out on a thread of their own: wait for them (no timing asserted)."""
    deadline = time.monotonic() + 10
    while proxy.open > count and time.monotonic() < deadline:
        time.sleep(0.05)
    return proxy.open <= count


def test_a_tenant_varying_user_names_holds_its_cap_and_others_still_get_sessions(
    tmp_path, dovecot_server, counted
):
    service = Service(
        tmp_path,
        "--sessions-per-tenant",
        "4",
        "--max-sessions",
        "6",
        tokens={"victim": "victim-service-token", "mallory": "mallory-service-token"},
    )
    try:
        for i in range(15):  # one tenant, 15 accounts: at most 4 sessions at a time
            body = body_for(dovecot_server, counted.port, "alice", f"m{i}")
            reply = service.post(STATUS, body, headers=MALLORY)
            assert reply.status_code == 200, reply.text
        assert closed_down_to(counted, 4) and counted.open == 4, counted.open
        assert counted.connections == 15 and counted.max_open <= 6, counted.max_open
        for i in range(2):  # another tenant gets sessions beside them, under the global cap
            body = body_for(dovecot_server, counted.port, "bob", f"v{i}")
            assert service.post(STATUS, body, headers=VICTIM).status_code == 200
        assert closed_down_to(counted, 6) and counted.open == 6, counted.open
        for i in range(15, 20):  # the offender goes on: it closes its own sessions only
            body = body_for(dovecot_server, counted.port, "alice", f"m{i}")
            assert service.post(STATUS, body, headers=MALLORY).status_code == 200
        for i in range(2):
            body = body_for(dovecot_server, counted.port, "bob", f"v{i}")
            assert service.post(STATUS, body, headers=VICTIM).status_code == 200
        victim = [x for x in log_lines(service) if x.get("tenant") == "victim"]
        assert [x["pool"] for x in victim] == ["miss", "miss", "hit", "hit"]
        assert closed_down_to(counted, 6) and counted.open == 6, counted.open
        assert counted.connections == 22 and counted.max_open <= 8, counted.max_open
    finally:
        service.stop()


def test_the_global_cap_takes_room_from_the_tenant_holding_the_most(
    tmp_path, dovecot_server, counted
):
    service = Service(
        tmp_path,
        "--max-sessions",
        "5",
        tokens={"victim": "victim-service-token", "mallory": "mallory-service-token"},
    )
    try:
        for i in range(12):  # under its own cap (64), the offender fills the service's
            body = body_for(dovecot_server, counted.port, "alice", f"m{i}")
            assert service.post(STATUS, body, headers=MALLORY).status_code == 200
        assert closed_down_to(counted, 5) and counted.open == 5, counted.open
        for _ in range(2):  # the other tenant gets its sessions, and keeps them
            for i in range(3):
                body = body_for(dovecot_server, counted.port, "bob", f"v{i}")
                assert service.post(STATUS, body, headers=VICTIM).status_code == 200
        victim = [x for x in log_lines(service) if x.get("tenant") == "victim"]
        assert [x["pool"] for x in victim] == ["miss"] * 3 + ["hit"] * 3
        assert closed_down_to(counted, 5) and counted.open == 5, counted.open
        assert counted.connections == 15 and counted.max_open <= 7, counted.max_open
    finally:
        service.stop()


def test_a_tenant_whose_sessions_are_all_busy_is_refused_at_its_cap(tmp_path):
    """Sessions still logging in count: the third login at a cap of two is refused at once."""
    service = Service(tmp_path, "--sessions-per-tenant", "2", "--connect-timeout", "3")
    try:
        with fake.Listener(fake.silent) as silent, ThreadPoolExecutor(3) as pool:
            bodies = [
                {
                    "connection": {
                        "host": "127.0.0.1",
                        "port": silent.port,
                        "secure": False,
                        "startTls": "never",
                        "user": user,
                        "pass": "pw",
                    },
                    "inputs": {"mailbox": "INBOX"},
                }
                for user in ("u1", "u2", "u3")
            ]
            pending = [pool.submit(service.post, STATUS, b) for b in bodies[:2]]
            time.sleep(1)  # both are connecting to the silent server
            started = time.monotonic()
            refused = service.post(STATUS, bodies[2])
            took = time.monotonic() - started
            held = [f.result() for f in pending]
        error = refused.json()["error"]
        assert refused.status_code == 429 and "tenant's 2 pooled sessions" in error["message"]
        assert error["details"] == [{"retryAfterSeconds": 1}] and refused.headers["Retry-After"]
        assert took < 2, took  # at once, not after the connect bound (3 s)
        assert [r.json()["error"]["code"] for r in held] == ["TIMEOUT", "TIMEOUT"]
    finally:
        service.stop()
