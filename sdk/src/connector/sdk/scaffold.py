"""``connector new NAME``: a new connector package that builds, installs and passes its tests.

The example is self-contained (no account, no network): a connection to a folder of notes,
an action that adds a note, a trigger for new notes, and a data source of the notes' tags.
Replace the handlers and the manifest with your own.
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
import zlib
from pathlib import Path

from . import __version__
from .cli import Invocation

NAME = re.compile(r"[a-z][a-z0-9_]*")


def command(cli: Invocation, argv: list[str]) -> int:
    """``connector new NAME [--dir DIR]``."""
    parser = argparse.ArgumentParser(
        prog=f"{cli.prog} new", description="Scaffold a connector package, with its tests."
    )
    parser.add_argument("name", help="the connector's key: lower case, digits, underscores")
    parser.add_argument("--dir", default=".", help="where to create NAME-connector/ (default .)")
    args = parser.parse_args(argv)
    if not NAME.fullmatch(args.name):
        print(
            f"connector new: {args.name!r} is not a connector name: use lower-case letters, "
            "digits and underscores, starting with a letter (it becomes connector.NAME)",
            file=sys.stderr,
        )
        return 2
    try:
        root = scaffold(args.name, Path(args.dir))
    except FileExistsError as exc:
        print(f"connector new: {exc}", file=sys.stderr)
        return 1
    print(f"created {root}")
    print(f"next: pip install -e {root} && pytest {root}/tests")
    return 0


def scaffold(name: str, where: Path) -> Path:
    """Write the package for connector ``name`` under ``where``; returns its folder."""
    root = where / f"{name.replace('_', '-')}-connector"
    if root.exists():
        raise FileExistsError(f"{root} already exists")
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        f"connector/{name}/__init__.py": INIT,
        f"connector/{name}/connector.yaml": MANIFEST,
        f"connector/{name}/handlers.py": HANDLERS,
        f"tests/test_{name}.py": TESTS,
    }
    sdk_minor = ".".join(__version__.split(".")[:2])
    values = {
        "name": name,
        "dist": f"{name.replace('_', '-')}-connector",
        "label": name.replace("_", " ").title(),
        "sdk_range": f">={sdk_minor},<{_next_minor(sdk_minor)}",
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    (root / f"connector/{name}/icon.png").write_bytes(_icon())
    return root


def _next_minor(version: str) -> str:
    major, minor = (int(part) for part in version.split("."))
    return f"{major}.{minor + 1}"


def _icon(size: int = 16) -> bytes:
    """A plain square PNG, so the manifest's icon exists until you draw one."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x3a\x6e\xa5" * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.21"]
build-backend = "hatchling.build"

[project]
name = "{dist}"
version = "0.1.0"
description = "The {label} connector"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["connector-sdk{sdk_range}"]

[project.optional-dependencies]
test = ["pytest>=7"]

# How the SDK finds this connector: the entry point's name must equal the manifest's key.
[project.entry-points.connectors]
{name} = "connector.{name}:manifest_path"

[tool.hatch.build.targets.wheel]
packages = ["connector"]  # a namespace package: connector/ has no __init__.py

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

README = """\
# {dist}

A connector built on connector-sdk. The manifest (`connector/{name}/connector.yaml`)
declares the connection, actions, triggers and data sources; `connector/{name}/handlers.py`
implements them.

```sh
pip install -e ".[test]"
pytest
connector describe {name} addNote
connector invoke {name} addNote --connection '{{"directory": "/tmp/notes"}}' --input title=Hello
connector docs {name} --out docs
```
"""

INIT = '''\
"""The {label} connector: handlers for connector.yaml."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"


def manifest_path() -> Path:
    """The entry point (group "connectors"): where this connector's manifest is."""
    return Path(__file__).with_name("connector.yaml")
'''

MANIFEST = """\
manifestVersion: 1
key: {name}
label: {label}
description: Notes kept as files in a folder (an example to replace with your own service)
version: 0.1.0
icon: icon.png
errorCodes: [NOT_FOUND]

connections:
  - key: folder
    label: Notes folder
    description: A folder that holds the notes
    handler: connector.{name}.handlers:open_folder
    test:
      handler: connector.{name}.handlers:count_notes
      output:
        schema: {{type: object, required: [notes], properties: {{notes: {{type: integer}}}}}}
        example: {{notes: 3}}
    inputs:
      - key: directory
        label: Directory
        type: string
        required: true
        comments: The folder's path; it must exist.
        placeholder: /srv/notes

actions:
  - key: addNote
    label: Add Note
    description: Adds a note and returns its id
    handler: connector.{name}.handlers:add_note
    inputs:
      - {{key: title, label: Title, type: string, required: true, placeholder: e.g. Call Ann}}
      - {{key: body, label: Body, type: text, default: ""}}
      - key: tag
        label: Tag
        type: string
        default: general
        dataSource: listTags
        schema: {{pattern: "^[a-z0-9-]+$"}}
        invalidMessage: a tag is lower-case letters, digits and dashes
    output:
      schema:
        type: object
        required: [id, title, tag]
        properties: {{id: {{type: integer}}, title: {{type: string}}, tag: {{type: string}}}}
      example: {{id: 1, title: Call Ann, tag: general}}

triggers:
  - key: newNotes
    label: New Notes
    description: Each note added since the last poll
    handler: connector.{name}.handlers:new_notes
    inputs:
      - {{key: tag, label: Tag, type: string, dataSource: listTags}}
    output:
      schema:
        type: array
        items: {{type: object, required: [id, title], properties: {{id: {{type: integer}}}}}}
      example: [{{id: 1, title: Call Ann, body: "", tag: general}}]

dataSources:
  - key: listTags
    label: Tags
    description: The tags in use, for the Tag inputs
    handler: connector.{name}.handlers:list_tags
    inputs: []
    output:
      schema:
        type: array
        items: {{type: object, required: [key, label]}}
      example: [{{key: general, label: general}}]
"""

HANDLERS = '''\
"""The handlers: each receives the open session and its inputs as parameters
(manifest keys in snake_case), and returns JSON. Raise connector.sdk errors for
failures the user can fix; anything else becomes INTERNAL_ERROR (and is logged)."""

from __future__ import annotations

import json
from pathlib import Path

from connector.sdk.context import Context
from connector.sdk.errors import NotFound


class Folder:
    """The session: what the connection handler opens and the runtime closes."""

    def __init__(self, directory: str):
        self.path = Path(directory)
        if not self.path.is_dir():
            raise NotFound(f"The folder {{directory!r}} does not exist: check Directory.")

    def notes(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.path.glob("note-*.json"))]

    def close(self) -> None:
        pass  # nothing to release here; a network session would log out


def open_folder(directory: str) -> Folder:
    return Folder(directory)


def count_notes(folder: Folder) -> dict:
    return {{"notes": len(folder.notes())}}


def add_note(folder: Folder, title: str, body: str, tag: str, context: Context) -> dict:
    number = max((n["id"] for n in folder.notes()), default=0) + 1
    note = {{"id": number, "title": title, "body": body, "tag": tag}}
    (folder.path / f"note-{{number:08d}}.json").write_text(json.dumps(note))
    context.log.info("added note %d", number)
    return {{"id": number, "title": title, "tag": tag}}


def new_notes(folder: Folder, state: dict, tag: str | None) -> dict:
    """Notes after the state's last id; the state moves on only past what is returned."""
    last = int(state.get("lastId", 0))
    fresh = [n for n in folder.notes() if n["id"] > last]
    records = [n for n in fresh if tag is None or n["tag"] == tag]
    return {{
        "records": records,
        "state": {{"lastId": max((n["id"] for n in fresh), default=last)}},
        "hasMore": False,
    }}


def list_tags(folder: Folder) -> list[dict]:
    tags = sorted({{n["tag"] for n in folder.notes()}})
    return [{{"key": t, "label": t}} for t in tags]
'''

TESTS = '''\
"""The connector's tests: the SDK's standard checks and its own behaviour, through Harness."""

from __future__ import annotations

import pytest

from connector.sdk import Connector, Harness
from connector.sdk.testing import required_inputs_are_enforced


@pytest.fixture
def connector() -> Connector:
    return Connector.load("{name}")  # by its entry point: the package must be installed


@pytest.fixture
def harness(connector, tmp_path) -> Harness:
    return Harness(connector, {{"directory": str(tmp_path)}})


def test_the_manifest_is_valid_and_named_like_the_entry_point(connector):
    assert connector.manifest.key == "{name}"


def test_standard_checks(connector):
    assert required_inputs_are_enforced(connector) == []


def test_add_note_then_poll_and_pick_a_tag(harness):
    added = harness.ok("addNote", title="Call Ann", tag="work")
    assert added == {{"id": 1, "title": "Call Ann", "tag": "work"}}
    first = harness.poll("newNotes")
    assert [n["title"] for n in first["data"]] == ["Call Ann"]
    assert harness.poll("newNotes", state=first["state"])["data"] == []
    assert harness.data_source("listTags") == [{{"key": "work", "label": "work"}}]


def test_bad_input_and_a_missing_folder_are_typed_errors(harness, tmp_path):
    error = harness.error("addNote", "INVALID_INPUT", title="x", tag="Not A Tag")
    assert error["details"][0]["path"] == "inputs.tag"
    missing = harness.with_connection(directory=str(tmp_path / "nowhere"))
    assert "Directory" in missing.error("addNote", "NOT_FOUND", title="x")["message"]
'''
