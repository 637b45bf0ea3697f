"""Load a connector manifest, validate it, and give it a typed shape.

The manifest is checked against its own JSON Schema (shipped beside this
module), then for what a schema cannot say: unique keys, handlers that import,
defaults and examples that fit their inputs, output examples that fit their
output schemas, an icon that is a PNG.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import json
import keyword
import os
import re
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from ._inputs import CoercionError, InputSet, InputSpec, coerce
from .errors import ManifestError

# What the runtime itself returns for any connector; a manifest declares the rest.
RUNTIME_ERROR_CODES = (
    "INVALID_INPUT",
    "UNKNOWN_ACTION",
    "INTERNAL_ERROR",
    "DESTINATION_NOT_ALLOWED",  # the egress policy, applied by the SDK's connect()
)

SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Input keys a handler could not receive as its own: the open connection is its first
# positional argument, a trigger's state comes as ``state``, and ``context`` is the SDK's.
RESERVED_INPUT_KEYS = {
    "session": "the open connection is the handler's first argument",
    "state": "a trigger's state arrives as the parameter state",
    "context": "the SDK's per-request context (logger, deadline) arrives as context",
}


def reserved_keys(kind: str) -> set[str]:
    """The input keys an operation of this kind cannot use."""
    if kind == "connection":
        return {"context"}
    if kind == "trigger":
        return set(RESERVED_INPUT_KEYS)
    return {"session", "context"}


KINDS = {
    "connection": "connections",
    "action": "actions",
    "trigger": "triggers",
    "dataSource": "dataSources",
}
# The kinds of step a request can name, as people call them.
KIND_LABELS = {"action": "action", "trigger": "trigger", "dataSource": "data source"}


def import_object(path: str) -> Callable:
    module_name, _, attr = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


class Operation:
    """A connection, action, trigger, data source or connection test: inputs and a handler."""

    def __init__(
        self,
        *,
        kind: str,
        key: str,
        label: str,
        description: str,
        handler_path: str,
        inputs: InputSet,
        comments: str = "",
        output_schema: dict | None = None,
        output_example: Any = None,
        test: Operation | None = None,
        oauth2: dict | None = None,
        ports: tuple[int, ...] = (),
        pooling: dict | None = None,
        push_path: str | None = None,
        record_key: tuple[str, ...] = (),
    ):
        self.kind = kind  # "connection", "action", "trigger", "dataSource" or "test"
        self.key, self.label, self.description = key, label, description
        self.handler_path = handler_path
        self.inputs = inputs
        self.comments = comments
        self.output_schema, self.output_example = output_schema, output_example
        self.test = test  # a connection's test: handler and output
        self.oauth2 = oauth2  # a connection's OAuth 2.0 endpoints and scopes (connector.sdk._oauth)
        self.ports = ports  # a connection's server ports (the hosted egress default)
        self.pooling = pooling  # a connection's: None, sessions are not kept between steps
        self.push_path = push_path  # a trigger's: what waits for its source to change
        # A trigger's: the record properties that identify a record (the same values: the
        # same record, handed off once; consumers of ``listen`` de-duplicate by them).
        self.record_key = record_key

    @cached_property
    def push(self) -> Callable | None:
        """A trigger's ``push(session, inputs, sessions) -> [PushLine, ...]`` (the lines a
        push hub holds: connector.sdk._runtime's push_opener), or None."""
        return import_object(self.push_path) if self.push_path else None

    @cached_property
    def handler(self) -> Callable:
        return import_object(self.handler_path)

    def pool_cap(self, host_cap: int) -> int | None:
        """Sessions per account a host keeps for this connection (None: no pooling)."""
        if self.pooling is None:
            return None
        return min(host_cap, int(self.pooling.get("perAccount", host_cap)))

    @cached_property
    def wants_context(self) -> bool:
        """Whether the handler takes a ``context`` parameter (connector.sdk._context)."""
        return _takes(self.handler, "context")

    @property
    def secret_keys(self) -> list[str]:
        return [s.key for s in self.inputs if s.sensitive]

    @cached_property
    def parameters(self) -> dict[str, str]:
        """Input key -> the handler's parameter name (``python_name``)."""
        return {spec.key: python_name(spec.key) for spec in self.inputs}

    def arguments(self, values: dict) -> dict:
        """Validated inputs keyed by parameter name, for ``handler(session, **arguments)``."""
        names = self.parameters
        return {names.get(key, key): value for key, value in values.items()}


_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def python_name(key: str) -> str:
    """The parameter a handler receives an input as: snake_case of the manifest key, and a
    trailing underscore where that is a Python keyword or builtin.

    ``messageIndex`` -> ``message_index``, ``minDHSize`` -> ``min_dh_size``,
    ``pass`` -> ``pass_``, ``range`` -> ``range_``, ``from`` -> ``from_``.
    """
    name = _WORD_START.sub("_", key).lower()
    if keyword.iskeyword(name) or hasattr(builtins, name):
        name += "_"
    return name


class Manifest:
    def __init__(self, data: dict, base_dir: Path):
        self.data = data
        self.base_dir = base_dir
        self.path: Path | None = None  # the file it was loaded from
        self.key: str = data["key"]
        self.label: str = data["label"]
        self.description: str = data["description"]
        self.version: str = data["version"]
        self.icon: str = data["icon"]
        self.error_handler_path: str | None = data.get("errorHandler")
        self.connections = {c["key"]: _operation("connection", c) for c in data["connections"]}
        self.actions = {a["key"]: _operation("action", a) for a in data["actions"]}
        self.triggers = {t["key"]: _operation("trigger", t) for t in data.get("triggers", [])}
        self.data_sources = {
            d["key"]: _operation("dataSource", d) for d in data.get("dataSources", [])
        }
        self.guides: list[dict] = list(data.get("guides", []))
        self.categories: list[str] = list(data.get("categories", []))  # a marketplace's
        # The error codes this connector returns: the runtime's own, and those it declares.
        self.error_codes: set[str] = {*RUNTIME_ERROR_CODES, *data.get("errorCodes", ())}

    @property
    def ports(self) -> frozenset[int]:
        """The ports the connections declare: where a hosted step may connect by default."""
        return frozenset(port for c in self.connections.values() for port in c.ports)

    def table(self, kind: str) -> dict[str, Operation]:
        """The operations of one kind of step: "action", "trigger" or "dataSource"."""
        return {
            "action": self.actions,
            "trigger": self.triggers,
            "dataSource": self.data_sources,
        }[kind]

    def find(self, key: str) -> Operation | None:
        """The action, trigger or data source named ``key``."""
        return next((t[key] for t in map(self.table, KIND_LABELS) if key in t), None)

    @property
    def icon_path(self) -> Path:
        return self.base_dir / self.icon

    @cached_property
    def error_handler(self) -> Callable | None:
        return import_object(self.error_handler_path) if self.error_handler_path else None

    @property
    def default_connection(self) -> Operation:
        return next(iter(self.connections.values()))

    @classmethod
    def load(
        cls, path: str | Path, *, check_handlers: bool = True, validate: bool = True
    ) -> Manifest:
        """Read and check a manifest.

        ``validate=False`` skips the checks (~0.2 s: the schema, every handler import,
        every example) and only builds the model: for a process that runs one request
        from a manifest the test suite and ``validate`` already checked.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ManifestError([f"cannot read {path}: {exc.strerror}"]) from None
        manifest = cls.from_text(
            text, path.parent, check_handlers=check_handlers, validate=validate
        )
        manifest.path = path
        return manifest

    @classmethod
    def from_text(
        cls, text: str, base_dir: Path, *, check_handlers: bool = True, validate: bool = True
    ) -> Manifest:
        if not validate:
            return cls(parse_yaml_cached(text), Path(base_dir))
        return cls.from_data(parse_yaml(text), base_dir, check_handlers=check_handlers)

    @classmethod
    def from_data(cls, data: Any, base_dir: Path, *, check_handlers: bool = True) -> Manifest:
        problems = schema_problems(data)
        if problems:
            raise ManifestError(problems)
        manifest = cls(data, Path(base_dir))
        problems = manifest.semantic_problems(check_handlers=check_handlers)
        if problems:
            raise ManifestError(problems)
        return manifest

    # -- checks a schema cannot express -------------------------------------------------

    def semantic_problems(self, *, check_handlers: bool) -> list[str]:
        from ._oauth import placeholder_problems, required_inputs  # noqa: PLC0415 - checks only
        from ._outputs import column_problems  # noqa: PLC0415 - checks only

        problems: list[str] = []
        for kind, section in KINDS.items():
            problems += _duplicates(kind, [o["key"] for o in self.data.get(section, [])])
        icon = self.icon_path
        try:
            with open(icon, "rb") as fh:
                if fh.read(8) != PNG_MAGIC:
                    problems.append(f"icon {self.icon}: not a PNG file")
        except OSError:
            problems.append(f"icon {self.icon}: file not found at {icon}")
        if check_handlers and self.error_handler_path:
            problems += _import_problem("errorHandler", self.error_handler_path)
        for op in [
            *self.connections.values(),
            *self.actions.values(),
            *self.triggers.values(),
            *self.data_sources.values(),
        ]:
            where = f"{op.kind} {op.key}"
            raw_inputs = next(o for o in self.data[KINDS[op.kind]] if o["key"] == op.key)["inputs"]
            problems += _duplicates(f"{where}: input", [i["key"] for i in raw_inputs])
            problems += _renamed_problems(where, op.inputs)
            problems += [
                f"{where}: input key {s.key!r} is reserved ({RESERVED_INPUT_KEYS[s.key]}): "
                "choose another key"
                for s in op.inputs
                if s.key in reserved_keys(op.kind)
            ]
            if op.oauth2:
                missing = [k for k in required_inputs(op.oauth2) if k not in op.parameters]
                if missing:
                    problems.append(
                        f"{where}: oauth2 needs the inputs {', '.join(missing)} "
                        "(connector.sdk._oauth names them by convention)"
                    )
                problems += [
                    f"{where}: {problem}"
                    for problem in placeholder_problems(op.oauth2, set(op.parameters))
                ]
            for spec in op.inputs:
                problems += _input_problems(where, spec)
                problems += _default_when_problems(where, spec, op.inputs)
                raw_spec = next(i for i in raw_inputs if i["key"] == spec.key)
                problems += _shown_when_problems(where, spec.key, raw_spec, op.inputs)
                if spec.data_source and spec.data_source not in self.data_sources:
                    known = ", ".join(self.data_sources) or "none"
                    problems.append(
                        f"{where}: input {spec.key}: dataSource {spec.data_source!r} is not a "
                        f"data source of this manifest (known: {known})"
                    )
            if op.push_path is not None:
                if op.kind != "trigger":
                    problems.append(f"{where}: push is for triggers only")
                elif check_handlers:
                    problems += _import_problem(f"{where}: push", op.push_path)
            problems += _record_key_problems(where, op)
            checked = [op] if op.test is None else [op, op.test]
            for part in checked:
                label = where if part is op else f"{where}: test"
                if part.output_schema is not None:
                    problems += _output_problems(label, part.output_schema, part.output_example)
                    problems += column_problems(part.output_schema, f"{label}: output")
                if check_handlers:
                    found = _import_problem(f"{label}: handler", part.handler_path)
                    problems += found or _signature_problems(label, part)
        return problems


def parse_yaml(text: str) -> Any:
    import yaml  # noqa: PLC0415 - ~15 ms: a cached manifest (parse_yaml_cached) skips it

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 7x faster
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise ManifestError([f"not valid YAML: {exc}"]) from None


def parse_yaml_cached(text: str) -> Any:
    """The parsed manifest, from a JSON copy in the user's cache when the text is unchanged.

    A one-request process then skips importing and running the YAML parser (~15 ms).
    The copy is keyed by the text's hash; any failure to read or write it is ignored.
    """
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    cached = Path(base) / "connector-sdk" / f"manifest-{digest}.json"
    try:
        return json.loads(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    data = parse_yaml(text)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(data), encoding="utf-8")
        os.replace(partial, cached)
    except (OSError, TypeError, ValueError):
        pass
    return data


def _operation(kind: str, raw: dict) -> Operation:
    specs = [
        InputSpec(
            key=i["key"],
            label=i["label"],
            type=i["type"],
            required=i.get("required", False),
            default=i.get("default"),
            comments=i.get("comments", ""),
            example=i.get("example"),
            choices=tuple(i.get("choices", ())),
            schema=dict(i.get("schema", {})),
            invalid_message=i.get("invalidMessage", ""),
            placeholder=i.get("placeholder", ""),
            data_source=i.get("dataSource", ""),
            max_bytes=i.get("maxBytes", 0),
            default_when=tuple((d["when"], d["value"]) for d in i.get("defaultWhen", ())),
            advanced=i.get("advanced", False),
            renamed_from=tuple(i.get("renamedFrom", ())),
        )
        for i in raw["inputs"]
    ]
    output = raw.get("output") or {}
    test = raw.get("test")
    return Operation(
        kind=kind,
        key=raw["key"],
        label=raw["label"],
        description=raw["description"],
        handler_path=raw["handler"],
        inputs=InputSet(specs),
        comments=raw.get("comments", ""),
        output_schema=output.get("schema"),
        output_example=output.get("example"),
        oauth2=raw.get("oauth2"),
        ports=tuple(raw.get("ports", ())),
        pooling=raw.get("pooling"),
        push_path=raw.get("push"),
        record_key=tuple(raw.get("recordKey", ())),
        test=None
        if test is None
        else Operation(
            kind="test",
            key=raw["key"],
            label=f"Test {raw['label']}",
            description=f"Tests the {raw['label']} connection",
            handler_path=test["handler"],
            inputs=InputSet([]),
            output_schema=test["output"]["schema"],
            output_example=test["output"]["example"],
        ),
    )


def schema_problems(data: Any) -> list[str]:
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - costly: validation only

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema)
    problems = []
    for error in sorted(
        validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]
    ):
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"{where}: {error.message}")
    return problems


def _duplicates(what: str, keys: list[str]) -> list[str]:
    seen, dupes = set(), []
    for key in keys:
        if key in seen and key not in dupes:
            dupes.append(key)
        seen.add(key)
    return [f"{what} key {k!r} is declared more than once" for k in dupes]


def _record_key_problems(where: str, op: Operation) -> list[str]:
    """A trigger's recordKey names properties its records have."""
    if not op.record_key:
        return []
    if op.kind != "trigger":
        return [f"{where}: recordKey is for triggers only"]
    items = (op.output_schema or {}).get("items") or {}
    known = items.get("properties") if isinstance(items, dict) else None
    if not isinstance(known, dict):
        return []  # (an output schema without item properties: nothing to check against)
    missing = [key for key in op.record_key if key not in known]
    if missing:
        return [
            f"{where}: recordKey names {', '.join(missing)}, not a property of its records "
            f"(known: {', '.join(known)})"
        ]
    return []


def _import_problem(where: str, path: str) -> list[str]:
    try:
        obj = import_object(path)
    except ImportError as exc:
        return [f"{where} {path!r} does not import: {exc}"]
    except AttributeError:
        return [f"{where} {path!r}: the module has no attribute {path.partition(':')[2]!r}"]
    except Exception as exc:  # noqa: BLE001 - a broken module is a manifest problem to report
        return [f"{where} {path!r} fails to import: {type(exc).__name__}: {exc}"]
    if not callable(obj):
        return [f"{where} {path!r} is not callable"]
    return []


def _signature_problems(where: str, op: Operation) -> list[str]:
    """The handler's signature against the inputs, both ways: each input the handler cannot
    take under its parameter name (``python_name``), and each required parameter no input
    fills (the call would fail at run time)."""
    import inspect  # noqa: PLC0415 - validation only: a one-step process never needs it

    try:
        params = inspect.signature(op.handler).parameters
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check
        return []
    wanted = dict(zip(op.parameters.values(), op.parameters, strict=True))
    if op.kind == "trigger":
        wanted["state"] = "state"
    problems = []
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        problems += [
            f"{where}: handler {op.handler_path!r} has no parameter {name!r} (for input {key!r})"
            for name, key in wanted.items()
            if name not in params
        ]
    positional = op.kind != "connection"  # actions, triggers, data sources: (session, ...)
    for index, (name, param) in enumerate(params.items()):
        if positional and index == 0:
            continue
        required = param.default is inspect.Parameter.empty and param.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
        if required and name not in wanted and name != "context":
            problems.append(
                f"{where}: handler {op.handler_path!r} requires a parameter {name!r} that no "
                "input fills: declare the input or give the parameter a default"
            )
    return problems


def _input_problems(where: str, spec: InputSpec) -> list[str]:
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - costly: validation only

    where = f"{where}: input {spec.key}"
    invalid = _schema_error(spec.json_schema())
    if invalid is not None:
        return [f"{where}: its schema is not a valid JSON Schema: {invalid}"]
    validator = Draft202012Validator(
        spec.json_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    problems = []
    for what, value in (
        ("default", spec.default),
        *(("default", value) for _, value in spec.default_when),
        ("example", spec.example),
        *(("choice", c["value"]) for c in spec.choices),
    ):
        if value is None:
            continue
        try:
            typed = coerce(spec, value)
        except CoercionError as exc:
            problems.append(f"{where}: {what} {value!r} does not fit type {spec.type}: {exc}")
            continue
        if what == "choice" or spec.type == "file":  # (a file's checks are its coercion)
            continue
        for error in validator.iter_errors(typed):
            problems.append(f"{where}: {what} {value!r} does not fit the input: {error.message}")
    return problems


def _default_when_problems(where: str, spec: InputSpec, inputs: InputSet) -> list[str]:
    """Each ``defaultWhen`` names other inputs of the operation, with values of their type."""
    problems = []
    for when, _ in spec.default_when:
        for key, wanted in when.items():
            other = inputs.by_key.get(key)
            if other is None or other.key == spec.key:
                known = ", ".join(k for k in inputs.by_key if k != spec.key) or "none"
                problems.append(
                    f"{where}: input {spec.key}: defaultWhen names {key!r}, not another input "
                    f"(known: {known})"
                )
                continue
            try:
                typed = coerce(other, wanted)
            except CoercionError as exc:
                typed, problem = None, str(exc)
            else:
                problem = "" if typed == wanted else f"write it as {typed!r}"
            if problem:
                problems.append(
                    f"{where}: input {spec.key}: defaultWhen value {wanted!r} for {key} does "
                    f"not fit its type {other.type}: {problem}"
                )
    return problems


def _renamed_problems(where: str, inputs: InputSet) -> list[str]:
    """An old key (``renamedFrom``) names one input only, and no input has it as its key: a
    saved value must have one place to go."""
    problems = []
    seen: dict[str, str] = {}
    for spec in inputs:
        for old in spec.renamed_from:
            if old in inputs.by_key:
                problems.append(
                    f"{where}: input {spec.key}: renamedFrom names {old!r}, the key of an input "
                    "of this step: an old key cannot still be in use"
                )
            elif old in seen:
                problems.append(
                    f"{where}: inputs {seen[old]} and {spec.key} both declare renamedFrom "
                    f"{old!r}: a saved value must have one place to go"
                )
            seen.setdefault(old, spec.key)
    return problems


def _shown_when_problems(where: str, key: str, raw: dict, inputs: InputSet) -> list[str]:
    """``shownWhen`` names other inputs of the step."""
    return [
        f"{where}: input {key}: shownWhen names {other!r}, not another input"
        for other in raw.get("shownWhen") or {}
        if other == key or other not in inputs.by_key
    ]


# check_schema's verdicts by the schema's JSON text: the same schemas come again and again
# (inputs shared through YAML anchors, every manifest validated in one process), and each
# check walks the whole meta-schema (~1 ms; 2,000 checks in the unit tests).
_SCHEMA_VERDICTS: dict[str, str | None] = {}
_MOST_SCHEMA_VERDICTS = 1024


def _schema_error(schema: Any) -> str | None:
    """Why ``schema`` is not a valid JSON Schema (draft 2020-12), or None when it is."""
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - costly: validation only
    from jsonschema.exceptions import SchemaError  # noqa: PLC0415

    try:
        text: str | None = json.dumps(schema)
    except (TypeError, ValueError):  # (not JSON: a date from YAML, a set...)
        text = None
    if text is not None and json.loads(text) != schema:  # (int keys, tuples: not the same)
        text = None
    if text is not None and text in _SCHEMA_VERDICTS:
        return _SCHEMA_VERDICTS[text]
    try:
        Draft202012Validator.check_schema(schema)
        verdict = None
    except SchemaError as exc:
        verdict = exc.message
    if text is not None:
        if len(_SCHEMA_VERDICTS) >= _MOST_SCHEMA_VERDICTS:
            _SCHEMA_VERDICTS.clear()
        _SCHEMA_VERDICTS[text] = verdict
    return verdict


def _output_problems(where: str, schema: dict, example: Any) -> list[str]:
    from jsonschema import Draft202012Validator  # noqa: PLC0415 - costly: validation only

    invalid = _schema_error(schema)
    if invalid is not None:
        return [f"{where}: output schema is not a valid JSON Schema: {invalid}"]
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [
        f"{where}: output example does not fit the output schema at "
        f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
        for e in validator.iter_errors(example)
    ]


def _takes(function: Callable | None, parameter: str) -> bool:
    """Whether ``function`` has a parameter of that name (asked of every step's handler)."""
    if function is None:
        return False
    code = getattr(function, "__code__", None)
    if code is not None and not hasattr(function, "__wrapped__"):
        # A plain function: its code object says (inspect costs a one-step process ~3 ms).
        count = code.co_argcount + code.co_kwonlyargcount
        return parameter in code.co_varnames[:count]
    import inspect  # noqa: PLC0415 - a callable object, a partial, a wrapper: rare

    try:
        return parameter in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
