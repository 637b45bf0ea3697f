"""The studio (``serve --studio``) in a real browser: Playwright driving Debian's Chromium
against the service and Dovecot, as a workflow author would use it. Screenshots of each
screen go to test-results/studio/ (not committed); axe-core checks accessibility."""

from __future__ import annotations

import http.server
import json
import threading
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.helpers import ROOT, append, make_message, raw_client
from tests.servers.service import HEADERS, TOKEN, Service

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "test-results" / "studio"
ATTACHED = bytes(range(256)) * 4  # every byte value: a download must come back unchanged


class Pixel:
    """A web server counting requests: the tracking pixel a preview must not load."""

    def __init__(self):
        hits = self.hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.end_headers()
                self.wfile.write(b"GIF89a")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def rich_message(pixel: Pixel) -> bytes:
    message = EmailMessage()
    message["From"] = "Alice <alice@example.com>"
    message["To"] = "bob@example.com"
    message["Subject"] = "Studio report"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    message.set_content("The plain text part.\n")
    message.add_alternative(
        "<html><body><h1 id='title'>The HTML part</h1>"
        "<script>parent.postMessage('script ran', '*')</script>"
        f"<img src='{pixel.url}/pixel.gif' alt='pixel'></body></html>",
        subtype="html",
    )
    message.add_attachment(
        ATTACHED, maintype="application", subtype="octet-stream", filename="data.bin"
    )
    return message.as_bytes()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Chromium is not installed (scripts/install-servers installs it)")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's own sandbox cannot start.
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    service = Service(tmp_path_factory.mktemp("studio"), "--studio")
    yield service
    service.stop()


@pytest.fixture
def page(browser, studio):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    yield opened
    context.close()
    assert not problems, problems  # no script error in the studio itself


def shot(page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def sign_in(page, studio) -> None:
    page.goto(f"{studio.url}/studio")
    page.get_by_label("Bearer token").fill(TOKEN)
    page.get_by_role("button", name="Open the studio").click()
    page.locator("#app").wait_for(state="visible")


def fill_connection(page, server) -> None:
    """As the README says: the connection JSON pasted (then the fields are the form's)."""
    page.get_by_text("Fill from JSON").click()
    page.get_by_label("Connection JSON").fill(json.dumps(server.connection()))
    page.get_by_role("button", name="Fill the fields").click()
    assert page.locator("#conn-user").input_value() == "alice"
    assert page.locator("#conn-secure").is_checked()
    assert page.get_by_label("Connection JSON").input_value() == ""  # (a password was in it)


def open_step(page, label: str) -> None:
    page.locator("#steps").get_by_role("button", name=label, exact=True).click()
    page.locator("#step-title").get_by_text(label, exact=True).wait_for()


def run(page) -> None:
    page.locator("#run").click()
    page.locator("#result .outcome").wait_for()


def test_the_token_is_required_and_a_wrong_one_is_refused(page, studio):
    page.goto(f"{studio.url}/studio")
    assert page.locator("#gate").is_visible() and not page.locator("#app").is_visible()
    shot(page, "01-token")
    status = page.evaluate("fetch('/v1/imap').then(r => r.status)")
    assert status == 401  # the API behind the page wants the token too
    page.get_by_label("Bearer token").fill("wrong-token")
    page.get_by_role("button", name="Open the studio").click()
    page.get_by_text("refused the token").wait_for()
    assert not page.locator("#app").is_visible()
    headers = page.request.get(f"{studio.url}/studio").headers
    assert "script-src 'self'" in headers["content-security-policy"]


def test_a_workflow_author_searches_opens_flags_and_polls(page, studio, dovecot_server):
    imap = raw_client(dovecot_server)
    box = f"studio-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    pixel = Pixel()
    seen_uid = append(imap, box, make_message("Already read"), flags=[b"\\Seen"])
    uid = append(imap, box, rich_message(pixel))
    assert uid > seen_uid
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    try:
        sign_in(page, studio)
        shot(page, "02-studio")
        fill_connection(page, dovecot_server)
        page.get_by_role("button", name="Test connection").click()
        page.locator("#connection-result .ok-badge").wait_for()
        assert "TLS" in page.locator("#connection-result").inner_text()
        shot(page, "03-connection-tested")

        # The mailbox picklist (the listMailboxes data source) fills every mailbox input.
        open_step(page, "Search / List Mailbox Messages")
        options = page.locator("#step-mailbox-choices option")
        options.first.wait_for(state="attached")
        assert box in [options.nth(i).get_attribute("value") for i in range(options.count())]
        page.locator("#step-mailbox").fill(box)
        page.locator("#step-readUnread").select_option("unread")
        run(page)
        table = page.locator("#result table")
        assert "Studio report" in table.inner_text()
        assert "Already read" not in table.inner_text()
        shot(page, "04-search")
        page.locator("#result .table-wrap").evaluate("node => node.scrollIntoView(false)")
        shot(page, "studio", full_page=False)  # (docs/images/studio.png is one of these)

        # Open the message: its text, its HTML (no script, no remote image), its attachment.
        open_step(page, "Download Message")
        page.locator("#step-mailbox").fill(box)
        page.locator("#step-messageIndex").fill(str(uid))
        run(page)
        view = page.locator("#result .message-view")
        assert "The plain text part." in view.locator(".message-text").inner_text()
        frame = page.frame_locator("#result iframe.message-html")
        assert frame.locator("#title").inner_text() == "The HTML part"
        assert page.locator("#result iframe.message-html").get_attribute("sandbox") == ""
        with page.expect_download() as download:
            view.get_by_role("button", name="Download data.bin").click()
        assert Path(download.value.path()).read_bytes() == ATTACHED
        page.wait_for_timeout(500)
        assert pixel.hits == []  # the tracking pixel was never asked for
        assert not [m for m in messages if "script ran" in m]
        ran = page.evaluate(
            "new Promise(done => { let ran = false;"
            " addEventListener('message', () => { ran = true; });"
            " setTimeout(() => done(ran), 300); })"
        )
        assert ran is False
        shot(page, "05-message")

        # Add a flag; the search shows it.
        open_step(page, "Add Flags")
        page.locator("#step-mailbox").fill(box)
        page.locator("#step-range").fill(str(uid))
        page.locator("#step-flags").fill('["$Studio"]')
        run(page)
        assert page.locator("#result .ok-badge").is_visible()
        open_step(page, "Search / List Mailbox Messages")
        page.locator("#step-mailbox").fill(box)
        run(page)
        assert "$Studio" in page.locator("#result table").inner_text()

        # A wrong input: the runtime's message at the field it names.
        open_step(page, "Add Flags")
        page.locator("#step-mailbox").fill(box)
        page.locator("#step-range").fill("1:x")
        page.locator("#step-flags").fill('["$Studio"]')
        run(page)
        assert page.locator("#result .error-badge").inner_text() == "INVALID_INPUT"
        assert page.locator("#step-range").get_attribute("aria-invalid") == "true"
        assert "UID" in page.locator("#step-range-error").inner_text()
        shot(page, "06-invalid-input")

        # The trigger: the first poll notes where the mailbox is; the next shows only the new.
        open_step(page, "New Emails")
        page.locator("#step-mailbox").fill(box)
        run(page)
        assert "0 records" in page.locator("#result").inner_text()
        imap.append(box, make_message("Arrived between polls"))
        run(page)
        records = page.locator("#result table").inner_text()
        assert "Arrived between polls" in records and "Studio report" not in records
        assert "lastUid" in page.locator("#state-view").inner_text()
        shot(page, "07-trigger")

        copied = json.loads(page.locator("#copy-body").input_value())
        assert copied["connection"]["fields"]["pass"] == "<pass>"  # no secret in the copy
        assert "Bearer $CONNECTOR_SERVICE_TOKEN" in page.locator("#copy-curl").input_value()
    finally:
        pixel.close()
        imap.logout()
    log = studio.log()
    assert dovecot_server.users["alice"] not in log and TOKEN not in log


def test_accessible_and_usable_in_a_narrow_window(page, studio):
    from axe_playwright_python.sync_playwright import Axe

    sign_in(page, studio)
    open_step(page, "Search / List Mailbox Messages")
    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, json.dumps(serious, indent=1)[:3000]
    page.set_viewport_size({"width": 420, "height": 800})
    shot(page, "08-narrow")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420  # nothing wider than the window
    page.reload()  # (the token stays for the tab)
    page.locator("#app").wait_for(state="visible")
    page.keyboard.press("Tab")  # the skip link first, then the controls, all by keyboard
    assert page.evaluate("document.activeElement.textContent") == "Skip to the step"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.locator("#steps").get_by_role("button", name="Get Mailbox Status").focus()
    page.keyboard.press("Enter")
    page.locator("#step-title").get_by_text("Get Mailbox Status").wait_for()


def test_studio_is_off_unless_asked_for(tmp_path):
    service = Service(tmp_path)
    try:
        assert service.http.get("/studio").status_code == 401  # strangers learn nothing
        assert service.http.get("/studio", headers=HEADERS).status_code == 404
    finally:
        service.stop()


def test_the_page_has_no_remote_reference():
    folder = ROOT / "sdk" / "src" / "connector" / "sdk" / "service" / "studio"
    for path in folder.iterdir():
        if path.suffix in (".html", ".js", ".css"):
            text = path.read_text()
            assert "http://" not in text and "https://" not in text, path.name
