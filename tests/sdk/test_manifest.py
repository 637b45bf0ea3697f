"""Manifest loading: a valid one, and broken ones each rejected with a message naming the
problem."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from connector.imap import manifest_path
from connector.sdk._manifest import Manifest
from connector.sdk.errors import ManifestError
from tests.helpers import ROOT
from tests.sample_connector import MANIFEST


@pytest.fixture
def base(tmp_path) -> Path:
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    return tmp_path


def load(base: Path, data) -> Manifest:
    (base / "m.yaml").write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return Manifest.load(base / "m.yaml")


def test_sample_manifest_is_valid(base):
    manifest = load(base, MANIFEST)
    assert list(manifest.actions) == ["echo", "fail"]
    assert manifest.connections["basic"].secret_keys == ["token"]


def test_the_imap_manifest_is_valid_and_versioned_like_the_package():
    import tomllib

    import connector.imap

    manifest = Manifest.load(manifest_path())
    assert len(manifest.actions) == 14
    assert len(manifest.connections["imap"].inputs) == 12  # the seed's 11 and Pipelining
    assert len(manifest.connections["imapOAuth"].inputs) == 19  # + refresh: 6 OAuth inputs; tenant
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # The wheel's version is read from connector/imap/__init__.py.
    assert project["tool"]["hatch"]["version"]["path"] == "connector/imap/__init__.py"
    assert manifest.version == connector.imap.__version__


def broken(mutate):
    def make():
        data = yaml.safe_load(MANIFEST)
        mutate(data)
        return data

    return make


def _set(path, value):
    def mutate(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _delete(path):
    def mutate(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _append(path, value):
    def mutate(data):
        node = data
        for key in path:
            node = node[key]
        node.append(value)

    return mutate


BROKEN = {
    "unknown top-level key": (_set(["colour"], "blue"), r"Additional properties.*colour"),
    "unknown input key": (_set(["actions", 0, "inputs", 0, "hint"], "x"), r"hint"),
    "missing label": (_delete(["actions", 0, "label"]), r"actions/0: 'label' is a required"),
    "bad type": (_set(["actions", 0, "inputs", 0, "type"], "float"), r"float"),
    "duplicate action": (
        lambda d: d["actions"].append(dict(d["actions"][0])),
        r"action key 'echo' is declared more than once",
    ),
    "duplicate input": (
        _append(["actions", 0, "inputs"], {"key": "count", "label": "C", "type": "integer"}),
        r"input key 'count' is declared more than once",
    ),
    "handler does not import": (
        _set(["actions", 0, "handler"], "tests.nowhere:echo"),
        r"handler 'tests.nowhere:echo' does not import",
    ),
    "handler attribute missing": (
        _set(["actions", 0, "handler"], "tests.sample_connector:nope"),
        r"no attribute 'nope'",
    ),
    "handler path malformed": (_set(["actions", 0, "handler"], "not a path"), r"does not match"),
    "default does not fit type": (
        _set(["actions", 0, "inputs", 0, "default"], "many"),
        r"input count: default 'many' does not fit type integer",
    ),
    "default breaks schema": (
        _set(["connections", 0, "inputs", 2, "default"], 0),
        r"input port: default 0 does not fit.*minimum",
    ),
    "output example breaks schema": (
        _set(["actions", 0, "output", "example"], [1]),
        r"output example does not fit",
    ),
    "icon not png": (_set(["icon"], "m.yaml"), r"icon: .m.yaml. does not match"),
    "icon missing": (_set(["icon"], "missing.png"), r"icon missing.png: file not found"),
    "reserved input key": (
        _append(["actions", 0, "inputs"], {"key": "session", "label": "S", "type": "string"}),
        r"input key 'session' is reserved",
    ),
    "push on an action": (
        _set(["actions", 0, "push"], "tests.sample_connector:counter_push"),
        r"actions/echo: push is for triggers only|push is for triggers only",
    ),
    "push does not import": (
        _set(["triggers", 0, "push"], "tests.nowhere:push"),
        r"push: .*tests.nowhere:push' does not import|tests.nowhere",
    ),
    "no connections": (_set(["connections"], []), r"should be non-empty|too short"),
    "bad output schema": (
        _set(["actions", 0, "output", "schema"], {"type": "thing"}),
        r"output schema is not a valid JSON Schema",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_manifest_is_rejected_with_a_reason(base, name):
    mutate, pattern = BROKEN[name]
    data = yaml.safe_load(MANIFEST)
    mutate(data)
    with pytest.raises(ManifestError) as info:
        load(base, data)
    assert re.search(pattern, str(info.value)), str(info.value)


def test_icon_with_png_name_but_other_bytes(base):
    (base / "fake.png").write_text("not an image")
    data = yaml.safe_load(MANIFEST)
    data["icon"] = "fake.png"
    with pytest.raises(ManifestError, match="not a PNG"):
        load(base, data)


def test_yaml_syntax_error(base):
    with pytest.raises(ManifestError, match="not valid YAML"):
        load(base, "key: [unclosed")


def test_the_schemas_error_codes_are_the_runtimes():
    import json

    from connector.sdk._error_table import ERROR_CODES
    from connector.sdk._manifest import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["properties"]["errorCodes"]["items"]["enum"] == list(ERROR_CODES)


def test_a_data_source_link_must_name_a_data_source(tmp_path):
    import shutil

    from tests.sample_connector import MANIFEST

    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    text = MANIFEST.replace(
        "{key: kind, label: Kind, type: string, required: true}",
        "{key: kind, label: Kind, type: string, required: true, dataSource: nowhere}",
    )
    (tmp_path / "m.yaml").write_text(text)
    with pytest.raises(ManifestError, match="dataSource 'nowhere' is not a data source"):
        Manifest.load(tmp_path / "m.yaml")


def test_imap_mailbox_inputs_link_the_mailbox_picklist(connector):
    manifest = connector.manifest
    linked = {
        (op.key, spec.key)
        for op in [*manifest.actions.values(), *manifest.triggers.values()]
        for spec in op.inputs
        if spec.data_source == "listMailboxes"
    }
    names = {
        (op.key, spec.key)
        for op in [*manifest.actions.values(), *manifest.triggers.values()]
        for spec in op.inputs
        if spec.key in ("mailbox", "path", "newPath", "mailboxes")
        or spec.key.endswith("Mailbox")  # the trigger's afterSuccessMailbox...
    }
    assert names and linked == names


def test_the_guides_manifest_reference_is_generated_from_the_schema():
    """docs/writing-a-connector.md lists every manifest field; scripts/docs refreshes it."""
    from connector.sdk._docs import with_reference

    guide = ROOT / "docs" / "writing-a-connector.md"
    text = guide.read_text(encoding="utf-8")
    assert text == with_reference(text), "stale manifest reference: run scripts/docs"
    for field in ("dataSource", "placeholder", "oauth2", "errorCodes", "authorizationUrl"):
        assert f"| `{field}` |" in text
