"""Every test here is marked ``process`` (tests/markers.py)."""

import pytest

from tests.markers import mark_folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_folder(__file__, items, pytest.mark.process)
