"""A Power Automate / Logic Apps / Copilot Studio custom connector for the service: the
folder Microsoft's tools import (``paconn``, the maker portal's "Import an OpenAPI file").

- ``apiDefinition.swagger.json``: Swagger 2.0, one operation per action and data source,
  ``x-ms-summary`` from labels, descriptions from comments, ``x-ms-visibility``,
  ``x-ms-dynamic-values`` from ``dataSource`` links (a picklist filled by the data source's
  operation); each body is the step's ``inputs`` (2.0 has no ``anyOf``: typed values only).
- ``apiProperties.json``: the connection parameters, from the manifest's connection (secrets
  as ``securestring``, booleans as ``bool``, choices as ``allowedValues``), the service token,
  and one ``setheader`` policy per field: Power Automate passes connection parameters only
  through policies, so each field travels as an ``X-Connection-<field>`` header, which the
  service reads when a body has no connection.
- ``script.csx``: custom code that re-sends each of those headers as
  ``X-Connection-<field>-B64`` (base64 of UTF-8): a policy cannot encode, and a password
  that is not ASCII, or a PEM certificate, cannot travel as a plain header.
- the icon, and a README saying what is left to do by hand.

Not expressible: a trigger. Power Automate's polling triggers keep their state in a
``Location`` URL that the service would have to issue; the stateless service keeps none,
so a trigger is exported as the action "Poll ..." (state in, state out). OAuth 2.0
connections need their identity provider set up in the maker portal.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

from .._manifest import Manifest, Operation
from ..service.headers import header_name
from .openapi import REF, Builder, pascal
from .openapi30 import convert

# The security scheme's name: never a connection field's (apiKey, api_key...) beside it.
SERVICE_TOKEN = "serviceToken"  # noqa: S105


def export(connector: Any, out: Path, *, host: str = "connector.example.com") -> list[Path]:
    """Write the folder for ``connector`` (a loaded Connector) to ``out``; the files."""
    manifest = connector.manifest
    name = manifest.key
    openapi = convert(Builder({name: connector}).document(auth=True))
    definitions = {
        key: schema_20(schema) for key, schema in openapi["components"]["schemas"].items()
    }
    connection = manifest.default_connection
    paths: dict[str, Any] = {}
    for kind, table in (
        ("action", manifest.actions),
        ("dataSource", manifest.data_sources),
        ("trigger", manifest.triggers),
    ):
        for op in table.values():
            path, operation = _operation(name, manifest, op, kind, definitions)
            paths[path] = {"post": operation}
    website = f"https://{host}/"
    swagger = {
        "swagger": "2.0",
        "info": {
            "title": manifest.label,
            "description": manifest.description,
            "version": manifest.version,
            "contact": {"name": f"{manifest.label} connector service", "url": website},
        },
        "x-ms-connector-metadata": [
            {"propertyName": "Website", "propertyValue": website},
            {"propertyName": "Privacy policy", "propertyValue": website},
            *(
                [{"propertyName": "Categories", "propertyValue": ";".join(manifest.categories)}]
                if manifest.categories
                else []
            ),
        ],
        "host": host,
        "basePath": "/",
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": paths,
        "definitions": definitions,
        "securityDefinitions": {
            SERVICE_TOKEN: {"type": "apiKey", "in": "header", "name": "Authorization"}
        },
        "security": [{SERVICE_TOKEN: []}],
    }
    operation_ids = [op["operationId"] for path in paths.values() for op in path.values()]
    properties = _api_properties(manifest, connection, operation_ids)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name, content in (
        ("apiDefinition.swagger.json", swagger),
        ("apiProperties.json", properties),
    ):
        target = out / file_name
        target.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n")
        written.append(target)
    script = out / "script.csx"
    script.write_text(SCRIPT)
    written.append(script)
    icon = out / "icon.png"
    shutil.copyfile(manifest.icon_path, icon)
    readme = out / "README.md"
    readme.write_text(_readme(manifest, host))
    return [*written, icon, readme]


def operation_id(kind: str, key: str) -> str:
    """An operation id Power Automate takes (letters and digits): ``SearchMailbox``,
    ``ListMailboxesSource`` (a data source), ``PollNewEmailsPollingTrigger``."""
    return (
        {"action": "", "trigger": "Poll"}.get(kind, "")
        + pascal(key)
        + ("Source" if kind == "dataSource" else "")
    )


def _operation(
    name: str, manifest: Manifest, op: Operation, kind: str, definitions: dict
) -> tuple[str, dict]:
    route = {"action": "actions", "dataSource": "data-sources", "trigger": "triggers"}[kind]
    path = f"/v1/{name}/{route}/{op.key}" + ("/poll" if kind == "trigger" else "")
    op_id = operation_id(kind, op.key)
    body_name, response_name = f"{op_id}Body", f"{op_id}Response"
    inputs = _inputs(manifest, op)
    body: dict[str, Any] = {
        "type": "object",
        "properties": {"inputs": inputs},
    }
    if kind == "trigger":
        body["properties"]["state"] = {
            "type": "object",
            "x-ms-summary": "State",
            "description": "What the previous poll returned as state ({} the first time).",
        }
    definitions[body_name] = body
    key = op.key + ("Source" if kind == "dataSource" else "")
    response = copy.deepcopy(definitions[f"{pascal(key)}Response"])
    for name, summary, visibility in (
        ("ok", "OK", "internal"),
        ("data", summary_text(op.label), None),
        ("connectionUpdate", "Connection Update", "internal"),
        ("state", "State", None),
        ("hasMore", "Has More", None),
        ("followUps", "Follow-ups", "advanced"),
    ):
        field = response.get("properties", {}).get(name)
        if isinstance(field, dict):
            field["x-ms-summary"] = summary
            if visibility:
                field["x-ms-visibility"] = visibility
    definitions[response_name] = response
    description = op.description
    if kind == "trigger":
        description += (
            " (Power Automate's polling triggers cannot carry this connector's state: run "
            "this action on a schedule and pass it the state it returned last time.)"
        )
    operation = {
        "operationId": op_id,
        "summary": summary_text(op.label if kind != "trigger" else f"Poll {op.label}"),
        "description": description,
        "x-ms-visibility": "internal" if kind == "dataSource" else "important",
        "parameters": [
            {
                "name": "body",
                "in": "body",
                "required": kind != "dataSource",
                "schema": {"$ref": f"#/definitions/{body_name}"},
            }
        ],
        "responses": {
            "200": {"description": "The step succeeded", "schema": _ref(response_name)},
            "default": {"description": "An error envelope", "schema": _ref("ErrorEnvelope")},
        },
    }
    if kind == "trigger":
        operation["x-ms-visibility"] = "advanced"
    return path, operation


def _inputs(manifest: Manifest, op: Operation) -> dict:
    properties = {}
    for spec in op.inputs:
        schema: dict[str, Any] = schema_20(copy.deepcopy(spec.json_schema()))
        schema["x-ms-summary"] = summary_text(spec.label)
        if spec.comments:
            schema["description"] = spec.comments
        if spec.default is not None and not spec.default_when:
            schema["default"] = spec.default
        schema["x-ms-visibility"] = (
            "important" if spec.required and not spec.advanced else "advanced"
        )
        if spec.data_source and spec.data_source in manifest.data_sources:
            schema["x-ms-dynamic-values"] = {
                "operationId": operation_id("dataSource", spec.data_source),
                "value-collection": "data",
                "value-path": "key",
                "value-title": "label",
            }
        properties[spec.key] = schema
        for old in spec.renamed_from:  # a flow saved with the earlier key keeps its value
            earlier = {
                k: v for k, v in schema.items() if k not in ("default", "x-ms-dynamic-values")
            }
            earlier["x-ms-summary"] = summary_text(f"{spec.label} (earlier name)")
            earlier["description"] = f"The earlier name of {spec.label}: give {spec.key} instead."
            earlier["x-ms-visibility"] = "internal"
            properties[old] = earlier
    required = [s.key for s in op.inputs if s.required and s.default is None]
    inputs: dict[str, Any] = {"type": "object", "x-ms-summary": "Inputs", "properties": properties}
    if required:
        inputs["required"] = required
    return inputs


def summary_text(label: str) -> str:
    """A label as Power Automate wants a summary: no slash ("Search / List Mailbox Messages"
    -> "Search or List Mailbox Messages")."""
    return " ".join(label.replace("/", " or ").split())


def summarised(key: str, schema: Any) -> Any:
    """A property with an ``x-ms-summary``: its label, else its key in words (``uidNext`` ->
    "Uid Next"): a flow then never shows a bare key."""
    if isinstance(schema, dict) and "x-ms-summary" not in schema:
        words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).replace("_", " ")
        schema["x-ms-summary"] = " ".join(w[:1].upper() + w[1:] for w in words.split())
    return schema


def schema_20(schema: Any) -> Any:
    """A 3.0 schema in Swagger 2.0: refs to definitions, ``x-nullable``, the typed branch of a
    ``typed | raw string`` union, no keyword 2.0 lacks."""
    if isinstance(schema, list):
        return [schema_20(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    for keyword in ("anyOf", "oneOf"):
        if keyword in out:
            branches = out.pop(keyword)
            typed = next(
                (b for b in branches if not (isinstance(b, dict) and b.get("type") == "string")),
                branches[0],
            )
            out.update({k: v for k, v in typed.items() if k not in out})
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace(REF, "#/definitions/")
    if out.pop("nullable", False):
        out["x-nullable"] = True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if "title" in out and "x-ms-summary" not in out:  # (an output's label)
        out["x-ms-summary"] = summary_text(out["title"])
    for keyword in ("writeOnly", "examples", "$defs", "contentEncoding", "deprecated"):
        # (format: byte stays; a deprecated input is x-ms-visibility internal)
        out.pop(keyword, None)
    if "allOf" in out and len(out["allOf"]) == 1 and set(out) == {"allOf"}:
        return schema_20(out["allOf"][0])
    for key, value in list(out.items()):
        if key == "properties" and isinstance(value, dict):
            out[key] = {k: summarised(k, schema_20(v)) for k, v in value.items()}
        elif key == "patternProperties" and isinstance(value, dict):
            out[key] = {k: schema_20(v) for k, v in value.items()}
        elif isinstance(value, (dict, list)) and key not in ("enum", "default", "example"):
            out[key] = schema_20(value)
    return out


def _ref(name: str) -> dict:
    return {"$ref": f"#/definitions/{name}"}


PARAMETER_TYPES = {"boolean": "bool", "integer": "int"}


def _api_properties(manifest: Manifest, connection: Operation, operation_ids: list[str]) -> dict:
    parameters: dict[str, Any] = {
        SERVICE_TOKEN: {
            "type": "securestring",
            "uiDefinition": {
                "displayName": "Service token",
                "description": "The connector service's token, as: Bearer TOKEN",
                "tooltip": "Ask the service's operator for a token (Bearer TOKEN).",
                "constraints": {"tabIndex": 1, "clearText": False, "required": "true"},
            },
        }
    }
    policies = []
    for index, spec in enumerate(connection.inputs, start=2):
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", spec.key):
            continue
        constraints: dict[str, Any] = {
            "tabIndex": index,
            "clearText": not spec.sensitive,
            "required": "true" if spec.required and spec.default is None else "false",
        }
        if spec.choices:
            constraints["allowedValues"] = [
                {"text": c.get("label", str(c["value"])), "value": c["value"]} for c in spec.choices
            ]
        parameter: dict[str, Any] = {
            "type": "securestring" if spec.sensitive else PARAMETER_TYPES.get(spec.type, "string"),
            "uiDefinition": {
                "displayName": spec.label,
                "description": spec.comments or spec.label,
                "tooltip": spec.comments or spec.label,
                "constraints": constraints,
            },
        }
        if spec.default is not None and not spec.default_when:
            parameter["uiDefinition"]["defaultValue"] = spec.default
        parameters[spec.key] = parameter
        policies.append(
            {
                "templateId": "setheader",
                "title": f"Connection field {spec.key}",
                "parameters": {
                    "x-ms-apimTemplateParameter.name": header_name(spec.key),
                    "x-ms-apimTemplateParameter.value": f"@connectionParameters('{spec.key}')",
                    "x-ms-apimTemplateParameter.existsAction": "override",
                    "x-ms-apimTemplate-policySection": "Request",
                },
            }
        )
    return {
        "properties": {
            "connectionParameters": parameters,
            "iconBrandColor": "#3a6ea5",
            "capabilities": [],
            "policyTemplateInstances": policies,
            # Every operation: the script re-sends the policies' headers as -B64.
            "scriptOperations": operation_ids,
            "publisher": manifest.label,
            "stackOwner": manifest.label,
        }
    }


def _readme(manifest: Manifest, host: str) -> str:
    return f"""# {manifest.label}: a Power Automate custom connector

Generated from the connector's manifest by `connector export {manifest.key} --format
power-automate`. It calls a `connector serve` service at `{host}` (change `host` in
`apiDefinition.swagger.json`, or export with `--host`).

Import: `paconn create --api-def apiDefinition.swagger.json --api-prop apiProperties.json
--icon icon.png --script script.csx`, or the maker portal's "Import an OpenAPI file" (then paste the
connection parameters and policies of `apiProperties.json`).

What is left to do by hand:

- The service token: users type `Bearer TOKEN` as the Service token.
- Connection fields reach the service as headers: one `setheader` policy each puts the
  field in `X-Connection-<field>`, then `script.csx` (custom code, for every operation)
  re-sends each as `X-Connection-<field>-B64`, base64 of its UTF-8 bytes, so a password
  that is not ASCII and a PEM certificate arrive intact. Import with `--script script.csx`
  (or paste it under Code in the maker portal); without it a value that is not ASCII is
  refused (400 INVALID_INPUT naming the field), never sent garbled.
- `Website` and `Privacy policy` (`x-ms-connector-metadata`) point at the service: give
  your own pages before certification.
- Triggers: Power Automate's polling triggers keep their state in a `Location` URL; the
  service keeps none, so each trigger is an action "Poll ..." to run on a schedule with the
  state it returned.
- OAuth 2.0 connections: set up the identity provider in the maker portal (the manifest's
  presets give the authorization and token URLs and the scopes).
- Certification wants an icon (230 x 230 here) and a brand color of your own.
"""


# Custom code (C#) run by Power Automate for every operation: policies cannot encode, so it
# re-sends each X-Connection-<field> header the policies set as X-Connection-<field>-B64.
SCRIPT = """\
// Generated by `connector export --format power-automate`. Power Automate's policies put
// each connection field in an X-Connection-<field> header; a header value must be ASCII
// without line breaks, so this re-sends each one as X-Connection-<field>-B64: base64 of
// its UTF-8 bytes (the service decodes it). Nothing else in the request changes.
public class Script : ScriptBase
{
    private const string Prefix = "X-Connection-";
    private const string Suffix = "-B64";

    public override async Task<HttpResponseMessage> ExecuteAsync()
    {
        var request = this.Context.Request;
        var names = new List<string>();
        foreach (var header in request.Headers)
        {
            if (header.Key.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase)
                && !header.Key.EndsWith(Suffix, StringComparison.OrdinalIgnoreCase))
            {
                names.Add(header.Key);
            }
        }
        foreach (var name in names)
        {
            var value = string.Join(",", request.Headers.GetValues(name));
            request.Headers.Remove(name);
            request.Headers.TryAddWithoutValidation(
                name + Suffix, Convert.ToBase64String(Encoding.UTF8.GetBytes(value)));
        }
        return await this.Context.SendAsync(request, this.CancellationToken).ConfigureAwait(false);
    }
}
"""
