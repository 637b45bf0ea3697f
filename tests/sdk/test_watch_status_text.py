"""watch-status prints a cursor people can read: its long strings cut, with their length."""

from __future__ import annotations

from types import ModuleType

import pytest


@pytest.fixture(scope="module")
def cli() -> ModuleType:
    """connector.sdk.temporal.cli, imported when a test here runs, not when the unit tests
    are collected: it imports temporalio (~0.9 s), which each xdist worker paid."""
    from connector.sdk.temporal import cli

    return cli


def test_a_long_cursor_string_is_cut_and_says_how_long_it_was(cli: ModuleType) -> None:
    seen = " ".join(f"{n:012x}:1700000000" for n in range(300))
    shown = cli._abridged(seen)
    assert isinstance(shown, str)
    assert shown.startswith(seen[: cli.CURSOR_TEXT_SHOWN])
    assert f"({len(seen):,} characters; --full shows them)" in shown
    assert len(shown) < 2 * cli.CURSOR_TEXT_SHOWN


@pytest.mark.parametrize("value", [12, None, "INBOX", [1, 2]])
def test_short_strings_and_other_values_are_shown_as_they_are(
    cli: ModuleType, value: object
) -> None:
    assert cli._abridged(value) == value


def test_a_string_as_long_as_what_is_shown_is_shown_whole(cli: ModuleType) -> None:
    value = "x" * cli.CURSOR_TEXT_SHOWN
    assert cli._abridged(value) == value
