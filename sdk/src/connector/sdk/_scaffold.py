"""``connector new NAME [--template basic|rest]``: a new connector package that builds,
installs and passes its tests.

The templates are folders under ``templates/`` (shipped in the wheel): ``basic`` keeps
notes in a local folder (no network: the smallest whole connector); ``rest`` is a REST API
connector on ``connector.sdk.http`` (API-key, OAuth 2.0 and app-only connections, lists
paged by link and by cursor, create, close and upload actions, a ListPoller trigger, a
picklist), tested against ``FakeHttpServer``. In file contents ``{{name}}``, ``{{dist}}``,
``{{dist_module}}``, ``{{label}}`` and ``{{sdk_range}}`` are filled in; in paths,
``__name__`` is the connector's name.
"""

from __future__ import annotations

import argparse
import keyword
import re
import struct
import sys
import zlib
from pathlib import Path

from . import __version__
from ._discovery import installed_connectors
from .cli import Invocation

NAME = re.compile(r"[a-z][a-z0-9_]*")
TEMPLATES = Path(__file__).with_name("templates")
# Names a connector cannot take: they are (or will be) parts of connector-sdk itself.
RESERVED = {"sdk", "http", "testing", "templates", "cli", "service", "temporal"}


def name_problem(name: str, installed: set[str]) -> str | None:
    """Why ``name`` cannot be a new connector's, or None."""
    if not NAME.fullmatch(name):
        return (
            f"{name!r} is not a connector name: use lower-case letters, digits and "
            "underscores, starting with a letter (it becomes connector.NAME)"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"{name!r} is a Python keyword: connector.{name} could not be imported"
    if name in RESERVED:
        return f"{name!r} is reserved: connector.{name} is (or will be) part of connector-sdk"
    if name in installed:
        return (
            f"a connector named {name!r} is installed already: choose another name "
            "(two distributions cannot both provide connector.NAME)"
        )
    return None


def command(cli: Invocation, argv: list[str]) -> int:
    """``connector new NAME [--template basic|rest] [--dir DIR]``."""
    parser = argparse.ArgumentParser(
        prog=f"{cli.prog} new", description="Scaffold a connector package, with its tests."
    )
    parser.add_argument(
        "name", metavar="NAME", help="the connector's key: lower case, digits, underscores"
    )
    parser.add_argument(
        "--template",
        choices=sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir()),
        default="basic",
        help="basic: a local example, no network; rest: a REST API on connector.sdk.http",
    )
    parser.add_argument("--dir", default=".", help="where to create NAME-connector/ (default .)")
    args = parser.parse_args(argv)
    problem = name_problem(args.name, set(installed_connectors()))
    if problem:
        print(f"connector new: {problem}", file=sys.stderr)
        return 2
    try:
        root = scaffold(args.name, Path(args.dir), template=args.template)
    except FileExistsError as exc:
        print(f"connector new: {exc}", file=sys.stderr)
        return 1
    print(f"created {root}")
    print(f'next: pip install -e "{root}[test]" && pytest {root}/tests')
    return 0


def scaffold(name: str, where: Path, template: str = "basic") -> Path:
    """Write the package for connector ``name`` under ``where``; returns its folder."""
    root = where / f"{name.replace('_', '-')}-connector"
    if root.exists():
        raise FileExistsError(f"{root} already exists")
    sdk_minor = ".".join(__version__.split(".")[:2])
    values = {
        "name": name,
        "dist": f"{name.replace('_', '-')}-connector",
        "dist_module": f"{name}_connector",
        "label": name.replace("_", " ").title(),
        "sdk_range": f">={sdk_minor},<{_next_minor(sdk_minor)}",
    }
    source = TEMPLATES / template
    for path in sorted(source.rglob("*.tmpl")):
        relative = str(path.relative_to(source))[: -len(".tmpl")].replace("__name__", name)
        text = path.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    (root / f"connector/{name}/icon.png").write_bytes(_icon())
    return root


def _next_minor(version: str) -> str:
    major, minor = (int(part) for part in version.split("."))
    return f"{major}.{minor + 1}"


def _icon(size: int = 230) -> bytes:
    """A plain square PNG, so the manifest's icon exists until you draw one (230 x 230, the
    size Power Automate's marketplace asks for)."""

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
