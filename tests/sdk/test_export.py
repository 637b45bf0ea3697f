"""connector export: OpenAPI 3.0 (valid, and free of 3.1-only keywords) and the Power
Automate folder against a checklist of what Microsoft documents for custom connectors
(its validator, paconn, needs their cloud), for imap and for a scaffolded connector."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from connector.sdk import Connector
from connector.sdk._scaffold import scaffold
from connector.sdk.export import openapi30, powerautomate
from connector.sdk.export.openapi import document
from connector.sdk.service.routes import connection_from_headers
from tests.helpers import validate_openapi

# Schema keywords of OpenAPI 3 that Swagger 2.0 (and Power Automate) does not take.
NOT_SWAGGER_20 = (
    "anyOf",
    "oneOf",
    "const",
    "nullable",
    "writeOnly",
    "examples",
    "$defs",
    "deprecated",
)


def walk(value, path=""):
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}/{index}")


@pytest.fixture(scope="module")
def imap(connector: Connector) -> Connector:
    return connector  # (the session's: each load checks the manifest again, ~0.15 s)


def test_openapi_30_is_valid_and_has_no_31_keywords(imap):
    spec = openapi30.convert(document({"imap": imap}, auth=True))
    validate_openapi(spec)
    assert spec["openapi"] == "3.0.3"
    for where, node in walk(spec["components"]["schemas"]):
        if isinstance(node, dict):
            assert "const" not in node and "examples" not in node, where
            assert not isinstance(node.get("type"), list), where
            assert not ("$ref" in node and len(node) > 1), where
    record = spec["components"]["schemas"]["NewEmailsPollingTriggerRecord"]["properties"]
    assert {k: record["internalDate"][k] for k in ("type", "nullable", "format", "title")} == {
        "type": "string",
        "nullable": True,
        "format": "date-time",
        "title": "Received",
    }
    # nullable only counts beside a type (3.0.3): a nullable $ref gets the referenced type.
    uid = spec["components"]["schemas"]["AppendMessageResult"]["properties"]["uid"]
    assert uid["nullable"] is True and uid["type"] == "integer", uid


def check_power_automate_folder(folder: Path) -> list[str]:
    """The documented rules of a custom connector folder; the problems found."""
    problems = []
    for name in ("apiDefinition.swagger.json", "apiProperties.json", "icon.png"):
        if not (folder / name).is_file():
            problems.append(f"missing {name}")
    swagger = json.loads((folder / "apiDefinition.swagger.json").read_text())
    properties = json.loads((folder / "apiProperties.json").read_text())["properties"]
    validate_openapi(swagger)  # Swagger 2.0
    if swagger.get("swagger") != "2.0":
        problems.append("not Swagger 2.0")
    if not swagger.get("host") or not swagger.get("info", {}).get("title"):
        problems.append("host and info.title are required")
    operations = {
        op["operationId"]: op for path in swagger["paths"].values() for op in path.values()
    }
    ids = [op["operationId"] for path in swagger["paths"].values() for op in path.values()]
    if len(ids) != len(set(ids)):
        problems.append("operationIds are not unique")
    for op_id, op in operations.items():
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", op_id):
            problems.append(f"operationId {op_id!r} is not letters and digits")
        if not op.get("summary"):
            problems.append(f"{op_id}: no summary")
        if "/" in op.get("summary", ""):
            problems.append(f"{op_id}: a slash in the summary {op['summary']!r}")
        for field, schema in reachable_properties(swagger, op["responses"]["200"]["schema"]):
            if not schema.get("x-ms-summary"):
                problems.append(f"{op_id}: response field {field} has no x-ms-summary")
    if not swagger["info"].get("contact"):
        problems.append("info.contact is missing")
    metadata = {m["propertyName"] for m in swagger.get("x-ms-connector-metadata", [])}
    if not {"Website", "Privacy policy"} <= metadata:
        problems.append("x-ms-connector-metadata needs Website and Privacy policy")
        for parameter in op.get("parameters", []):
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", parameter["name"]):
                problems.append(f"{op_id}: parameter name {parameter['name']!r}")
    for where, node in walk(swagger):
        if not isinstance(node, dict):
            continue
        for keyword in NOT_SWAGGER_20:
            if keyword in node:
                problems.append(f"{where}: {keyword} is not Swagger 2.0")
        dynamic = node.get("x-ms-dynamic-values")
        if dynamic and dynamic.get("operationId") not in operations:
            problems.append(f"{where}: x-ms-dynamic-values names no operation")
        ref = node.get("$ref")
        if ref and ref.removeprefix("#/definitions/") not in swagger["definitions"]:
            problems.append(f"{where}: {ref} resolves to nothing")
    for path, op in ((p, o) for p, ops in swagger["paths"].items() for o in ops.values()):
        body = op["parameters"][0]["schema"]["$ref"].removeprefix("#/definitions/")
        inputs = swagger["definitions"][body]["properties"]["inputs"]
        for key, schema in inputs["properties"].items():
            if not schema.get("x-ms-summary"):
                problems.append(f"{path}: input {key} has no x-ms-summary")
    parameters = properties["connectionParameters"]
    for name, parameter in parameters.items():
        if parameter["type"] not in ("string", "securestring", "bool", "int", "oauthSetting"):
            problems.append(f"connection parameter {name}: type {parameter['type']}")
        if not parameter.get("uiDefinition", {}).get("displayName"):
            problems.append(f"connection parameter {name}: no displayName")
    for policy in properties.get("policyTemplateInstances", []):
        value = policy["parameters"]["x-ms-apimTemplateParameter.value"]
        named = re.fullmatch(r"@connectionParameters\('([^']+)'\)", value)
        if not named or named.group(1) not in parameters:
            problems.append(f"policy {policy['title']}: names no connection parameter")
    for name, parameter in parameters.items():
        choices = parameter["uiDefinition"]["constraints"].get("allowedValues", [])
        if any(set(c) != {"text", "value"} for c in choices):
            problems.append(f"connection parameter {name}: allowedValues are {{text, value}}")
    scripted = set(properties.get("scriptOperations", []))
    if scripted - set(operations):
        problems.append(f"scriptOperations name no operation: {scripted - set(operations)}")
    if scripted and not (folder / "script.csx").is_file():
        problems.append("scriptOperations without script.csx")
    icon = (folder / "icon.png").read_bytes()
    width, height = struct.unpack(">II", icon[16:24])
    if not icon.startswith(b"\x89PNG") or len(icon) > 1024 * 1024:
        problems.append("the icon must be a PNG under 1 MB")
    if (width, height) != (230, 230):
        problems.append(f"the icon is {width} x {height}, not 230 x 230")
    return problems


def reachable_properties(swagger: dict, schema, seen=None):
    """(name, schema) of every property reachable from ``schema`` through $refs."""
    seen = set() if seen is None else seen
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if ref:
        if ref in seen:
            return
        seen.add(ref)
        yield from reachable_properties(swagger, swagger["definitions"][ref.split("/")[-1]], seen)
    for name, prop in (schema.get("properties") or {}).items():
        yield name, prop
        yield from reachable_properties(swagger, prop, seen)
    for key in ("items", "additionalProperties"):
        yield from reachable_properties(swagger, schema.get(key), seen)
    for branch in schema.get("allOf") or ():
        yield from reachable_properties(swagger, branch, seen)


def test_the_imap_power_automate_folder_passes_the_checklist(imap, tmp_path):
    powerautomate.export(imap, tmp_path, host="connector.example.com")
    assert check_power_automate_folder(tmp_path) == []
    swagger = json.loads((tmp_path / "apiDefinition.swagger.json").read_text())
    search = swagger["paths"]["/v1/imap/actions/searchMailbox"]["post"]
    body = swagger["definitions"][search["parameters"][0]["schema"]["$ref"].split("/")[-1]]
    mailbox = body["properties"]["inputs"]["properties"]["mailbox"]
    assert mailbox["x-ms-summary"] == "Mailbox"
    assert mailbox["x-ms-dynamic-values"]["operationId"] == "ListMailboxesSource"
    properties = json.loads((tmp_path / "apiProperties.json").read_text())["properties"]
    parameters = properties["connectionParameters"]
    assert parameters["pass"]["type"] == "securestring"
    assert parameters["host"]["type"] == "string"
    assert parameters["secure"]["type"] == "bool" and parameters["port"]["type"] == "int"
    start_tls = parameters["startTls"]["uiDefinition"]["constraints"]["allowedValues"]
    assert [c["value"] for c in start_tls] == ["required", "optional", "never"]
    assert search["summary"] == "Search or List Mailbox Messages"
    status = swagger["definitions"]["GetStatusResponse"]["properties"]
    assert status["ok"]["x-ms-visibility"] == "internal"
    data = dict(reachable_properties(swagger, status["data"]))
    assert data["uidNext"]["x-ms-summary"] == "Next UID"
    assert "UID the next message" in data["uidNext"]["description"]
    assert "X-Connection-" in (tmp_path / "script.csx").read_text()


def test_a_scaffolded_connectors_folder_passes_too(tmp_path):
    root = scaffold("tracker_pa", tmp_path, template="rest")
    manifest = root / "connector" / "tracker_pa" / "connector.yaml"
    connector = Connector.load(manifest, check_handlers=False)  # (not installed)
    powerautomate.export(connector, tmp_path / "pa")
    assert check_power_automate_folder(tmp_path / "pa") == []


def test_connection_fields_from_headers_match_the_manifest_whatever_the_case(imap):
    headers = [("x-connection-host", "imap.example.com"), ("x-connection-starttls", "never")]
    assert connection_from_headers(imap, headers) == {
        "key": "imap",
        "fields": {"host": "imap.example.com", "startTls": "never"},
    }
    named = connection_from_headers(imap, [("X-Connection-Key", "imapOAuth")])
    assert named == {"key": "imapOAuth", "fields": {}}
    assert connection_from_headers(imap, [("authorization", "Bearer x")]) is None
