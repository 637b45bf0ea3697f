"""What an upgrade from one manifest to another changes for saved steps.

A platform stores each step's inputs by key and wires its outputs into later steps by
field path. An upgrade breaks such a step when it removes or renames an input or an
output field, makes an input required without a default, narrows an input's type,
choices or limits, changes a default a saved step relied on, or removes a step or a
connection. An input that declares its earlier key (``renamedFrom``) keeps saved steps
working: that rename is compatible.

``compare(old, new)`` lists each change as breaking or compatible; ``verdict`` says whether
the versions allow the breaking ones: a breaking change needs a new major version (in
0.x, the first non-zero part: 0.2 -> 0.3, as Cargo and npm read semantic versions).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from ._inputs import InputSet, InputSpec
from ._manifest import KINDS, Manifest, Operation

# Input types a saved value of the first still fits when the input becomes the second.
WIDER_TYPES = {
    ("integer", "number"),
    *((a, b) for a in ("string", "text", "password") for b in ("string", "text", "password")),
    *((a, "string") for a in ("date", "date-time")),
    *((a, "text") for a in ("date", "date-time")),
}
# JSON Schema keywords that bound a value from below, from above, or constrain it otherwise.
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
OTHER_RULES = ("pattern", "format", "const", "multipleOf", "uniqueItems", "enum")
_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)(?:[-+].*)?")


class Change(NamedTuple):
    """One difference a saved step could notice."""

    breaking: bool
    where: str  # "action appendMessage", "connection imap", "connector"
    subject: str  # "input mailbox", "output messages[].uid", "" for the step itself
    what: str  # what changed, and what it does to a saved step

    def as_json(self) -> dict[str, Any]:
        return {
            "breaking": self.breaking,
            "where": self.where,
            "subject": self.subject,
            "change": self.what,
        }

    def line(self) -> str:
        subject = f" {self.subject}:" if self.subject else ":"
        return f"{self.where}{subject} {self.what}"


class Verdict(NamedTuple):
    """Whether the new version may carry the breaking changes, and why."""

    ok: bool
    major_bump: bool
    message: str


def compare(old: Manifest, new: Manifest) -> list[Change]:
    """Every change from ``old`` to ``new`` that a saved step could notice, in manifest order."""
    changes: list[Change] = []
    if old.key != new.key:
        changes.append(
            Change(
                True,
                "connector",
                "key",
                f"changed from {old.key!r} to {new.key!r}: saved steps name the connector by it",
            )
        )
    for kind, section in KINDS.items():
        before = getattr(old, _ATTRIBUTES[section])
        after = getattr(new, _ATTRIBUTES[section])
        for key, op in before.items():
            where = f"{kind} {key}"
            if key not in after:
                changes.append(Change(True, where, "", "removed: saved steps that use it fail"))
                continue
            changes += input_changes(where, op.inputs, after[key].inputs)
            changes += output_changes(where, op, after[key])
        changes += [
            Change(False, f"{kind} {key}", "", "added") for key in after if key not in before
        ]
    return changes


_ATTRIBUTES = {
    "connections": "connections",
    "actions": "actions",
    "triggers": "triggers",
    "dataSources": "data_sources",
}


def verdict(old_version: str, new_version: str, changes: list[Change]) -> Verdict:
    """Whether ``new_version`` allows the breaking changes among ``changes``."""
    breaking = sum(1 for c in changes if c.breaking)
    bumped = major_bump(old_version, new_version)
    if not breaking:
        return Verdict(True, bumped, "no breaking change: saved steps keep working")
    if bumped:
        return Verdict(
            True,
            True,
            f"{breaking} breaking change(s), allowed by the major version "
            f"{old_version} -> {new_version}",
        )
    wanted = next_major(old_version)
    return Verdict(
        False,
        False,
        f"{breaking} breaking change(s) but the version {old_version} -> {new_version} keeps "
        f"its major part: release it as {wanted or 'a new major version'}, or keep saved "
        "steps working (renamedFrom for a renamed input, a default for a new required one)",
    )


def compatibility_part(version: str) -> tuple[int, ...] | None:
    """The part of a semantic version that changes with a breaking change: the major number,
    or in 0.x the first non-zero part; None when ``version`` is not X.Y.Z."""
    match = _SEMVER.fullmatch(version.strip())
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    if major:
        return (major,)
    return (0, minor) if minor else (0, 0, patch)


def major_bump(old_version: str, new_version: str) -> bool:
    """Whether ``new_version`` is a new major version of ``old_version``."""
    before, after = compatibility_part(old_version), compatibility_part(new_version)
    return before is not None and after is not None and after > before


def next_major(version: str) -> str | None:
    """The smallest version that is a new major version of ``version``."""
    part = compatibility_part(version)
    if part is None:
        return None
    if len(part) == 1:
        return f"{part[0] + 1}.0.0"
    if len(part) == 2:
        return f"0.{part[1] + 1}.0"
    return f"0.0.{part[2] + 1}"


# -- inputs -------------------------------------------------------------------------------


def input_changes(where: str, before: InputSet, after: InputSet) -> list[Change]:
    """Inputs removed, renamed, added, or changed in what they accept."""
    changes: list[Change] = []
    for spec in before:
        if spec.key in after.by_key:
            changes += spec_changes(where, spec, after.by_key[spec.key])
            continue
        target = after.old_keys.get(spec.key)
        if target is not None:
            changes.append(
                Change(
                    False,
                    where,
                    f"input {spec.key}",
                    f"renamed to {target.key} (renamedFrom: saved steps keep working)",
                )
            )
            if target.key not in before.by_key:  # (else compared as itself)
                changes += spec_changes(where, spec, target, renamed=True)
            continue
        changes.append(Change(True, where, f"input {spec.key}", _removed(spec, before, after)))
    for spec in after:
        if spec.key in before.by_key or any(old in before.by_key for old in spec.renamed_from):
            continue
        if _required(spec):
            what = "added, required and without a default: steps saved without it fail"
            changes.append(Change(True, where, f"input {spec.key}", what))
        else:
            changes.append(Change(False, where, f"input {spec.key}", "added, optional"))
    return changes


def _removed(spec: InputSpec, before: InputSet, after: InputSet) -> str:
    """Why a removed input breaks, naming the input that looks like its new name."""
    what = "removed: a step saved with it fails (unknown input)"
    new = [s for s in after if s.key not in before.by_key]
    alike = next((s for s in new if s.label == spec.label), None) or next(
        (s for s in new if s.type == spec.type and len(new) == 1), None
    )
    if alike is not None:
        what += (
            f"; if {alike.key} is its new name, declare renamedFrom: [{spec.key}] on {alike.key}"
        )
    return what


def _required(spec: InputSpec) -> bool:
    """Whether a step must give the input (no default fills it)."""
    return spec.required and spec.default is None and not spec.default_when


def spec_changes(
    where: str, old: InputSpec, new: InputSpec, *, renamed: bool = False
) -> list[Change]:
    """What changed in one input that a saved value or a saved omission would notice."""
    subject = f"input {new.key}" if not renamed else f"input {old.key} (now {new.key})"
    changes: list[Change] = []

    def add(breaking: bool, what: str) -> None:
        changes.append(Change(breaking, where, subject, what))

    if _required(new) and not _required(old):
        add(True, "now required, without a default: steps saved without it fail")
    if old.type != new.type:
        if (old.type, new.type) in WIDER_TYPES:
            add(False, f"type {old.type} -> {new.type}: saved values still fit")
        else:
            add(True, f"type {old.type} -> {new.type}: saved values may not fit")
            return changes  # (its rules are another type's: comparing them says nothing)
    old_values = [c["value"] for c in old.choices]
    new_values = [c["value"] for c in new.choices]
    if old_values and new_values:
        gone = [v for v in old_values if v not in new_values]
        more = [v for v in new_values if v not in old_values]
        if gone:
            add(True, f"choices removed: {_values(gone)} (steps saved with them fail)")
        if more:
            add(False, f"choices added: {_values(more)}")
    elif new_values:
        add(True, f"now limited to the choices {_values(new_values)}")
    elif old_values:
        add(False, "no longer limited to choices")
    if new.type == "file":
        if new.max_bytes < old.max_bytes:
            add(True, f"maxBytes lowered from {old.max_bytes} to {new.max_bytes}")
    else:
        for breaking, what in rule_changes(_rules(old), _rules(new), ""):
            add(breaking, what)
    if not renamed:
        before = (old.default, old.default_when)
        after = (new.default, new.default_when)
        if before != after and not _required(new):
            add(
                True,
                f"default changed from {_default(old)} to {_default(new)}: steps saved "
                "without a value now get the new one",
            )
    return changes


def _rules(spec: InputSpec) -> dict:
    """The input's JSON Schema without what is compared on its own (type, choices,
    required-ness)."""
    schema = dict(spec.json_schema())
    schema.pop("enum", None)
    if spec.required and schema.get("minLength") == 1 and "minLength" not in spec.schema:
        schema.pop("minLength")  # (the required rule's own, compared as required-ness)
    return schema


def rule_changes(old: Any, new: Any, path: str) -> list[tuple[bool, str]]:
    """(breaking, what) for each rule of a JSON Schema that accepts fewer values (breaking)
    or more (compatible), down ``items`` and ``properties``."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return []
    at = f" at {path}" if path else ""
    found: list[tuple[bool, str]] = []
    for keyword in LOWER_BOUNDS:
        found += _bound(keyword, old.get(keyword), new.get(keyword), at, lower=True)
    for keyword in UPPER_BOUNDS:
        found += _bound(keyword, old.get(keyword), new.get(keyword), at, lower=False)
    for keyword in OTHER_RULES:
        before, after = old.get(keyword), new.get(keyword)
        if before == after or (keyword == "uniqueItems" and not before and not after):
            continue
        if after is None or after is False:
            found.append((False, f"{keyword} {_short(before)} removed{at}"))
        elif before is None or before is False:
            found.append((True, f"{keyword} {_short(after)} added{at}: saved values may not fit"))
        else:
            found.append(
                (
                    True,
                    f"{keyword} {_short(before)} -> {_short(after)}{at}: saved values may not fit",
                )
            )
    if path and old.get("type") != new.get("type") and "type" in old:
        found.append((True, f"type {old.get('type')} -> {new.get('type')}{at}"))
    found += rule_changes(old.get("items"), new.get("items"), f"{path}[]" if path else "items")
    before_props, after_props = old.get("properties") or {}, new.get("properties") or {}
    for name, schema in before_props.items():
        if isinstance(after_props, dict) and name in after_props:
            found += rule_changes(schema, after_props[name], f"{path}.{name}" if path else name)
    return found


def _bound(
    keyword: str, before: Any, after: Any, at: str, *, lower: bool
) -> list[tuple[bool, str]]:
    if before == after or not all(v is None or _number(v) for v in (before, after)):
        return []  # (the same, or not numbers: the schema check reports a bad bound)
    if after is None:
        return [(False, f"{keyword} {before} removed{at}")]
    if before is None:
        return [(True, f"{keyword} {after} added{at}: saved values may not fit")]
    narrower = after > before if lower else after < before
    if narrower:
        return [(True, f"{keyword} {before} -> {after}{at}: saved values may not fit")]
    return [(False, f"{keyword} {before} -> {after}{at}")]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _values(values: list) -> str:
    return ", ".join(_short(v) for v in values)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _default(spec: InputSpec) -> str:
    text = "none" if spec.default is None else _short(spec.default)
    if spec.default_when:
        text += " (or one that depends on other inputs)"
    return text


# -- outputs ------------------------------------------------------------------------------


def output_changes(where: str, old: Operation, new: Operation) -> list[Change]:
    """Output fields a later step may read that are gone, may be missing, or may hold a value
    of another type; fields added are compatible."""
    if old.output_schema is None:
        return []
    if new.output_schema is None:
        return [Change(True, where, "output", "removed: later steps that read it fail")]
    return [
        Change(breaking, where, f"output {path}" if path else "output", what)
        for breaking, path, what in schema_changes(old.output_schema, new.output_schema, "")
    ]


def schema_changes(old: Any, new: Any, path: str) -> list[tuple[bool, str, str]]:
    """(breaking, field path, what) between two output schemas."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return []
    found: list[tuple[bool, str, str]] = []
    before, after = _types(old), _types(new)
    extra = after - before - ({"integer"} if "number" in before else set())
    if before and after and extra:
        more = ", ".join(sorted(extra))
        found.append((True, path, f"may now be {more} (it was {', '.join(sorted(before))})"))
    old_object, new_object = _object_part(old), _object_part(new)
    if old_object is not None and new_object is not None:
        old_props, new_props = old_object["properties"], new_object["properties"]
        new_required = set(new_object.get("required", ()))
        for name in old_props:
            field = f"{path}.{name}" if path else name
            if name not in new_props:
                found.append((True, field, "removed: later steps that read it fail"))
                continue
            if name in old_object.get("required", ()) and name not in new_required:
                found.append((True, field, "no longer always present"))
            found += schema_changes(old_props[name], new_props[name], field)
        found += [
            (False, f"{path}.{name}" if path else name, "added")
            for name in new_props
            if name not in old_props
        ]
    old_items, new_items = _array_items(old), _array_items(new)
    if old_items is not None and new_items is not None:
        found += schema_changes(old_items, new_items, f"{path}[]")
    return found


def _types(schema: dict) -> set[str]:
    """The JSON types a schema allows (its alternatives' too); empty when it does not say."""
    declared = schema.get("type")
    if isinstance(declared, str):
        types = {declared}
    elif isinstance(declared, list):
        types = {t for t in declared if isinstance(t, str)}
    else:
        types = set()
    for keyword in ("anyOf", "oneOf"):
        alternatives = schema.get(keyword)
        if isinstance(alternatives, list):
            found = [_types(a) for a in alternatives if isinstance(a, dict)]
            if found and all(found):
                types |= set().union(*found)
            elif found:
                return set()  # (an alternative of any type: nothing to compare)
    return types


def _object_part(schema: dict) -> dict | None:
    """The object schema with properties: the schema itself or one of its alternatives."""
    if isinstance(schema.get("properties"), dict):
        return schema
    for keyword in ("anyOf", "oneOf"):
        for alternative in schema.get(keyword) or ():
            if isinstance(alternative, dict) and isinstance(alternative.get("properties"), dict):
                return alternative
    return None


def _array_items(schema: dict) -> dict | None:
    if isinstance(schema.get("items"), dict):
        items: dict = schema["items"]
        return items
    for keyword in ("anyOf", "oneOf"):
        for alternative in schema.get(keyword) or ():
            if isinstance(alternative, dict) and isinstance(alternative.get("items"), dict):
                found: dict = alternative["items"]
                return found
    return None
