"""Pure parts of the durable trigger (issue 37), without a server: watcher labels stay
bounded, failed polls count polls and attempts count attempts, hand-off ids come from the
record's identity, and a failed attempt is the last only when its policy says so."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from temporalio.common import RetryPolicy

from connector.sdk.temporal import telemetry
from connector.sdk.temporal.activities import last_attempt
from connector.sdk.temporal.workflows import record_id


@pytest.fixture
def fresh_labels(monkeypatch):
    monkeypatch.setattr(telemetry, "_watchers", set())
    telemetry.configure({"imap": ["newEmailsPollingTrigger"]})


def sample(name: str, **labels: str) -> float:
    return telemetry.REGISTRY.get_sample_value(name, labels) or 0.0


def test_watcher_labels_are_bounded_and_cut(fresh_labels, monkeypatch):
    monkeypatch.setattr(telemetry, "MAX_WATCHERS", 3)
    assert [telemetry.watcher_label(f"w{i}") for i in range(5)] == [
        "w0",
        "w1",
        "w2",
        "other",
        "other",
    ]
    assert telemetry.watcher_label("w1") == "w1"  # (a known one keeps its label)
    assert telemetry.watcher_label(None) == "unknown"
    monkeypatch.setattr(telemetry, "_watchers", set())
    assert len(telemetry.watcher_label("x" * 500)) == telemetry.WATCHER_CHARS


def test_a_failed_poll_counts_once_its_attempts_each(fresh_labels):
    who = {"connector": "imap", "trigger": "newEmailsPollingTrigger", "watcher": "w-parts"}
    failed = {"ok": False, "error": {"code": "TIMEOUT", "retryable": True}}
    for attempt in range(1, 6):
        telemetry.poll(
            "imap", "newEmailsPollingTrigger", "w-parts", failed, last_attempt=attempt == 5
        )
    assert sample("connector_trigger_poll_attempts_total", **who, code="TIMEOUT") == 5
    assert sample("connector_trigger_failed_polls_total", **who, code="TIMEOUT") == 1
    telemetry.poll(
        "imap",
        "newEmailsPollingTrigger",
        "w-parts",
        {"ok": True, "data": [1, 2]},
        last_attempt=True,
    )
    assert sample("connector_trigger_records_total", **who) == 2
    assert sample("connector_trigger_last_success_timestamp_seconds", **who) > 0


def test_the_last_attempt_is_the_policys():
    def info(attempt: int, most: int) -> SimpleNamespace:
        return SimpleNamespace(attempt=attempt, retry_policy=RetryPolicy(maximum_attempts=most))

    retryable = {"ok": False, "error": {"code": "TIMEOUT", "retryable": True}}
    final = {"ok": False, "error": {"code": "AUTH_FAILED", "retryable": False}}
    assert not last_attempt(info(1, 5), retryable)
    assert last_attempt(info(5, 5), retryable)
    assert last_attempt(info(1, 5), final)
    assert not last_attempt(info(99, 0), retryable)  # (0: unlimited attempts)


def test_a_hand_off_id_is_the_records_identity():
    key = ("mailbox", "uidValidity", "uid")
    record = {"mailbox": "INBOX", "uidValidity": 7, "uid": 42, "flags": []}
    flagged = {**record, "flags": ["\\Seen"]}
    assert record_id(record, key) == record_id(flagged, key)  # polled again, flags changed
    assert record_id(record, key) != record_id({**record, "uid": 43}, key)
    assert record_id(record) != record_id(flagged)  # (without a key: the whole record)
