"""Files: ``files=`` (multipart) and ``content=`` on HttpClient (sent again whole on a
retry), FakeRequest reading multipart bodies, and the manifest's ``file`` input type
(``{"name", "contentType", "content"}`` in base64 under ``maxBytes``) through the runtime,
the manifest check, OpenAPI and the Power Automate export."""

from __future__ import annotations

import base64
import io
import json
import shutil

import pytest

from connector.sdk import Connector
from connector.sdk._inputs import File
from connector.sdk._manifest import Manifest
from connector.sdk.errors import ManifestError
from connector.sdk.export import openapi30, powerautomate
from connector.sdk.export.openapi import document
from connector.sdk.http import HttpClient
from connector.sdk.testing import FakeHttpServer, Harness, Upload
from tests.helpers import ROOT, validate_openapi
from tests.sdk.test_export import check_power_automate_folder

PDF = b"%PDF-1.4\x00\xff binary \r\n bytes"


@pytest.fixture
def api():
    with FakeHttpServer() as fake:
        fake.route(
            "POST",
            "/uploads",
            lambda r: {
                "fields": r.form,
                "files": {
                    k: [f.filename, f.content_type, base64.b64encode(f.content).decode()]
                    for k, f in r.files.items()
                },
            },
        )
        fake.route(
            "PUT", "/raw", lambda r: {"type": r.headers["content-type"], "size": len(r.body)}
        )
        yield fake


def test_a_multipart_upload_and_a_raw_body(api):
    client = HttpClient(api.url)
    sent = client.post(
        "/uploads",
        files={"file": ("report ü.pdf", PDF, "application/pdf")},
        data={"ticket": "7"},
    )
    assert sent["fields"] == {"ticket": "7"}
    assert sent["files"]["file"][:2] == ["report ü.pdf", "application/pdf"]
    assert base64.b64decode(sent["files"]["file"][2]) == PDF
    raw = client.put("/raw", content=PDF, headers={"Content-Type": "application/pdf"})
    assert raw == {"type": "application/pdf", "size": len(PDF)}


def test_a_file_given_as_a_stream_is_sent_whole_again_on_a_retry(api):
    api.fail("POST", "/uploads", status=503)
    client = HttpClient(api.url, backoff=0.01)
    stream = io.BytesIO(PDF)
    sent = client.post(
        "/uploads", files={"file": ("a.pdf", stream, "application/pdf")}, retry_on={503}
    )
    assert base64.b64decode(sent["files"]["file"][2]) == PDF
    first, second = [r for r in api.requests if r.path == "/uploads"]
    assert first.files["file"] == second.files["file"] == Upload("a.pdf", "application/pdf", PDF)


MANIFEST = """\
manifestVersion: 1
key: files_sample
label: Files Sample
description: An upload
version: 0.1.0
icon: icon.png
connections:
  - key: api
    label: API
    description: The service
    handler: tests.sdk.test_http_files:open_client
    inputs:
      - {key: baseUrl, label: Base URL, type: string, required: true}
actions:
  - key: attach
    label: Attach
    description: Uploads a file
    handler: tests.sdk.test_http_files:attach
    inputs:
      - {key: ticket, label: Ticket, type: string, required: true}
      - key: attachment
        label: Attachment
        type: file
        required: true
        maxBytes: 64
        comments: The file to attach.
    output:
      schema: {type: object}
      example: {files: {}}
"""


def open_client(base_url: str) -> HttpClient:
    return HttpClient(base_url)


def attach(client: HttpClient, ticket: str, attachment: File) -> dict:
    assert isinstance(attachment, File)
    return client.post("/uploads", files={"file": attachment.as_upload()}, data={"ticket": ticket})


def write(tmp_path, text: str):
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    (tmp_path / "m.yaml").write_text(text)
    return tmp_path / "m.yaml"


@pytest.fixture
def harness(tmp_path, api) -> Harness:
    return Harness(Connector.load(write(tmp_path, MANIFEST)), {"baseUrl": api.url})


def upload(content: bytes = PDF, **more: str) -> dict:
    return {
        "name": "a.pdf",
        "contentType": "application/pdf",
        "content": base64.b64encode(content).decode(),
        **more,
    }


def test_a_file_input_reaches_the_handler_as_bytes(harness):
    data = harness.ok("attach", ticket="7", attachment=upload())
    assert data["files"]["file"][:2] == ["a.pdf", "application/pdf"]
    assert base64.b64decode(data["files"]["file"][2]) == PDF
    as_text = harness.ok("attach", ticket="7", attachment=json.dumps(upload(b"x")))  # from a UI
    assert as_text["files"]["file"][2] == "eA=="
    bare = {"name": "n.bin", "content": "AAE="}  # no contentType: octet-stream
    assert harness.ok("attach", ticket="7", attachment=bare)["files"]["file"][1] == (
        "application/octet-stream"
    )


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (upload(b"x" * 65), "over 64"),
        (upload(b"x" * 4000), "over 64 bytes (its maxBytes)"),
        ({"name": "a", "content": "not base64!"}, "not base64"),
        ({"name": "a\r\nX-Evil: 1", "content": ""}, "control characters"),
        ({"name": "", "content": ""}, "needs a name"),
        ({"name": "a", "content": "", "size": 1}, "not size"),
        ({"name": "a", "content": "", "contentType": "pdf"}, "media type"),
        ("[1, 2]", "a file:"),
    ],
)
def test_a_bad_file_is_invalid_input_naming_it(harness, api, value, said):
    error = harness.error("attach", "INVALID_INPUT", ticket="7", attachment=value)
    assert error["details"][0]["path"] == "inputs.attachment"
    assert said in error["message"]
    assert api.requests == []


def test_max_bytes_is_required_for_a_file_and_only_for_one(tmp_path):
    with pytest.raises(ManifestError, match="maxBytes"):
        Manifest.load(write(tmp_path, MANIFEST.replace("        maxBytes: 64\n", "")))
    misplaced = MANIFEST.replace(
        "{key: ticket, label: Ticket, type: string, required: true}",
        "{key: ticket, label: Ticket, type: string, required: true, maxBytes: 5}",
    )
    with pytest.raises(ManifestError):
        Manifest.load(write(tmp_path, misplaced))


def test_exports_show_a_file_as_base64_content(tmp_path):
    connector = Connector.load(write(tmp_path, MANIFEST))
    spec = document({"files_sample": connector}, auth=True)
    validate_openapi(openapi30.convert(spec))
    schemas = spec["components"]["schemas"]
    name = next(n for n in schemas if n.endswith("AttachInputs"))
    inputs = schemas[name]["properties"]["attachment"]
    typed = next(branch for branch in inputs["anyOf"] if branch.get("type") == "object")
    content = typed["properties"]["content"]
    assert content["format"] == "byte" and content["contentEncoding"] == "base64"
    assert content["maxLength"] == 88  # base64 of 64 bytes
    powerautomate.export(connector, tmp_path / "pa")
    swagger = json.loads((tmp_path / "pa" / "apiDefinition.swagger.json").read_text())
    text = json.dumps(swagger)
    assert '"format": "byte"' in text and "contentEncoding" not in text
    assert check_power_automate_folder(tmp_path / "pa") == []
