"""Load against a per-user connection limit: refusals are RATE_LIMITED, nothing lost or doubled.

16 workers run 2,000 mixed steps through the Python API against a Dovecot that allows 4
connections per user and address; a refused step is retried after a short pause, as a
platform's retry policy would.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from connector.sdk.testing import Harness
from tests.helpers import append, raw_client
from tests.helpers import start_dovecot as _dovecot

WORKERS, STEPS = 16, 2000


@pytest.fixture(scope="module")
def limited_server(ca, request):
    return _dovecot(ca, request, extra_conf="mail_max_userip_connections = 4\n")


def test_connection_limit_gives_rate_limited_and_nothing_is_lost(connector, limited_server):
    imap = raw_client(limited_server)
    box = f"load-{uuid.uuid4().hex[:8]}"
    imap.create_folder(box)
    seeded = [append(imap, box) for _ in range(5)]
    imap.logout()
    harness = Harness(connector, limited_server.connection(timeout=20))
    refusals: Counter = Counter()
    appended: list[str] = []

    def step(index: int):
        kind = index % 4
        if kind == 0:
            mid = f"<load-{index}-{uuid.uuid4().hex[:6]}@load.test>"
            inputs = {"path": box, "content": f"Message-ID: {mid}\r\nSubject: {index}\r\n\r\nx\r\n"}
            action = "appendMessage"
        elif kind == 1:
            action, inputs = "getStatus", {"mailbox": box}
        elif kind == 2:
            action, inputs = "searchMailbox", {"mailbox": box, "limit": "5"}
        else:
            action, inputs = (
                "addFlags",
                {"mailbox": box, "range": str(seeded[index % 5]), "flags": [f"k{index % 3}"]},
            )
        for _attempt in range(200):
            envelope = harness.invoke(action, **inputs)
            if envelope["ok"]:
                if action == "appendMessage":
                    appended.append(mid)
                return
            error = envelope["error"]
            refusals[(error["code"], error["retryable"])] += 1
            time.sleep(0.02)
        raise AssertionError(f"step {index} never succeeded: {error}")

    # The limit is certainly reached: four sessions hold it for the first second.
    holders = [raw_client(limited_server) for _ in range(4)]
    release = threading.Timer(1.0, lambda: [h.logout() for h in holders])
    release.start()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(step, range(STEPS)))
    release.join()
    assert set(refusals) <= {("RATE_LIMITED", True)}, refusals
    assert refusals, "the limit was never reached: the test shows nothing"
    imap = raw_client(limited_server)
    imap.select_folder(box, readonly=True)
    stored = Counter()
    for row in imap.fetch(imap.search(["ALL"]), ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]).values():
        text = row[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().strip()
        if text:
            stored[text.split(":", 1)[1].strip()] += 1
    imap.logout()
    assert len(appended) == STEPS // 4
    assert {mid: stored[mid] for mid in appended} == dict.fromkeys(appended, 1)
