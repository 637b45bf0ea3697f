"""A one-step process (``imap-connector invoke``, what a platform that runs a process per step
pays every step) imports only what the step needs: no service, Temporal, HTTP toolkit,
pool, OAuth, YAML parser, schema validator or package metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing

from connector.imap.demo.localserver import free_port
from tests.helpers import ROOT

# Each is a cost (or an optional extra) a plain invoke must not pay.
NOT_IMPORTED = [
    "connector.sdk.service",
    "connector.sdk.temporal",
    "connector.sdk.http",
    "connector.sdk._pool",
    "connector.sdk._oauth",  # (a connection without oauth2)
    "connector.sdk._egress",  # (no egress policy in the environment)
    "starlette",
    "uvicorn",
    "prometheus_client",
    "temporalio",
    "cryptography",
    "httpx",
    "yaml",  # the manifest comes from the cache once parsed
    "jsonschema",
    "importlib.metadata",  # IMAPClient's version (connector.imap.wire.library_version)
    "uuid",
    "tempfile",
    "shutil",
    # The other commands' and steps' own: push, upgrades, docs, scaffolding, exports, tests.
    "connector.sdk._push",
    "connector.sdk._pushhub",
    "connector.sdk._manifest_diff",
    "connector.sdk._outputs",  # (output labels and columns: docs, exports, validate)
    "connector.sdk._docs",
    "connector.sdk._scaffold",
    "connector.sdk.export",
    "connector.sdk.testing",
    "connector.sdk.cli.listen",
    "connector.sdk.cli.diff",
    "connector.imap.triggers",
    "connector.imap.demo",
    "connector.imap.wire.fetch_response",  # (getStatus fetches no message)
    "connector.imap.mail.mime",
    "email.message",  # (MIME: for the message actions)
    "email.parser",
    "asyncio",  # (push lines and the service share an event loop; one step has none)
    "concurrent.futures",
    "http.client",  # (OAuth's token endpoint, the HTTP toolkit)
    "urllib.request",
    "hmac",  # (the pool's keys)
    "zipfile",  # (package metadata's)
    "csv",
]
# (An egress policy in the environment would load its module: a different process.)
QUIET_ENVIRONMENT = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_")}
# Registered first, so run last of the exit handlers: what the process holds as it ends.
SCRIPT = """\
import atexit, gc, sys
atexit.register(lambda: sys.stderr.write(
    f"\\nFROZEN {gc.get_freeze_count()}\\nMODULES " + " ".join(sorted(sys.modules))))
from connector.imap.cli import main
sys.exit(main(sys.argv[1:]))
"""


def invoke_modules(cache_dir) -> set[str]:
    """The modules a cold ``invoke getStatus`` has imported when it exits (a refused
    connection: the step runs up to the connect, its handler and the wire imported)."""
    return set(invoke_exit(cache_dir).rpartition("\nMODULES ")[2].split())


def invoke_exit(cache_dir) -> str:
    """What a cold ``invoke getStatus`` reports of itself at its exit (SCRIPT), on stderr."""
    connection = {
        "host": "127.0.0.1",
        "port": free_port(),
        "user": "a",
        "pass": "b",
        "secure": False,
    }
    ran = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            "invoke",
            "getStatus",
            "--connection",
            json.dumps(connection),
            "--input",
            "mailbox=INBOX",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**QUIET_ENVIRONMENT, "XDG_CACHE_HOME": str(cache_dir)},
        timeout=60,
    )
    assert json.loads(ran.stdout)["error"]["code"] == "CONNECTION_FAILED", ran.stdout
    return ran.stderr


def test_a_plain_invoke_imports_none_of_the_heavy_modules(tmp_path):
    invoke_modules(tmp_path)  # (the first parses the manifest and caches it)
    modules = invoke_modules(tmp_path)
    assert "connector.imap.actions.mailboxes" in modules  # (the check sees imports)
    assert "imapclient" in modules
    loaded = [name for name in NOT_IMPORTED if name in modules]
    assert loaded == []


def test_a_one_step_process_skips_the_final_collection(tmp_path):
    """Its objects are frozen before the interpreter's last collections (~9 ms of CPU)."""
    frozen = int(invoke_exit(tmp_path).partition("\nFROZEN ")[2].split()[0])
    assert frozen > 1000  # (every object alive at exit: the modules' own, thousands)


def test_imapclient_reports_its_version_without_package_metadata():
    checked = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, connector.imap.wire.commands, imapclient;"
            "loaded = 'importlib.metadata' in sys.modules;"
            "from importlib.metadata import version;"
            "print(json.dumps([loaded, imapclient.__version__, imapclient.version_info,"
            " version('imapclient')]))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    loaded, ours, info, installed = json.loads(checked.stdout)
    assert not loaded
    assert ours == installed
    assert info == [*map(int, installed.split(".")), "final"]


def test_the_cold_paths_named_tuples_carry_evaluated_annotations():
    """typing.NamedTuple compiles each string annotation (``from __future__ import
    annotations``) when its class is made: 43 of them cost a one-step process ~1.7 ms."""
    from connector.imap.wire import commands, protocol
    from connector.sdk import _inputs, _outputs

    classes = [_inputs.File, _inputs.InputSpec, _outputs.Field, commands.Selected, protocol.UidSet]
    as_text = [
        f"{cls.__name__}.{field}"
        for cls in classes
        for field, annotation in cls.__annotations__.items()
        if isinstance(annotation, (str, typing.ForwardRef))  # (NamedTuple wraps a str)
    ]
    assert as_text == []
