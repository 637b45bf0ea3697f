"""The HTTP step service as a real subprocess on a free port, against Dovecot, through a
real HTTP client: routes, auth, the status table, pooling under concurrency, dropped
sessions, no expunge between steps, no secret anywhere, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from connector.imap.demo.localserver import free_port
from tests.helpers import append, raw_client
from tests.servers import fake
from tests.servers.service import HEADERS, OPERATOR, TOKEN, Service


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    # (16 concurrent steps of one account all fit: 3 running, 13 waiting)
    running = Service(tmp_path_factory.mktemp("svc"), "--max-body-mb", "1", "--account-queue", "13")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def proxies(dovecot_server):
    """One capturing proxy per account, to Dovecot's plain port (the proxy reads the wire)."""
    made = {user: fake.CapturingProxy(dovecot_server.starttls_port) for user in ("alice", "bob")}
    yield made
    for proxy in made.values():
        proxy.close()


def plain(server, proxy, user="alice") -> dict:
    fields = server.connection(user, secure=False, startTls="never")
    fields["port"] = proxy.port
    return fields


def tls(server, user="alice") -> dict:
    return server.connection(user)


# --- routes and auth -------------------------------------------------------------------------


def test_health_needs_no_token_everything_else_does(service):
    assert service.http.get("/healthz").json()["ok"] is True
    for path in ("/openapi.json", "/openapi-3.0.json"):  # no secret in them: importable
        assert service.http.get(path).status_code == 200
    for path in ("/metrics", "/v1/imap"):
        assert service.http.get(path).status_code == 401
        wrong = service.http.get(path, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "UNAUTHORIZED"
        assert service.http.get(path, headers=HEADERS).status_code == 200
    second = service.http.get("/v1/imap", headers={"Authorization": "Bearer other-service-token"})
    assert second.status_code == 200  # several tokens allowed
    step = service.post("/v1/imap/actions/getStatus", {"connection": {}}, headers={})
    assert step.status_code == 401


def test_manifest_and_openapi_document(service):
    from openapi_spec_validator import validate

    assert service.http.get("/v1/imap", headers=HEADERS).json()["key"] == "imap"
    document = service.http.get("/openapi.json", headers=HEADERS).json()
    validate(document)
    ids = [op["operationId"] for path in document["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert "/v1/imap/triggers/newEmailsPollingTrigger/poll" in document["paths"]
    assert "| 422 | `NOT_FOUND` |" in document["info"]["description"]


def test_every_step_route(service, dovecot_server):
    conn = tls(dovecot_server)
    status = service.post("/v1/imap/actions/getStatus", {"connection": conn, "inputs": {}})
    assert status.status_code == 200 and status.json()["data"]["path"] == "INBOX"
    poll = service.post(
        "/v1/imap/triggers/newEmailsPollingTrigger/poll",
        {"connection": conn, "inputs": {"mailbox": "INBOX"}, "state": {}},
    )
    assert poll.status_code == 200 and set(poll.json()) >= {"ok", "data", "state", "hasMore"}
    picks = service.post("/v1/imap/data-sources/listMailboxes", {"connection": conn})
    assert picks.status_code == 200 and "INBOX" in [p["key"] for p in picks.json()["data"]]
    tested = service.post("/v1/imap/test-connection", {"connection": conn})
    assert tested.status_code == 200 and tested.json()["data"]["authenticatedAs"] == "alice"


# --- the status table --------------------------------------------------------------------------


def bye_too_many(conn, listener):
    conn.sendall(b"* BYE [UNAVAILABLE] Too many connections, try again in 30 seconds\r\n")


def test_status_follows_the_error_code(service, dovecot_server):
    conn = tls(dovecot_server)

    def status(path, body, code):
        reply = service.post(path, body)
        assert reply.json()["error"]["code"] == code, reply.text
        return reply

    assert (
        status(
            "/v1/imap/actions/getStatus",
            {"connection": conn, "inputs": {"mailbox": "a\nb"}},
            "INVALID_INPUT",
        ).status_code
        == 400
    )
    assert (
        status("/v1/imap/actions/launch", {"connection": conn}, "UNKNOWN_ACTION").status_code == 404
    )
    assert (
        status("/v1/nothing/actions/x", {"connection": conn}, "UNKNOWN_ACTION").status_code == 404
    )
    imap = raw_client(dovecot_server)
    first, second = (f"svc-{uuid.uuid4().hex[:8]}" for _ in range(2))
    imap.create_folder(first)
    imap.create_folder(second)
    imap.logout()
    taken = {"connection": conn, "inputs": {"path": first, "newPath": second}}
    assert status("/v1/imap/actions/renameMailbox", taken, "ALREADY_EXISTS").status_code == 409
    assert (
        status(
            "/v1/imap/actions/getStatus",
            {"connection": conn, "inputs": {"mailbox": "no-such-box"}},
            "NOT_FOUND",
        ).status_code
        == 422
    )
    wrong = {**conn, "pass": "wrong-password"}
    assert (
        status("/v1/imap/actions/getStatus", {"connection": wrong}, "AUTH_FAILED").status_code
        == 502
    )
    closed = {**conn, "port": free_port()}
    assert (
        status(
            "/v1/imap/actions/getStatus", {"connection": closed}, "CONNECTION_FAILED"
        ).status_code
        == 503
    )
    with fake.Listener(fake.silent) as silent:
        hung = {**conn, "port": silent.port, "timeout": 1}
        assert (
            status("/v1/imap/actions/getStatus", {"connection": hung}, "TIMEOUT").status_code == 504
        )
    with fake.Listener(bye_too_many) as busy:
        full = {**conn, "port": busy.port, "secure": False, "startTls": "never"}
        limited = status("/v1/imap/actions/getStatus", {"connection": full}, "RATE_LIMITED")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    big = service.http.post(
        "/v1/imap/actions/getStatus",
        content=b"{" + b" " * (2 << 20) + b"}",
        headers={**HEADERS, "Content-Type": "application/json"},
    )
    assert big.status_code == 413 and big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    wrong_method = service.http.get("/v1/imap/actions/getStatus", headers=HEADERS)
    assert wrong_method.status_code == 405 and wrong_method.json()["ok"] is False


# --- pooling ----------------------------------------------------------------------------------


def metric(service, name: str) -> float:
    text = service.http.get("/metrics", headers=OPERATOR).text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


def test_32_concurrent_steps_over_2_accounts_share_capped_sessions(
    service, dovecot_server, proxies
):
    bodies = []
    for i in range(32):
        user = ("alice", "bob")[i % 2]
        conn = plain(dovecot_server, proxies[user], user)
        if i % 4 < 2:
            bodies.append(("/v1/imap/actions/getStatus", {"connection": conn}))
        else:
            bodies.append(
                (
                    "/v1/imap/actions/searchMailbox",
                    {"connection": conn, "inputs": {"mailbox": "INBOX", "limit": 5}},
                )
            )
    hits_before = metric(service, "connector_pool_hits_total")
    with ThreadPoolExecutor(32) as workers:
        replies = list(workers.map(lambda pb: service.post(*pb), bodies))
    failed = [
        f"{body[0]}: {r.text}"
        for body, r in zip(bodies, replies, strict=True)
        if r.status_code != 200
    ]
    if failed:
        pytest.fail("\n".join(failed) + "\n" + service.log()[-4000:])
    for user, proxy in proxies.items():
        assert 1 <= proxy.max_open <= 3, (user, proxy.max_open)  # the per-account cap
        assert proxy.max_outstanding == 1, (user, proxy.max_outstanding)  # one step at a time
    assert metric(service, "connector_pool_hits_total") - hits_before >= 32 - 6
    assert "UNSELECT" in {c.decode() for c in proxies["alice"].commands}  # search examined INBOX


def test_a_pooled_session_the_server_dropped_is_replaced(service, dovecot_server, proxies):
    proxy = proxies["alice"]
    conn = plain(dovecot_server, proxy)
    assert service.post("/v1/imap/actions/getStatus", {"connection": conn}).status_code == 200
    before = proxy.connections
    proxy.cut_all()
    time.sleep(0.2)
    reply = service.post("/v1/imap/actions/getStatus", {"connection": conn})
    assert reply.status_code == 200, reply.text
    assert proxy.connections > before  # a fresh session


def test_a_step_leaving_a_mailbox_selected_does_not_affect_the_next(
    service, dovecot_server, proxies
):
    imap = raw_client(dovecot_server)
    box = f"svc-{uuid.uuid4().hex[:8]}"
    imap.create_folder(box)
    uid = append(imap, box)
    conn = plain(dovecot_server, proxies["alice"])
    flagged = service.post(
        "/v1/imap/actions/addFlags",
        {"connection": conn, "inputs": {"mailbox": box, "range": str(uid), "flags": ["\\Deleted"]}},
    )
    assert flagged.status_code == 200, flagged.text
    status = service.post(
        "/v1/imap/actions/getStatus", {"connection": conn, "inputs": {"mailbox": box}}
    )
    assert status.json()["data"]["messages"] == 1  # never CLOSEd: nothing expunged
    imap.select_folder(box, readonly=True)
    assert imap.search("ALL") == [uid]
    assert "CLOSE" not in {c.decode() for c in proxies["alice"].commands}
    imap.logout()


# --- secrets and shutdown ------------------------------------------------------------------------


def test_no_secret_in_logs_metrics_or_bodies(service, dovecot_server):
    conn = tls(dovecot_server)
    wrong = {**conn, "pass": "Sup3r-Secret-Passw0rd"}
    body = service.post("/v1/imap/actions/getStatus", {"connection": wrong}).text
    metrics = service.http.get("/metrics", headers=OPERATOR).text
    log = service.log()
    for secret in ("Sup3r-Secret-Passw0rd", dovecot_server.users["alice"], TOKEN):
        assert secret not in body + metrics + log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert lines and {"connector", "operation", "code", "ms", "pool"} <= set(lines[-1])


def test_sigterm_finishes_the_step_and_logs_out_pooled_sessions(tmp_path, dovecot_server):
    service = Service(tmp_path)
    conn = tls(dovecot_server, "bob")
    assert service.post("/v1/imap/actions/getStatus", {"connection": conn}).status_code == 200
    logouts = dovecot_server.process.log().count("Logged out")
    slow_link = fake.DelayProxy(dovecot_server.starttls_port, delay=0.1)  # 200 ms a round trip
    slow_conn = plain(dovecot_server, slow_link, "bob")
    with ThreadPoolExecutor(1) as worker:
        started = time.monotonic()
        slow = worker.submit(
            service.post,
            "/v1/imap/actions/searchMailbox",
            {"connection": slow_conn, "inputs": {"mailbox": "INBOX"}},
        )
        time.sleep(0.3)  # the step is connecting, logging in, searching: in flight
        # uvicorn finishes in-flight requests, runs the shutdown (the pool's LOGOUTs), then
        # re-raises SIGTERM: the exit status says "terminated", after a clean shutdown.
        assert service.stop() in (0, -signal.SIGTERM)
        assert slow.result().status_code == 200
        assert time.monotonic() - started > 0.6  # it was in flight when SIGTERM came
    slow_link.close()
    deadline = time.monotonic() + 5
    while (
        dovecot_server.process.log().count("Logged out") <= logouts and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert dovecot_server.process.log().count("Logged out") > logouts


def test_schemathesis_finds_no_undocumented_status_or_schema_mismatch(service, tmp_path):
    """Property-based requests from /openapi.json (bounded, seeded): every status is
    documented and every response matches its schema."""
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{service.url}/openapi.json",
            "-H",
            f"Authorization: Bearer {TOKEN}",
            "--max-examples",
            "3",
            "--seed",
            "14",
            "--phases",
            "examples,coverage,fuzzing",
            "--checks",
            "status_code_conformance,response_schema_conformance,content_type_conformance",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,  # its cache goes there, not into the repository
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "passed" in run.stdout
