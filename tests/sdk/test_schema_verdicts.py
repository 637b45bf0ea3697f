"""The manifest's JSON Schema checks remember their verdicts (``_manifest._schema_error``):
the same schema checked again gets the same answer, a bad one its reason every time, and a
value that JSON would change (int keys, a date from YAML) is never taken for another."""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from connector.sdk import _manifest
from connector.sdk._manifest import Manifest, _schema_error
from connector.sdk.errors import ManifestError
from tests.sample_connector import MANIFEST


@pytest.fixture(autouse=True)
def no_verdicts(monkeypatch):
    monkeypatch.setattr(_manifest, "_SCHEMA_VERDICTS", {})


def test_a_verdict_comes_again_from_memory_and_a_bad_schema_keeps_its_reason():
    good, bad = {"type": "object", "properties": {"a": {"type": "string"}}}, {"type": "thing"}
    assert _schema_error(good) is None and _schema_error(good) is None
    first, again = _schema_error(bad), _schema_error(bad)
    assert first is not None and "thing" in first and again == first
    assert len(_manifest._SCHEMA_VERDICTS) == 2  # (one each: the second time from memory)


def test_values_json_would_change_are_checked_themselves():
    assert _schema_error({"type": ["string"]}) is None
    # The same JSON text, but a tuple is no array to jsonschema: the verdict above is not its.
    assert _schema_error({"type": ("string",)}) is not None
    assert _schema_error({"type": "string", "default": date(2026, 12, 5)}) is None  # (YAML's)
    assert len(_manifest._SCHEMA_VERDICTS) == 1  # (neither of the last two remembered)


def test_a_manifest_checked_twice_is_refused_twice_for_the_same_reason(tmp_path):
    data = yaml.safe_load(MANIFEST)
    data["actions"][0]["output"]["schema"] = {"type": "thing"}
    reasons = []
    for _ in range(2):
        with pytest.raises(ManifestError) as info:
            Manifest.from_data(data, tmp_path)
        reasons.append(str(info.value))
    assert "output schema is not a valid JSON Schema" in reasons[0] and reasons[1] == reasons[0]


def test_the_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(_manifest, "_MOST_SCHEMA_VERDICTS", 3)
    for n in range(10):
        assert _schema_error({"type": "string", "maxLength": n}) is None
        assert len(_manifest._SCHEMA_VERDICTS) <= 3
