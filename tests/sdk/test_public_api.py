"""What connectors may import from connector-sdk is declared, documented and checked.

Each public module's ``__all__`` (with signatures) is the checked-in ``sdk/public-api.txt``;
every name in it is documented; nothing private is reachable from a public module under a
public name; every other module is private by name (or a host: service, Temporal, exports,
the console's commands); the import contract forbids the IMAP connector every one of them,
and the connector imports only declared names.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
import re
import tomllib
import types
from pathlib import Path

import pytest

from connector.sdk import _public_api
from connector.sdk._public_api import HOST_PACKAGES, PUBLIC_MODULES, Change, compare

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk" / "src" / "connector" / "sdk"
SNAPSHOT = ROOT / "sdk" / "public-api.txt"
GUIDE = ROOT / "docs" / "writing-a-connector.md"
CONTRACT = "Connectors import only the SDK's public API"


def sdk_modules() -> list[str]:
    """Every module of connector.sdk, by its file (nothing imported)."""
    found = []
    for path in sorted(SDK.rglob("*.py")):
        if "templates" in path.relative_to(SDK).parts:
            continue
        parts = ["connector", "sdk", *path.relative_to(SDK).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found.append(".".join(parts))
    return found


def is_private(name: str) -> bool:
    return any(part.startswith("_") for part in name.split("."))


def is_host(name: str) -> bool:
    """Under a package that is the SDK's own host (or a console command module)."""
    return any(name.startswith(package + ".") for package in HOST_PACKAGES) or (
        name in HOST_PACKAGES and name != "connector.sdk.cli"
    )


def guide_section() -> str:
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("## The public API")
    end = text.index("\n## ", start + 1)
    return text[start:end]


# -- the declaration ---------------------------------------------------------------------------


def test_the_checked_in_snapshot_is_the_public_api():
    current = _public_api.text()
    recorded = SNAPSHOT.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            recorded.splitlines(keepends=True),
            current.splitlines(keepends=True),
            "sdk/public-api.txt",
            "the code",
        )
    )
    assert current == recorded, (
        "The public API changed: if that is meant, run "
        "`.venv/bin/python -m connector.sdk._public_api --write sdk/public-api.txt` "
        "(a removed or changed name needs a new major version: scripts/release says)\n" + diff
    )


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_each_public_module_declares_what_it_exports(name):
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(set(exported)), f"{name}.__all__: sorted, each name once"
    for item in exported:
        assert not item.startswith("_"), f"{name}.__all__ exports a private name {item!r}"
        value = getattr(module, item)  # raises when a declared name does not exist
        assert not isinstance(value, types.ModuleType), f"{name}.{item} is a module"


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_every_public_name_is_documented(name):
    module = importlib.import_module(name)
    section = guide_section()
    assert f"`{name}`" in section, f"docs/writing-a-connector.md's public API omits {name}"
    assert (module.__doc__ or "").strip(), f"{name} has no docstring"
    for item in module.__all__:
        value = getattr(module, item)
        if inspect.isclass(value) or inspect.isfunction(value):
            own = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
            assert (own or "").strip(), f"{name}.{item} has no docstring"
        assert re.search(rf"`{re.escape(item)}[`(]", section), (
            f"{name}.{item} is public but docs/writing-a-connector.md's public API omits it"
        )


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_nothing_private_is_exported_by_accident(name):
    """A public module holds, under public names, only what it declares: an SDK object it
    does not export (a helper of its own, or something of a private module's imported there)
    must have a leading underscore, so ``from connector.sdk.X import helper`` cannot work by
    accident. (Modules, and what comes from outside the SDK, typing's names, do not count.)"""
    module = importlib.import_module(name)
    accidental = []
    for item, value in vars(module).items():
        if item.startswith("_") or item in module.__all__:
            continue
        if isinstance(value, types.ModuleType):
            continue
        owner = getattr(value, "__module__", None)
        if owner is not None and not owner.startswith("connector.sdk"):
            continue  # (typing.Any, collections.abc.Callable, from __future__'s annotations)
        accidental.append(item)
    assert accidental == [], (
        f"{name} holds {accidental} under public names without exporting them: add each to "
        "__all__ (and document it), or give it a leading underscore"
    )


def test_each_sdk_module_is_public_private_or_a_host():
    unclassified = [
        name
        for name in sdk_modules()
        if name not in PUBLIC_MODULES and not is_private(name) and not is_host(name)
    ]
    assert unclassified == [], (
        f"{unclassified}: a module connectors may import goes in PUBLIC_MODULES "
        "(connector/sdk/_public_api.py) with an __all__; any other gets a leading underscore"
    )


def test_public_submodules_are_public_modules_or_private():
    """Inside a public package (http, testing), every module but the package is private."""
    for package in ("connector.sdk.http", "connector.sdk.testing"):
        inside = [n for n in sdk_modules() if n.startswith(package + ".")]
        assert inside, package
        assert all(is_private(n) for n in inside), inside


# -- the import contract and the IMAP connector ------------------------------------------------


def contract() -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    found = [c for c in config["tool"]["importlinter"]["contracts"] if c["name"] == CONTRACT]
    assert len(found) == 1, f"pyproject.toml has no import contract named {CONTRACT!r}"
    return found[0]


def matches(expression: str, module: str) -> bool:
    """Whether an import-linter module expression covers ``module`` (as a package: its
    submodules too)."""
    pattern = re.escape(expression).replace(r"\*\*", ".+").replace(r"\*", "[^.]+")
    return re.fullmatch(rf"{pattern}(\..+)?", module) is not None


def test_the_import_contract_forbids_every_module_that_is_not_public():
    forbidden = contract()["forbidden_modules"]
    assert contract()["source_modules"] == ["connector.imap"]
    not_public = [n for n in sdk_modules() if n not in PUBLIC_MODULES]
    uncovered = [n for n in not_public if not any(matches(e, n) for e in forbidden)]
    assert uncovered == [], f"add {uncovered} to the contract {CONTRACT!r} in pyproject.toml"
    too_much = [n for n in PUBLIC_MODULES if any(matches(e, n) for e in forbidden)]
    assert too_much == [], f"the contract forbids public modules: {too_much}"


def test_the_contract_matcher_reads_wildcards_as_import_linter_does():
    assert matches("connector.sdk._runtime", "connector.sdk._runtime")
    assert matches("connector.sdk.service", "connector.sdk.service.routes")
    assert matches("connector.sdk.cli.*", "connector.sdk.cli.steps")
    assert not matches("connector.sdk.cli.*", "connector.sdk.cli")
    assert not matches("connector.sdk._pool", "connector.sdk._pooled")


def imports_from_sdk(path: Path) -> list[tuple[int, str, str | None]]:
    """Each (line, module, name) the file imports from connector.sdk; name None for
    ``import connector.sdk.x``."""
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("connector.sdk"):
            found += [(node.lineno, node.module or "", alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, alias.name, None)
                for alias in node.names
                if alias.name.startswith("connector.sdk")
            ]
    return found


def undeclared(module: str, name: str | None) -> str | None:
    """Why importing ``name`` from ``module`` is not the public API, or None."""
    if name is None:
        return None if module in PUBLIC_MODULES else f"{module} is not a public module"
    if module not in PUBLIC_MODULES:
        return f"{module} is not a public module"
    if name in importlib.import_module(module).__all__:
        return None
    if f"{module}.{name}" in PUBLIC_MODULES:
        return None  # (from connector.sdk import egress: a public module)
    return f"{name} is not in {module}.__all__"


CONNECTOR_CODE = sorted(
    [
        *(ROOT / "connector" / "imap").rglob("*.py"),
        *(SDK / "templates").rglob("*.py.tmpl"),  # what `connector new` writes
    ]
)


def test_the_imap_connector_and_the_templates_import_only_public_names():
    problems = [
        f"{path.relative_to(ROOT)}:{line}: {why}"
        for path in CONNECTOR_CODE
        for line, module, name in imports_from_sdk(path)
        if (why := undeclared(module, name)) is not None
    ]
    assert problems == []
    assert any(imports_from_sdk(p) for p in CONNECTOR_CODE)  # (the walk saw the imports)


def test_an_import_of_a_private_name_is_caught():
    assert undeclared("connector.sdk._runtime", "Connector") is not None
    assert undeclared("connector.sdk.text", "re") == "re is not in connector.sdk.text.__all__"
    assert undeclared("connector.sdk", "egress") is None
    assert undeclared("connector.sdk.errors", "InvalidInput") is None


# -- comparing two releases' snapshots ---------------------------------------------------------

NOT_FOUND = "connector.sdk.errors.NotFound: class ({base}) (message: str, *, path: str = ''{more})"
PAGE = "connector.sdk.http.Page: class (object) (items: list, seen: list{default}{more}) -> None"
OLD = [
    "connector.sdk.text.shorten: def (text: str, limit: int) -> str",
    "connector.sdk.text.VALUE_CHARS: int = 40",
    NOT_FOUND.format(base="ConnectorError", more=""),
    "connector.sdk.errors.NotFound.code: = 'NOT_FOUND'",
    PAGE.format(default=" = <factory>", more=""),
]


def changed(old_line: str, new_line: str) -> Change:
    changes = compare([old_line], [new_line])
    assert len(changes) == 1, changes
    return changes[0]


def test_a_removed_name_breaks_and_an_added_one_does_not():
    changes = compare(OLD, [*OLD[1:], "connector.sdk.text.SURROGATE: re.Pattern = '[x]'"])
    assert Change(True, "connector.sdk.text.shorten", "removed") in changes
    assert Change(False, "connector.sdk.text.SURROGATE", "added") in changes
    assert compare(OLD, list(OLD)) == []


@pytest.mark.parametrize(
    ("new", "breaking"),
    [
        ("(text: str, limit: int, *, mark: str = '...') -> str", False),  # a new optional one
        ("(text: str, limit: int = 40) -> str", False),  # a default given
        ("(text: str, limit: int, **more: Any) -> str", False),
        ("(text: str | bytes, limit: int) -> str", False),  # types: not judged
        ("(text: str) -> str", True),  # a parameter removed
        ("(text: str, size: int) -> str", True),  # renamed
        ("(limit: int, text: str) -> str", True),  # reordered
        ("(text: str, limit: int, mark: str) -> str", True),  # a new required one
        ("(text: str, *, limit: int) -> str", True),  # no longer positional
    ],
)
def test_a_changed_signature_breaks_only_what_an_old_call_trips_on(new, breaking):
    change = changed(OLD[0], f"connector.sdk.text.shorten: def {new}")
    assert change.breaking is breaking, change


def test_changes_to_classes_and_constants():
    assert changed(OLD[1], "connector.sdk.text.VALUE_CHARS: int = 50").breaking
    assert changed(OLD[3], "connector.sdk.errors.NotFound.code: = 'MISSING'").breaking
    assert changed(OLD[2], NOT_FOUND.format(base="Exception", more="")).breaking
    more = NOT_FOUND.format(base="ConnectorError", more=", retryable: bool = False")
    assert not changed(OLD[2], more).breaking
    assert changed(OLD[4], PAGE.format(default="", more="")).breaking  # the default is gone
    kept = PAGE.format(default=" = <factory>", more=", more: int = 1")
    assert not changed(OLD[4], kept).breaking
    assert changed(OLD[0], "connector.sdk.text.shorten: property -> str").breaking
