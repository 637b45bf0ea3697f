"""Markdown documentation generated from the manifest, and its freshness check."""

from __future__ import annotations

import json
from pathlib import Path

from . import _outputs as outputs
from ._error_table import ERROR_TYPES
from ._manifest import SCHEMA_PATH, Manifest, Operation
from ._pool import PER_ACCOUNT
from .errors import ServerError


def _cell(text: str) -> str:
    """One line of table text: pipes, asterisks and angle brackets would be markup."""
    text = " ".join(str(text).split())
    return text.replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;")


def _default(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return f"`{json.dumps(value)}`"
    return _cell(str(value))


def input_table(op: Operation, with_connection: bool) -> list[str]:
    rows = ["| Input | Key | Type | Comments | Default |", "| --- | --- | --- | --- | --- |"]
    if with_connection:
        rows.append("| Connection | `connection` | connection | The connection to use. | |")
    for spec in op.inputs:
        kind = spec.type + (", required" if spec.required else "")
        comments = spec.comments
        if spec.choices:
            comments += " One of: " + ", ".join(f"`{c['value']}`" for c in spec.choices) + "."
        if spec.data_source:
            comments += f" Picklist: data source `{spec.data_source}`."
        if spec.placeholder:
            comments += f" Placeholder: {spec.placeholder}."
        most = spec.json_schema().get("maxItems")
        if most is not None:
            comments += f" At most {most} items."
        if spec.type == "file":
            comments += (
                f" A file of at most {spec.max_bytes} bytes (name, contentType, base64 content)."
            )
        if spec.renamed_from:
            earlier = ", ".join(f"`{old}`" for old in spec.renamed_from)
            comments += f" Earlier name: {earlier} (still read)."
        default = _default(spec.default)
        for when, value in spec.default_when:
            default += f" ({_default(value)} when {_when(op, when)})"
        rows.append(
            f"| {_cell(spec.label)} | `{spec.key}` | {kind} | {_cell(comments)} | {default} |"
        )
    return rows


def _when(op: Operation, when: dict) -> str:
    """``Secure is false``: a defaultWhen condition as people read it."""
    labels = {spec.key: spec.label for spec in op.inputs}
    return " and ".join(
        f"{_cell(labels.get(key, key))} is {_default(value)}" for key, value in when.items()
    )


def output_table(op: Operation) -> list[str]:
    """The output's fields with their labels: what a workflow author picks from."""
    rows = list(outputs.fields(op.output_schema or {}))
    if not rows:
        return []
    table = ["Output fields:", "", "| Field | Key | Type | Meaning |", "| --- | --- | --- | --- |"]
    table += [
        f"| {_cell(f.label)} | `{f.path}` | {_cell(f.kind)} | {_cell(f.description)} |"
        for f in rows
    ]
    return [*table, ""]


def oauth_presets(conn: Operation) -> list[str]:
    """The OAuth 2.0 providers of a connection: what a platform configures."""
    presets = (conn.oauth2 or {}).get("presets") or {}
    if not presets:
        return []
    rows = [
        "OAuth 2.0 providers (the `provider` input):",
        "",
        "| Provider | Grant | Authorization URL | Token URL | Scopes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, preset in presets.items():
        grant = preset.get("grant", "authorizationCode")
        rows.append(
            f"| {_cell(preset.get('label', key))} (`{key}`) | {grant} | "
            f"{_cell(preset.get('authorizationUrl', ''))} | {_cell(preset['tokenUrl'])} | "
            f"{_cell(' '.join(preset.get('scopes', [])))} |"
        )
    return [*rows, ""]


def render(manifest: Manifest, icon_name: str) -> str:
    out = [
        "---",
        f"title: {manifest.label} Connector",
        f"sidebar_label: {manifest.label}",
        f"description: {manifest.description}",
        "---",
        "",
        "<!-- Generated from connector.yaml by 'docs': edit the manifest, not this file. -->",
        "",
        f"![{manifest.label}](./assets/{icon_name}#connector-icon)",
        manifest.description,
        "",
        "## Connections",
        "",
    ]
    for conn in manifest.connections.values():
        out += [f"### {conn.label}", "", f"Key: `{conn.key}`. {conn.description}", ""]
        if conn.comments:
            out += [conn.comments.rstrip(), ""]
        out += [*input_table(conn, with_connection=False), ""]
        out += oauth_presets(conn)
        if conn.pooling is not None:
            most = conn.pooling.get("perAccount", PER_ACCOUNT)
            out += [
                "A host (`serve`, the Temporal worker) keeps this connection's sessions "
                f"logged in between steps: at most {most} per account, one step at a time each.",
                "",
            ]
        if conn.test is not None:
            example = json.dumps(
                {"ok": True, "data": conn.test.output_example}, indent=2, ensure_ascii=False
            )
            out += [
                "Testing this connection (`test-connection`, or a request "
                '`{"testConnection": true, "connection": ...}`) opens it and returns:',
                "",
                "```json",
                example,
                "```",
                "",
            ]
    for title, table in (
        ("Actions", manifest.actions),
        ("Triggers", manifest.triggers),
        ("Data Sources", manifest.data_sources),
    ):
        if not table:
            continue
        out += [f"## {title}", ""]
        for op in sorted(table.values(), key=lambda a: a.label.lower()):
            out += [f"### {op.label}", "", op.description, "", f"Key: `{op.key}`", ""]
            out += [*input_table(op, with_connection=True), ""]
            if op.output_example is not None:
                envelope = {"ok": True, "data": op.output_example}
                if op.kind == "trigger":
                    envelope.update(
                        state={"...": "kept by the platform for the next poll"}, hasMore=False
                    )
                example = json.dumps(envelope, indent=2, ensure_ascii=False)
                out += ["Example output:", "", "```json", example, "```", ""]
            out += output_table(op)
            if op.record_key:
                keys = ", ".join(f"`{key}`" for key in op.record_key)
                out += [
                    f"A record is identified by {keys}: a record delivered again (a poll "
                    "repeated after a crash) has the same values, so de-duplicate by them.",
                    "",
                ]
    for guide in manifest.guides:
        out += [f"## {guide['title']}", "", guide["body"].rstrip(), ""]
    out += [
        "## Errors",
        "",
        'A failed step returns `{"ok": false, "error": {"code", "message", '
        '"retryable", "details": [{"path", "message"}]}}`. The message names '
        "the input to change and never contains a secret (the value of a password input).",
        "",
        "| Code | Meaning | Retryable |",
        "| --- | --- | --- |",
    ]
    for error in ERROR_TYPES:
        if error.code not in manifest.error_codes:
            continue
        retry = "yes" if error.retryable else "no"
        if error is ServerError:
            retry = "when the remote side says the fault is passing"
        out.append(f"| `{error.code}` | {_cell(error.__doc__ or '')} | {retry} |")
    return "\n".join(out).rstrip() + "\n"


def expected_files(manifest: Manifest) -> dict[str, bytes]:
    icon_name = f"{manifest.key}.png"
    return {
        f"{manifest.key}.md": render(manifest, icon_name).encode("utf-8"),
        f"assets/{icon_name}": manifest.icon_path.read_bytes(),
    }


def write_docs(manifest: Manifest, out: Path) -> list[str]:
    written = []
    for name, content in expected_files(manifest).items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != content:
            target.write_bytes(content)
            written.append(str(target))
    return written


def check_docs(manifest: Manifest, out: Path) -> list[str]:
    """The files under ``out`` that differ from what the manifest generates."""
    stale = []
    for name, content in expected_files(manifest).items():
        target = out / name
        if not target.exists() or target.read_bytes() != content:
            stale.append(str(target))
    return stale


# -- the manifest reference (docs/writing-a-connector.md), from manifest.schema.json ------

REFERENCE_START = (
    "<!-- manifest-reference: generated from sdk/src/connector/sdk/manifest.schema.json -->"
)
REFERENCE_END = "<!-- /manifest-reference -->"


def manifest_reference() -> str:
    """Every manifest field, as Markdown tables: one per object of the schema."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    defs = schema["$defs"]
    sections: list[tuple[str, dict]] = [("Top level", schema)]
    titles = {
        "connection": "Connection (`connections[]`)",
        "action": "Action, trigger, data source (`actions[]`, `triggers[]`, `dataSources[]`)",
        "input": "Input (`inputs[]`)",
        "output": "Output (`output`, `test.output`)",
    }
    sections += [(title, defs[name]) for name, title in titles.items()]
    out: list[str] = []
    while sections:
        title, node = sections.pop(0)
        out += [
            f"#### {title}",
            "",
            "| Field | Type | Required | Meaning |",
            "| --- | --- | --- | --- |",
        ]
        required = set(node.get("required", ()))
        for key, prop in node.get("properties", {}).items():
            out.append(
                f"| `{key}` | {_schema_type(prop)} | {'yes' if key in required else ''} | "
                f"{_cell(prop.get('description', ''))} |"
            )
            for child_title, child in _nested_objects(title, key, prop):
                sections.append((child_title, child))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _nested_objects(parent: str, key: str, prop: dict) -> list[tuple[str, dict]]:
    """Inline objects with fields of their own (a connection's test, oauth2, a guide...)."""
    found = []
    items = prop.get("items") if prop.get("type") == "array" else None
    for candidate, suffix in ((prop, ""), (items or {}, "[]")):
        if isinstance(candidate, dict) and candidate.get("properties"):
            found.append((f"{parent.split(' (')[0]}: `{key}{suffix}`", candidate))
    extra = prop.get("properties", {}).get("presets", {}).get("additionalProperties")
    if isinstance(extra, dict) and extra.get("properties"):
        found.append((f"{parent.split(' (')[0]}: `{key}.presets.<name>`", extra))
    return found


def _schema_type(prop: dict) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        names = {"importPath": "module:function", "label": "text", "inputs": "list of input"}
        return names.get(name, name)
    if "const" in prop:
        return f"`{prop['const']}`"
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    kind = prop.get("type")
    if kind == "array":
        items = prop.get("items", {})
        inner = _schema_type(items) if isinstance(items, dict) and items else "any"
        return f"list of {inner}"
    return str(kind) if kind else "any JSON"


def with_reference(text: str) -> str:
    """``text`` with its generated manifest reference (between the markers) brought up to date."""
    start, end = text.index(REFERENCE_START), text.index(REFERENCE_END)
    return text[: start + len(REFERENCE_START)] + "\n\n" + manifest_reference() + "\n" + text[end:]


def update_guide(path: str | Path = "docs/writing-a-connector.md") -> None:
    """Rewrite the guide's generated manifest reference in place."""
    guide = Path(path)
    guide.write_text(with_reference(guide.read_text(encoding="utf-8")), encoding="utf-8")
