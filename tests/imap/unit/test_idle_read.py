"""What a push line reads in IDLE without blocking (``transport._idle_responses``): whole
responses only, a response in pieces kept until the rest comes, literals skipped by their
size, and a budget on what may come before a response ends."""

from __future__ import annotations

import pytest

from connector.imap.wire.budgets import MAX_IDLE, OverBudget
from connector.imap.wire.transport import _TAGGED_MARK, _idle_responses


def test_whole_responses_are_parsed_and_a_piece_waits_for_the_rest():
    said, left = _idle_responses(b"* 3 EXISTS\r\n* OK Still here\r\n* 4 EXI")
    assert said == [(3, b"EXISTS"), (b"OK", b"Still here")] and left == b"* 4 EXI"
    said, left = _idle_responses(left + b"STS\r\n")
    assert said == [(4, b"EXISTS")] and left == b""


def test_a_literal_is_skipped_by_its_size_and_the_response_counts_as_unreadable():
    status = b'* STATUS {5}\r\nA\r\nBC (UIDNEXT 9)\r\n* STATUS "x" (UIDNEXT 2)\r\n'
    said, left = _idle_responses(status)
    assert said == [None, (b"STATUS", b"x", (b"UIDNEXT", 2))] and left == b""
    said, left = _idle_responses(b"* STATUS {5}\r\nA\r\n")  # (the literal is still coming)
    assert said == [] and left == b"* STATUS {5}\r\nA\r\n"


def test_a_continuation_says_nothing_and_garbage_is_unreadable_not_an_error():
    said, left = _idle_responses(b"+ idling\r\nnot imap at all\r\n* 1 RECENT\r\n")
    assert said == [None, (1, b"RECENT")] and left == b""


def test_a_literal_over_the_budget_ends_the_line_naming_it():
    with pytest.raises(OverBudget, match="IDLE response budget"):
        _idle_responses(b"* STATUS {%d}\r\n" % (MAX_IDLE + 1))


def test_a_tagged_reply_in_idle_is_marked_for_filing_not_news():
    """The NOOP that went ahead of the IDLE may be answered after the "+"."""
    said, _ = _idle_responses(b"A5 OK NOOP completed.\r\n* 2 EXISTS\r\n")
    assert said == [(_TAGGED_MARK, b"A5"), (2, b"EXISTS")]
