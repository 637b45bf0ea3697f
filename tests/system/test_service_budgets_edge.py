"""The service's edge as a hostile caller meets it (issue 36): the real service as a subprocess.

A body's size, elements and nesting (counted before parsing: 45 MB of empty objects cost
little memory and never stall /healthz), one client address holding 1,100 idle sockets
(others still answered), metrics a tenant may read, and an unexpected exception (logged once,
with its traceback, without a secret).
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.sample_connector import MANIFEST
from tests.servers.service import HEADERS, OPERATOR, TOKEN, Service

STATUS = "/v1/imap/actions/getStatus"
APPEND = "/v1/imap/actions/appendMessage"
# A destination the hosted default refuses before connecting: a step that ends at once.
REFUSED = {"host": "10.0.0.1", "user": "alice", "pass": "pw", "secure": False}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    running = Service(tmp_path_factory.mktemp("edge-budgets"), allow=())
    yield running
    running.stop()


# --- helpers -----------------------------------------------------------------------------------


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def reset_peak(pid: int) -> None:
    """VmHWM (the peak RSS) back to the current RSS (Linux: clear_refs 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    assert rss_kib(pid, "VmHWM") <= rss_kib(pid, "VmRSS") + 1024


def raw_post(port: int, path: str, body: bytes, *, source: str = "127.0.0.1") -> tuple[int, dict]:
    """POST ``body`` on a socket of its own, written by a thread while the reply is read (the
    service may answer, and close, before the body is all sent)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()

    def send() -> None:
        try:
            sock.sendall(head)
            sock.sendall(body)
        except OSError:
            pass  # answered and closed before the end of the body: as intended

    writer = threading.Thread(target=send, daemon=True)
    writer.start()
    reply = b""
    try:
        while chunk := sock.recv(65536):
            reply += chunk
    except ConnectionResetError:
        pass  # (the rest of the body was refused: the reply came first)
    finally:
        sock.close()
        writer.join(60)
    head_, _, rest = reply.partition(b"\r\n\r\n")
    assert head_, "no reply at all"
    return int(head_.split()[1]), json.loads(rest or b"{}")


PROBE = """
import json, sys, threading, time
import httpx
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
transport = httpx.HTTPTransport(local_address=sys.argv[2])
http = httpx.Client(base_url=sys.argv[1], timeout=30, transport=transport)
latencies, failures = [], []
print("ready", flush=True)
while not stop.is_set():
    started = time.monotonic()
    try:
        status = http.get("/healthz").status_code
    except httpx.HTTPError as exc:
        failures.append(type(exc).__name__)
    else:
        latencies.append(time.monotonic() - started)
        if status != 200:
            failures.append(status)
    stop.wait(0.02)
print(json.dumps({"latencies": latencies, "failures": failures}), flush=True)
"""


class Prober:
    """GET /healthz every 20 ms, from a process of its own (so that nothing this test process
    does delays it) and from ``source``, recording each reply's latency."""

    def __init__(self, service: Service, source: str = "127.0.0.1"):
        self.latencies: list[float] = []
        self.failures: list[object] = []
        self._process = subprocess.Popen(
            [sys.executable, "-c", PROBE, service.url, source],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __enter__(self) -> Prober:
        assert self._process.stdout is not None
        assert self._process.stdout.readline().strip() == "ready"
        return self

    def __exit__(self, *exc: object) -> None:
        out, _ = self._process.communicate("", timeout=60)
        found = json.loads(out.strip().splitlines()[-1])
        self.latencies, self.failures = found["latencies"], found["failures"]


# --- the body ----------------------------------------------------------------------------------


def empty_objects(megabytes: int) -> bytes:
    count = megabytes * (1 << 20) // 3
    return b'{"inputs": {"x": [' + b",".join([b"{}"] * count) + b"]}}"


def test_45_mb_of_empty_objects_is_413_at_little_memory_and_healthz_never_stalls(service):
    """Before: +1.17 GB of peak memory (26x the body), parsed on the event loop (/healthz
    stalled 1.3 to 4.4 s). Now refused after its first 10,000 elements: the service's peak
    grows by less than the body's own size (measured: under 1 MiB), and /healthz answers all
    the while about as fast as when quiet (within 3x the quiet p99, or 250 ms over it: this
    machine is shared)."""
    body = empty_objects(45)
    pid = service.process.pid
    with Prober(service) as quiet:
        time.sleep(1.5)
    reset_peak(pid)
    before = rss_kib(pid, "VmRSS")
    with Prober(service) as busy:
        time.sleep(0.2)
        status, reply = raw_post(service.port, STATUS, body)
        time.sleep(0.2)
    grown_mib = (rss_kib(pid, "VmHWM") - before) / 1024
    assert status == 413 and reply["error"]["code"] == "PAYLOAD_TOO_LARGE", reply
    assert "at most 10000" in reply["error"]["message"]
    assert grown_mib < 45, grown_mib  # the body is 45 MB: never parsed, never held whole
    assert not quiet.failures and not busy.failures, busy.failures
    limit = max(3 * p99(quiet.latencies), p99(quiet.latencies) + 0.25)
    assert max(busy.latencies) <= limit, (p99(quiet.latencies), max(busy.latencies))


def test_a_45_mb_message_is_parsed_off_the_event_loop(service):
    """A body within every budget but big (a 45 MB message for appendMessage): read and
    decoded a piece at a time, parsed on a thread, checked without being copied, while
    /healthz keeps answering: within 0.4 s of its quiet p99 (json's C parser holds the
    interpreter for ~0.15 s of it; before, with the parse on the event loop and the message
    shown whole by the input checks: 0.5 to 0.6 s)."""
    content = "Subject: big\r\n\r\n" + (
        "All work and no play, [makes] {Jack}: a dull boy.\r\n" * 900_000
    )
    body = json.dumps(
        {"connection": REFUSED, "inputs": {"mailbox": "INBOX", "content": content}}
    ).encode()
    assert len(body) > 45_000_000
    # Measured twice when over: a hiccup of this shared machine fails one try, a parse on
    # the event loop fails both (CI once saw 0.407 s against a 0.407 s bound).
    for _try in range(2):
        with Prober(service) as quiet:
            time.sleep(1.5)
        with Prober(service) as busy:
            status, reply = raw_post(service.port, APPEND, body)
            time.sleep(0.2)
        assert status == 403 and reply["error"]["code"] == "DESTINATION_NOT_ALLOWED", reply
        assert not busy.failures, busy.failures
        if max(busy.latencies) <= p99(quiet.latencies) + 0.4:
            break
    assert max(busy.latencies) <= p99(quiet.latencies) + 0.4, (
        p99(quiet.latencies),
        max(busy.latencies),
    )


@pytest.mark.parametrize(
    "body,status,code,said",
    [
        (b"{" + b" " * (65 << 20) + b"}", 413, "PAYLOAD_TOO_LARGE", "over 67108864 bytes"),
        (
            b'{"inputs": {"flags": [' + b'"a",' * 100_000 + b'"a"]}}',
            413,
            "PAYLOAD_TOO_LARGE",
            "elements",
        ),
        (b'{"inputs": {"x": ' + b"[" * 40 + b"]" * 40 + b"}}", 400, "INVALID_INPUT", "levels deep"),
        (b'{"inputs": ', 400, "INVALID_INPUT", "must be a JSON object"),
        (b"[1, 2]", 400, "INVALID_INPUT", "must be a JSON object"),
    ],
    ids=["size", "elements", "depth", "cut", "not-an-object"],
)
def test_a_body_over_its_limits_is_413_or_400_naming_the_limit(service, body, status, code, said):
    got, reply = raw_post(service.port, "/v1/imap/actions/addFlags", body)
    assert (got, reply["error"]["code"]) == (status, code), reply
    assert said in reply["error"]["message"]


def test_a_flags_list_over_its_cap_is_400_naming_the_input_and_the_maximum(service):
    # (4,000 flags: 8,000 elements, within the body's budget, so parsed and checked)
    inputs = {"mailbox": "INBOX", "range": "1", "flags": [f"k{i}" for i in range(4_000)]}
    started = time.monotonic()
    reply = service.post("/v1/imap/actions/addFlags", {"connection": REFUSED, "inputs": inputs})
    took = time.monotonic() - started
    error = reply.json()["error"]
    assert reply.status_code == 400 and error["code"] == "INVALID_INPUT", error
    assert "Flags (flags)" in error["message"] and "at most 100" in error["message"]
    assert len(reply.content) < 2000  # one message, not one per keyword
    assert took < 5, took  # (was 74 s for four such steps: ~20 s of CPU each)


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] if len(samples) > 1 else samples[0]


# --- connections -------------------------------------------------------------------------------


def open_files_for(count: int) -> None:
    """This test process's soft limit on open files raised to fit ``count`` more sockets."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 512:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 512), hard))


def closed_by_peer(sockets: list[socket.socket], seconds: float) -> set[socket.socket]:
    """The sockets the service closes (EOF or reset) within ``seconds``, waiting for all."""
    closed: set[socket.socket] = set()
    selector = selectors.DefaultSelector()
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, data=sock)
    deadline = time.monotonic() + seconds
    try:
        while len(closed) < len(sockets) and (left := deadline - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                sock = key.data
                try:
                    data = sock.recv(4096)
                except (ConnectionResetError, BlockingIOError):
                    data = b""
                if not data:
                    closed.add(sock)
                    selector.unregister(sock)
    finally:
        selector.close()
    return closed


def test_1100_idle_sockets_from_one_address_leave_others_served(service):
    """Before: ~1,100 idle sockets of one client (no token, no byte sent) took every
    connection: 0 of 30 /healthz probes from elsewhere were answered. Now one address holds
    at most 256 (--max-connections-per-client): the rest are closed at once, other addresses
    are answered all the while, and the 256 are closed once idle for --keepalive (5 s)."""
    open_files_for(1100)
    offender = []
    try:
        for _ in range(1100):
            offender.append(socket.create_connection(("127.0.0.1", service.port), timeout=10))
        started = time.monotonic()
        with Prober(service, source="127.0.0.2") as other:
            refused = closed_by_peer(offender, 1.5)
            time.sleep(1.5)  # (the 256 held are still open: their idle limit is 5 s)
        assert len(other.latencies) >= 30 and not other.failures, (
            len(other.latencies),
            other.failures,
        )
        assert 1100 - 256 <= len(refused) <= 1100 - 250, len(refused)  # (256 less ours)
        held = [s for s in offender if s not in refused]
        idle_closed = closed_by_peer(held, 10)
        took = time.monotonic() - started
        assert len(idle_closed) == len(held) and took < 5 + 5, took  # idle: closed after 5 s
    finally:
        for sock in offender:
            sock.close()
    assert service.http.get("/healthz").status_code == 200  # the address is welcome again


# --- metrics and logs --------------------------------------------------------------------------


def test_a_tenants_token_reads_only_its_own_metrics(service):
    """Before: any tenant's token read every tenant's step counts on GET /metrics. Now the
    operator's metrics token reads everything; a tenant's token only its own series."""
    body = {"connection": REFUSED, "inputs": {"mailbox": "INBOX"}}
    assert service.post(STATUS, body).status_code == 403  # tenant acme
    other = {"Authorization": "Bearer other-service-token"}  # tenant default
    assert service.post(STATUS, body, headers=other).status_code == 403
    everything = service.http.get("/metrics", headers=OPERATOR).text
    assert 'tenant="acme"' in everything and 'tenant="default"' in everything
    assert "connector_step_threads_busy" in everything
    own = service.http.get("/metrics", headers=HEADERS).text
    assert 'code="DESTINATION_NOT_ALLOWED"' in own and 'tenant="acme"' in own
    assert 'tenant="default"' not in own and "connector_step_threads_busy" not in own
    theirs = service.http.get("/metrics", headers=other).text
    assert 'tenant="default"' in theirs and 'tenant="acme"' not in theirs
    assert service.http.get("/metrics").status_code == 401
    assert service.post(STATUS, body, headers=OPERATOR).status_code == 401  # it runs no step


CONNECTOR_CONSOLE = "import sys; from connector.sdk.cli import main; sys.exit(main())"


@pytest.fixture(scope="module")
def sample_service(tmp_path_factory):
    """``connector serve --connector sample``: the SDK's sample connector, installed as a
    distribution on PYTHONPATH (its ``fail`` action has a bug that shows a secret)."""
    where = tmp_path_factory.mktemp("sample")
    shutil.copy(ROOT / "assets" / "icon.png", where / "icon.png")
    (where / "m.yaml").write_text(MANIFEST)
    (where / "sample_paths.py").write_text(
        f"from pathlib import Path\n\ndef manifest():\n    return Path({str(where / 'm.yaml')!r})\n"
    )
    info = where / "sample_connector-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sample-connector\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[connectors]\nsample = sample_paths:manifest\n")
    path = os.pathsep.join(p for p in (str(where), str(ROOT), os.environ.get("PYTHONPATH")) if p)
    running = Service(
        where,
        "--connector",
        "sample",
        allow=(),
        command=(sys.executable, "-c", CONNECTOR_CONSOLE),
        env={"PYTHONPATH": path},
    )
    yield running
    running.stop()


def test_an_unexpected_exception_is_logged_once_with_its_traceback_and_no_secret(sample_service):
    """Before: nothing was logged unless --debug. Now one JSON line at error level with the
    traceback, the connection's secret masked, beside the request's own line."""
    secret = "s3cr3t-" + TOKEN[-12:]
    body = {"connection": {"user": "u", "token": secret}, "inputs": {"kind": "bug"}}
    reply = sample_service.post("/v1/sample/actions/fail", body)
    assert reply.status_code == 500 and reply.json()["error"]["code"] == "INTERNAL_ERROR"
    time.sleep(0.2)  # (the log is written by the service: let it flush)
    log = sample_service.log()
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    errors = [line for line in lines if line.get("level") == "error"]
    assert len(errors) == 1, log[-3000:]
    text = errors[0]["message"]
    assert "Traceback (most recent call last)" in text and "KeyError" in text
    assert "action 'fail'" in text
    assert [line["code"] for line in lines if line.get("operation") == "action:fail"] == [
        "INTERNAL_ERROR"
    ]
    assert secret not in log and TOKEN not in log
