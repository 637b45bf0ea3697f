"""Raw input values -> typed, validated values, as the contract says.

Order: unknown keys rejected -> "" means "not given" for non-string types ->
defaults filled -> strict coercion by type -> JSON Schema validation (Draft
2020-12, format checking on), every error collected with its path.
"""

# No ``from __future__ import annotations`` here: typing.NamedTuple compiles each string
# annotation of its fields, ~40 us a field on every one-step process's start.
import base64
import binascii
import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, NamedTuple

from . import _checks as checks
from ._checks import ecma_anchors
from ._jsonvalues import number_too_long
from .errors import InvalidInput
from .text import SURROGATE, VALUE_CHARS, shorten

STRING_TYPES = ("string", "text", "password")
JSON_TYPES = {
    "string": "string",
    "text": "string",
    "password": "string",
    "integer": "integer",
    "number": "number",
    "date": "string",
    "date-time": "string",
    "boolean": "boolean",
    "list": "array",
    "object": "object",
    "file": "object",
}
FILE_KEYS = ("name", "contentType", "content")
DEFAULT_CONTENT_TYPE = "application/octet-stream"

_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")  # JSON's grammar
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339: a date, "T", a time with seconds, an offset (Z or +hh:mm).
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[-+][0-9]{2}:[0-9]{2})"
)
MAX_DEPTH = 32  # nesting of a list/object input: real inputs need a few levels
# Items of a list input whose manifest declares no maxItems: every list a caller sends has a
# cap, so no handler meets a list of a million items (a manifest may set its own, lower).
MAX_ITEMS = 1000
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*(?:\s*;[^\x00-\x1f\x7f]*)?")


def plain_json_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a raw value cannot be an input (too deep, text that is not valid Unicode), or None.

    Iterative: a 100,000-deep value must be refused, not crash the walk.
    """
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and SURROGATE.search(item):
                return "contains a lone surrogate (text that is not valid Unicode)"
        elif isinstance(item, (list, dict)):
            if depth >= max_depth:
                return f"is nested more than {max_depth} levels deep"
            children = [*item, *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class CoercionError(ValueError):
    """A raw value that cannot be read as the input's type."""


class File(NamedTuple):
    """A ``file`` input as its handler gets it: the bytes decoded from base64.

    ``client.post(path, files={"file": upload.as_upload()})`` sends it as a multipart part.
    """

    name: str
    content_type: str
    content: bytes

    def as_upload(self) -> tuple[str, bytes, str]:
        """(name, bytes, content type): what httpx (``HttpClient``'s ``files=``) takes."""
        return (self.name, self.content, self.content_type)


class InputSpec(NamedTuple):
    """One input of a connection or action, as the manifest declares it.

    (A NamedTuple, not a dataclass: importing dataclasses costs a one-request process ~5 ms.)
    """

    key: str
    label: str
    type: str
    required: bool = False
    default: Any = None
    comments: str = ""
    example: Any = None
    choices: tuple = ()
    schema: dict = {}  # noqa: RUF012 - never mutated; json_schema() copies it
    invalid_message: str = ""
    placeholder: str = ""  # a hint shown in an empty field ("e.g. Archive/2024")
    data_source: str = ""  # the data source whose picklist fills this input
    max_bytes: int = 0  # a file input's size limit (decoded)
    # Defaults that depend on other inputs: ({other input: value, ...}, default), the first
    # whose inputs all match wins; ``default`` otherwise (Port: 143 when Secure is off).
    default_when: tuple = ()
    advanced: bool = False  # rarely changed: forms show it under Advanced
    # The keys this input had in earlier versions: a saved step that still sends one gets
    # its value here (``InputSet.renamed``), and ``connector diff`` counts the rename as
    # compatible.
    renamed_from: tuple = ()

    @property
    def sensitive(self) -> bool:
        return self.type == "password"

    def json_schema(self) -> dict:
        """The JSON Schema a coerced value of this input must satisfy (a file: the JSON
        object a caller sends, its content's length bounded by ``maxBytes``)."""
        if self.type == "file":
            return file_schema(self.max_bytes)
        schema: dict = {"type": JSON_TYPES[self.type]}
        if self.type in ("date", "date-time"):
            schema["format"] = self.type
        if self.type in STRING_TYPES and self.required:
            schema["minLength"] = 1
        if self.choices:
            schema["enum"] = [c["value"] for c in self.choices]
        if self.type == "list":
            schema["maxItems"] = MAX_ITEMS
        schema.update(self.schema)
        return schema


def file_schema(max_bytes: int) -> dict:
    return {
        "type": "object",
        "required": ["name", "content"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 255},
            "contentType": {"type": "string"},
            "content": {
                "type": "string",
                "contentEncoding": "base64",
                "format": "byte",
                "description": f"The file's bytes in base64: at most {max_bytes} bytes.",
                "maxLength": -(-max_bytes // 3) * 4,  # base64's length of max_bytes
            },
        },
    }


def coerce(spec: InputSpec, raw: Any) -> Any:
    """Turn a raw value (often a string from a UI) into the input's type."""
    kind = spec.type
    if kind == "file":
        return _file(spec, raw)
    if kind in STRING_TYPES:
        if isinstance(raw, str):
            return raw
        if isinstance(raw, int) and not isinstance(raw, bool):
            return str(raw)  # a UID typed as a number into a text field
        raise CoercionError(f"expected text, got {_json_kind(raw)}")
    if kind == "integer":
        if isinstance(raw, bool):
            raise CoercionError("expected a whole number, got a boolean")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and _INTEGER.fullmatch(raw.strip()):
            return _integer(raw.strip())
        raise CoercionError(f"expected a whole number, got {_show(raw)}")
    if kind == "number":
        if isinstance(raw, bool):
            raise CoercionError("expected a number, got a boolean")
        if isinstance(raw, (int, float)) and raw == raw and abs(raw) != float("inf"):
            return raw
        if isinstance(raw, str) and _NUMBER.fullmatch(raw.strip()):
            text = raw.strip()
            return _integer(text) if _INTEGER.fullmatch(text) else float(text)
        raise CoercionError(f"expected a number such as 2.5, got {_show(raw)}")
    if kind in ("date", "date-time"):
        return _date_text(kind, raw)
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        if isinstance(raw, str):
            word = raw.strip().lower()
            if word in _TRUE:
                return True
            if word in _FALSE:
                return False
        raise CoercionError(f"expected true or false (also yes/no, on/off, 1/0), got {_show(raw)}")
    if kind == "list":
        value = _parse_json(raw, list, 'a JSON array such as ["a", "b"]')
        return value
    if kind == "object":
        return _parse_json(raw, dict, 'a JSON object such as {"key": "value"}')
    raise CoercionError(f"unknown input type {kind!r}")  # the manifest schema forbids this


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:  # more digits than Python converts
        raise CoercionError(number_too_long(exc) or str(exc)) from None


def _file(spec: InputSpec, raw: Any) -> File:
    """``{"name", "contentType", "content"}`` (base64), its size checked before and after
    decoding."""
    value = _parse_json(
        raw, dict, 'a file: {"name": "a.pdf", "contentType": "application/pdf", "content": BASE64}'
    )
    unknown = sorted(set(value) - set(FILE_KEYS))
    if unknown:
        raise CoercionError(f"a file has name, contentType and content, not {', '.join(unknown)}")
    name, kind, content = value.get("name"), value.get("contentType"), value.get("content")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise CoercionError("the file needs a name (at most 255 characters)")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise CoercionError("the file's name must not contain line breaks or control characters")
    if kind is not None and (not isinstance(kind, str) or not _CONTENT_TYPE.fullmatch(kind)):
        raise CoercionError(
            f"contentType must be a media type such as text/plain, got {_show(kind)}"
        )
    if not isinstance(content, str):
        raise CoercionError("the file's content must be base64 text")
    limit = spec.max_bytes
    if limit and len(content) > -(-limit // 3) * 4 + 4:  # (never decode what cannot fit)
        raise CoercionError(f"the file is over {limit} bytes (its maxBytes)")
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise CoercionError("the file's content is not base64") from None
    if limit and len(data) > limit:
        raise CoercionError(f"the file is {len(data)} bytes, over {limit} (its maxBytes)")
    return File(name, kind or DEFAULT_CONTENT_TYPE, data)


def _date_text(kind: str, raw: Any) -> str:
    """A date (``2024-05-01``) or an RFC 3339 date-time (``2024-05-01T09:30:00Z``), checked
    and passed on as text (JSON has no date type)."""
    text = raw.strip() if isinstance(raw, str) else None
    if kind == "date":
        if text is not None and _DATE.fullmatch(text):
            try:
                date.fromisoformat(text)
                return text
            except ValueError:
                pass
        raise CoercionError(f"expected a date such as 2024-05-01, got {_show(raw)}")
    if text is not None and _DATE_TIME.fullmatch(text):
        try:  # (3.10's fromisoformat takes neither "Z" nor a lower-case "t")
            datetime.fromisoformat(text.upper().replace("Z", "+00:00").replace(" ", "T"))
            return text
        except ValueError:
            pass
    raise CoercionError(
        f"expected a date and time with its offset, such as 2024-05-01T09:30:00Z, got {_show(raw)}"
    )


def _parse_json(raw: Any, want: type, what: str) -> Any:
    if isinstance(raw, want):
        return raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except RecursionError:
            raise CoercionError(f"is nested more than {MAX_DEPTH} levels deep") from None
        except ValueError as exc:
            too_long = number_too_long(exc)
            if too_long:
                raise CoercionError(too_long) from None
            raise CoercionError(f"expected {what}, got {_show(raw)} (not valid JSON)") from None
        if isinstance(value, want):
            return value
    raise CoercionError(f"expected {what}, got {_show(raw)}")


def _json_kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _show(raw: Any) -> str:
    if isinstance(raw, str):
        return json.dumps(shorten(raw, VALUE_CHARS))
    return _json_kind(raw)


def _jsonschema_validator(schema: dict) -> Any:
    """jsonschema for what the fast checker does not handle, with patterns anchored the same
    way (``checks.ecma_anchors``): one meaning for ``$`` whichever validator runs."""
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - costly: unusual schemas only

    return Draft202012Validator(
        anchored_patterns(schema), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def anchored_patterns(schema: Any) -> Any:
    """A copy of ``schema`` with every ``pattern`` (and ``patternProperties`` key) anchored
    as ECMA-262 reads it: ``$`` at the end of the input only."""
    if isinstance(schema, list):
        return [anchored_patterns(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "pattern" and isinstance(value, str):
            out[key] = ecma_anchors(value)
        elif key == "patternProperties" and isinstance(value, dict):
            out[key] = {ecma_anchors(k): anchored_patterns(v) for k, v in value.items()}
        elif key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            out[key] = {k: anchored_patterns(v) for k, v in value.items()}  # names, not keywords
        else:
            out[key] = anchored_patterns(value)
    return out


def _same(spec: InputSpec, one: Any, other: Any) -> bool:
    """Whether two raw values are one value of the input ("3" and 3 for an integer)."""
    if one == other:
        return True
    try:
        return bool(coerce(spec, one) == coerce(spec, other))
    except CoercionError:
        return False


def _value_at(value: Any, path: tuple) -> Any:
    """The part of an input's value a schema error's path names (a list item, a key)."""
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _over_max_items(spec: InputSpec, value: Any) -> bool:
    limit = spec.json_schema().get("maxItems")
    return isinstance(value, list) and isinstance(limit, int) and len(value) > limit


def _empty(spec: InputSpec, path: tuple) -> str:
    if path and isinstance(path[0], int):
        return f"{spec.label} ({spec.key}): item {path[0] + 1} is empty: remove it or fill it in"
    example = f", such as {spec.example}" if isinstance(spec.example, str) and spec.example else ""
    return f"{spec.label} ({spec.key}): it is empty: give a value{example}"


def is_missing(spec: InputSpec, raw: Any) -> bool:
    """None, or "" where "" cannot be a value: non-text types, and optional text
    (a platform UI sends "" for a field the user left empty)."""
    if raw is None:
        return True
    return raw == "" and (spec.type not in STRING_TYPES or not spec.required)


class InputSet:
    """The ordered inputs of one connection or action, and their validator."""

    def __init__(self, specs: list[InputSpec]):
        self.specs = tuple(specs)
        self.by_key = {s.key: s for s in self.specs}
        self.old_keys = {old: s for s in self.specs for old in s.renamed_from}
        # How values are checked, chosen on first use: the fast checker when it handles
        # every schema here (``_simple``), else a jsonschema validator.
        self._simple: bool | None = None
        self._validator: Any = None

    def __iter__(self) -> Iterator[InputSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def schema(self, checked: bool = False) -> dict:
        specs = self._checked if checked else self.specs
        return {"type": "object", "properties": {s.key: s.json_schema() for s in specs}}

    @property
    def _checked(self) -> tuple[InputSpec, ...]:
        """The inputs whose coerced values the schema checks (coercion checks a file)."""
        return tuple(s for s in self.specs if s.type != "file")

    def errors(self, values: dict) -> Iterator[tuple[tuple, str]]:
        """(path items, message) for each schema violation among the given values."""
        if self._simple is None:
            self._simple = all(checks.handles(s.json_schema()) for s in self._checked)
            if not self._simple:
                self._validator = _jsonschema_validator(self.schema(checked=True))
        if self._simple:
            for spec in self._checked:
                if spec.key in values:
                    yield from checks.errors(spec.json_schema(), values[spec.key], (spec.key,))
            return
        for error in sorted(
            self._validator.iter_errors(values), key=lambda e: [str(p) for p in e.absolute_path]
        ):
            yield tuple(error.absolute_path), error.message

    def default_of(self, spec: InputSpec, raw: dict) -> Any:
        """The value of ``spec`` when it is not given: the first ``default_when`` whose inputs
        all have the values it names (given, or their own defaults), else ``default``."""
        for when, value in spec.default_when:
            if all(self._value_of(key, raw) == wanted for key, wanted in when.items()):
                return value
        return spec.default

    def _value_of(self, key: str, raw: dict) -> Any:
        """Another input's typed value (or its default), or None when it cannot be read."""
        other = self.by_key.get(key)
        if other is None:
            return None
        value = raw.get(key)
        if is_missing(other, value):
            value = other.default
        try:
            return None if value is None else coerce(other, value)
        except CoercionError:
            return None  # (reported at that input)

    def renamed(self, raw: dict, prefix: str, details: list[dict]) -> dict:
        """``raw`` with each value given under an input's old key (``renamedFrom``) moved to
        its current key, as a step saved by an earlier version sends it. Both keys with
        different values is a problem for ``details``: which one was meant cannot be told.
        """
        for old in [key for key in raw if key in self.old_keys]:
            spec = self.old_keys[old]
            value = raw.pop(old)
            current = raw.get(spec.key)
            if is_missing(spec, current):
                raw[spec.key] = value
            elif not is_missing(spec, value) and not _same(spec, value, current):
                details.append(
                    {
                        "path": f"{prefix}.{old}",
                        "message": f"{old} is the earlier name of {spec.label} ({spec.key}), "
                        f"which is given too with another value: give only {spec.key}",
                    }
                )
        return raw

    def resolve(self, raw: dict | None, prefix: str) -> dict:
        """Coerce and validate ``raw``; return the typed values.

        Every problem is collected; one InvalidInput carries them all as
        details with paths like ``inputs.range``. The result has every declared
        key (None where an optional input without a default was not given).
        """
        known = self.by_key
        details: list[dict] = []
        raw = self.renamed(dict(raw or {}), prefix, details)

        for key in raw:
            if key not in known:
                names = ", ".join(known) or "none"
                details.append(
                    {
                        "path": f"{prefix}.{key}",
                        "message": f"unknown input {key!r}; known inputs: {names}",
                    }
                )

        values: dict = {}
        for spec in self.specs:
            value = raw.get(spec.key)
            if is_missing(spec, value):
                value = self.default_of(spec, raw)
            if value is None:
                if spec.required:
                    details.append(
                        {
                            "path": f"{prefix}.{spec.key}",
                            "message": f"{spec.label} ({spec.key}) is required",
                        }
                    )
                values[spec.key] = None
                continue
            try:
                problem = plain_json_problem(value)
                if problem:
                    raise CoercionError(problem)
                values[spec.key] = coerce(spec, value)
                if values[spec.key] is not value:  # JSON text parsed into a value: check it too
                    problem = plain_json_problem(values[spec.key])
                    if problem:
                        raise CoercionError(problem)
            except CoercionError as exc:
                details.append(
                    {"path": f"{prefix}.{spec.key}", "message": f"{spec.label} ({spec.key}): {exc}"}
                )

        reported = {d["path"] for d in details}
        given = {
            k: v
            for k, v in values.items()
            if v is not None and f"{prefix}.{k}" not in reported and known[k].type != "file"
        }
        for error_path, error_message in self.errors(given):
            items = [str(p) for p in error_path]
            found = known.get(items[0]) if items else None
            where = f"{found.label} ({found.key})" if found else prefix
            path = ".".join([prefix, *items])
            if found and _value_at(given[found.key], error_path[1:]) == "":
                # Empty text breaks a pattern too: say it is empty, not what the pattern wants.
                if path not in {d["path"] for d in details}:
                    details.append({"path": path, "message": _empty(found, error_path[1:])})
                continue
            if found and found.invalid_message:
                if any(d["path"].startswith(f"{prefix}.{found.key}") for d in details):
                    continue  # one friendly message per input is enough
                path = f"{prefix}.{found.key}"
            message = found.invalid_message if found and found.invalid_message else error_message
            if found and _over_max_items(found, given[found.key]):
                message = error_message  # (the list's own count and maximum, not its items')
            details.append({"path": path, "message": f"{where}: {message}"})

        if details:
            count = len(details)
            more = f" (and {count - 1} more)" if count > 1 else ""
            raise InvalidInput(f"Invalid {prefix}: {details[0]['message']}{more}", details=details)
        return values
