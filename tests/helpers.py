"""Helpers shared by the tests: a raw IMAP client, messages, the CLI as a subprocess.

(Fixtures live in conftest.py; plain functions live here, imported by name.)
"""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.servers import dovecot
from tests.servers.dovecot import Dovecot

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = ROOT / "tests" / "messages"  # sample mail (and the corpus, corpus.py)
# Dovecot's capabilities without UIDPLUS and MOVE, for servers that must lack them.
BASE_CAPS = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ NAMESPACE CHILDREN SPECIAL-USE "
    "LIST-EXTENDED"
)


def property_examples(full: int) -> int:
    """A property test's number of random cases: ``full`` in the whole suite (scripts/test,
    and so CI, sets CONNECTOR_FULL_PROPERTIES=1), a quarter in a quick ``pytest -m unit``:
    the same properties, fewer cases, so the unit tests stay a few seconds."""
    return full if os.environ.get("CONNECTOR_FULL_PROPERTIES") == "1" else max(25, full // 4)


def validate_openapi(spec: dict) -> None:
    """openapi_spec_validator's check (OpenAPI 3.x or Swagger 2.0), imported when a test
    runs it: its import (~0.15 s) is not paid by each pytest process that only collects."""
    from openapi_spec_validator import validate

    validate(spec)


def required_servers() -> set[str]:
    """IMAP_TEST_SERVERS (set by .ci/run): servers whose absence fails instead of skipping."""
    return {s.strip() for s in os.environ.get("IMAP_TEST_SERVERS", "").split(",") if s.strip()}


def require_server(name: str, available: bool) -> None:
    """Skip a test whose server is not installed, or fail when IMAP_TEST_SERVERS needs it."""
    if available:
        return
    if name in required_servers():
        pytest.fail(f"IMAP_TEST_SERVERS requires {name}, but it is not installed")
    pytest.skip(f"{name} is not installed (set IMAP_TEST_SERVERS to make this a failure)")


def start_dovecot(ca, request, **kwargs):
    """A private Dovecot with its own settings (the session-wide one is ``dovecot_server``)."""
    require_server("dovecot", dovecot.available())
    server = Dovecot(ca, **kwargs)
    info = server.start()
    request.addfinalizer(server.stop)
    info.process = server  # for tests that read the log
    return info


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


def cli(*args: str, env: dict | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IMAP_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "connector.imap.cli", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


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
    reply = imap.append(mailbox, message or make_message(), flags=flags)
    match = re.search(rb"APPENDUID \d+ (\d+)", reply)
    assert match, reply
    return int(match.group(1))


def build_wheels(out: Path) -> tuple[Path, Path]:
    """connector-sdk's and imap-connector's wheels, as scripts/build makes them: each built
    from its sdist (so a broken sdist fails here)."""
    for project in (ROOT / "sdk", ROOT):
        subprocess.run(
            [sys.executable, "-m", "build", "--outdir", str(out), str(project)],
            check=True,
            capture_output=True,
            timeout=300,
        )
    (sdk,) = out.glob("connector_sdk-*.whl")
    (imap,) = out.glob("imap_connector-*.whl")
    return sdk, imap


def rss_kib(pid: int | str = "self") -> int:
    """A process's (this one by default) resident memory (VmRSS), in KiB. For this process,
    garbage is collected and the C heap's free memory handed back first (glibc's
    ``malloc_trim``): what is left is what is held, not what earlier tests fragmented."""
    if pid == "self":
        import ctypes
        import gc

        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return _status_kib("VmRSS", pid)


class VirtualMemoryWatch:
    """How far a process's usable address space rose above where it was, sampled every few
    milliseconds while the ``with`` block runs: ``grown`` in KiB. Usable: VmSize less what
    is only reserved (``---p`` mappings): glibc reserves 64 MiB for each malloc arena a new
    thread may get, and which threads get one depends on the threads earlier tests left
    (measured: +288 MiB of VmSize in a step that allocated nothing, on an xdist worker).
    A buffer allocated, however large, is readable and counts whole."""

    def __init__(self, pid: int | str = "self", every: float = 0.005):
        self.pid, self.every = pid, every
        self.grown = 0

    def __enter__(self) -> VirtualMemoryWatch:
        import threading

        self._start = _usable_kib(self.pid)
        self._done = threading.Event()

        def sample() -> None:
            while not self._done.wait(self.every):
                self.grown = max(self.grown, _usable_kib(self.pid) - self._start)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._done.set()
        self._thread.join()


def _usable_kib(pid: int | str) -> int:
    """The sizes of a process's mappings, less those with no access (reserved only)."""
    total = 0
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            span, perms = line.split(maxsplit=2)[:2]
            if perms != "---p":
                low, high = span.split("-")
                total += int(high, 16) - int(low, 16)
    return total // 1024


def _status_kib(field: str, pid: int | str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)
