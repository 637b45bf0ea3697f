"""What the new-email trigger remembers for a renumbering (issue 37): a digest per message
(its Message-ID, else its envelope), kept for the re-read window and bounded."""

from __future__ import annotations

from datetime import UTC, datetime

from connector.imap.triggers.new_emails import (
    RESYNC_OVERLAP,
    SEEN_MOST,
    recent,
    seen_digest,
    seen_of,
)


def record(message_id: str | None, subject: str = "s", size: int = 10) -> dict:
    envelope: dict = {"messageId": message_id, "subject": subject, "date": None, "from": []}
    return {"envelope": envelope, "size": size}


def test_a_digest_is_the_message_id_else_the_envelope():
    assert seen_digest(record("<a@x>")) == seen_digest(record("<a@x>", subject="other"))
    assert seen_digest(record("<a@x>")) != seen_digest(record("<b@x>"))
    assert seen_digest(record(None, "one")) == seen_digest(record(None, "one"))
    assert seen_digest(record(None, "one")) != seen_digest(record(None, "two"))
    assert seen_digest(record(None, "one", 10)) != seen_digest(record(None, "one", 11))


def test_what_is_remembered_is_the_window_and_at_most_seen_most():
    newest = datetime(2026, 1, 1, 12, tzinfo=UTC)
    now = int(newest.timestamp())
    window = int(RESYNC_OVERLAP.total_seconds())
    seen = [("old", now - window - 1), ("edge", now - window), ("new", now)]
    assert [d for d, _ in seen_of({"seen": recent(seen, newest)})] == ["edge", "new"]
    many = [(f"d{i:011d}", now - i) for i in range(SEEN_MOST + 50)]
    kept = seen_of({"seen": recent(many, newest)})
    assert len(kept) == SEEN_MOST and kept[-1] == ("d00000000000", now)  # the newest kept


def test_seen_is_one_string_and_a_longer_one_is_read_from_its_newest_end():
    now = 1767268800
    written = recent([("aaaaaaaaaaaa", now - 1), ("bbbbbbbbbbbb", now)], None)
    assert written == f"aaaaaaaaaaaa:{now - 1} bbbbbbbbbbbb:{now}"
    flood = " ".join(f"{i:012x}:{now}" for i in range(100_000)) + f" ffffffffffff:{now + 1}"
    kept = seen_of({"seen": flood})
    assert len(kept) == SEEN_MOST and kept[-1] == ("ffffffffffff", now + 1)
    assert seen_of({"seen": "junk no-colon :5 x:y"}) == []


def test_an_earlier_versions_recent_ids_count_as_seen():
    cursor = {"recentIds": ["<a@x>"], "lastInternalDate": "2026-01-01T12:00:00+00:00"}
    assert [d for d, _ in seen_of(cursor)] == [seen_digest(record("<a@x>"))]


def test_a_re_read_of_more_than_seen_most_of_one_second_repeats_only_the_excess():
    """A bulk restore: 320 messages of one second handed off, then the mailbox renumbered
    and re-read a few records a poll. Each poll skips what the cursor saw and remembers
    what it handed off again; only the 20 it could not remember may come twice (when the
    newest entries won ties, each re-delivered one pushed out one not yet re-read: 44)."""
    second = 1767268800
    digests = [f"{n:012x}" for n in range(320)]
    cursor = ""
    for digest in digests:  # handed off once, one poll each
        cursor = recent([*seen_of({"seen": cursor}), (digest, second)], None)
    again = []
    for start in range(0, len(digests), 4):  # the re-read: 4 records a poll
        seen = seen_of({"seen": cursor})
        exclude = {digest for digest, _ in seen}
        handed = [d for d in digests[start : start + 4] if d not in exclude]
        again += handed
        cursor = recent([*seen, *((d, second) for d in handed)], None)
    assert len(again) == len(digests) - SEEN_MOST, len(again)
