"""The wire's budgets and the step deadline through the HTTP service (issue 36, parts 1 and
3): a hostile tenant points steps at small misbehaving IMAP servers of its own, here
scripted servers on loopback (``tests/servers/fake``), and the real ``serve`` answers.
"""

from __future__ import annotations

import time

import pytest

from tests.helpers import VirtualMemoryWatch, rss_kib
from tests.servers import fake
from tests.servers.service import Service

STATUS = "/v1/imap/actions/getStatus"
LIST = "/v1/imap/actions/listMailboxes"
FIELDS = {"user": "u", "pass": "p", "secure": False, "startTls": "never", "timeout": 10}
STEP_SECONDS = 3
# The deadline is the property; what the answer and the thread may lag it by on a shared,
# noisy machine (measured: ~0.02 s).
MARGIN = 1.0


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    running = Service(
        tmp_path_factory.mktemp("wire"), "--max-step-timeout", str(STEP_SECONDS), "--threads", "4"
    )
    yield running
    running.stop()


def connection(listener) -> dict:
    return {**FIELDS, "host": "127.0.0.1", "port": listener.port}


def busy_threads(service: Service) -> int:
    return service.http.get("/readyz").json()["busyThreads"]


def test_a_dripping_server_is_answered_at_the_deadline_and_frees_its_thread(service):
    """Measured before: answered only at --max-step-timeout (120 s), and the thread held
    ~4.5 min after the 504."""
    drip = fake.Drip(every=1.0)
    listener = fake.Listener(fake.scripted(fake.accept_login, drip.on_other))
    try:
        started = time.monotonic()
        reply = service.post(STATUS, {"connection": connection(listener), "inputs": {}})
        took = time.monotonic() - started
        answered = time.monotonic()
        while (busy_threads(service) or drip.cut == 0) and time.monotonic() < answered + MARGIN:
            time.sleep(0.02)
        freed = time.monotonic() - answered
        busy = busy_threads(service)
    finally:
        listener.close()
    assert drip.dripping.is_set()
    assert reply.status_code == 504, reply.text
    assert reply.json()["error"]["code"] == "TIMEOUT"
    assert reply.json()["error"]["retryable"] is True
    assert STEP_SECONDS - 0.1 <= took < STEP_SECONDS + MARGIN, f"answered after {took:.2f} s"
    assert busy == 0 and drip.cut == 1, f"thread still busy {freed:.2f} s after the answer"


def test_a_pooled_session_that_starts_dripping_is_cut_and_discarded(service):
    def answer(conn, tag, command, line, listener):
        status = b"* STATUS INBOX (MESSAGES 0 RECENT 0 UNSEEN 0 UIDNEXT 1 UIDVALIDITY 7)\r\n"
        conn.sendall((status if command == b"STATUS" else b"") + tag + b" OK done\r\n")

    drip = fake.Drip(every=1.0, answer=answer, answered=1)
    listener = fake.Listener(fake.scripted(fake.accept_login, drip.on_other))
    body = {"connection": connection(listener), "inputs": {"mailbox": "INBOX"}}
    try:
        assert service.post(STATUS, body).status_code == 200  # logged in, pooled
        started = time.monotonic()
        reply = service.post(STATUS, body)  # the same session: now it drips
        took = time.monotonic() - started
        again = service.post(STATUS, body)  # a new session (the cut one is gone)
    finally:
        listener.close()
    assert reply.status_code == 504, reply.text
    assert took < STEP_SECONDS + MARGIN
    assert again.status_code == 200, again.text  # (the cut session was not lent again)
    assert drip.cut == 1


@pytest.mark.parametrize("size", [4_000_000_000, 99_999_999_999])
def test_a_huge_literal_is_a_server_error_and_reserves_nothing(service, size):
    """Measured before: ``{4000000000}`` in a LIST reply, +3.7 GB of virtual memory;
    ``{99999999999}``, 500 INTERNAL_ERROR "Unexpected MemoryError"."""
    listener = fake.Listener(
        fake.scripted(fake.accept_login, fake.announces_literal(b"LIST", size))
    )
    pid = service.process.pid
    try:
        before = rss_kib(pid)
        with VirtualMemoryWatch(pid) as memory:
            reply = service.post(LIST, {"connection": connection(listener), "inputs": {}})
        grown = rss_kib(pid) - before
    finally:
        listener.close()
    assert reply.status_code == 502, reply.text
    error = reply.json()["error"]
    assert error["code"] == "SERVER_ERROR" and error["retryable"] is False
    assert "literal budget" in error["message"] and f"{size:,} bytes" in error["message"]
    # (the literal reserved would be 3.7 GB and more; a new thread's malloc arena reserves
    # 64 MiB of address space it never uses, and a step may start a few: 256 MiB was flaky)
    assert memory.grown < 1024 * 1024, f"the service's virtual memory grew {memory.grown} KiB"
    assert grown < 64 * 1024, f"the service's RSS grew {grown} KiB"
