"""``connector export NAME --format openapi-3.1|openapi-3.0|power-automate --out DIR``: what
a platform imports, generated from the manifest (no service needs to run)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .._runtime import Connector
from ..cli import Invocation
from ..cli.output import EXIT_ERROR, EXIT_OK
from ..errors import ManifestError
from . import openapi30, powerautomate
from .openapi import document

FORMATS = ("openapi-3.1", "openapi-3.0", "power-automate")
HOST = "connector.example.com"


def command(cli: Invocation, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=cli.usage_prefix, description="Write what a platform imports, from the manifest."
    )
    parser.add_argument("--format", choices=FORMATS, default="openapi-3.1")
    parser.add_argument("--out", required=True, help="the folder to write to")
    parser.add_argument(
        "--host",
        default=HOST,
        help="the service's host[:port]: the Power Automate host, the OpenAPI server",
    )
    args = parser.parse_args(argv)
    try:
        connector = Connector.load(cli.source)
    except (ManifestError, LookupError) as exc:
        print(f"{cli.prog}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    out = Path(args.out)
    if args.format == "power-automate":
        written = powerautomate.export(connector, out, host=args.host)
    else:
        spec = document({connector.manifest.key: connector}, auth=True)
        if args.host != HOST:  # (else relative: the service the document is served by)
            spec["servers"] = [{"url": f"https://{args.host}", "description": "The service"}]
        if args.format == "openapi-3.0":
            spec = openapi30.convert(spec)
        out.mkdir(parents=True, exist_ok=True)
        target = out / "openapi.json"
        target.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
        written = [target]
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK
