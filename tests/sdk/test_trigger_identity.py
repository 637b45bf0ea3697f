"""A trigger's ``recordKey`` in the manifest, and the state file that a killed ``listen``
leaves clean (issue 37)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from connector.sdk._manifest import Manifest
from connector.sdk.cli.steps import clear_leftovers, write_state
from connector.sdk.errors import ManifestError
from tests.helpers import ROOT
from tests.sample_connector import MANIFEST


def load(tmp_path: Path, data: dict) -> Manifest:
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    return Manifest.load(tmp_path / "m.yaml")


def test_a_record_key_names_properties_of_a_triggers_records(tmp_path):
    data = yaml.safe_load(MANIFEST)
    trigger = data["triggers"][0]
    trigger["output"] = {
        "schema": {"type": "array", "items": {"type": "object", "properties": {"id": {}}}},
        "example": [{"id": 1}],
    }
    trigger["recordKey"] = ["id", "nope"]
    with pytest.raises(ManifestError, match="recordKey names nope, not a property"):
        load(tmp_path, data)
    trigger["recordKey"] = ["id"]
    assert load(tmp_path, data).triggers["counter"].record_key == ("id",)
    data["actions"][0]["recordKey"] = ["id"]
    with pytest.raises(ManifestError, match="recordKey is for triggers only"):
        load(tmp_path, data)


def test_the_imap_trigger_records_are_identified_by_mailbox_validity_and_uid(connector):
    manifest = connector.manifest
    key = manifest.triggers["newEmailsPollingTrigger"].record_key
    assert key == ("mailbox", "uidValidity", "uid")
    assert "`mailbox`, `uidValidity`, `uid`" in (ROOT / "docs" / "imap.md").read_text()


def test_the_state_is_replaced_without_a_temporary_file_left(tmp_path):
    state = tmp_path / "state.json"
    for value in range(3):
        write_state(state, {"n": value})
    assert state.read_text() == '{"n": 2}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    assert state.stat().st_mode & 0o777 == 0o600


def test_leftovers_of_a_killed_writer_are_cleared_and_nothing_else(tmp_path):
    state = tmp_path / "state.json"
    write_state(state, {"n": 1})
    for name in (".state.json.tmp", ".state.json.k2j_9x0a", ".state.json.backup", "other"):
        (tmp_path / name).write_text("x")
    clear_leftovers(state)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".state.json.backup",
        "other",
        "state.json",
    ]
