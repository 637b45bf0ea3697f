"""What a platform engineer does with our OpenAPI, one generator each, against Dovecot
through the service (the documents read from its URL, without a token):

- openapi-python-client writes a typed client from /openapi.json that runs getStatus,
  searchMailbox and addFlags;
- datamodel-code-generator, with the README's flags (--strict-nullable: without it a
  required nullable field is typed as never null), turns /openapi-3.0.json into the named
  models, which parse real getStatus and searchMailbox replies (nulls included);
- openapi-generator (python, 7.26, from PyPI: a jar, run by Java) writes a client from
  /openapi.json that runs getStatus and searchMailbox and deletes a message (a ``const``);
- openapi-typescript writes types that a TypeScript program calling getStatus and
  searchMailbox type-checks against (tsc), then runs (node).

The Python generators live in a virtualenv of their own, the npm ones in tests/tools (both
pinned: their output changes between versions)."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import venv
from pathlib import Path

import pytest

from tests.helpers import ROOT, append, make_message, raw_client
from tests.servers.service import TOKEN, Service

GENERATORS = (
    "openapi-python-client==0.29.1",
    "datamodel-code-generator==0.89.0",
    "openapi-generator-cli==7.26.0",
    # what openapi-generator's python client needs (pydantic comes with the others)
    "urllib3",
    "python-dateutil",
)
TOOLS = ROOT / "tests" / "tools" / "node_modules" / ".bin"


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
from imap_client.api.actions import (
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
    spec.write_text(service.http.get("/openapi.json").text)  # (no token needed)
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
    modules = {p.stem for p in (tmp_path / "imap_client" / "api" / "actions").glob("*.py")}
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


def seeded_mailbox(server, name: str) -> str:
    """A mailbox of three messages (none answers another: inReplyTo is null)."""
    imap = raw_client(server)
    if imap.folder_exists(name):
        imap.delete_folder(name)
    imap.create_folder(name)
    for subject in ("generated one", "generated two", "other"):
        append(imap, name, make_message(subject))
    imap.logout()
    return name


def test_datamodel_code_generator_models_parse_real_replies(
    generators, service, dovecot_server, tmp_path
):
    spec = tmp_path / "openapi-3.0.json"
    spec.write_text(service.http.get("/openapi-3.0.json").text)
    made = run(  # the README's flags
        generators / "datamodel-codegen",
        "--input",
        spec,
        "--input-file-type",
        "openapi",
        "--strict-nullable",
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
    mailbox = seeded_mailbox(dovecot_server, "GeneratedModels")
    # The models validate a real request, and the secret survives a python-mode dump (the
    # documented way: SecretStr masks it in mode="json"); they parse real replies, nulls
    # included (inReplyTo here; highestModseq on a server without CONDSTORE).
    check = tmp_path / "check.py"
    check.write_text(
        textwrap.dedent(
            """
            import json, sys
            import httpx
            from models import (
                GetStatusRequest, GetStatusResponse, SearchMailboxRequest,
                SearchMailboxResponse,
            )
            url, token, fields, mailbox = sys.argv[1:5]
            body = SearchMailboxRequest.model_validate({
                "connection": json.loads(fields), "inputs": {"mailbox": mailbox},
            })
            sent = body.model_dump(mode="python", by_alias=True, exclude_none=True)
            secret = sent["connection"]["pass"]
            sent["connection"]["pass"] = secret.get_secret_value()
            headers = {"Authorization": f"Bearer {token}"}
            found = httpx.post(f"{url}/v1/imap/actions/searchMailbox", json=sent, headers=headers)
            parsed = SearchMailboxResponse.model_validate(found.json())
            status = GetStatusRequest.model_validate(
                {"connection": json.loads(fields), "inputs": {"mailbox": mailbox}}
            ).model_dump(mode="python", by_alias=True, exclude_none=True)
            status["connection"]["pass"] = status["connection"]["pass"].get_secret_value()
            reply = httpx.post(f"{url}/v1/imap/actions/getStatus", json=status, headers=headers)
            counted = GetStatusResponse.model_validate(reply.json())
            without_condstore = dict(reply.json())
            without_condstore["data"] = {**without_condstore["data"], "highestModseq": None}
            GetStatusResponse.model_validate(without_condstore)
            first = parsed.data.messages[0]
            print(json.dumps({
                "messages": counted.data.messages,
                "subjects": sorted(m.envelope.subject for m in parsed.data.messages),
                "inReplyTo": first.envelope.inReplyTo,
            }))
            """
        )
    )
    fields = json.dumps(dovecot_server.connection("alice"))
    ran = run(generators / "python", check, service.url, TOKEN, fields, mailbox, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    assert out["messages"] == 3
    assert out["subjects"] == ["generated one", "generated two", "other"]
    assert out["inReplyTo"] is None


# openapi-generator's python client, as its README says: a Configuration with the bearer
# token, an ApiClient, the API class of a tag, typed request models from dicts.
OGEN_SCRIPT = """
import json, sys
import imap_ogen
from imap_ogen.models import (
    DeleteMessageRequest, GetStatusRequest, SearchMailboxRequest,
)

url, token, fields, mailbox = sys.argv[1:5]
connection = json.loads(fields)
configuration = imap_ogen.Configuration(host=url, access_token=token)
with imap_ogen.ApiClient(configuration) as api_client:
    actions = imap_ogen.ActionsApi(api_client)
    status = actions.imap_action_get_status(
        GetStatusRequest.from_dict({"connection": connection, "inputs": {"mailbox": mailbox}})
    )
    found = actions.imap_action_search_mailbox(
        SearchMailboxRequest.from_dict(
            {
                "connection": connection,
                "inputs": {"mailbox": mailbox, "filterOptions": {"subject": "generated"}},
            }
        )
    )
    uids = sorted(m.uid for m in found.data.messages)
    deleted = actions.imap_action_delete_message(
        DeleteMessageRequest.from_dict(
            {"connection": connection, "inputs": {"mailbox": mailbox, "messageIndex": uids[0]}}
        )
    )
    print(json.dumps({
        "ok": status.ok, "messages": status.data.messages, "uids": uids,
        "subject": found.data.messages[0].envelope.subject, "deleted": deleted.data.deleted,
    }))
"""


def test_openapi_generator_python_client_runs_steps(generators, service, dovecot_server, tmp_path):
    spec = tmp_path / "openapi.json"
    spec.write_text(service.http.get("/openapi.json").text)
    made = run(
        generators / "openapi-generator-cli",
        "generate",
        "-i",
        spec,
        "-g",
        "python",
        "-o",
        tmp_path / "ogen",
        "--package-name",
        "imap_ogen",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    mailbox = seeded_mailbox(dovecot_server, "GeneratedOgen")
    script = tmp_path / "drive_ogen.py"
    script.write_text(OGEN_SCRIPT)
    fields = json.dumps(dovecot_server.connection("alice"))
    ran = subprocess.run(
        [str(generators / "python"), str(script), service.url, TOKEN, fields, mailbox],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "ogen")},
    )
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    out = json.loads(ran.stdout)
    assert out["ok"] is True and out["messages"] == 3
    assert len(out["uids"]) == 2 and out["subject"].startswith("generated")
    assert out["deleted"] is True  # (const: true, read as a boolean)


# A TypeScript program against the types openapi-typescript writes: tsc checks that a real
# request (filterOptions an object of filters) and the reply's fields type-check.
TS_PROGRAM = """
import type { components } from "./imap";

type Schemas = components["schemas"];
type StatusRequest = Schemas["GetStatusRequest"];
type SearchRequest = Schemas["SearchMailboxRequest"];
type StatusReply = Schemas["GetStatusResponse"];
type SearchReply = Schemas["SearchMailboxResponse"];

async function post<T>(url: string, token: string, path: string, body: unknown): Promise<T> {
  const reply = await fetch(url + path, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return (await reply.json()) as T;
}

async function main(): Promise<void> {
  const [url, token, fields, mailbox] = process.argv.slice(2);
  const connection = JSON.parse(fields) as Schemas["ImapConnection"];
  const status: StatusRequest = { connection, inputs: { mailbox } };
  const search: SearchRequest = {
    connection,
    inputs: { mailbox, filterOptions: { subject: "generated" }, limit: 10 },
  };
  const counted = await post<StatusReply>(url, token, "/v1/imap/actions/getStatus", status);
  const found = await post<SearchReply>(url, token, "/v1/imap/actions/searchMailbox", search);
  const subjects: (string | null)[] = found.data.messages.map((m) => m.envelope.subject);
  const next: number = counted.data.uidNext;
  console.log(JSON.stringify({ messages: counted.data.messages, next, subjects }));
}

main();
"""


def test_openapi_typescript_types_check_and_run(service, dovecot_server, tmp_path):
    for name in ("openapi-typescript", "tsc"):
        if not (TOOLS / name).exists():
            pytest.fail(f"{TOOLS / name} is missing: run scripts/setup (npm ci in tests/tools)")
    spec = tmp_path / "openapi.json"
    spec.write_text(service.http.get("/openapi.json").text)
    made = run(  # (the README's flag: an input with a default is optional to send)
        TOOLS / "openapi-typescript",
        spec,
        "--default-non-nullable",
        "false",
        "-o",
        tmp_path / "imap.ts",
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    (tmp_path / "main.ts").write_text(TS_PROGRAM)
    checked = run(
        TOOLS / "tsc",
        "--strict",
        "--target",
        "es2022",
        "--module",
        "commonjs",
        "--lib",
        "es2022,dom",
        "--types",
        "node",
        "--typeRoots",
        TOOLS.parent / "@types",
        "--outDir",
        tmp_path / "js",
        tmp_path / "main.ts",
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    mailbox = seeded_mailbox(dovecot_server, "GeneratedTs")
    fields = json.dumps(dovecot_server.connection("alice"))
    ran = run(
        "node", tmp_path / "js" / "main.js", service.url, TOKEN, fields, mailbox, cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    assert out["messages"] == 3 and out["next"] > 3
    assert sorted(out["subjects"]) == ["generated one", "generated two"]
