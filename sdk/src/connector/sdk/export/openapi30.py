"""The OpenAPI 3.1 document in OpenAPI 3.0.3, for tools that read only 3.0 (Google's
Integration Connectors, older generators): a type list with null becomes ``nullable``, a
``null`` branch of ``anyOf`` too, ``const`` becomes a one-value ``enum``, ``examples`` the
single ``example``, and a ``$ref`` with siblings is wrapped in ``allOf`` (3.0 ignores them)."""

from __future__ import annotations

import copy
from typing import Any

SCHEMA_PLACES = ("schema", "items", "not", "additionalProperties")


def convert(document: dict) -> dict:
    out = copy.deepcopy(document)
    out["openapi"] = "3.0.3"
    license_ = out.get("info", {}).get("license", {})
    if license_.pop("identifier", None) == "Apache-2.0":  # (3.1's; 3.0 has a URL)
        license_["url"] = "https://www.apache.org/licenses/LICENSE-2.0"
    schemas = out.get("components", {}).get("schemas", {})
    for schema in schemas.values():
        _schema(schema)
    for schema in schemas.values():
        _typed_nullable(schema, schemas)
    for path in out.get("paths", {}).values():
        for operation in path.values():
            for media in (operation.get("requestBody") or {}).get("content", {}).values():
                _media(media)
            for response in operation.get("responses", {}).values():
                for media in response.get("content", {}).values():
                    _media(media)
    return out


def _typed_nullable(schema: Any, schemas: dict) -> None:
    """``nullable`` counts only beside a ``type`` (3.0.3): a nullable ``allOf: [$ref]`` gets the
    referenced schema's type, or generators read null as invalid (Redocly calls it an error)."""
    if isinstance(schema, list):
        for item in schema:
            _typed_nullable(item, schemas)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("nullable") and "type" not in schema:
        for branch in schema.get("allOf") or ():
            name = str(branch.get("$ref", "")).rsplit("/", 1)[-1]
            kind = schemas.get(name, {}).get("type")
            if isinstance(kind, str):
                schema["type"] = kind
                break
    for value in schema.values():
        if isinstance(value, (dict, list)):
            _typed_nullable(value, schemas)


def _media(media: dict) -> None:
    if "schema" in media:
        media["schema"] = _schema(media["schema"])


def _schema(schema: Any) -> Any:
    """Convert in place (and return) one schema and everything under it."""
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if "null" in kind:
            schema["nullable"] = True
        if len(kinds) == 1:
            schema["type"] = kinds[0]
        else:
            del schema["type"]
            schema["anyOf"] = [{"type": k} for k in kinds]
    if "const" in schema:
        schema["enum"] = [schema.pop("const")]
    schema.pop("contentEncoding", None)  # 3.1's base64; 3.0 says it with format: byte
    if "examples" in schema:
        examples = schema.pop("examples")
        if examples:
            schema["example"] = examples[0]
    for keyword in ("anyOf", "oneOf", "allOf"):
        if keyword in schema:
            branches = [_schema(b) for b in schema[keyword]]
            if any(isinstance(b, dict) and b.get("type") == "null" for b in branches):
                schema["nullable"] = True
                branches = [
                    b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")
                ]
            if len(branches) == 1 and keyword != "allOf":
                schema.pop(keyword)
                only = branches[0]
                if "$ref" in only:
                    schema.setdefault("allOf", []).append(only)
                else:
                    schema.update({k: v for k, v in only.items() if k not in schema})
            else:
                schema[keyword] = branches
    for keyword in ("properties", "patternProperties"):
        if isinstance(schema.get(keyword), dict):
            for value in schema[keyword].values():
                _schema(value)
    for keyword in SCHEMA_PLACES:
        if isinstance(schema.get(keyword), dict):
            schema[keyword] = _schema(schema[keyword])
    if "$ref" in schema and len(schema) > 1:
        ref = schema.pop("$ref")
        schema.setdefault("allOf", []).insert(0, {"$ref": ref})
    return schema
