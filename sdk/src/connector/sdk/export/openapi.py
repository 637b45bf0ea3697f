"""The service's OpenAPI 3.1 document, generated from the manifests of the connectors it
serves: request schemas from the inputs, response schemas from the outputs and the error
envelope, examples from the manifests, and the status of every error code.

Schemas are named and reused (``components/schemas``) with the names a person would give
them: ``ImapConnection``, ``SearchMailboxInputs``, ``SearchMailboxRequest``,
``SearchMailboxResult``, ``SearchMailboxResponse``, ``ErrorEnvelope``; a schema the
manifest names under ``definitions.schemas`` (``envelope``, ``flagList``...) is one
component (``Envelope``, ``FlagList``) wherever it appears. Generators then write classes
with those names. Every array has ``items``, every ``const``/``enum`` its ``type``, and a
secret is ``writeOnly`` with ``format: password`` (see the guide for what generators do with
it). ``openapi30`` and ``powerautomate`` derive the 3.0 and Swagger 2.0 forms from this one.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from .. import _outputs as outputs
from .._error_table import ERROR_CODES, ERRORS, status_of
from .._inputs import InputSpec
from .._manifest import Manifest, Operation

# Every code a step may end with, then the service's own refusals (errors.ERRORS).
STEP_CODES = list(ERROR_CODES)
REF = "#/components/schemas/"

ERROR = {
    "type": "object",
    "required": ["code", "message", "retryable", "details"],
    "properties": {
        "code": {"title": "Error Code", "type": "string", "enum": list(ERRORS)},
        "message": {
            "title": "Error Message",
            "description": "What was wrong and which input to change",
            "type": "string",
        },
        "retryable": {
            "title": "Retryable",
            "description": "Whether the same step may succeed when run again",
            "type": "boolean",
        },
        "details": {
            "title": "Details",
            "description": "Per input: its path (inputs.range) and what is wrong with it",
            "type": "array",
            "items": {"type": "object"},
        },
    },
}
ERROR_ENVELOPE = {
    "type": "object",
    "required": ["ok", "error"],
    "properties": {
        "ok": {"title": "OK", "description": "false: the step failed", "type": "boolean"},
        "error": {"$ref": REF + "Error", "title": "Error"},
    },
}
# A trigger's follow-ups: per record, the step to run once its workflow succeeded or failed.
FOLLOW_UP_STEP = {
    "type": "object",
    "required": ["action", "inputs"],
    "properties": {
        "action": {"title": "Action", "description": "The action's key", "type": "string"},
        "inputs": {"title": "Inputs", "description": "Its inputs", "type": "object"},
    },
}
FOLLOW_UP = {
    "description": "The action to run, with the same connection, once the record's workflow "
    "succeeded (success) or failed (failure); null for none.",
    "type": "object",
    "properties": {
        "success": {
            "title": "On Success",
            "anyOf": [{"$ref": REF + "FollowUpStep"}, {"type": "null"}],
        },
        "failure": {
            "title": "On Failure",
            "anyOf": [{"$ref": REF + "FollowUpStep"}, {"type": "null"}],
        },
    },
}
CONNECTION_UPDATE = {
    "description": "Fields the platform should store for the connection (refreshed OAuth tokens).",
    "type": "object",
    "properties": {"fields": {"title": "Fields", "type": "object"}},
}
SHARED = {
    "Error": ERROR,
    "ErrorEnvelope": ERROR_ENVELOPE,
    "FollowUpStep": FOLLOW_UP_STEP,
    "FollowUp": FOLLOW_UP,
    "ConnectionUpdate": CONNECTION_UPDATE,
}


# Operations by kind: what an importer groups them under.
TAGS = {
    "action": "Actions",
    "trigger": "Triggers",
    "dataSource": "Data sources",
    "connection": "Connection",
    "manifest": "Manifest",
}
TAG_TEXT = {
    "Actions": "The steps a workflow runs.",
    "Triggers": "Polling triggers: give each poll the state the previous one returned.",
    "Data sources": "Picklists for inputs (such as the mailboxes).",
    "Connection": "Test a connection before using it.",
    "Manifest": "What the connector offers, as its manifest says.",
}


def pascal(key: str) -> str:
    """``searchMailbox`` -> ``SearchMailbox``, ``imap_oauth`` -> ``ImapOauth``."""
    parts = re.split(r"[^A-Za-z0-9]+", key)
    return "".join(part[:1].upper() + part[1:] for part in parts if part)


def status_table() -> str:
    """The status table as Markdown (the document's description and the docs)."""
    rows = ["| Status | Codes |", "| --- | --- |", "| 200 | the step succeeded (`ok: true`) |"]
    by_status: dict[int, list[str]] = {}
    for code, cls in ERRORS.items():
        by_status.setdefault(cls.status, []).append(f"`{code}`")
    rows += [f"| {status} | {', '.join(codes)} |" for status, codes in sorted(by_status.items())]
    return "\n".join(rows)


class Components:
    """Named schemas: each added once; an equal schema already named is reused."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = copy.deepcopy(SHARED)
        self._by_text: dict[str, str] = {}

    def add(self, name: str, schema: dict, *, shared: bool = False) -> dict:
        """``schema`` under ``name`` (a different schema of that name gets a suffix); its
        $ref. A ``shared`` schema (the manifest's own definitions) is named once however often
        it appears; an operation's are its own even when equal to another's."""
        text = json.dumps(schema, sort_keys=True)
        if shared and text in self._by_text:
            return {"$ref": REF + self._by_text[text]}
        if not shared and self.schemas.get(name) == schema:
            return {"$ref": REF + name}
        unique, number = name, 2
        while unique in self.schemas:
            unique, number = f"{name}{number}", number + 1
        self.schemas[unique] = schema
        if shared:
            self._by_text[text] = unique
        return {"$ref": REF + unique}

    def named_definitions(self, manifest: Manifest) -> dict[str, str]:
        """The manifest's own named schemas (``definitions.schemas``): JSON text -> name."""
        found = {}
        for key, schema in ((manifest.data.get("definitions") or {}).get("schemas") or {}).items():
            if isinstance(schema, dict):
                found[json.dumps(schema, sort_keys=True)] = pascal(key)
        return found


class Builder:
    def __init__(self, connectors: dict[str, Any]):
        self.connectors = connectors
        self.components = Components()
        self.single = len(connectors) == 1

    # -- names

    def name(self, connector: str, key: str, suffix: str, *, always: bool = False) -> str:
        """``SearchMailboxInputs``: prefixed with the connector when several are served (a
        connection's name always is: ``ImapConnection``, ``ImapOAuthConnection``)."""
        base = pascal(key)
        if (always or not self.single) and not key.lower().startswith(connector.lower()):
            base = pascal(connector) + base
        return base + suffix

    # -- schemas

    def typed(self, schema: Any, named: dict[str, str]) -> Any:
        """A manifest schema for OpenAPI: named parts as $refs, arrays with items, every
        const and enum with its type."""
        if isinstance(schema, list):
            return [self.typed(item, named) for item in schema]
        if not isinstance(schema, dict):
            return schema
        # A property's own label and description do not make it another schema: a labelled
        # ``uid`` is still the named Uid, with its title beside the $ref (3.1 allows it).
        notes = {k: schema[k] for k in ("label", "description") if k in schema}
        bare = {k: v for k, v in schema.items() if k not in notes}
        text = json.dumps(bare, sort_keys=True)
        if text in named:
            name = named.pop(text)  # (named once; its own parts are typed below)
            try:
                ref = self.components.add(name, self.typed(bare, named), shared=True)
            finally:
                named[text] = name
            return {**ref, **titled(notes)}
        out = {
            key: self.typed(value, named)
            for key, value in schema.items()
            if key not in outputs.OURS
        }
        for keyword in ("properties", "patternProperties", "$defs"):
            if isinstance(schema.get(keyword), dict):
                out[keyword] = {k: self.typed(v, named) for k, v in schema[keyword].items()}
        return with_types({**titled(notes), **out})

    def input_schema(self, spec: InputSpec) -> dict:
        """A typed JSON value, or the raw string a UI sends (coerced by the runtime)."""
        typed = with_types(spec.json_schema())
        schema: dict[str, Any] = {"title": spec.label}
        if spec.comments:
            schema["description"] = spec.comments
        if typed.get("type") == "string":
            schema.update(typed)
        else:
            schema["anyOf"] = [typed, {"type": "string"}]
        if spec.default is not None and not spec.default_when:
            # (A default that depends on other inputs is not one value: a generated client
            # would send it as if given. The description says it.)
            schema["default"] = spec.default
        if spec.example is not None:
            schema["examples"] = [spec.example]
        if spec.sensitive:
            schema["format"] = "password"
            schema["writeOnly"] = True
        return schema

    def renamed_input_schema(self, spec: InputSpec) -> dict:
        """An input's earlier key (``renamedFrom``): still read, deprecated, no default."""
        schema = self.input_schema(spec)
        for keyword in ("default", "examples"):
            schema.pop(keyword, None)
        schema["title"] = f"{spec.label} (earlier name)"
        schema["description"] = (
            f"The earlier name of {spec.label} ({spec.key}), still read for steps saved "
            f"with it: give {spec.key} instead."
        )
        schema["deprecated"] = True
        return schema

    def inputs_object(self, op: Operation) -> dict:
        required = [s.key for s in op.inputs if s.required and s.default is None]
        schema: dict[str, Any] = {
            "type": "object",
            "additionalProperties": False,
            "properties": {spec.key: self.input_schema(spec) for spec in op.inputs},
        }
        for spec in op.inputs:
            for old in spec.renamed_from:  # (what steps saved by earlier versions send)
                schema["properties"][old] = self.renamed_input_schema(spec)
        if required:
            schema["required"] = required
        return schema

    def connection(self, name: str, manifest: Manifest) -> dict:
        """``connection``: the first connection's fields, or ``{key, fields}``."""
        refs = []
        for conn in manifest.connections.values():
            schema = self.inputs_object(conn)
            schema["description"] = conn.description
            connection_name = self.name(name, conn.key, "Connection", always=True)
            refs.append(self.components.add(connection_name, schema))
        keyed = {
            "type": "object",
            "description": "Any connection, named: the fields as the connection's schema says.",
            "required": ["key", "fields"],
            "additionalProperties": False,
            "properties": {
                "key": {"type": "string", "enum": list(manifest.connections)},
                "fields": {"anyOf": refs} if len(refs) > 1 else refs[0],
            },
        }
        named = self.components.add(self.name(name, "Named", "Connection", always=True), keyed)
        return {"anyOf": [refs[0], named]}

    def ok(self, data: dict) -> dict:
        return {
            "type": "object",
            "required": ["ok", "data"],
            "properties": {
                "ok": {"title": "OK", "description": "true: the step succeeded", "type": "boolean"},
                "data": {**data, "title": "Result"},
                "connectionUpdate": {
                    "$ref": REF + "ConnectionUpdate",
                    "title": "Connection Update",
                },
            },
        }

    # -- the document

    def operation(self, name: str, manifest: Manifest, op: Operation, kind: str) -> dict:
        connection = self.connection(name, manifest)
        named = self.components.named_definitions(manifest)
        # A data source may share its key with an action (listMailboxes): "Source" tells them.
        key = op.key + ("Source" if kind == "dataSource" else "")
        inputs = self.components.add(self.name(name, key, "Inputs"), self.inputs_object(op))
        body: dict[str, Any] = {
            "type": "object",
            "required": ["connection"],
            "additionalProperties": False,
            "properties": {"connection": connection, "inputs": inputs},
        }
        output = self.typed(op.output_schema or {"type": "object"}, named)
        if kind == "trigger":
            body["properties"]["state"] = {
                "type": "object",
                "description": "The state the previous poll returned ({} the first time).",
            }
            records = output
            record = output.get("items") if isinstance(output, dict) else None
            if isinstance(record, dict) and "$ref" not in record:
                named_record = self.components.add(self.name(name, key, "Record"), record)
                records = {**output, "items": named_record}
            ok = self.ok(records)
            ok["required"] = ["ok", "data", "state", "hasMore"]
            ok["properties"]["state"] = {
                "title": "State",
                "description": "Give it to the next poll",
                "type": "object",
            }
            ok["properties"]["hasMore"] = {
                "title": "Has More",
                "description": "More records are waiting: poll again now",
                "type": "boolean",
            }
            ok["properties"]["followUps"] = {
                "title": "Follow-ups",
                "description": "Per record, the action to run after its workflow",
                "type": "array",
                "items": {"$ref": REF + "FollowUp"},
            }
        else:
            result = self.components.add(self.name(name, key, "Result"), output)
            ok = self.ok(result)
        request = self.components.add(self.name(name, key, "Request"), body)
        response = self.components.add(self.name(name, key, "Response"), ok)
        path_kind = {"action": "action", "trigger": "trigger", "dataSource": "data_source"}[kind]
        return post(
            f"{name}__{path_kind}__{op.key}",
            op.label if kind != "trigger" else f"Poll {op.label}",
            request,
            response,
            description=op.description,
            example=example(manifest.default_connection, op) if kind == "action" else None,
            tag=TAGS[kind],
        )

    def document(self, *, auth: bool) -> dict:
        # The steps only: a platform imports these. The operator's routes (/healthz,
        # /readyz, /metrics, this document) are in the README, not in what n8n or Power
        # Automate would show as operations.
        paths: dict[str, Any] = {}
        for name, connector in self.connectors.items():
            manifest = connector.manifest
            paths[f"/v1/{name}"] = get_json(
                f"{name}__manifest", f"The {manifest.label} manifest", tag=TAGS["manifest"]
            )
            test_body = {
                "type": "object",
                "required": ["connection"],
                "additionalProperties": False,
                "properties": {"connection": self.connection(name, manifest)},
            }
            paths[f"/v1/{name}/test-connection"] = post(
                f"{name}__test_connection",
                f"Test a {manifest.label} connection",
                self.components.add(self.name(name, "TestConnection", "Request"), test_body),
                self.ok({"type": "object"}),
                tag=TAGS["connection"],
                description="Opens the connection, logs in and says what the server offers.",
            )
            for op in manifest.actions.values():
                paths[f"/v1/{name}/actions/{op.key}"] = self.operation(name, manifest, op, "action")
            for op in manifest.triggers.values():
                paths[f"/v1/{name}/triggers/{op.key}/poll"] = self.operation(
                    name, manifest, op, "trigger"
                )
            for op in manifest.data_sources.values():
                paths[f"/v1/{name}/data-sources/{op.key}"] = self.operation(
                    name, manifest, op, "dataSource"
                )
        return {
            "openapi": "3.1.0",
            # Relative: the service that serves this document (GET /openapi.json puts its own
            # address here); an exported copy names the host it was exported for.
            "servers": [{"url": "/", "description": "This service"}],
            "tags": [{"name": name, "description": text} for name, text in TAG_TEXT.items()],
            "info": {
                "title": "Connector step service",
                "version": "1",
                "description": (
                    "Runs connector steps over HTTP. Every response body is the envelope of "
                    "`invoke`: `{ok: true, data}` or `{ok: false, error: {code, message, "
                    "retryable, details}}`. Status by error code:\n\n" + status_table()
                ),
                "contact": {"name": "The operator of this service"},
                "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
            },
            "paths": paths,
            "components": {
                "schemas": self.components.schemas,
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearer": []}] if auth else [],
        }


def document(connectors: dict[str, Any], *, auth: bool) -> dict:
    """OpenAPI 3.1 for every route of the service, for ``connectors`` (name -> Connector)."""
    return open_objects(Builder(connectors).document(auth=auth))


def open_objects(node: Any) -> Any:
    """Every ``type: object`` without properties says it takes any keys: openapi-typescript
    types a bare one as an object of ``never`` (filterOptions then took no filter at all)."""
    if isinstance(node, list):
        for item in node:
            open_objects(item)
    elif isinstance(node, dict):
        if node.get("type") == "object" and not {"properties", "additionalProperties"} & set(node):
            node["additionalProperties"] = True
        for key, value in node.items():
            if key not in ("example", "examples", "default", "enum"):
                open_objects(value)
    return node


def titled(notes: dict) -> dict:
    """A manifest's ``label`` as JSON Schema's ``title`` (the description stays)."""
    out = {"title": notes["label"]} if "label" in notes else {}
    if "description" in notes:
        out["description"] = notes["description"]
    return out


def with_types(schema: dict) -> dict:
    """``const``/``enum`` with their ``type`` (generators need it), ``const`` with its one-value
    ``enum``; arrays with ``items``."""
    values = [schema["const"]] if "const" in schema else schema.get("enum")
    if values and all(isinstance(v, bool) for v in values):
        # A fixed boolean (deleted: true) is a boolean: openapi-generator 7.26 checks a
        # boolean const or enum as the *string* "true", so every real reply failed.
        schema.pop("const", None)
        schema.pop("enum", None)
        schema["type"] = "boolean"
        return schema
    if "const" in schema and "enum" not in schema:
        schema["enum"] = values  # (openapi-generator reads a lone const as a string enum)
    if values and "type" not in schema:
        kinds = sorted({json_type(v) for v in values})
        schema["type"] = kinds[0] if len(kinds) == 1 else kinds
    kind = schema.get("type")
    if (kind == "array" or (isinstance(kind, list) and "array" in kind)) and "items" not in schema:
        schema["items"] = {}
    return schema


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def get_json(operation_id: str, summary: str, *, tag: str) -> dict:
    """A GET route that answers a JSON object (and 401 without a token)."""
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "description": summary + ".",
        "tags": [tag],
        "responses": {
            "200": {"description": summary, "content": as_json({"type": "object"})},
            **errors(["UNAUTHORIZED"]),
        },
    }
    return {"get": operation}


def as_json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def errors(codes: list[str]) -> dict:
    statuses = sorted({status_of(c) for c in codes})
    return {
        str(status): {
            "description": ", ".join(c for c in codes if status_of(c) == status),
            "content": as_json({"$ref": REF + "ErrorEnvelope"}),
        }
        for status in statuses
    }


def step_errors() -> dict:
    """Every status a step may answer with (any error code, the service's refusals)."""
    return errors([*STEP_CODES, "UNAUTHORIZED", "PAYLOAD_TOO_LARGE"])


def post(
    operation_id: str,
    summary: str,
    body: dict,
    ok: dict,
    *,
    tag: str,
    description: str = "",
    example: Any = None,
) -> dict:
    content = as_json(body)
    if example is not None:
        content["application/json"]["example"] = example
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "tags": [tag],
            "requestBody": {"required": True, "content": content},
            "responses": {
                "200": {"description": "The step succeeded", "content": as_json(ok)},
                **step_errors(),
            },
        }
    }


def example(connection: Operation, op: Operation) -> dict | None:
    """A request from the manifest's examples, valid against its schema: every required
    field, a secret as a placeholder saying what goes there."""
    fields = {}
    for spec in connection.inputs:
        if spec.sensitive and spec.required:
            fields[spec.key] = f"<{spec.label.lower()}>"
        elif spec.example is not None and not spec.sensitive:
            fields[spec.key] = spec.example
    inputs = {spec.key: spec.example for spec in op.inputs if spec.example is not None}
    return {"connection": fields, "inputs": inputs} if inputs else None
