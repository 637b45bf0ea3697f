"""Error texts that used to mislead, each now saying what is wrong: an empty value is empty
(not "control characters"), a list item breaks the same friendly rule its single form
states (never a raw pattern), a number of thousands of digits is too long (not "not a JSON
object"), a header is named as HTTP spells it, an unspecified address takes "an"."""

from __future__ import annotations

import pytest

from connector.sdk import InvalidInput
from connector.sdk._egress import EgressPolicy
from connector.sdk.cli.output import UsageError
from connector.sdk.cli.requests import read_json_arg
from connector.sdk.errors import DestinationNotAllowed
from connector.sdk.service.body import parse_object
from connector.sdk.service.headers import connection_from_headers

LONG = "9" * 5000  # past Python's 4,300-digit limit on int()


@pytest.fixture(scope="module")
def manifest(connector):
    return connector.manifest  # (the session's: each load checks the manifest again, ~0.15 s)


def refused(operation, inputs: dict) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        operation.inputs.resolve(inputs, "inputs")
    return info.value


def test_an_empty_mailbox_is_said_to_be_empty(manifest):
    error = refused(manifest.actions["getStatus"], {"mailbox": ""})
    assert error.details == [
        {
            "path": "inputs.mailbox",
            "message": "Mailbox (mailbox): it is empty: give a value, such as INBOX",
        }
    ]
    assert "control characters" not in error.message


def test_an_empty_item_of_a_list_is_said_to_be_empty(manifest):
    error = refused(manifest.triggers["newEmailsPollingTrigger"], {"mailboxes": ["INBOX", ""]})
    assert error.details == [
        {
            "path": "inputs.mailboxes.1",
            "message": "Mailboxes (mailboxes): item 2 is empty: remove it or fill it in",
        }
    ]


def test_a_line_break_in_a_mailboxes_item_reads_as_in_mailbox(manifest):
    single = refused(manifest.triggers["newEmailsPollingTrigger"], {"mailbox": "a\r\nb"})
    listed = refused(
        manifest.triggers["newEmailsPollingTrigger"], {"mailboxes": ["INBOX", "a\r\nb"]}
    )
    said = single.details[0]["message"].split(": ", 1)[1]
    assert said.startswith("a mailbox path must not contain control characters")
    assert listed.details[0]["message"] == f"Mailboxes (mailboxes): {said}"
    assert "\\x00" not in listed.message and "^[" not in listed.message  # no raw pattern


def test_a_list_over_its_cap_keeps_its_count_and_maximum(manifest):
    error = refused(manifest.triggers["newEmailsPollingTrigger"], {"mailboxes": ["x"] * 101})
    assert error.details[0]["message"] == "Mailboxes (mailboxes): has 101 items: at most 100"


def test_a_number_of_thousands_of_digits_is_too_long_wherever_it_comes(manifest):
    with pytest.raises(InvalidInput) as body:
        parse_object(['{"inputs": {"limit": ' + LONG + "}}"])
    assert body.value.message.startswith("The body: a number has more than 4300 digits")
    assert "JSON object" not in body.value.message
    search = manifest.actions["searchMailbox"]
    for inputs in ({"limit": LONG}, {"filterOptions": '{"larger": ' + LONG + "}"}):
        error = refused(search, {"mailbox": "INBOX", **inputs})
        assert "a number has more than 4300 digits, too long to read" in error.message
        assert "not valid JSON" not in error.message
    with pytest.raises(UsageError, match="--inputs: a number has more than 4300 digits"):
        read_json_arg('{"limit": ' + LONG + "}", "--inputs")


@pytest.mark.parametrize("sent", ["x-connection-pass", "X-Connection-Pass", "X-CONNECTION-PASS"])
def test_a_header_is_named_as_http_spells_it(connector, sent):
    imap = connector
    with pytest.raises(InvalidInput) as info:
        connection_from_headers(imap, [(sent, "pässwörd")])
    assert info.value.message.startswith(
        "Password (X-Connection-Pass) is not ASCII: send it as X-Connection-Pass-B64"
    )
    with pytest.raises(InvalidInput) as info:
        connection_from_headers(imap, [("x-connection-cacertificate", "é")])
    assert "(X-Connection-CaCertificate)" in info.value.message


def test_an_unspecified_address_takes_an():
    with pytest.raises(DestinationNotAllowed) as info:
        EgressPolicy().addresses("0.0.0.0", 993)
    assert "it resolves to an unspecified address" in info.value.message
    with pytest.raises(DestinationNotAllowed) as info:
        EgressPolicy().addresses("fd00::1", 993)
    assert "it resolves to a unique-local address" in info.value.message
