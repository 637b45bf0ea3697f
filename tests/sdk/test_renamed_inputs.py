"""renamedFrom: a step saved with an input's earlier key keeps working (the runtime moves the
value to the input), the manifest check keeps old keys unambiguous, and every surface a
platform imports still accepts the old key while showing only the new one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from connector.sdk import Connector
from connector.sdk._docs import render
from connector.sdk._manifest import Manifest
from connector.sdk.cli.manifests import description
from connector.sdk.errors import ManifestError
from connector.sdk.export import powerautomate
from connector.sdk.export.openapi import document
from connector.sdk.service.headers import connection_from_headers
from tests.helpers import ROOT
from tests.sample_connector import MANIFEST


def sample(tmp_path: Path, edit=None) -> Connector:
    data = yaml.safe_load(MANIFEST)
    conn_inputs = data["connections"][0]["inputs"]
    conn_inputs[1]["renamedFrom"] = ["apiToken", "secret"]  # token, twice renamed
    data["actions"][0]["inputs"][0]["renamedFrom"] = ["howMany"]  # echo's count
    if edit is not None:
        edit(data)
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    return Connector(Manifest.load(tmp_path / "m.yaml"))


def echo(connector: Connector, inputs: dict, **connection) -> dict:
    fields = {"user": "ann", "token": "t0k", **connection}
    return connector.invoke({"action": "echo", "connection": fields, "inputs": inputs})


def test_a_value_under_an_earlier_key_reaches_the_input(tmp_path):
    connector = sample(tmp_path)
    result = echo(connector, {"howMany": "3"})
    assert result["ok"], result
    assert result["data"]["inputs"]["count"] == 3  # (typed as the input says)
    assert "howMany" not in result["data"]["inputs"]
    # A connection field too, under either of its earlier keys.
    fields = {"user": "ann", "secret": "s3cret"}
    result = connector.invoke({"action": "echo", "connection": fields, "inputs": {}})
    assert result["ok"], result


def test_both_keys_agree_or_the_step_is_refused_naming_the_earlier_key(tmp_path):
    connector = sample(tmp_path)
    assert echo(connector, {"howMany": "3", "count": 3})["data"]["inputs"]["count"] == 3
    assert echo(connector, {"howMany": "", "count": 4})["data"]["inputs"]["count"] == 4
    refused = echo(connector, {"howMany": 3, "count": 4})
    assert refused["error"]["code"] == "INVALID_INPUT"
    assert refused["error"]["details"][0]["path"] == "inputs.howMany"
    assert "earlier name of Count (count)" in refused["error"]["message"]
    assert "give only count" in refused["error"]["message"]


def test_a_value_under_an_earlier_key_is_checked_as_the_inputs_own(tmp_path):
    connector = sample(tmp_path)
    result = connector.invoke(
        {"action": "echo", "connection": {"user": "ann", "apiToken": ""}, "inputs": {}}
    )
    assert result["error"]["details"][0]["path"] == "connection.token"
    assert result["error"]["details"][0]["message"].startswith("Token (token): ")


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda d: d["actions"][0]["inputs"][0].update(renamedFrom=["range"]),
            "renamedFrom names 'range', the key of an input of this step",
        ),
        (
            lambda d: d["actions"][0]["inputs"][1].update(renamedFrom=["howMany"]),
            "inputs count and range both declare renamedFrom 'howMany'",
        ),
        (
            lambda d: d["actions"][0]["inputs"][1].update(renamedFrom=["two words"]),
            "renamedFrom/0: 'two words' does not match",
        ),
    ],
)
def test_the_manifest_check_keeps_earlier_keys_unambiguous(tmp_path, edit, problem):
    with pytest.raises(ManifestError) as info:
        sample(tmp_path, edit)
    assert problem in str(info.value)


def test_the_exports_accept_the_earlier_key_and_show_only_the_new_one(connector, tmp_path):
    imap = connector
    spec = document({"imap": imap}, auth=True)
    inputs = spec["components"]["schemas"]["AppendMessageInputs"]
    assert inputs["required"] == ["path", "content"]
    earlier = inputs["properties"]["mailbox"]
    assert earlier["deprecated"] is True and "default" not in earlier
    assert "give path instead" in earlier["description"]

    written = powerautomate.export(imap, tmp_path / "pa", host="example.com")
    swagger = next(p for p in written if p.name == "apiDefinition.swagger.json")
    text = swagger.read_text()
    definitions = yaml.safe_load(text)["definitions"]  # (JSON is YAML)
    hidden = definitions["AppendMessageBody"]["properties"]["inputs"]["properties"]["mailbox"]
    assert hidden["x-ms-visibility"] == "internal" and "deprecated" not in hidden
    assert "x-ms-dynamic-values" not in hidden

    step = description(imap.manifest.actions["appendMessage"])
    path = next(i for i in step["inputs"] if i["key"] == "path")
    assert path["renamedFrom"] == ["mailbox"]
    assert all(i["key"] != "mailbox" for i in step["inputs"])
    assert "Earlier name: `mailbox` (still read)." in render(imap.manifest, "icon.png")


def test_a_connection_header_may_name_a_fields_earlier_key(tmp_path):
    connector = sample(tmp_path)
    fields = connection_from_headers(
        connector, [("X-Connection-User", "ann"), ("x-connection-apitoken", "t0k")]
    )
    assert fields == {"key": "basic", "fields": {"user": "ann", "apiToken": "t0k"}}
    assert connector.invoke({"action": "echo", "connection": fields, "inputs": {}})["ok"]
