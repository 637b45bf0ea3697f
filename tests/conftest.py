"""Fixtures: the connector, and real IMAP servers started by the suite itself.

IMAP_TEST_SERVERS=dovecot,pymap,cyrus,courier (set by .ci/run) makes a server that
cannot start a failure; without it, an unavailable server's tests are skipped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connector.imap import manifest_path
from connector.sdk import Connector
from connector.sdk.testing import Harness
from tests.helpers import raw_client, require_server
from tests.markers import deselected_folder
from tests.servers import courier, cyrus, dovecot, pymap


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A folder whose tests ``-m`` deselects is not collected (its imports cost seconds)."""
    if deselected_folder(collection_path, config.getoption("markexpr") or ""):
        return True
    return None


def pytest_cmdline_main(config: pytest.Config) -> None:
    """``-n N`` keeps each test module on one xdist worker (``--dist loadfile``) unless
    ``--dist`` is given: a module's tests share the servers its fixtures start (a Temporal
    dev server, a service), once, and some read what its earlier tests left there (every
    workflow's history, searched for secrets). Runs after xdist's own hook made ``-n``
    mean ``--dist load``."""
    given = [*config.invocation_params.args, *os.environ.get("PYTEST_ADDOPTS", "").split()]
    if getattr(config.option, "dist", "no") == "load" and not any(
        arg == "--dist" or arg.startswith("--dist=") or arg == "-d" for arg in given
    ):
        config.option.dist = "loadfile"


def pytest_configure(config: pytest.Config) -> None:
    """The suite's caches (the SDK's parsed manifests) go to a temporary folder, for this
    process and every program it starts, never to the user's ~/.cache."""
    cache = tempfile.mkdtemp(prefix="connector-tests-cache-")
    os.environ["XDG_CACHE_HOME"] = cache
    config.add_cleanup(lambda: shutil.rmtree(cache, ignore_errors=True))
    _rewrite_no_library_asserts(config)


def _rewrite_no_library_asserts(config: pytest.Config) -> None:
    """pytest rewrites the asserts of every module of a distribution that ships a pytest
    plugin: all of hypothesis (70 modules) and anyio, for messages no test reads. With
    PYTHONDONTWRITEBYTECODE (set on the shared machines) no rewritten module is cached, so
    each pytest process (each xdist worker) did it again: ~0.6 s of CPU. Neither is imported
    yet here. (A private attribute of pytest's hook: renamed, they are rewritten as before.)"""
    marked = getattr(config.pluginmanager.rewrite_hook, "_must_rewrite", None)
    if isinstance(marked, set):
        marked -= {"hypothesis", "anyio"}


SERVERS: dict[str, tuple[Callable[[], bool], Callable[[Any], Any]]] = {
    "dovecot": (dovecot.available, lambda ca: dovecot.Dovecot(ca)),
    "pymap": (pymap.available, lambda ca: pymap.Pymap(ca)),
    "cyrus": (cyrus.available, lambda ca: cyrus.Cyrus(ca)),
    "courier": (courier.available, lambda ca: courier.Courier(ca)),
}


@pytest.fixture(scope="session")
def connector() -> Connector:
    return Connector.load(manifest_path())


@pytest.fixture(scope="session")
def ca():
    import trustme  # a test dependency: missing, it must fail, not skip

    return trustme.CA()


def _start(name: str, ca, request):
    available, make = SERVERS[name]
    require_server(name, available())
    server = make(ca)
    info = server.start()
    request.addfinalizer(server.stop)
    info.process = server  # for tests that read the server's log
    return info


@pytest.fixture(scope="session")
def dovecot_server(ca, request):
    return _start("dovecot", ca, request)


@pytest.fixture(scope="session")
def pymap_server(ca, request):
    return _start("pymap", ca, request)


@pytest.fixture(scope="session")
def cyrus_server(ca, request):
    return _start("cyrus", ca, request)


@pytest.fixture(scope="session")
def courier_server(ca, request):
    return _start("courier", ca, request)


@pytest.fixture(scope="session", params=sorted(SERVERS))
def server(request):
    """Each IMAP integration test runs once per server."""
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture
def harness(connector, server) -> Harness:
    return Harness(connector, server.connection())


@pytest.fixture
def imap(server):
    client = raw_client(server)
    yield client
    try:
        client.logout()
    except Exception:  # noqa: BLE001
        pass


@pytest.fixture
def mailbox(imap, server):
    """A fresh, uniquely named mailbox for one test (under the server's prefix)."""
    name = server.path(f"t-{uuid.uuid4().hex[:10]}")
    imap.create_folder(name)
    return name
