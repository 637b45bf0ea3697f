"""Commands that read a manifest without running a step: list, actions, describe,
validate, docs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .._discovery import installed_connectors, is_connector_name, resolve_manifest
from .._docs import check_docs, write_docs
from .._manifest import Manifest, Operation
from .._runtime import Connector
from ..errors import ManifestError
from . import Invocation
from .output import EXIT_ERROR, EXIT_OK, EXIT_USAGE, print_json
from .steps import load_connector, parser_for


def list_connectors(cli: Invocation, argv: list[str]) -> int:
    """One line per installed connector: name, distribution and version, manifest label."""
    parser_for(cli, "List the installed connectors.").parse_args(argv)
    found = installed_connectors()
    if not found:
        print("no connector is installed", file=sys.stderr)
        return EXIT_OK
    status = EXIT_OK
    for name in sorted(found):
        dists = ", ".join(f"{dist} {version}" for dist, version, _ in found[name])
        try:
            manifest = Connector.load(name, check_handlers=False, validate=False).manifest
            print(f"{name}\t{dists}\t{manifest.label}: {manifest.description}")
        except (ManifestError, LookupError, OSError) as exc:
            print(f"{name}\t{dists}\tBROKEN: {exc}")
            status = EXIT_ERROR
    return status


def actions(cli: Invocation, argv: list[str]) -> int:
    parser_for(cli, "List the connector's actions, one per line.").parse_args(argv)
    manifest = _manifest(cli)
    if manifest is None:
        return EXIT_ERROR
    width = max((len(k) for k in manifest.actions), default=0)
    for key, op in manifest.actions.items():
        print(f"{key.ljust(width)}  {op.label}: {op.description}")
    return EXIT_OK


def describe(cli: Invocation, argv: list[str]) -> int:
    parser = parser_for(cli, "A step's inputs and output schema, as JSON.")
    parser.add_argument("step", metavar="STEP", help="an action, trigger or data source")
    args = parser.parse_args(argv)
    manifest = _manifest(cli)
    if manifest is None:
        return EXIT_ERROR
    found = manifest.find(args.step)
    if found is None:
        known = [
            key for kind in ("action", "trigger", "dataSource") for key in manifest.table(kind)
        ]
        print(f"{cli.prog}: unknown step {args.step!r}; known: {', '.join(known)}", file=sys.stderr)
        return EXIT_USAGE
    print_json(description(found))
    return EXIT_OK


def description(op: Operation) -> dict[str, Any]:
    """What ``describe`` prints: a step's inputs (with their choices' labels and limits) and
    its output."""
    return {
        "key": op.key,
        "label": op.label,
        "description": op.description,
        "inputs": [
            {
                "key": s.key,
                "label": s.label,
                "type": s.type,
                "required": s.required,
                "default": s.default,
                "comments": s.comments,
                "example": s.example,
                **(
                    {
                        "choices": [
                            {"value": c["value"], "label": c.get("label", c["value"])}
                            for c in s.choices
                        ]
                    }
                    if s.choices
                    else {}
                ),
                **({"limits": _limits(s.schema)} if _limits(s.schema) else {}),
                **({"placeholder": s.placeholder} if s.placeholder else {}),
                **({"dataSource": s.data_source} if s.data_source else {}),
                **({"maxBytes": s.max_bytes} if s.type == "file" else {}),
                **({"renamedFrom": list(s.renamed_from)} if s.renamed_from else {}),
            }
            for s in op.inputs
        ],
        **(
            {"output": {"schema": op.output_schema, "example": op.output_example}}
            if op.output_schema is not None
            else {}
        ),
    }


def _limits(schema: dict[str, Any]) -> dict[str, Any]:
    """The input's own rules a form should know: ranges, lengths, a pattern, list sizes."""
    keys = ("minimum", "maximum", "minLength", "maxLength", "pattern", "minItems", "maxItems")
    return {key: schema[key] for key in keys if key in schema}


def validate(cli: Invocation, argv: list[str]) -> int:
    if cli.bound:  # (the bound console's own manifest, or another one's)
        parser = parser_for(cli, "Check the manifest: this connector's, or the one at PATH.")
        parser.add_argument("path", nargs="?", metavar="PATH")
    else:
        parser = parser_for(cli, "Check a manifest: an installed connector's NAME, or a PATH.")
    args = parser.parse_args(argv)
    source: str | Path | None = getattr(args, "path", None) or cli.source
    try:
        path = resolve_manifest(source)
        manifest = Manifest.load(path)
    except ManifestError as exc:
        print(f"{source}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except LookupError as exc:
        print(f"{cli.prog}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if isinstance(source, str) and is_connector_name(source):
        claims = installed_connectors().get(source) or []
        versions = {version for _, version, _ in claims}
        if versions and manifest.version not in versions:
            print(
                f"{path}: the manifest's version {manifest.version} differs from its "
                f"package's ({', '.join(sorted(versions))}): make them one number",
                file=sys.stderr,
            )
            return EXIT_ERROR
    kinds = (
        (manifest.connections, "connection"),
        (manifest.actions, "action"),
        (manifest.triggers, "trigger"),
        (manifest.data_sources, "data source"),
    )
    counted = ", ".join(
        f"{len(found)} {word}{'' if len(found) == 1 else 's'}" for found, word in kinds
    )
    print(f"{path}: valid ({counted})")
    return EXIT_OK


def docs(cli: Invocation, argv: list[str]) -> int:
    parser = parser_for(cli, "Write docs/ from the manifest.")
    parser.add_argument("--check", action="store_true", help="fail when docs/ is not up to date")
    parser.add_argument("--out", default="docs", help="folder (default: docs)")
    args = parser.parse_args(argv)
    try:
        manifest = Connector.load(cli.source).manifest  # validated: docs are a release artefact
    except (ManifestError, LookupError) as exc:
        print(f"{cli.prog}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.check:
        stale = check_docs(manifest, Path(args.out))
        for name in stale:
            print(f"stale: {name} (run '{cli.usage_prefix}')", file=sys.stderr)
        return EXIT_ERROR if stale else EXIT_OK
    for name in write_docs(manifest, Path(args.out)):
        print(f"wrote {name}")
    return EXIT_OK


def _manifest(cli: Invocation) -> Manifest | None:
    try:
        return load_connector(cli).manifest
    except (ManifestError, LookupError) as exc:
        print(f"{cli.prog}: {exc}", file=sys.stderr)
        return None
