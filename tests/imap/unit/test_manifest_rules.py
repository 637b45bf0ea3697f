"""Rules written twice (the manifest's patterns, checked before a handler runs, and protocol's
checks, applied before anything reaches the wire) are proven to agree."""

from __future__ import annotations

import random

import pytest

from connector.imap.wire import protocol
from connector.sdk import InvalidInput


@pytest.fixture(scope="module")
def add_flags(connector):
    return connector.manifest.actions["addFlags"]


def manifest_accepts(operation, **inputs) -> bool:
    try:
        operation.inputs.resolve({"flags": ["\\Seen"], **inputs}, "inputs")
    except InvalidInput:
        return False
    return True


def protocol_accepts(check, value) -> bool:
    try:
        check(value)
    except InvalidInput:
        return False
    return True


def test_mailbox_names_one_rule_for_every_character(add_flags):
    for code in [*range(0x250), 0x2028, 0xFEFF, 0xFFFD, 0x1F600]:
        name = f"A{chr(code)}B"
        assert manifest_accepts(add_flags, mailbox=name, range="1") == protocol_accepts(
            lambda v: protocol.check_mailbox(v, "mailbox"), name
        ), f"U+{code:04X}"


UID_SETS = [
    "1",
    "7",
    "3:9",
    "1,4,8:10",
    "5:*",
    "*",
    "*:5",
    " 1 , 2 ",
    "1 : 3",
    "4294967295",
    "0",
    "01",
    "1:0",
    "",
    " ",
    ",",
    "1,",
    ",1",
    "1,,2",
    "1:2:3",
    "a",
    "1-3",
    "1;2",
    "**",
    "1\n",
    "\n1",
    "1\r\n2",
    "1 2",
    "+1",
    "-1",
    "1.0",
    "\u0661",  # ARABIC-INDIC DIGIT ONE: a digit to \\d, not to [0-9]
    "*,*",
    "2:*,7",
]


@pytest.mark.parametrize("value", UID_SETS)
def test_uid_sets_one_grammar(add_flags, value):
    assert manifest_accepts(add_flags, mailbox="INBOX", range=value) == protocol_accepts(
        protocol.parse_uid_set, value
    )


def test_uid_sets_one_grammar_on_random_strings(add_flags):
    rng = random.Random(14)
    alphabet = "0123456789:,* \t\n*1"
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        assert manifest_accepts(add_flags, mailbox="INBOX", range=value) == protocol_accepts(
            protocol.parse_uid_set, value
        ), repr(value)


def test_the_manifest_declares_the_consent_flow_for_google_and_microsoft(connector):
    oauth2 = connector.manifest.connections["imapOAuth"].oauth2
    google, microsoft = oauth2["presets"]["google"], oauth2["presets"]["microsoft"]
    assert google["tokenUrl"] == "https://oauth2.googleapis.com/token"
    assert google["scopes"] == ["https://mail.google.com/"]
    assert "offline_access" in microsoft["scopes"]
    assert microsoft["authorizationUrl"].startswith("https://login.microsoftonline.com/")
