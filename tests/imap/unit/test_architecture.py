"""Rules of the layout that an import contract cannot see (those are in pyproject.toml's
[tool.importlinter], run by scripts/lint)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

IMAP = ROOT / "connector" / "imap"
TRANSPORT = IMAP / "wire" / "transport.py"
# imaplib's bookkeeping that is public by name only: transport.py wraps it.
LIBRARY_INTERNALS = {"tagged_commands", "untagged_responses", "file", "tagpre", "tagre"}


def private_accesses(path: Path) -> list[str]:
    """``obj._name`` (and imaplib's internals) where obj is not this object itself."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        private = name.startswith("_") and not name.startswith("__")
        if not (private or name in LIBRARY_INTERNALS):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_only_the_transport_touches_library_internals():
    offenders = [
        line
        for path in sorted(IMAP.rglob("*.py"))
        if path != TRANSPORT
        for line in private_accesses(path)
    ]
    assert offenders == []


def test_the_check_sees_an_access(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f(client):\n    return client._imap.tagged_commands\n")
    assert len(private_accesses(sample)) == 2


def test_every_connection_goes_through_the_egress_policy():
    """Only connector.sdk._egress opens connections (through _sockets), and the HTTP toolkit
    on its policed transport (the demo's own local server, and the fake servers of tests,
    aside)."""
    sources = [*IMAP.rglob("*.py"), *(ROOT / "sdk" / "src").rglob("*.py")]
    sdk = ROOT / "sdk/src/connector/sdk"
    allowed = {
        sdk / "_egress.py",
        sdk / "_sockets.py",  # _egress's connect loop (and egress.connect's, with no policy)
        *(sdk / "http").glob("*.py"),  # httpx on http/_transport.py's PolicedBackend
        *(sdk / "testing").glob("*.py"),  # its fake HTTP server listens, never connects
        sdk / "service" / "cli.py",  # serve's listening socket, bound before its workers
        IMAP / "demo" / "localserver.py",
    }
    calls = ("create_connection(", "socket.socket(", "urlopen(", "httpx.", "requests.get(")
    offenders = [
        f"{path.name}: {call}"
        for path in sources
        if path not in allowed
        for call in calls
        if call in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
