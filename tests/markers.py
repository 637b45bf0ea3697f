"""The kind of each test follows from its folder: each folder's conftest marks what it holds.

    tests/sdk/               unit         the generic runtime: no server, no network
    tests/imap/unit/         unit         IMAP code on its own, or against a scripted fake peer
    tests/imap/integration/  integration  against real IMAP servers the suite starts
    tests/system/            system       whole programs: the service, Temporal, wheels, the demo

``pytest -m unit`` runs the fast ones alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def mark_folder(conftest: str, items: list[pytest.Item], marker: pytest.MarkDecorator) -> None:
    """Mark every collected test under the folder of ``conftest`` (hooks see all items)."""
    folder = Path(conftest).resolve().parent
    for item in items:
        if folder in Path(item.path).resolve().parents:
            item.add_marker(marker)
