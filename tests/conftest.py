"""Fixtures: the connector, and real IMAP servers started by the suite itself.

IMAP_TEST_SERVERS=dovecot,pymap,cyrus,courier (set by .ci/run) makes a server that
cannot start a failure; without it, an unavailable server's tests are skipped.
"""

from __future__ import annotations

import os
import ssl
import uuid

import pytest

from connector.imap import manifest_path
from connector.sdk import Connector
from connector.sdk.testing import Harness
from tests.servers import courier, cyrus, dovecot, pymap

SERVERS = {
    "dovecot": (dovecot.available, lambda ca: dovecot.Dovecot(ca)),
    "pymap": (pymap.available, lambda ca: pymap.Pymap(ca)),
    "cyrus": (cyrus.available, lambda ca: cyrus.Cyrus(ca)),
    "courier": (courier.available, lambda ca: courier.Courier(ca)),
}


def required_servers() -> set[str]:
    return {s.strip() for s in os.environ.get("IMAP_TEST_SERVERS", "").split(",") if s.strip()}


@pytest.fixture(scope="session")
def connector() -> Connector:
    return Connector.load(manifest_path())


@pytest.fixture(scope="session")
def ca():
    import trustme  # a test dependency: missing, it must fail, not skip

    return trustme.CA()


def _start(name: str, ca, request):
    available, make = SERVERS[name]
    if not available():
        if name in required_servers():
            pytest.fail(f"IMAP_TEST_SERVERS requires {name}, but it is not installed")
        pytest.skip(f"{name} is not installed (set IMAP_TEST_SERVERS to make this a failure)")
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


def raw_client(server, user: str = "alice"):
    """An independent IMAPClient session, to set up and read back server state."""
    from imapclient import IMAPClient

    context = ssl.create_default_context(cadata=server.ca_pem)
    if server.tls_port:
        client = IMAPClient(server.host, server.tls_port, ssl_context=context, timeout=10)
    else:
        client = IMAPClient(server.host, server.starttls_port, ssl=False, timeout=10)
        client.starttls(context)
    client.login(user, server.users[user])
    return client


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


def make_message(
    subject: str = "Hello",
    body: str = "Hi there.\r\n",
    *,
    sender: str = "Alice <alice@example.com>",
    to: str = "bob@example.com",
    message_id: str | None = None,
    extra: str = "",
) -> bytes:
    message_id = message_id or f"<{uuid.uuid4().hex}@example.com>"
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: Wed, 01 May 2024 09:29:41 +0200\r\nMessage-ID: {message_id}\r\n{extra}"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


def append(imap, mailbox: str, message: bytes | None = None, flags=()) -> int:
    """APPEND through the raw client; returns the new UID."""
    import re

    reply = imap.append(mailbox, message or make_message(), flags=flags)
    match = re.search(rb"APPENDUID \d+ (\d+)", reply)
    assert match, reply
    return int(match.group(1))
