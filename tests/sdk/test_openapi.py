"""The service's OpenAPI document, generated from the manifests (no server needed)."""

from __future__ import annotations

import re

import pytest

from connector.sdk import Connector
from connector.sdk._error_table import ERRORS
from connector.sdk.export.openapi import document
from tests.helpers import ROOT, validate_openapi


@pytest.fixture(scope="module")
def spec(connector: Connector) -> dict:
    return document({"imap": connector}, auth=True)


def resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def walk(value):
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def test_the_document_is_valid_openapi_with_unique_operation_ids(spec):
    validate_openapi(spec)
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    search = spec["paths"]["/v1/imap/actions/searchMailbox"]["post"]
    body = search["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SearchMailboxRequest"}
    inputs = resolve(spec, resolve(spec, body)["properties"]["inputs"])
    limit = inputs["properties"]["limit"]
    assert {"type": "string"} in limit["anyOf"]  # the raw strings a UI sends, too
    ok = resolve(spec, search["responses"]["200"]["content"]["application/json"]["schema"])
    assert resolve(spec, ok["properties"]["data"])["type"] == "object"  # the output schema
    assert set(search["responses"]) >= {"200", "400", "401", "413", "422", "429", "502", "503"}


def test_schemas_have_names_a_person_would_choose(spec):
    names = set(spec["components"]["schemas"])
    assert {
        "ImapConnection",
        "ImapOAuthConnection",
        "SearchMailboxInputs",
        "SearchMailboxResult",
        "SearchMailboxResponse",
        "ErrorEnvelope",
        "Envelope",
        "FlagList",
        "NewEmailsPollingTriggerRecord",
    } <= names
    assert not [n for n in names if re.search(r"\d$", n)]  # no Connection14, Data6


def test_every_array_has_items_and_every_const_or_enum_a_type(spec):
    for node in walk(spec["components"]["schemas"]):
        if not isinstance(node, dict):
            continue
        if node.get("type") == "array":
            assert "items" in node, node
        if "const" in node or "enum" in node:
            assert "type" in node, node


def test_secrets_are_write_only_passwords(spec):
    fields = spec["components"]["schemas"]["ImapConnection"]["properties"]
    assert fields["pass"]["format"] == "password" and fields["pass"]["writeOnly"] is True
    assert "writeOnly" not in fields["host"]


def test_the_readme_status_table_is_the_error_table():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| Status | Codes |") :]
    table = table[: table.index("\n\n")]
    shown = {}
    for status, codes in re.findall(r"^\| (\d{3}) \| (.+) \|$", table, re.M):
        for code in re.findall(r"`([A-Z_]+)`", codes):
            shown[code] = int(status)
    assert shown == {code: cls.status for code, cls in ERRORS.items()}
