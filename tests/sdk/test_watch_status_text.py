"""watch-status prints a cursor people can read: its long strings cut, with their length."""

from __future__ import annotations

import pytest

from connector.sdk.temporal.cli import CURSOR_TEXT_SHOWN, _abridged


def test_a_long_cursor_string_is_cut_and_says_how_long_it_was() -> None:
    seen = " ".join(f"{n:012x}:1700000000" for n in range(300))
    shown = _abridged(seen)
    assert isinstance(shown, str)
    assert shown.startswith(seen[:CURSOR_TEXT_SHOWN])
    assert f"({len(seen):,} characters; --full shows them)" in shown
    assert len(shown) < 2 * CURSOR_TEXT_SHOWN


@pytest.mark.parametrize("value", [12, None, "INBOX", "x" * CURSOR_TEXT_SHOWN, [1, 2]])
def test_short_strings_and_other_values_are_shown_as_they_are(value: object) -> None:
    assert _abridged(value) == value
