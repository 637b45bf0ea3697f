"""The standard checks every connector gets from its manifest (connector.sdk.testing)."""

from __future__ import annotations

import shutil

from connector.sdk import Connector
from connector.sdk.testing import required_inputs_are_enforced, standard_checks
from tests.helpers import ROOT
from tests.sample_connector import MANIFEST


def test_every_operation_names_its_missing_required_inputs(connector):
    assert required_inputs_are_enforced(connector) == []


def test_the_check_reports_an_operation_that_does_not_fail(tmp_path):
    # The sample connector's trigger has no required input and its connection fields are
    # all given: the request succeeds, and the check says so.
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    manifest = MANIFEST.replace(
        "{key: user, label: User, type: string, required: true}",
        "{key: user, label: User, type: string, default: u}",
    )
    manifest = manifest.replace(
        "{key: token, label: Token, type: password, required: true}",
        "{key: token, label: Token, type: password, default: t}",
    )
    (tmp_path / "m.yaml").write_text(manifest)
    problems = required_inputs_are_enforced(Connector.load(tmp_path / "m.yaml"))
    assert any(p.startswith("trigger counter (connection ") for p in problems), problems
    assert any(p.startswith("action echo (connection ") for p in problems), problems


def test_every_standard_check_passes_for_imap_with_its_docs(connector):
    assert standard_checks(connector, docs=ROOT / "docs") == []


def test_stale_docs_are_reported(connector, tmp_path):
    assert any(p.startswith("stale:") for p in standard_checks(connector, docs=tmp_path))
