"""watch-status prints a cursor people can read: its long strings cut, with their length."""

from __future__ import annotations

import subprocess
import sys

import pytest

from connector.sdk.temporal.abridged import CURSOR_TEXT_SHOWN, abridged


def test_a_long_cursor_string_is_cut_and_says_how_long_it_was() -> None:
    seen = " ".join(f"{n:012x}:1700000000" for n in range(300))
    shown = abridged(seen)
    assert isinstance(shown, str)
    assert shown.startswith(seen[:CURSOR_TEXT_SHOWN])
    assert f"({len(seen):,} characters; --full shows them)" in shown
    assert len(shown) < 2 * CURSOR_TEXT_SHOWN


@pytest.mark.parametrize("value", [12, None, "INBOX", [1, 2]])
def test_short_strings_and_other_values_are_shown_as_they_are(value: object) -> None:
    assert abridged(value) == value


def test_a_string_as_long_as_what_is_shown_is_shown_whole() -> None:
    value = "x" * CURSOR_TEXT_SHOWN
    assert abridged(value) == value


def test_it_needs_no_temporalio() -> None:
    """The unit tests run on Pythons whose environment has no temporalio (nox)."""
    code = "import sys, connector.sdk.temporal.abridged; print('temporalio' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"
