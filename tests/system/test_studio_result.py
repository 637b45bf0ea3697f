"""The studio's result, as a stranger met it: after Run it is scrolled into view and holds
the focus (its heading), on a desktop and on a phone; on a phone a result table is a card
per row with every column's label; sizes read as 830 B, 12 KB, 1.2 MB."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import append, make_message, raw_client
from tests.system import test_studio
from tests.system.test_studio import (
    connect,
    open_page,
    open_step_by_menu,
    result,
    run,
    shot,
    sign_in,
)

# The studio's own fixtures: one browser and one service for this module too.
browser = test_studio.browser
studio = test_studio.studio

COLUMNS = ["Subject", "From", "Sent", "Flags", "Size", "UID"]
# Not alice: Dovecot counts 10 connections per user and address, and the other studio and
# service tests keep alice's sessions pooled.
USER = "bob"


def human(size: int) -> str:
    """The studio's rule for sizes, written again: B below 1024, then one decimal under 10."""
    value, unit = float(size), 0
    while value >= 1024 and unit < 4:
        value, unit = value / 1024, unit + 1
    shown = f"{value:.1f}" if unit and value < 10 else str(round(value))
    return f"{shown.removesuffix('.0')} {['B', 'KB', 'MB', 'GB', 'TB'][unit]}"


def test_the_size_rule():
    assert [human(n) for n in (830, 1024, 12 * 1024 + 300, int(1.2 * 1024 * 1024))] == [
        "830 B",
        "1 KB",
        "12 KB",
        "1.2 MB",
    ]


@pytest.fixture(scope="module")
def sized_mailbox(dovecot_server):
    """A mailbox with a small, a 12 KB and a 1.2 MB message: their names and sizes."""
    imap = raw_client(dovecot_server, USER)
    box = f"sizes-{uuid.uuid4().hex[:6]}"
    imap.create_folder(box)
    sizes = {}
    for subject, body_size in (("Small", 0), ("Twelve", 12 * 1024), ("Large", 1_258_000)):
        message = make_message(subject, "x" * body_size + "\r\n")
        append(imap, box, message)
        sizes[subject] = len(message)
    imap.logout()
    assert sizes["Small"] < 1024
    return box, sizes


def search(page, box: str) -> None:
    open_step_by_menu(page, "Search / List Mailbox Messages")
    page.get_by_role("combobox", name="Mailbox").fill(box)
    run(page)


def assert_result_in_view_and_focused(page, height: int) -> None:
    heading = result(page).get_by_role("heading", name="Result", level=3)
    assert page.evaluate("document.activeElement.id") == "result-title"
    assert page.evaluate("document.activeElement.tabIndex") == -1
    top = heading.bounding_box()
    assert top is not None and 0 <= top["y"] < height / 2, top  # near the top of the screen


@pytest.mark.parametrize(
    "viewport",
    [{"width": 1280, "height": 800}, {"width": 390, "height": 844}],
    ids=["desk", "phone"],
)
def test_after_run_the_result_is_in_view_with_the_focus(
    browser, studio, dovecot_server, sized_mailbox, viewport
):
    box, sizes = sized_mailbox
    context, page, problems, _ = open_page(browser, viewport)
    try:
        sign_in(page, studio)
        connect(page, dovecot_server, USER)
        search(page, box)
        assert_result_in_view_and_focused(page, viewport["height"])
        text = result(page).get_by_role("table").inner_text()
        for subject, size in sizes.items():
            assert human(size) in text, (subject, human(size), text)
        assert human(sizes["Small"]).endswith(" B") and "bytes" not in text
        # An error naming an input leaves the focus on that input, its message beside it.
        mailbox = page.get_by_role("combobox", name="Mailbox")
        mailbox.fill(f"{box}-missing")
        run(page)
        assert result(page).locator(".error-badge").inner_text() == "NOT_FOUND"
        assert page.evaluate("document.activeElement.id") == "step-mailbox"
        assert mailbox.get_attribute("aria-invalid") == "true"
        field = mailbox.bounding_box()
        assert field is not None and 0 <= field["y"] < viewport["height"], field
    finally:
        context.close()
    assert not problems, problems


def test_on_a_phone_each_row_is_a_card_with_every_label(
    browser, studio, dovecot_server, sized_mailbox
):
    from axe_playwright_python.sync_playwright import Axe

    box, sizes = sized_mailbox
    width = 390
    context, page, problems, _ = open_page(browser, {"width": width, "height": 844})
    try:
        sign_in(page, studio)
        connect(page, dovecot_server, USER)
        search(page, box)
        table = result(page).get_by_role("table")
        rows = table.get_by_role("row")
        assert rows.count() == 1 + len(sizes)  # the sort buttons' row, then one per message
        for index in range(1, rows.count()):
            cells = rows.nth(index).get_by_role("cell")
            labels = [c.locator(".cell-label").inner_text() for c in cells.all()]
            assert labels == COLUMNS
            for cell in cells.all():  # every column on screen, none cut off at the right
                box_ = cell.bounding_box()
                assert box_ is not None and box_["x"] + box_["width"] <= width, box_
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # Sorting stays: the header is a line of buttons.
        table.get_by_role("button", name="Size").click()
        first = rows.nth(1).get_by_role("cell").nth(0).inner_text()
        assert "Small" in first
        shot(page, "studio-phone-result", full_page=False)
        serious = [
            v
            for v in Axe().run(page).response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert not serious, serious
    finally:
        context.close()
    assert not problems, problems
