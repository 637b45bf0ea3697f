"""What a manifest says about its outputs beyond JSON Schema: each property's ``label`` (the
name people read: "Received", not ``internalDate``) and ``description``, a ``unit``
(``bytes``: shown as 1.2 MB) and, on an array, the ``columns`` a table shows first
(``envelope.subject``...). JSON Schema ignores these keywords; the studio, the exports and
the docs read them here, so an output is named once, in the manifest.
"""

# No ``from __future__ import annotations`` here: typing.NamedTuple compiles each string
# annotation of its fields, ~40 us a field on every one-step process's start.
from collections.abc import Iterator
from typing import Any, NamedTuple

# Keywords of ours inside an output schema. ``description`` and ``format`` are JSON Schema's.
LABEL, UNIT, COLUMNS = "label", "unit", "columns"
OURS = (LABEL, UNIT, COLUMNS)
UNITS = ("bytes",)
CONST_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


class Field(NamedTuple):
    """One output property, for the docs' table."""

    path: str  # messages[].envelope.subject
    label: str
    kind: str  # string, integer or null, list of ...
    description: str


def branches(schema: dict) -> list[dict]:
    """The object-like parts of a schema: itself, or the non-null branches of anyOf/oneOf."""
    found = [schema]
    for keyword in ("anyOf", "oneOf"):
        found += [b for b in schema.get(keyword) or () if isinstance(b, dict)]
    return found


def fields(schema: Any, path: str = "") -> Iterator[Field]:
    """Every labelled property under ``schema``, depth first, in declaration order."""
    if not isinstance(schema, dict):
        return
    for part in branches(schema):
        items = part.get("items")
        if part.get("type") == "array" and isinstance(items, dict):
            yield from fields(items, f"{path}[]")
        for key, prop in (part.get("properties") or {}).items():
            if not isinstance(prop, dict):
                continue
            where = f"{path}.{key}" if path else key
            yield Field(where, str(prop.get(LABEL, key)), kind(prop), prop.get("description", ""))
            yield from fields(prop, where)


def kind(schema: dict) -> str:
    """A schema's type as people read it: ``integer (bytes)``, ``string or null``,
    ``list of string``, ``date-time``."""
    types = schema.get("type")
    if types is None and "const" in schema:
        types = CONST_TYPES.get(type(schema["const"]), "any")
    if types is None:
        listed = [kind(b) for b in schema.get("anyOf") or schema.get("oneOf") or ()]
        return " or ".join(dict.fromkeys(listed)) or ("one of" if "enum" in schema else "any")
    names = [types] if isinstance(types, str) else list(types)
    words = []
    for name in names:
        if name == "array":
            items = schema.get("items")
            words.append(f"list of {kind(items)}" if isinstance(items, dict) and items else "list")
        elif name == "string" and schema.get("format") == "date-time":
            words.append("date-time")
        else:
            words.append(name)
    text = " or ".join(words)
    return f"{text} ({schema[UNIT]})" if UNIT in schema else text


def column_problems(schema: Any, where: str) -> list[str]:
    """Each ``columns`` entry names a property path of the array's items; each ``unit`` is
    one we know."""
    problems: list[str] = []
    if not isinstance(schema, dict):
        return problems
    if UNIT in schema and schema[UNIT] not in UNITS:
        problems.append(f"{where}: unit {schema[UNIT]!r} is not one of {', '.join(UNITS)}")
    columns = schema.get(COLUMNS)
    if columns is not None:
        items = schema.get("items")
        known = {f.path for f in fields(items)} if isinstance(items, dict) else set()
        if schema.get("type") != "array" or not isinstance(columns, list):
            problems.append(f"{where}: columns is for arrays: a list of property paths")
        else:
            problems += [
                f"{where}: column {c!r} is not a property of the items (known: "
                f"{', '.join(sorted(known)) or 'none'})"
                for c in columns
                if c not in known
            ]
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "$defs") and isinstance(value, dict):
            for name, prop in value.items():
                problems += column_problems(prop, f"{where}.{name}")
        elif key in ("items", "not", "additionalProperties") and isinstance(value, dict):
            problems += column_problems(value, f"{where}[]" if key == "items" else where)
        elif key in ("anyOf", "oneOf", "allOf") and isinstance(value, list):
            for branch in value:
                problems += column_problems(branch, where)
    return problems
