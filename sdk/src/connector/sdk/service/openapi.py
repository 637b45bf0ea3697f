"""The service's OpenAPI 3.1 document, generated from the manifests of the connectors it
serves: request schemas from the inputs, response schemas from the outputs and the error
envelope, examples from the manifests, and the status of every error code."""

from __future__ import annotations

from typing import Any

from ..errors import ERROR_CODES, ERRORS, status_of
from ..inputs import JSON_TYPES, InputSpec
from ..manifest import Manifest, Operation

# Every code a step may end with, then the service's own refusals (errors.ERRORS).
STEP_CODES = list(ERROR_CODES)

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["ok", "error"],
    "properties": {
        "ok": {"const": False},
        "error": {
            "type": "object",
            "required": ["code", "message", "retryable", "details"],
            "properties": {
                "code": {"enum": list(ERRORS)},
                "message": {"type": "string"},
                "retryable": {"type": "boolean"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        },
    },
}
# A trigger's follow-ups: per record, the step to run once its workflow succeeded or failed.
_FOLLOW_UP_STEP = {
    "anyOf": [
        {
            "type": "object",
            "required": ["action", "inputs"],
            "properties": {"action": {"type": "string"}, "inputs": {"type": "object"}},
        },
        {"type": "null"},
    ]
}
FOLLOW_UPS = {
    "description": "Per record (same order): the action to run, with the same connection, "
    "once the record's workflow succeeded (success) or failed (failure); null for none.",
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"success": _FOLLOW_UP_STEP, "failure": _FOLLOW_UP_STEP},
    },
}
CONNECTION_UPDATE = {
    "description": "Fields the platform should store for the connection (refreshed OAuth tokens).",
    "type": "object",
    "properties": {"fields": {"type": "object"}},
}


def status_table() -> str:
    """The status table as Markdown (the document's description and the docs)."""
    rows = ["| Status | Codes |", "| --- | --- |", "| 200 | the step succeeded (`ok: true`) |"]
    by_status: dict[int, list[str]] = {}
    for code, cls in ERRORS.items():
        by_status.setdefault(cls.status, []).append(f"`{code}`")
    rows += [f"| {status} | {', '.join(codes)} |" for status, codes in sorted(by_status.items())]
    return "\n".join(rows)


def document(connectors: dict[str, Any], *, auth: bool) -> dict:
    """OpenAPI 3.1 for every route of the service, for ``connectors`` (name -> Connector)."""
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness (no token needed)",
                "security": [],
                "responses": {
                    "200": {"description": "Alive", "content": _json({"type": "object"})}
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(["UNAUTHORIZED"]),
                },
            }
        },
        "/openapi.json": _get_json("openapi", "This document"),
    }
    for name, connector in connectors.items():
        manifest = connector.manifest
        connection = _connection_schema(manifest)
        paths[f"/v1/{name}"] = _get_json(f"{name}__manifest", f"The {manifest.label} manifest")
        paths[f"/v1/{name}/test-connection"] = _post(
            f"{name}__test_connection",
            f"Test a {manifest.label} connection",
            {
                "type": "object",
                "required": ["connection"],
                "properties": {"connection": connection},
            },
            _ok({"type": "object"}),
        )
        for op in manifest.actions.values():
            paths[f"/v1/{name}/actions/{op.key}"] = _post(
                f"{name}__action__{op.key}",
                op.label,
                _request(connection, op),
                _ok(op.output_schema or {}),
                description=op.description,
                example=_example(manifest.default_connection, op),
            )
        for op in manifest.triggers.values():
            body = _request(connection, op)
            body["properties"]["state"] = {
                "type": "object",
                "description": "The state the previous poll returned ({} the first time).",
            }
            paths[f"/v1/{name}/triggers/{op.key}/poll"] = _post(
                f"{name}__trigger__{op.key}",
                f"Poll {op.label}",
                body,
                _poll_envelope(op.output_schema or {}),
                description=op.description,
            )
        for op in manifest.data_sources.values():
            paths[f"/v1/{name}/data-sources/{op.key}"] = _post(
                f"{name}__data_source__{op.key}",
                op.label,
                _request(connection, op),
                _ok(op.output_schema or {}),
                description=op.description,
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Connector step service",
            "version": "1",
            "description": (
                "Runs connector steps over HTTP. Every response body is the envelope of "
                "`invoke`: `{ok: true, data}` or `{ok: false, error: {code, message, "
                "retryable, details}}`. Status by error code:\n\n" + status_table()
            ),
        },
        "paths": paths,
        "components": {
            "schemas": {"ErrorEnvelope": ERROR_ENVELOPE},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}] if auth else [],
    }


def _get_json(operation_id: str, summary: str) -> dict:
    """A GET route that answers a JSON object (and 401 without a token)."""
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "responses": {
                "200": {"description": summary, "content": _json({"type": "object"})},
                **_errors(["UNAUTHORIZED"]),
            },
        }
    }


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _errors(codes: list[str]) -> dict:
    statuses = sorted({status_of(c) for c in codes})
    return {
        str(status): {
            "description": ", ".join(c for c in codes if status_of(c) == status),
            "content": _json({"$ref": "#/components/schemas/ErrorEnvelope"}),
        }
        for status in statuses
    }


def _step_errors() -> dict:
    """Every status a step may answer with (any error code, the service's refusals)."""
    return _errors([*STEP_CODES, "UNAUTHORIZED", "PAYLOAD_TOO_LARGE"])


def _ok(data_schema: dict) -> dict:
    return {
        "type": "object",
        "required": ["ok", "data"],
        "properties": {
            "ok": {"const": True},
            "data": data_schema,
            "connectionUpdate": CONNECTION_UPDATE,
        },
    }


def _poll_envelope(records_schema: dict) -> dict:
    envelope = _ok(records_schema)
    envelope["required"] = ["ok", "data", "state", "hasMore"]
    envelope["properties"]["state"] = {"type": "object"}
    envelope["properties"]["hasMore"] = {"type": "boolean"}
    envelope["properties"]["followUps"] = FOLLOW_UPS
    return envelope


def _post(
    operation_id: str,
    summary: str,
    body: dict,
    ok: dict,
    *,
    description: str = "",
    example: Any = None,
) -> dict:
    content = _json(body)
    if example is not None:
        content["application/json"]["example"] = example
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "requestBody": {"required": True, "content": content},
            "responses": {
                "200": {"description": "The step succeeded", "content": _json(ok)},
                **_step_errors(),
            },
        }
    }


def _input_schema(spec: InputSpec) -> dict:
    """A typed JSON value, or the raw string a UI sends (coerced by the runtime)."""
    typed: dict[str, Any] = {"type": JSON_TYPES[spec.type]}
    if spec.choices:
        typed = {"enum": [c["value"] for c in spec.choices]}
    schema: dict[str, Any] = {"title": spec.label}
    if spec.comments:
        schema["description"] = spec.comments
    if typed.get("type") == "string":
        schema.update(typed)
    else:
        schema["anyOf"] = [typed, {"type": "string"}]
    if spec.default is not None:
        schema["default"] = spec.default
    if spec.example is not None:
        schema["examples"] = [spec.example]
    if spec.sensitive:
        schema["format"] = "password"
        schema["writeOnly"] = True
    return schema


def _inputs_object(op: Operation) -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {spec.key: _input_schema(spec) for spec in op.inputs},
    }


def _connection_schema(manifest: Manifest) -> dict:
    """The connection's fields (flat: the first connection), or {key, fields}."""
    flat = [_inputs_object(op) for op in manifest.connections.values()]
    keyed = {
        "type": "object",
        "required": ["key", "fields"],
        "additionalProperties": False,
        "properties": {
            "key": {"enum": list(manifest.connections)},
            "fields": {"type": "object"},
        },
    }
    return {"anyOf": [flat[0], keyed]}


def _request(connection: dict, op: Operation) -> dict:
    return {
        "type": "object",
        "required": ["connection"],
        "additionalProperties": False,
        "properties": {"connection": connection, "inputs": _inputs_object(op)},
    }


def _example(connection: Operation, op: Operation) -> dict | None:
    """A request from the manifest's examples (secrets left out)."""
    fields = {
        s.key: s.example for s in connection.inputs if s.example is not None and not s.sensitive
    }
    inputs = {spec.key: spec.example for spec in op.inputs if spec.example is not None}
    return {"connection": fields, "inputs": inputs} if inputs else None
