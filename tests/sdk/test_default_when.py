"""Defaults that depend on other inputs (``defaultWhen``): IMAP's Port follows Secure when it
is not given, in the runtime, the docs and the exports; a defaultWhen naming no input is a
manifest problem."""

from __future__ import annotations

import shutil

import pytest
import yaml

from connector.sdk import Connector
from connector.sdk._docs import render
from connector.sdk._manifest import Manifest
from connector.sdk.errors import ManifestError
from connector.sdk.export.openapi import document
from tests.helpers import ROOT
from tests.sample_connector import MANIFEST

FIELDS = {"host": "imap.example.com", "user": "alice", "pass": "x"}


@pytest.fixture(scope="module")
def imap(connector: Connector) -> Manifest:
    return connector.manifest  # (the session's: each load checks the manifest again, ~0.15 s)


@pytest.mark.parametrize(
    ("given", "port"),
    [
        ({}, 993),
        ({"secure": True}, 993),
        ({"secure": False}, 143),
        ({"secure": "false"}, 143),  # as a platform's form sends it
        ({"secure": "no", "port": ""}, 143),  # an empty field is "not given"
        ({"secure": False, "port": 1143}, 1143),  # a port given is kept
        ({"secure": True, "port": "143"}, 143),
    ],
)
def test_the_port_follows_secure_when_not_given(imap, given, port):
    fields = imap.connections["imap"].inputs.resolve({**FIELDS, **given}, "connection")
    assert fields["port"] == port


def test_the_oauth_connection_follows_it_too(imap):
    given = {"host": "h", "user": "u", "accessToken": "t", "secure": False}
    assert imap.connections["imapOAuth"].inputs.resolve(given, "connection")["port"] == 143


def test_the_docs_and_openapi_say_so(connector, imap):
    docs = render(imap, "imap.png")
    assert "| 993 (143 when Secure is false) |" in docs
    spec = document({"imap": connector}, auth=True)
    port = spec["components"]["schemas"]["ImapConnection"]["properties"]["port"]
    assert "default" not in port  # a generated client must not send 993 with Secure off
    assert "143" in port["description"]


def test_a_default_when_naming_no_input_is_refused(tmp_path):
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    data = yaml.safe_load(MANIFEST)
    spec = data["actions"][0]["inputs"][0]
    spec["defaultWhen"] = [{"when": {"nope": True}, "value": spec.get("default", "x")}]
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ManifestError, match="defaultWhen names 'nope', not another input"):
        Manifest.load(tmp_path / "m.yaml")
