"""The service as a hostile tenant meets it: the real service as a subprocess.

Where steps may connect (the egress policy: every refused class, in every spelling), what a
peer that is not IMAP said (never repeated), one account flooding a silent server (others
unaffected), stalled HTTP clients (cut), unauthenticated floods (one counter), several
workers (one sum), tenants (named in the log), saturation (/readyz).
"""

from __future__ import annotations

import json
import socket
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.servers import fake
from tests.servers.service import HEADERS, OPERATOR, Service

STATUS = "/v1/imap/actions/getStatus"
# A connection that would log in if the service connected: what is refused never does.
FIELDS = {"user": "alice", "pass": "pw", "secure": False, "startTls": "never", "timeout": 5}


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """The hosted default: no allowance at all (ports: the manifest's, 143 and 993)."""
    running = Service(tmp_path_factory.mktemp("strict"), allow=())
    yield running
    running.stop()


@pytest.fixture(scope="module")
def loopback_any_port(tmp_path_factory):
    """Loopback allowed by name only, at any port: other spellings stay refused."""
    running = Service(
        tmp_path_factory.mktemp("named"),
        "--connect-timeout",
        "2",
        allow=("--allow-hosts", "localhost", "--allow-ports", "any"),
        tokens={"globex": "globex-service-token"},
    )
    yield running
    running.stop()


def status(service: Service, host: str, port: int, headers=HEADERS) -> httpx.Response:
    body = {"connection": {**FIELDS, "host": host, "port": port}, "inputs": {"mailbox": "INBOX"}}
    return service.post(STATUS, body, headers=headers)


REFUSED_HOSTS = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "::ffff:127.0.0.1",
    "::1",
    "localhost",
    "0.0.0.0",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",
    "169.254.169.254",
    "fd00::1",
    "fe80::1",
    "224.0.0.1",
    "2002:7f00:1::1",
    "64:ff9b::7f00:1",
]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_every_refused_destination_class_is_403_and_nothing_connects(strict, host):
    with fake.Listener(fake.silent) as listener:
        reply = status(strict, host, 143)
        time.sleep(0.05)
        error = reply.json()["error"]
        assert reply.status_code == 403 and error["code"] == "DESTINATION_NOT_ALLOWED", reply.text
        assert error["retryable"] is False
        said = error["message"].replace(repr(host), "")  # (the host as the caller typed it)
        for address in ("127.0.0.1", "::1", "10.0.0.1", "169.254.169.254"):
            assert address not in said  # never the resolved address
        assert listener.received == b""


def test_a_port_the_manifest_does_not_declare_is_refused_before_any_lookup(strict):
    reply = status(strict, "imap.example.com", 22)
    assert reply.status_code == 403 and "Port 22 is not allowed" in reply.json()["error"]["message"]


def test_an_allowed_name_works_and_other_spellings_of_its_address_do_not(
    loopback_any_port, dovecot_server
):
    conn = dovecot_server.connection(secure=False)
    body = {"connection": {**conn, "host": "localhost"}, "inputs": {"mailbox": "INBOX"}}
    reply = loopback_any_port.post(STATUS, body)
    assert reply.status_code == 200, reply.text
    for spelling in ("127.0.0.1", "127.1", "2130706433"):
        body["connection"]["host"] = spelling
        reply = loopback_any_port.post(STATUS, body)
        assert reply.status_code == 403, (spelling, reply.text)


def test_what_a_peer_that_is_not_imap_said_is_never_repeated(loopback_any_port):
    banner = b"220 mail.internal.corp ESMTP Postfix (Debian) secret-build-42\r\n"

    def smtp(conn, listener):
        conn.sendall(banner)
        time.sleep(0.5)

    with fake.Listener(smtp) as listener:
        reply = status(loopback_any_port, "localhost", listener.port)
    error = reply.json()["error"]
    assert (
        error["code"] == "CONNECTION_FAILED"
        and "did not greet like an IMAP server" in error["message"]
    ), error
    for word in ("220", "Postfix", "internal.corp", "secret-build"):
        assert word not in json.dumps(reply.json())


def quiet_latencies(service: Service, body: dict, count: int, headers=HEADERS) -> list[float]:
    out = []
    for _ in range(count):
        started = time.monotonic()
        reply = service.post(STATUS, body, headers=headers)
        out.append(time.monotonic() - started)
        assert reply.status_code == 200, reply.text
    return out


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] if len(samples) > 1 else samples[0]


def test_a_silent_account_flooding_64_steps_cannot_delay_another_account(
    loopback_any_port, dovecot_server
):
    """64 steps of one account against a server that never answers: 3 connect, 6 wait, the
    rest are refused at once (429 'account busy'); another tenant's account keeps its pace:
    p99 within twice the quiet p99, or 250 ms over it (64 client threads share this 2-core
    machine with the service); a step stalled behind the flood would wait out the 2 s
    connect bound."""
    service = loopback_any_port
    bob = {
        "connection": {**dovecot_server.connection("bob", secure=False), "host": "localhost"},
        "inputs": {"mailbox": "INBOX"},
    }
    other = {"Authorization": "Bearer globex-service-token"}
    quiet_latencies(service, bob, 3, headers=other)  # the pooled session, warm
    quiet = quiet_latencies(service, bob, 30, headers=other)
    with fake.Listener(fake.silent) as silent:
        flood_body = {
            "connection": {**FIELDS, "host": "localhost", "port": silent.port, "timeout": 30},
            "inputs": {"mailbox": "INBOX"},
        }
        with ThreadPoolExecutor(64) as pool:
            flood = [pool.submit(service.post, STATUS, flood_body) for _ in range(64)]
            time.sleep(0.3)  # the flood is in: 3 connecting, 6 waiting, 55 refused
            busy = quiet_latencies(service, bob, 30, headers=other)
            replies = [f.result() for f in flood]
    codes = [r.json()["error"]["code"] for r in replies]
    assert codes.count("RATE_LIMITED") >= 64 - 9, codes
    assert all(r.headers.get("Retry-After") for r in replies if r.status_code == 429)
    assert set(codes) <= {"RATE_LIMITED", "TIMEOUT"}, codes  # the connect bound (2 s) ended them
    assert p99(busy) <= max(2 * p99(quiet), p99(quiet) + 0.25), (p99(quiet), p99(busy))


def test_the_connect_bound_ends_a_silent_server_step_early(loopback_any_port):
    with fake.Listener(fake.silent) as silent:
        started = time.monotonic()
        reply = status(loopback_any_port, "localhost", silent.port)
        took = time.monotonic() - started
    assert reply.json()["error"]["code"] == "TIMEOUT" and took < 4.5, (took, reply.text)


def test_the_tenant_is_in_the_log_never_the_token(loopback_any_port, dovecot_server):
    body = {
        "connection": {**dovecot_server.connection(secure=False), "host": "localhost"},
        "inputs": {"mailbox": "INBOX"},
    }
    assert loopback_any_port.post(
        STATUS, body, headers={"Authorization": "Bearer globex-service-token"}
    )
    lines = [json.loads(x) for x in loopback_any_port.log().splitlines() if x.startswith("{")]
    assert any(line.get("tenant") == "globex" for line in lines)
    assert "globex-service-token" not in loopback_any_port.log()
    metrics = loopback_any_port.http.get("/metrics", headers=OPERATOR).text
    assert 'tenant="globex"' in metrics and "globex-service-token" not in metrics


# --- the HTTP edge ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    running = Service(
        tmp_path_factory.mktemp("edge"),
        "--header-timeout",
        "2",
        "--body-timeout",
        "2",
        # (5,000 unauthenticated posts below, as fast as they go: the rate per client
        # address would hold them back; tests/system/test_service_budgets_rate.py)
        "--unauthenticated-rate",
        "0",
    )
    yield running
    running.stop()


def stalled_client(port: int, payload: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(payload)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
        return True  # EOF: the service closed it
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        sock.close()


def test_200_stalled_clients_are_cut_within_the_timeout_while_others_are_served(edge):
    stalled = [stalled_client(edge.port, b"POST /v1/imap/actions/getStatus HTTP/1.1\r\nHo")]
    stalled += [stalled_client(edge.port, b"GET /healthz HTTP/1.1\r\n") for _ in range(99)]
    body_stalls = [
        stalled_client(
            edge.port,
            b"POST /v1/imap/actions/getStatus HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + HEADERS["Authorization"].split()[1].encode() + b"\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"conn',
        )
        for _ in range(100)
    ]
    started = time.monotonic()
    for _ in range(10):  # meanwhile, others are served
        assert edge.http.get("/healthz").status_code == 200
    results = []
    lock = threading.Lock()

    def watch(sock):
        cut = closed_within(sock, 6)
        with lock:
            results.append(cut)

    threads = [threading.Thread(target=watch, args=(s,)) for s in stalled + body_stalls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 200 and all(results), results.count(False)
    assert time.monotonic() - started < 8


def test_5000_unauthenticated_posts_leave_metrics_the_same_size(edge):
    def size() -> int:
        return len(edge.http.get("/metrics", headers=OPERATOR).content)

    before = size()
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda i: edge.http.post(f"/v1/x{i}/actions/a{i}", json={}).status_code,
                range(5000),
            )
        )
    text = edge.http.get("/metrics", headers=OPERATOR).text
    assert size() < before + 200, (before, size())  # counters' values change, never labels
    assert "x4999" not in text and "a4999" not in text
    assert "connector_unauthorized_requests_total 5000.0" in text


def test_readyz_is_503_while_every_step_thread_is_busy(tmp_path):
    service = Service(tmp_path, "--threads", "2", "--connect-timeout", "3")
    try:
        assert service.http.get("/readyz").status_code == 200
        with fake.Listener(fake.silent) as silent, ThreadPoolExecutor(2) as pool:
            bodies = [
                {
                    "connection": {
                        **FIELDS,
                        "user": u,
                        "host": "127.0.0.1",
                        "port": silent.port,
                    },
                    "inputs": {"mailbox": "INBOX"},
                }
                for u in ("u1", "u2")
            ]
            pending = [pool.submit(service.post, STATUS, b) for b in bodies]
            time.sleep(1)
            assert service.http.get("/readyz").status_code == 503
            assert service.http.get("/healthz").status_code == 200  # alive all the same
            for future in pending:
                future.result()
        assert service.http.get("/readyz").status_code == 200
    finally:
        service.stop()


def test_two_workers_sum_their_metrics_in_one_scrape(tmp_path, dovecot_server):
    service = Service(tmp_path, "--workers", "2")
    try:
        conn = dovecot_server.connection(secure=False)
        body = {"connection": conn, "inputs": {"mailbox": "INBOX"}}
        for _ in range(20):
            assert service.post(STATUS, body).status_code == 200
        total = 0.0
        for line in service.http.get("/metrics", headers=HEADERS).text.splitlines():
            if line.startswith("connector_steps_total{") and 'operation="action:getStatus"' in line:
                total += float(line.rsplit(" ", 1)[1])
        assert total == 20, total
    finally:
        service.stop()
