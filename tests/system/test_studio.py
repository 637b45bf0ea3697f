"""The studio (``serve --studio``) in a real browser: Playwright driving Debian's Chromium
against the service and Dovecot, as a workflow author would use it, found by role and label.
Screenshots of each screen go to test-results/studio/ (not committed; the README's
docs/images/studio*.png are copies of ``studio`` and ``studio-phone``); axe-core checks
accessibility."""

from __future__ import annotations

import http.server
import json
import re
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
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
CSV = "name,amount\nÉlodie,12.50\n".encode()


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
    message["Date"] = "Wed, 01 May 2024 09:29:41 +0200"
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
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="report.pdf")
    message.add_attachment(CSV, maintype="text", subtype="csv", filename="amounts.csv")
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


def open_page(browser, viewport: dict):
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    failed: list[str] = []
    opened.on(
        "response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    return context, opened, problems, failed


@pytest.fixture
def page(browser, studio):
    context, opened, problems, failed = open_page(browser, {"width": 1280, "height": 800})
    yield opened
    context.close()
    assert not problems, problems  # no script error in the studio itself
    # (no favicon request refused, nothing else either but what a test asked for)
    assert not [f for f in failed if "favicon" in f], failed


def shot(page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def sign_in(page, studio) -> None:
    page.goto(f"{studio.url}/studio")
    page.get_by_label("Bearer token").fill(TOKEN)
    page.get_by_role("button", name="Open the studio").click()
    page.locator("#app").wait_for(state="visible")


def connect(page, server, user: str = "alice") -> None:
    """The connection JSON pasted (as the README says), then tested: the form folds away."""
    page.get_by_text("Fill from JSON").click()
    page.get_by_label("Connection JSON").fill(json.dumps(server.connection(user)))
    page.get_by_role("button", name="Fill the fields").click()
    assert page.get_by_label("Username").input_value() == user
    assert page.get_by_role("switch", name="Secure").is_checked()
    assert page.get_by_label("Connection JSON").input_value() == ""  # (a password was in it)
    page.get_by_role("button", name="Test connection").click()
    page.get_by_role("button", name="Edit connection").wait_for()


def open_step(page, label: str) -> None:
    page.get_by_role("navigation", name="Steps").get_by_role(
        "button", name=label, exact=True
    ).click()
    page.get_by_role("heading", name=label, exact=True, level=2).wait_for()


def run(page, name: str = "Run") -> None:
    page.get_by_role("button", name=name, exact=True).click()
    page.locator("#result .outcome").wait_for()


def result(page):
    return page.get_by_role("region", name="Result")


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


def test_assets_are_compressed_cacheable_and_the_favicon_is_served(studio):
    page = studio.http.get("/studio", headers={"Accept-Encoding": "gzip"})
    assert (
        page.headers["content-encoding"] == "gzip" and page.headers["cache-control"] == "no-cache"
    )
    again = studio.http.get("/studio", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304
    for name in re.findall(r'(?:href|src)="(/studio/[^"]+)"', page.text):
        asset = studio.http.get(name, headers={"Accept-Encoding": "gzip"})
        assert asset.status_code == 200, name
        assert (
            "immutable" in asset.headers["cache-control"]
            and "max-age=31536000" in (asset.headers["cache-control"])
        )
        assert asset.headers["content-encoding"] == "gzip"
    js = studio.http.get("/studio/studio.js", headers={"Accept-Encoding": "identity"})
    zipped = studio.http.get("/studio/studio.js", headers={"Accept-Encoding": "gzip"})
    assert int(zipped.headers["content-length"]) * 3 < len(js.content)  # at least 3x smaller
    assert "/studio/favicon.svg?v=" in page.text


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
        connect(page, dovecot_server)
        # After a successful test the connection is one line: who, and a way back.
        summary = page.locator("#connection-summary")
        assert "alice" in summary.inner_text() and "Connected" in summary.inner_text()
        assert not page.get_by_label("Host").is_visible()
        page.get_by_text("What the server said").click()
        said = page.locator("#connection-result").inner_text()
        assert "TLS Version" in said and "TLSv1" in said and "{" not in said  # no raw JSON
        shot(page, "03-connection-tested")

        # Picking a step moves the focus to it.
        open_step(page, "Search / List Mailbox Messages")
        assert page.evaluate("document.activeElement.id") == "step-title"
        # The Mailbox picklist: a combobox listing every mailbox, INBOX prefilled.
        mailbox = page.get_by_role("combobox", name="Mailbox")
        assert mailbox.input_value() == "INBOX"
        mailbox.click()
        listed = page.get_by_role("listbox", name="Mailbox choices")
        listed.wait_for()
        assert box in listed.inner_text() and "INBOX" in listed.inner_text()
        mailbox.fill(box[:9])
        page.get_by_role("option", name=box).click()
        assert mailbox.input_value() == box
        page.get_by_label("Read / Unread Filter").select_option("unread")
        # Filter Options as name/value rows
        page.get_by_label("Filter Options: name 1").fill("subject")
        page.get_by_label("Filter Options: value 1").fill("Studio")
        run(page)
        table = result(page).get_by_role("table")
        headers = [h.strip("▲▼↕ \n") for h in table.get_by_role("columnheader").all_inner_texts()]
        assert headers[:4] == ["Subject", "From", "Sent", "Flags"], headers
        assert "Studio report" in table.inner_text() and "Already read" not in table.inner_text()
        assert "Alice <alice@example.com>" in table.inner_text()
        assert "2024" in table.inner_text() and "T09:29" not in table.inner_text()  # a date
        assert re.search(r"\d+(\.\d)? KB", table.inner_text())  # a size people read
        table.get_by_role("button", name=re.compile("^Size")).click()
        assert (
            table.get_by_role("columnheader", name=re.compile("Size")).get_attribute("aria-sort")
            == "ascending"
        )
        assert "▲" in table.get_by_role("columnheader", name=re.compile("Size")).inner_text()
        shot(page, "04-search")

        # Open the message: text, HTML (no script, no remote image), every attachment.
        open_step(page, "Download Message")
        page.get_by_role("combobox", name="Mailbox").fill(box)
        page.get_by_label("Message Index or ID").fill(str(uid))
        run(page)
        view = page.locator("#result .message-view")
        assert "The plain text part." in view.locator(".message-text").inner_text()
        frame = page.frame_locator("#result iframe.message-html")
        assert frame.locator("#title").inner_text() == "The HTML part"
        assert page.locator("#result iframe.message-html").get_attribute("sandbox") == ""
        for name, expected in (("data.bin", ATTACHED), ("report.pdf", PDF), ("amounts.csv", CSV)):
            with page.expect_download() as download:
                view.get_by_role("button", name=re.compile(f"^Download {re.escape(name)}")).click()
            assert download.value.suggested_filename == name
            assert Path(download.value.path()).read_bytes() == expected, name
        page.wait_for_timeout(500)
        assert pixel.hits == []  # the tracking pixel was never asked for
        assert not [m for m in messages if "script ran" in m]
        shot(page, "05-message")

        # With attachments as references (not in the reply), the buttons fetch each part.
        page.get_by_label("Attachments", exact=True).select_option("metadata")
        run(page)
        with page.expect_download() as download:
            result(page).get_by_role("button", name=re.compile("^Download report.pdf")).click()
        assert Path(download.value.path()).read_bytes() == PDF

        # The raw message saves as .eml.
        page.get_by_label("Format").select_option("raw")
        assert not page.get_by_label("Attachments", exact=True).is_visible()  # (parsed only)
        run(page)
        with page.expect_download() as download:
            result(page).get_by_role(
                "button", name=re.compile(r"^Download message-\d+\.eml")
            ).click()
        assert download.value.suggested_filename.endswith(".eml")
        assert b"Subject: Studio report" in Path(download.value.path()).read_bytes()

        # Add a flag: system flags are checkboxes, keywords chips.
        open_step(page, "Add Flags")
        page.get_by_role("combobox", name="Mailbox").fill(box)
        page.get_by_label("Range").fill(str(uid))
        page.get_by_role("checkbox", name="\\Flagged").check()
        keyword = page.get_by_label("Flags: add a value")
        keyword.fill("$Studio")
        keyword.press("Enter")
        assert page.get_by_role("button", name="Remove $Studio").is_visible()
        run(page)
        assert result(page).get_by_text("OK", exact=True).is_visible()
        flagged = result(page).get_by_role("table").inner_text()
        assert "\\Flagged" in flagged and "$Studio" in flagged

        # A wrong input: the runtime's message at the field it names; fixed, it clears.
        page.get_by_label("Range").fill("1:x")
        run(page)
        assert result(page).locator(".error-badge").inner_text() == "INVALID_INPUT"
        assert page.get_by_label("Range").get_attribute("aria-invalid") == "true"
        assert "UID" in page.locator("#step-range-error").inner_text()
        shot(page, "06-invalid-input")
        page.get_by_label("Range").fill(str(uid))
        assert page.get_by_label("Range").get_attribute("aria-invalid") == "false"

        open_step(page, "Search / List Mailbox Messages")  # every message, flags as chips
        page.get_by_role("combobox", name="Mailbox").fill(box)
        run(page)
        assert result(page).get_by_role("table").get_by_text("Already read").is_visible()
        result(page).get_by_role("table").evaluate("n => n.scrollIntoView({block: 'end'})")
        page.evaluate("scrollBy(0, 60)")
        shot(page, "studio", full_page=False)  # (docs/images/studio.png is a copy of this)

        # NOT_FOUND names the Mailbox: marked.
        open_step(page, "Get Mailbox Status")
        page.get_by_role("combobox", name="Mailbox").fill(f"{box}-missing")
        run(page)
        assert result(page).locator(".error-badge").inner_text() == "NOT_FOUND"
        assert page.get_by_role("combobox", name="Mailbox").get_attribute("aria-invalid") == "true"

        # Create Mailbox refreshes the picklist; Delete Mailbox asks first.
        created = f"{box}-new"
        open_step(page, "Create Mailbox")
        page.get_by_role("combobox", name="Path").fill(created)
        run(page)
        open_step(page, "Delete Mailbox")
        path = page.get_by_role("combobox", name="Path")
        path.fill("")
        path.press("ArrowDown")
        page.get_by_role("option", name=created).wait_for()
        page.get_by_role("option", name=created).click()
        page.get_by_role("button", name="Delete Mailbox…").click()
        dialog = page.get_by_role("dialog")
        assert created in dialog.inner_text() and "cannot be undone" in dialog.inner_text()
        dialog.get_by_role("button", name="Cancel").click()
        assert imap_has(dovecot_server, created)  # (still there)
        page.get_by_role("button", name="Delete Mailbox…").click()
        page.get_by_role("dialog").get_by_role("button", name="Delete Mailbox").click()
        page.locator("#result .outcome").wait_for()
        assert result(page).get_by_text("OK", exact=True).is_visible()
        assert not imap_has(dovecot_server, created)

        # The trigger: the first poll explains its bookmark; the next shows only the new.
        open_step(page, "New Emails")
        assert not page.get_by_label("After Success Mailbox", exact=True).is_visible()
        page.get_by_label("After Success", exact=True).select_option("move")
        assert page.get_by_role("combobox", name="After Success Mailbox").is_visible()
        page.get_by_label("After Success", exact=True).select_option("none")
        page.get_by_role("combobox", name="Mailbox").fill(box)
        run(page, "Poll")
        assert "0 records" in result(page).inner_text()
        assert "First poll" in result(page).inner_text()
        imap.append(box, make_message("Arrived between polls"))
        run(page, "Poll")
        records = result(page).get_by_role("table").inner_text()
        assert "Arrived between polls" in records and "Studio report" not in records
        assert "lastUid" in page.locator("#state-view").inner_text()
        shot(page, "07-trigger")

        copied = json.loads(page.locator("#copy-body").input_value())
        assert copied["connection"]["fields"]["pass"] == "<pass>"  # no secret in the copy
        assert "Bearer $CONNECTOR_SERVICE_TOKEN" in page.locator("#copy-curl").input_value()

        # A reload keeps the connection's fields (not the password) for the tab.
        page.reload()
        page.locator("#app").wait_for(state="visible")
        assert page.get_by_label("Host").input_value() == dovecot_server.host
        assert page.get_by_label("Username").input_value() == "alice"
        assert page.get_by_label("Password").input_value() == ""
    finally:
        pixel.close()
        imap.logout()
    log = studio.log()
    assert dovecot_server.users["alice"] not in log and TOKEN not in log


def imap_has(server, mailbox: str) -> bool:
    client = raw_client(server)
    try:
        return client.folder_exists(mailbox)
    finally:
        client.logout()


def test_errors_mark_connection_fields_and_clear_after_success(page, studio, dovecot_server):
    sign_in(page, studio)
    fields = dovecot_server.connection("alice", **{"pass": "not the password"})
    page.get_by_text("Fill from JSON").click()
    page.get_by_label("Connection JSON").fill(json.dumps(fields))
    page.get_by_role("button", name="Fill the fields").click()
    page.get_by_role("button", name="Test connection").click()
    page.locator("#connection-result .error-badge").wait_for()
    assert page.locator("#connection-result .error-badge").inner_text() == "AUTH_FAILED"
    marked = [
        label
        for label in ("Username", "Password", "Host")
        if page.get_by_label(label).get_attribute("aria-invalid") == "true"
    ]
    assert "Password" in marked and "Host" not in marked, marked
    page.get_by_label("Password").fill(dovecot_server.users["alice"])
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "false"
    open_step(page, "Get Mailbox Status")
    run(page)
    assert result(page).get_by_text("OK", exact=True).is_visible()
    assert page.locator("#connection-result .error-box").count() == 0  # the stale box went


def test_port_follows_secure_in_the_form(page, studio):
    sign_in(page, studio)
    port = page.get_by_label("Port")
    assert port.input_value() == "993"
    assert not page.get_by_label("STARTTLS").is_visible()  # (applies with Secure off)
    page.get_by_role("switch", name="Secure").uncheck()
    assert port.input_value() == "143"
    assert page.get_by_label("STARTTLS").is_visible()
    page.get_by_role("switch", name="Secure").check()
    assert port.input_value() == "993"
    port.fill("1993")  # typed: kept whatever Secure says
    page.get_by_role("switch", name="Secure").uncheck()
    assert port.input_value() == "1993"
    assert not page.get_by_label("Minimum TLS Version").is_visible()  # under Advanced
    page.get_by_text("Advanced").first.click()
    assert page.get_by_label("Minimum TLS Version").is_visible()


def test_accessible_by_keyboard_and_on_a_phone(browser, studio, dovecot_server):
    from axe_playwright_python.sync_playwright import Axe

    context, page, problems, _ = open_page(browser, {"width": 390, "height": 844})
    try:
        sign_in(page, studio)
        connect(page, dovecot_server)
        open_step_by_menu(page, "Search / List Mailbox Messages")
        run_button = page.get_by_role("button", name="Run", exact=True)
        box = run_button.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 844, box  # in reach, no scroll
        results = Axe().run(page)
        serious = [
            v for v in results.response["violations"] if v["impact"] in ("serious", "critical")
        ]
        assert not serious, json.dumps(serious, indent=1)[:3000]
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390  # nothing wider than the window
        run(page)
        shot(page, "studio-phone", full_page=False)
        # The skip link lands on the step; the focus ring is plainly visible.
        page.reload()  # (the token and the connection's fields stay for the tab)
        page.locator("#app").wait_for(state="visible")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to the step"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "step-title"
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.getAttribute('role')")
        assert focused == "combobox"  # the step's first input: one Tab from its title
        ring = page.evaluate("getComputedStyle(document.activeElement).outlineColor")
        assert contrast(ring, "rgb(255, 255, 255)") >= 3, ring
    finally:
        context.close()
    assert not problems, problems


def open_step_by_menu(page, label: str) -> None:
    menu = page.get_by_text("Steps", exact=True)
    if (
        page.get_by_role("navigation", name="Steps")
        .get_by_role("button", name=label, exact=True)
        .is_hidden()
    ):
        menu.click()
    open_step(page, label)


def contrast(first: str, second: str) -> float:
    def luminance(color: str) -> float:
        red, green, blue = (int(v) / 255 for v in re.findall(r"\d+", color)[:3])

        def channel(c: float) -> float:
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


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
