"""The SDK's public API as text, and what changed between two releases of it.

What connectors may import is each public module's ``__all__`` (``PUBLIC_MODULES``).
``snapshot()`` writes it one line per name and member, with signatures::

    connector.sdk.text.shorten: def (text: str, limit: int) -> str
    connector.sdk.errors.InvalidInput: class (ConnectorError) (message: str, *, path: ...)
    connector.sdk.errors.InvalidInput.code: = 'INVALID_INPUT'

``sdk/public-api.txt`` is that text, checked in: the tests hold it to the code, so a change
to the public API shows in a review as a change to that file; ``scripts/release`` compares
it with the last release's (``compare``): a removed name, or a signature that a caller of
the old one could trip on, needs a new major version (in 0.x, a new minor, as ``connector
diff`` reads versions). ``python -m connector.sdk._public_api --write sdk/public-api.txt``
rewrites it.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ForwardRef, NamedTuple

PUBLIC_MODULES = (
    "connector.sdk",
    "connector.sdk.cli",
    "connector.sdk.context",
    "connector.sdk.deadlines",
    "connector.sdk.egress",
    "connector.sdk.errors",
    "connector.sdk.http",
    "connector.sdk.push",
    "connector.sdk.session",
    "connector.sdk.testing",
    "connector.sdk.text",
)
# Packages that are the SDK's hosts, not part of what connectors import (documented "not for
# connectors"), and the console's command modules (``connector.sdk.cli.*``).
HOST_PACKAGES = (
    "connector.sdk.service",
    "connector.sdk.temporal",
    "connector.sdk.export",
    "connector.sdk.cli",
)
# Dunder methods that are part of a class's public behaviour (a context manager, a callable).
PUBLIC_DUNDERS = frozenset({"__call__", "__enter__", "__exit__", "__iter__", "__len__"})
_LITERALS = (str, int, float, bool, type(None))
_SHOWN_OBJECT = re.compile(r"<[^<>]*>")


class Change(NamedTuple):
    """One difference between two snapshots: ``breaking`` when a caller of the old API could
    fail against the new one."""

    breaking: bool
    name: str
    what: str

    def line(self) -> str:
        return f"{'breaking  ' if self.breaking else 'compatible'}  {self.name}: {self.what}"


# -- the snapshot ----------------------------------------------------------------------------


def snapshot(modules: tuple[str, ...] = PUBLIC_MODULES) -> list[str]:
    """The public API of ``modules``, one line per exported name and public member, sorted."""
    loaded = {name: importlib.import_module(name) for name in modules}
    exporters: dict[int, list[str]] = {}
    for name, module in loaded.items():
        for exported in module.__all__:
            exporters.setdefault(id(getattr(module, exported)), []).append(name)
    lines: list[str] = []
    for name, module in loaded.items():
        for exported in module.__all__:
            value = getattr(module, exported)
            qualified = f"{name}.{exported}"
            home = _home(value, exporters[id(value)])
            if home != name:
                lines.append(f"{qualified}: = {home}.{exported}")
                continue
            lines += _describe(qualified, value)
    return sorted(lines)


def _home(value: Any, modules: list[str]) -> str:
    """Where an object exported by several public modules is described: the one its own
    module lives in (``connector.sdk.errors`` for an error class), else the first."""
    owner = getattr(value, "__module__", None) or ""
    inside = [m for m in modules if owner == m or owner.startswith(m + ".")]
    return max(inside, key=len) if inside else modules[0]


def _describe(qualified: str, value: Any) -> list[str]:
    if inspect.isclass(value):
        return _describe_class(qualified, value)
    if callable(value):
        return [f"{qualified}: def {_signature(value)}"]
    return [f"{qualified}: {_constant(value)}"]


def _describe_class(qualified: str, cls: type) -> list[str]:
    bases = ", ".join(base.__name__ for base in cls.__bases__)
    lines = [f"{qualified}: class ({bases}) {_signature(cls)}"]
    for member, raw in _members(cls):
        where = f"{qualified}.{member}"
        if isinstance(raw, property):
            returns = _returns(raw.fget)
            lines.append(f"{where}: property{returns}")
        elif isinstance(raw, staticmethod | classmethod):
            kind = "staticmethod" if isinstance(raw, staticmethod) else "classmethod"
            lines.append(f"{where}: {kind} {_signature(getattr(cls, member))}")
        elif inspect.isfunction(raw):
            lines.append(f"{where}: def {_signature(raw)}")
        elif isinstance(raw, _LITERALS):
            lines.append(f"{where}: = {raw!r}")
    own = {m for m, _ in _members(cls)}
    for attribute, annotation in _annotations(cls).items():
        if attribute not in own and not attribute.startswith("_"):
            lines.append(f"{qualified}.{attribute}: attribute {_annotation(annotation)}")
    return lines


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    """The public members a class defines, with those it inherits from SDK classes that are
    not exported themselves (a private base's methods are the public class's API)."""
    seen: set[str] = set()
    for owner in cls.__mro__:
        if owner is not cls and (_exported(owner) or not _ours(owner)):
            continue
        for member, raw in vars(owner).items():
            public = not member.startswith("_") or member in PUBLIC_DUNDERS
            if public and member not in seen:
                seen.add(member)
                yield member, raw


def _ours(cls: type) -> bool:
    return cls.__module__.startswith("connector.sdk")


def _exported(cls: type) -> bool:
    return not any(part.startswith("_") for part in cls.__module__.split("."))


def _annotations(cls: type) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for owner in reversed(cls.__mro__):
        if owner is cls or (_ours(owner) and not _exported(owner)):
            found.update(vars(owner).get("__annotations__", {}))
    return found


class _Shown:
    """An annotation written as its source text (``from __future__ import annotations``
    leaves strings: shown without quotes)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _annotation(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, ForwardRef):  # (a NamedTuple's fields)
        return annotation.__forward_arg__
    return inspect.formatannotation(annotation)


def _signature(value: Any) -> str:
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return "(...)"
    parameters = [
        parameter.replace(annotation=_Shown(_annotation(parameter.annotation)))
        if parameter.annotation is not inspect.Parameter.empty
        else parameter
        for parameter in signature.parameters.values()
    ]
    returns = signature.return_annotation
    shown = signature.replace(
        parameters=parameters,
        return_annotation=_Shown(_annotation(returns))
        if returns is not inspect.Signature.empty
        else inspect.Signature.empty,
    )
    return str(shown)


def _returns(function: Any) -> str:
    annotation = inspect.signature(function).return_annotation
    return "" if annotation is inspect.Signature.empty else f" -> {_annotation(annotation)}"


def _constant(value: Any) -> str:
    kind = type(value)
    shown = (
        f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__name__
    )
    if isinstance(value, _LITERALS):
        return f"{shown} = {value!r}"
    pattern = getattr(value, "pattern", None)
    if isinstance(pattern, str):
        return f"{shown} = {pattern!r}"
    return shown


# -- comparing two snapshots -----------------------------------------------------------------


def compare(old: list[str], new: list[str]) -> list[Change]:
    """What changed from ``old`` to ``new`` (snapshot lines), each breaking or compatible."""
    before, after = _entries(old), _entries(new)
    changes = [Change(True, name, "removed") for name in before if name not in after]
    changes += [Change(False, name, "added") for name in after if name not in before]
    for name, was in before.items():
        now = after.get(name)
        if now is None or now == was:
            continue
        changes.append(_changed(name, was, now))
    return sorted(changes, key=lambda c: (not c.breaking, c.name))


def _entries(lines: list[str]) -> dict[str, str]:
    entries = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            name, _, rest = line.partition(": ")
            entries[name] = rest
    return entries


def _changed(name: str, was: str, now: str) -> Change:
    old_kind, old_rest = _split(was)
    new_kind, new_rest = _split(now)
    if old_kind != new_kind:
        return Change(True, name, f"was {old_kind}, now {new_kind}")
    if old_kind == "class":
        old_bases, old_call = _class_parts(old_rest)
        new_bases, new_call = _class_parts(new_rest)
        lost = [b for b in old_bases if b not in new_bases]
        if lost:
            return Change(True, name, f"no longer a subclass of {', '.join(lost)}")
        return _call_change(name, old_call, new_call)
    if old_kind in ("def", "staticmethod", "classmethod"):
        return _call_change(name, old_rest, new_rest)
    return Change(True, name, f"changed from {was!r} to {now!r}")


def _split(rest: str) -> tuple[str, str]:
    kind, _, detail = rest.partition(" ")
    if kind in ("def", "class", "staticmethod", "classmethod", "property", "attribute", "="):
        return kind, detail
    return "constant", rest


def _class_parts(rest: str) -> tuple[list[str], str]:
    bases, _, call = rest.partition(") ")
    return [b.strip() for b in bases.lstrip("(").split(",") if b.strip()], call


def _call_change(name: str, was: str, now: str) -> Change:
    """Whether every call the old signature accepted is still accepted by the new one."""
    old, new = _parameters(was), _parameters(now)
    if old is None or new is None:
        return Change(True, name, f"signature changed from {was} to {now}")
    problems = _incompatible(old, new)
    if problems:
        return Change(True, name, "; ".join(problems))
    return Change(False, name, f"signature changed compatibly: {now}")


class _Parameter(NamedTuple):
    name: str
    kind: str  # "positional" (may also be named), "positional-only", "keyword", "*", "**"
    default: bool


def _parameters(signature: str) -> list[_Parameter] | None:
    # (A default shown as <factory> or <object ...>: only whether there is one matters.)
    source = _SHOWN_OBJECT.sub("...", signature)
    try:
        tree = ast.parse(f"def f{source}: pass")
    except SyntaxError:
        return None
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)  # noqa: S101 - parsed from "def f..."
    arguments = function.args
    found: list[_Parameter] = []
    positional = [*arguments.posonlyargs, *arguments.args]
    first_default = len(positional) - len(arguments.defaults)
    for index, argument in enumerate(positional):
        kind = "positional-only" if argument in arguments.posonlyargs else "positional"
        found.append(_Parameter(argument.arg, kind, index >= first_default))
    if arguments.vararg is not None:
        found.append(_Parameter(arguments.vararg.arg, "*", True))
    for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        found.append(_Parameter(argument.arg, "keyword", default is not None))
    if arguments.kwarg is not None:
        found.append(_Parameter(arguments.kwarg.arg, "**", True))
    return found


def _incompatible(old: list[_Parameter], new: list[_Parameter]) -> list[str]:
    problems = []
    old_positional = [p for p in old if p.kind in ("positional", "positional-only")]
    new_positional = [p for p in new if p.kind in ("positional", "positional-only")]
    new_by_name = {p.name: p for p in new if p.kind in ("positional", "keyword")}
    takes_any_keyword = any(p.kind == "**" for p in new)
    takes_more_positional = any(p.kind == "*" for p in new)
    for index, parameter in enumerate(old_positional):
        if index >= len(new_positional):
            if not takes_more_positional:
                problems.append(f"positional parameter {parameter.name!r} removed")
            continue
        if parameter.kind == "positional" and new_positional[index].name != parameter.name:
            problems.append(
                f"positional parameter {index + 1} is {new_positional[index].name!r}, "
                f"was {parameter.name!r}"
            )
    for parameter in old:
        if parameter.kind in ("positional", "keyword"):
            match = new_by_name.get(parameter.name)
            if match is None and not takes_any_keyword:
                if parameter.kind == "keyword" or parameter.name not in {
                    p.name for p in new_positional
                }:
                    problems.append(f"parameter {parameter.name!r} removed")
            elif match is not None and parameter.default and not match.default:
                problems.append(f"parameter {parameter.name!r} lost its default")
        if parameter.kind in ("*", "**") and not any(p.kind == parameter.kind for p in new):
            problems.append(f"{parameter.kind}{parameter.name} removed")
    old_names = {p.name for p in old}
    for parameter in new:
        if parameter.name not in old_names and not parameter.default:
            problems.append(f"new required parameter {parameter.name!r}")
    return list(dict.fromkeys(problems))


# -- python -m connector.sdk._public_api [--write PATH] -------------------------------------


def text() -> str:
    """The snapshot as the checked-in file holds it."""
    header = (
        "# connector-sdk's public API: generated by python -m connector.sdk._public_api\n"
        "# (--write sdk/public-api.txt); the tests hold this file to the code.\n"
    )
    return header + "".join(f"{line}\n" for line in snapshot())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m connector.sdk._public_api",
        description="Print connector-sdk's public API (names and signatures), or write it.",
    )
    parser.add_argument("--write", metavar="PATH", help="write it to PATH instead")
    args = parser.parse_args(argv)
    if args.write:
        Path(args.write).write_text(text(), encoding="utf-8")
    else:
        sys.stdout.write(text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
