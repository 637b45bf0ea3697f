"""The studio's file picker: an input of type ``file`` is drawn as one, and the file chosen
goes to the step as ``{"name", "contentType", "content"}`` (base64), as the runtime takes
it. The real studio page in Chromium against the real service; the service's answers for a
connector with a file input (none is installed here) are stubbed by the browser's routes."""

from __future__ import annotations

import base64
import json

from tests.servers.service import TOKEN
from tests.system.test_studio import browser, page, sign_in, studio  # noqa: F401 - fixtures

CONTENT = bytes(range(256)) + b"\r\n\x00 end"
MANIFEST = {
    "key": "files_sample",
    "label": "Files Sample",
    "description": "An upload",
    "version": "0.1.0",
    "connections": [
        {
            "key": "api",
            "label": "API",
            "description": "The service",
            "inputs": [{"key": "baseUrl", "label": "Base URL", "type": "string"}],
        }
    ],
    "actions": [
        {
            "key": "attach",
            "label": "Attach",
            "description": "Uploads a file",
            "inputs": [
                {"key": "attachment", "label": "Attachment", "type": "file", "maxBytes": 4096}
            ],
            "output": {"schema": {"type": "object"}, "example": {}},
        }
    ],
}


def test_a_file_input_is_a_file_picker_sending_base64(page, studio, tmp_path):  # noqa: F811
    sent: list[dict] = []

    def healthz(route):
        route.fulfill(json={"ok": True, "connectors": ["files_sample"]})

    def manifest(route):
        route.fulfill(json=MANIFEST)

    def attach(route):
        sent.append(json.loads(route.request.post_data or "{}"))
        route.fulfill(json={"ok": True, "data": {"size": len(CONTENT)}})

    page.route(f"{studio.url}/healthz", healthz)
    page.route(f"{studio.url}/v1/files_sample", manifest)
    page.route(f"{studio.url}/v1/files_sample/actions/attach", attach)
    sign_in(page, studio)
    page.locator("#steps").get_by_role("button", name="Attach", exact=True).click()
    picker = page.get_by_label("Attachment")
    assert picker.get_attribute("type") == "file"
    chosen = tmp_path / "report.bin"
    chosen.write_bytes(CONTENT)
    picker.set_input_files(str(chosen))
    page.wait_for_function("() => Boolean(document.querySelector('#step-attachment').dataset.file)")
    page.locator("#run").click()
    page.locator("#result .outcome").wait_for()
    (body,) = sent
    upload = json.loads(body["inputs"]["attachment"])
    assert upload["name"] == "report.bin"
    assert upload["contentType"] == "application/octet-stream"
    assert base64.b64decode(upload["content"]) == CONTENT
    assert TOKEN not in json.dumps(body)
