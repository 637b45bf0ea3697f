"""What a platform engineer does with our OpenAPI: openapi-python-client writes a typed
client from the running service's /openapi.json, the client imports and runs getStatus,
searchMailbox and addFlags against Dovecot through the service; datamodel-code-generator,
with its defaults, turns /openapi-3.0.json into the named models. Both generators live in a
virtualenv of their own (pinned: their output changes between versions)."""

from __future__ import annotations

import json
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

from tests.helpers import append, make_message, raw_client
from tests.servers.service import HEADERS, TOKEN, Service

GENERATORS = ("openapi-python-client==0.29.1", "datamodel-code-generator==0.89.0")


@pytest.fixture(scope="module")
def generators(tmp_path_factory) -> Path:
    """A virtualenv with both generators; its bin folder."""
    where = tmp_path_factory.mktemp("generators")
    venv.create(where, with_pip=True)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--disable-pip-version-check", *GENERATORS], check=True, timeout=600)
    return where / "bin"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    running = Service(tmp_path_factory.mktemp("svc"))
    yield running
    running.stop()


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


# The generated client, driven as its README says: typed request models built from plain
# dicts (from_dict), sync_detailed, a parsed typed response.
CLIENT_SCRIPT = """
import json, sys
from imap_client import AuthenticatedClient
from imap_client.api.default import (
    imap_action_add_flags, imap_action_get_status, imap_action_search_mailbox,
)
from imap_client.models import (
    AddFlagsRequest, AddFlagsResponse, ErrorEnvelope, GetStatusRequest, GetStatusResponse,
    ImapConnection, SearchMailboxRequest, SearchMailboxResponse,
)

url, token, fields, mailbox = sys.argv[1:5]
connection = ImapConnection.from_dict(json.loads(fields))
client = AuthenticatedClient(base_url=url, token=token, raise_on_unexpected_status=True)
out = {}

status = imap_action_get_status.sync_detailed(
    client=client,
    body=GetStatusRequest.from_dict(
        {"connection": connection.to_dict(), "inputs": {"mailbox": mailbox}}
    ),
)
assert isinstance(status.parsed, GetStatusResponse), status.content
out["messages"] = status.parsed.data.messages

found = imap_action_search_mailbox.sync_detailed(
    client=client,
    body=SearchMailboxRequest.from_dict(
        {
            "connection": connection.to_dict(),
            "inputs": {"mailbox": mailbox, "filterOptions": {"subject": "generated"}},
        }
    ),
)
assert isinstance(found.parsed, SearchMailboxResponse), found.content
out["uids"] = [m.uid for m in found.parsed.data.messages]

flagged = imap_action_add_flags.sync_detailed(
    client=client,
    body=AddFlagsRequest.from_dict(
        {
            "connection": connection.to_dict(),
            "inputs": {
                "mailbox": mailbox,
                "range": ",".join(map(str, out["uids"])),
                "flags": ["\\\\Flagged"],
            },
        }
    ),
)
assert isinstance(flagged.parsed, AddFlagsResponse), flagged.content
out["flagged"] = flagged.parsed.data.to_dict()

wrong = dict(json.loads(fields), **{"pass": "not the password"})
refused = imap_action_get_status.sync_detailed(
    client=client,
    body=GetStatusRequest.from_dict(
        {"connection": wrong, "inputs": {"mailbox": mailbox}}
    ),
)
assert isinstance(refused.parsed, ErrorEnvelope), refused.content
out["refused"] = str(refused.parsed.error.code)
print(json.dumps(out))
"""


def test_openapi_python_client_generates_a_client_that_runs_steps(
    generators, service, dovecot_server, tmp_path
):
    spec = tmp_path / "openapi.json"
    spec.write_text(service.http.get("/openapi.json", headers=HEADERS).text)
    made = run(
        generators / "openapi-python-client",
        "generate",
        "--path",
        spec,
        "--meta",
        "none",
        "--output-path",
        tmp_path / "imap_client",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    # Nothing skipped: every operation of the document became a module.
    assert "WARNING" not in made.stdout + made.stderr, made.stdout + made.stderr
    actions = json.loads(spec.read_text())["paths"]
    modules = {p.stem for p in (tmp_path / "imap_client" / "api" / "default").glob("*.py")}
    for name in ("addFlags", "appendMessage", "removeFlags", "setFlags", "getStatus"):
        assert f"/v1/imap/actions/{name}" in actions
    snake = {"add_flags", "append_message", "remove_flags", "set_flags", "search_mailbox"}
    assert {f"imap_action_{name}" for name in snake} <= modules

    mailbox = "Generated"
    imap = raw_client(dovecot_server)
    if imap.folder_exists(mailbox):
        imap.delete_folder(mailbox)
    imap.create_folder(mailbox)
    for subject in ("generated one", "generated two", "other"):
        append(imap, mailbox, make_message(subject))
    script = tmp_path / "drive.py"
    script.write_text(textwrap.dedent(CLIENT_SCRIPT))
    fields = json.dumps(dovecot_server.connection("alice"))
    ran = run(generators / "python", script, service.url, TOKEN, fields, mailbox, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    out = json.loads(ran.stdout)
    assert out["messages"] == 3
    assert len(out["uids"]) == 2
    assert out["refused"] == "AUTH_FAILED"
    imap.select_folder(mailbox, readonly=True)
    flags = imap.get_flags(out["uids"])
    imap.logout()
    assert all(b"\\Flagged" in f for f in flags.values()), flags


def test_datamodel_code_generator_defaults_write_the_named_models(generators, service, tmp_path):
    spec = tmp_path / "openapi-3.0.json"
    spec.write_text(service.http.get("/openapi-3.0.json", headers=HEADERS).text)
    made = run(
        generators / "datamodel-codegen",
        "--input",
        spec,
        "--output",
        tmp_path / "models.py",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    code = (tmp_path / "models.py").read_text()
    for name in (
        "ImapConnection",
        "ImapOAuthConnection",
        "SearchMailboxInputs",
        "SearchMailboxResult",
        "ErrorEnvelope",
        "Envelope",
    ):
        assert f"class {name}(" in code, name
    assert "Connection14" not in code and "Data6" not in code
    # The models validate a real request, and the secret survives a python-mode dump (the
    # documented way: SecretStr masks it in mode="json").
    check = tmp_path / "check.py"
    check.write_text(
        textwrap.dedent(
            """
            import json
            from models import SearchMailboxRequest
            body = SearchMailboxRequest.model_validate({
                "connection": {"host": "imap.example.com", "user": "u", "pass": "s3cret"},
                "inputs": {"mailbox": "INBOX", "filterOptions": {"subject": "x"}},
            })
            dumped = body.model_dump(mode="python", by_alias=True, exclude_none=True)
            secret = dumped["connection"]["pass"]
            print(secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret)
            """
        )
    )
    ran = run(generators / "python", check, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "s3cret"
