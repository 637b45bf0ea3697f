"""A search term's length (From, To, each filterOptions text, a header's name and value, an
id) has one cap, stated by the manifest and enforced by protocol; over it is INVALID_INPUT
naming the input and the maximum, before anything reaches a server (which answered 70,000
characters with a BAD, a dropped connection, or silence)."""

from __future__ import annotations

import re

import pytest

from connector.imap import search
from connector.imap.wire import protocol
from connector.sdk import InvalidInput

CAP = protocol.MAX_SEARCH_TEXT
CAPABILITIES = {"X-GM-EXT-1"}  # (gmraw needs it)


@pytest.fixture(scope="module")
def manifest(connector):
    return connector.manifest  # (the session's: each load checks the manifest again, ~0.15 s)


def translate(filters: dict) -> list[bytes]:
    return search.translate(filters, search.Criteria(CAPABILITIES), "filterOptions")


def test_the_manifest_states_the_cap_protocol_enforces(manifest):
    assert CAP == 1000
    search_mailbox = manifest.actions["searchMailbox"]
    for key in ("from", "to"):
        spec = search_mailbox.inputs.by_key[key]
        assert spec.json_schema()["maxLength"] == CAP
        assert f"at most {CAP} characters" in spec.comments
        assert f"at most {CAP} characters" in spec.invalid_message
    trigger = manifest.triggers["newEmailsPollingTrigger"]
    for operation in (search_mailbox, trigger):
        said = operation.inputs.by_key["filterOptions"].comments
        assert re.search(rf"each text \(and header name\) at most {CAP} characters", said), said


@pytest.mark.parametrize("key", ["from", "to"])
def test_from_and_to_over_the_cap_are_refused_naming_the_input(manifest, key):
    operation = manifest.actions["searchMailbox"]
    operation.inputs.resolve({"mailbox": "INBOX", key: "é" * CAP}, "inputs")
    with pytest.raises(InvalidInput) as info:
        operation.inputs.resolve({"mailbox": "INBOX", key: "a" * 70_000}, "inputs")
    assert info.value.details == [
        {
            "path": f"inputs.{key}",
            "message": f"{key.title()} ({key}): a search term is at most {CAP} characters",
        }
    ]
    # protocol refuses it too (a caller of search.build that skipped the manifest)
    with pytest.raises(InvalidInput, match=f"at most {CAP} characters"):
        search.build(set(), sender="a" * (CAP + 1), recipient=None, read_unread="all", filters={})


FILTERS = {
    "subject": lambda text: {"subject": text},
    "body": lambda text: {"body": text},
    "text": lambda text: {"text": text},
    "from": lambda text: {"from": text},
    "to": lambda text: {"to": text},
    "cc": lambda text: {"cc": text},
    "bcc": lambda text: {"bcc": text},
    "gmraw": lambda text: {"gmraw": text},
    "header.X-Tag": lambda text: {"header": {"X-Tag": text}},
    "or.1.subject": lambda text: {"or": [{"seen": True}, {"subject": text}]},
    "not.body": lambda text: {"not": {"body": text}},
}


@pytest.mark.parametrize("where", sorted(FILTERS))
def test_every_filter_text_is_capped_at_its_path(where):
    make = FILTERS[where]
    translate(make("😀" * CAP))  # at the cap: taken (4,000 bytes of UTF-8)
    with pytest.raises(InvalidInput) as info:
        translate(make("a" * 1_000_000))
    assert info.value.details[0]["path"] == f"inputs.filterOptions.{where}"
    assert f"is 1000000 characters long: at most {CAP} characters" in info.value.message
    assert "aaaa" not in info.value.message  # never the value itself


def test_a_header_name_over_the_cap_is_refused():
    with pytest.raises(InvalidInput) as info:
        translate({"header": {"X" * (CAP + 1): "1"}})
    assert info.value.details[0]["path"] == "inputs.filterOptions.header"
    assert f"A header name in filterOptions.header is {CAP + 1} characters long" in (
        info.value.message
    )
    assert "XXXXXXXXXX" not in info.value.message


def test_an_id_over_the_cap_is_refused():
    criteria = search.Criteria({"OBJECTID"})
    with pytest.raises(InvalidInput, match=f"at most {CAP} characters"):
        search.translate({"emailId": "M" * (CAP + 1)}, criteria, "filterOptions")


@pytest.mark.parametrize("key", ["larger", "smaller", "modseq"])
def test_a_number_of_thousands_of_digits_is_out_of_range_not_a_crash(key):
    # int() of over 4,300 digits raises ValueError: that was an INTERNAL_ERROR.
    criteria = search.Criteria({"CONDSTORE"})
    with pytest.raises(InvalidInput, match="must be a whole number from 0 to"):
        search.translate({key: "9" * 5000}, criteria, "filterOptions")
