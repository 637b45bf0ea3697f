"""The kind of each test follows from its folder: each folder's conftest marks what it holds.

    tests/sdk/               unit         the generic runtime: no server, no network
    tests/imap/unit/         unit         IMAP code on its own, or against a scripted fake peer
    tests/imap/integration/  integration  against real IMAP servers the suite starts
    tests/system/            system       whole programs: the service, Temporal, wheels, the demo
    tests/timing/            timing       real waits: network timeouts and deadlines against
                                          scripted peers, no server but seconds each
    tests/process/           process      the CLI and the runtime as processes of their own
                                          (a Python start-up each, ~0.1 s of CPU), no server

``pytest -m unit`` runs the fast ones alone (a few seconds: a test that must wait for a real
timeout to pass belongs in tests/timing, one that starts a Python process in tests/process).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
# Each folder's marker (its conftest applies it): ``-m`` decides which folders to collect.
FOLDERS = {
    TESTS / "sdk": "unit",
    TESTS / "imap" / "unit": "unit",
    TESTS / "imap" / "integration": "integration",
    TESTS / "system": "system",
    TESTS / "timing": "timing",
    TESTS / "process": "process",
}
_WORD = re.compile(r"\b(?!(?:and|or|not)\b)[A-Za-z_][A-Za-z0-9_]*\b")


def mark_folder(conftest: str, items: list[pytest.Item], marker: pytest.MarkDecorator) -> None:
    """Mark every collected test under the folder of ``conftest`` (hooks see all items)."""
    folder = Path(conftest).resolve().parent
    inside: dict[Path, bool] = {}  # by module: a resolve() each, not one per test (1,000s)
    for item in items:
        module = Path(item.path)
        if module not in inside:
            inside[module] = folder in module.resolve().parents
        if inside[module]:
            item.add_marker(marker)


def deselected_folder(path: Path, markexpr: str) -> bool:
    """Whether ``-m markexpr`` deselects every test of the folder ``path``, so that it need
    not be collected nor its modules imported (``-m unit`` then skips the heavy imports of
    the server and program tests). Exact: true only when the expression is false whatever
    other markers a test there carries, its folder's marker the only one of FOLDERS."""
    marker = FOLDERS.get(path.resolve())
    if marker is None or not markexpr.strip():
        return False
    try:  # pytest's own reading of -m (a private module: anything unexpected, collect)
        from _pytest.mark.expression import Expression

        expression = Expression.compile(markexpr)
    except Exception:  # noqa: BLE001
        return False
    others = sorted(set(_WORD.findall(markexpr)) - set(FOLDERS.values()))
    for values in itertools.product((False, True), repeat=len(others)):
        carried = {marker, *(name for name, on in zip(others, values, strict=True) if on)}
        if expression.evaluate(lambda name, /, carried=carried, **_: name in carried):
            return False
    return True
