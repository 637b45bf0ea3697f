"""Connection fields from headers (no server): the plain and -B64 forms, names in any case,
and a value that cannot be read refused with the field's name."""

from __future__ import annotations

import base64

import pytest

from connector.sdk import Connector
from connector.sdk.errors import InvalidInput
from connector.sdk.service.headers import connection_from_headers


@pytest.fixture(scope="module")
def imap(connector: Connector) -> Connector:
    return connector  # (the session's: each load checks the manifest again, ~0.15 s)


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def test_b64_fields_are_utf8_and_win_over_plain_ones(imap):
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    headers = [
        ("x-connection-host", "imap.example.com"),
        ("x-connection-pass", "ascii-fallback"),
        ("X-CONNECTION-PASS-B64", b64("pässwörd-€")),
        ("x-connection-cacertificate-b64", b64(pem).rstrip("=")),  # padding is optional
    ]
    assert connection_from_headers(imap, headers) == {
        "key": "imap",
        "fields": {"host": "imap.example.com", "pass": "pässwörd-€", "caCertificate": pem},
    }


def test_the_key_may_be_b64_too(imap):
    named = connection_from_headers(imap, [("x-connection-key-b64", b64("imapOAuth"))])
    assert named == {"key": "imapOAuth", "fields": {}}


@pytest.mark.parametrize(
    ("header", "value", "wording"),
    [
        ("x-connection-pass", "pÃ¤sswÃ¶rd", "is not ASCII: send it as X-Connection-Pass-B64"),
        ("x-connection-pass-b64", "%%%", "is not base64 of UTF-8 text"),
        ("x-connection-pass-b64", base64.b64encode(b"\xe9t\xe9").decode(), "not base64 of UTF-8"),
    ],
)
def test_what_cannot_be_read_is_invalid_input_naming_the_field(imap, header, value, wording):
    with pytest.raises(InvalidInput, match=wording) as raised:
        connection_from_headers(imap, [(header, value)])
    assert raised.value.details[0]["path"] == "connection.pass"
    assert raised.value.message.startswith("Password (X-Connection-Pass")
    assert value not in raised.value.message
