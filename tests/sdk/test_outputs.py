"""Outputs named once, in the manifest: every IMAP output property has a label and a
description, which the OpenAPI titles and the docs carry; columns name real fields."""

from __future__ import annotations

import pytest

from connector.sdk import Connector
from connector.sdk._docs import render
from connector.sdk._manifest import Manifest
from connector.sdk._outputs import column_problems, fields, kind
from connector.sdk.export.openapi import document


@pytest.fixture(scope="module")
def imap(connector: Connector) -> Manifest:
    return connector.manifest  # (the session's: each load checks the manifest again, ~0.15 s)


def operations(manifest: Manifest):
    for table in (manifest.actions, manifest.triggers, manifest.data_sources):
        yield from table.values()
    for connection in manifest.connections.values():
        yield connection.test


def test_every_imap_output_property_has_a_label_and_a_description(imap):
    for op in operations(imap):
        for field in fields(op.output_schema):
            leaf = field.path.replace("[]", "").rsplit(".", 1)[-1]
            assert field.label != leaf, (op.key, field.path)  # (the key, when no label)
            assert field.description, (op.key, field.path)


def test_openapi_titles_come_from_the_labels(connector, imap):
    spec = document({"imap": connector}, auth=True)
    schemas = spec["components"]["schemas"]
    status = schemas["GetStatusResult"]["properties"]
    assert status["uidNext"]["title"] == "Next UID"
    assert status["uidNext"]["$ref"].endswith("/Uid")  # still the named schema
    summary = schemas["SearchMailboxResult"]["properties"]["messages"]["items"]["properties"]
    assert summary["internalDate"]["title"] == "Received"
    assert summary["internalDate"]["format"] == "date-time"
    assert schemas["Envelope"]["properties"]["subject"]["title"] == "Subject"
    for node in walk(spec):  # our own keywords stay in the manifest
        assert not {"label", "unit", "columns"} & set(node), node


def test_the_docs_list_each_output_field(imap):
    docs = render(imap, "imap.png")
    assert "| Received | `messages[].internalDate` | date-time or null |" in docs
    assert "| Size | `messages[].size` | integer (bytes) |" in docs
    assert "| Next UID | `uidNext` | integer |" in docs


def test_kinds_read_as_people_say_them():
    assert kind({"type": ["string", "null"], "format": "date-time"}) == "date-time or null"
    assert kind({"type": "array", "items": {"type": "string"}}) == "list of string"
    assert kind({"anyOf": [{"type": "integer"}, {"type": "null"}]}) == "integer or null"
    assert kind({"const": True}) == "boolean"


def test_columns_must_name_fields_of_the_items():
    schema = {
        "type": "array",
        "columns": ["subject", "envelope.nope"],
        "items": {"type": "object", "properties": {"subject": {"type": "string"}}},
    }
    assert column_problems(schema, "x") == [
        "x: column 'envelope.nope' is not a property of the items (known: subject)"
    ]
    assert column_problems({"type": "integer", "unit": "parsecs"}, "y") == [
        "y: unit 'parsecs' is not one of bytes"
    ]


def walk(value):
    if isinstance(value, dict):
        if "properties" in value or "type" in value:
            yield {k: v for k, v in value.items() if k not in ("properties",)}
        for key, item in value.items():
            if key == "example":
                continue
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
