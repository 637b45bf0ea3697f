"""The search term cap against real servers: a term at the cap, in the widest UTF-8 (4,000
bytes), is a search every server answers; one past it never reaches the server (Dovecot
answered 70,000 characters with BAD or a dropped connection, pymap with BYE [SERVERBUG],
Courier with silence)."""

from __future__ import annotations

from connector.imap.wire import protocol

CAP = protocol.MAX_SEARCH_TEXT


def test_a_term_at_the_cap_is_searched_on_every_server(harness, mailbox):
    widest = "😀" * CAP  # 4 bytes each in UTF-8: a 4,000-byte literal
    for inputs in (
        {"from": widest},
        {"to": "a" * CAP},
        {"filterOptions": {"subject": "é" * CAP}},
        {"filterOptions": {"header": {"X-Tag": widest}}},
    ):
        data = harness.ok("searchMailbox", mailbox=mailbox, **inputs)
        assert data["total"] == 0, inputs


def test_a_term_past_the_cap_is_invalid_input_naming_it(harness, mailbox):
    error = harness.error(
        "searchMailbox", "INVALID_INPUT", mailbox=mailbox, **{"from": "a" * 70_000}
    )
    assert error["retryable"] is False
    assert error["details"] == [
        {
            "path": "inputs.from",
            "message": f"From (from): a search term is at most {CAP} characters",
        }
    ]
    for filters, path in (
        ({"subject": "a" * 1_000_000}, "inputs.filterOptions.subject"),
        ({"header": {"X-Tag": "a" * 1_000_000}}, "inputs.filterOptions.header.X-Tag"),
    ):
        error = harness.error(
            "searchMailbox", "INVALID_INPUT", mailbox=mailbox, filterOptions=filters
        )
        assert error["details"][0]["path"] == path
        assert f"at most {CAP} characters" in error["message"]
    # the session is still good: nothing was sent
    assert harness.ok("searchMailbox", mailbox=mailbox)["total"] == 0
