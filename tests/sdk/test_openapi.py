"""The service's OpenAPI document, generated from the manifests (no server needed)."""

from __future__ import annotations

import re

from connector.imap import manifest_path
from connector.sdk import Connector
from connector.sdk.errors import ERRORS
from connector.sdk.service.openapi import document
from tests.helpers import ROOT


def test_the_document_is_valid_openapi_with_unique_operation_ids():
    from openapi_spec_validator import validate

    spec = document({"imap": Connector.load(manifest_path())}, auth=True)
    validate(spec)
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    search = spec["paths"]["/v1/imap/actions/searchMailbox"]["post"]
    inputs = search["requestBody"]["content"]["application/json"]["schema"]["properties"]
    limit = inputs["inputs"]["properties"]["limit"]
    assert {"type": "string"} in limit["anyOf"]  # the raw strings a UI sends, too
    ok = search["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["properties"]["data"]["type"] == "object"  # the manifest's output schema
    assert set(search["responses"]) >= {"200", "400", "401", "413", "422", "429", "502", "503"}


def test_the_readme_status_table_is_the_error_table():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| Status | Codes |") :]
    table = table[: table.index("\n\n")]
    shown = {}
    for status, codes in re.findall(r"^\| (\d{3}) \| (.+) \|$", table, re.M):
        for code in re.findall(r"`([A-Z_]+)`", codes):
            shown[code] = int(status)
    assert shown == {code: cls.status for code, cls in ERRORS.items()}
