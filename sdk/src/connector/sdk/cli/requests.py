"""A step request from the command line: the connection (flag, file or environment), the
inputs (``--inputs`` JSON and raw ``--input key=value`` strings), in one place for every
command that runs a step (invoke, poll, data-source, test-connection, run-step, watch)."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._jsonvalues import number_too_long
from .._manifest import Manifest
from .._requests import split_connection
from .output import UsageError


def env_name(connection_key: str, field: str) -> str:
    """crm + apiKey -> CRM_API_KEY: the environment variable a connection field may come from."""

    def snake(name: str) -> str:
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()

    return f"{snake(connection_key)}_{snake(field)}"


def read_json_arg(value: str, what: str) -> Any:
    """A JSON value given inline, or as @file (@- for standard input)."""
    if value.startswith("@"):
        name = value[1:]
        try:
            value = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{what}: cannot read {name}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{what}: {name} is not UTF-8 text (JSON must be UTF-8)") from None
    try:
        return json.loads(value)
    except RecursionError:
        raise UsageError(f"{what}: the JSON is nested too deeply") from None
    except ValueError as exc:
        raise UsageError(f"{what}: {number_too_long(exc) or f'not valid JSON ({exc})'}") from None


def add_connection_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--connection",
        metavar="JSON|@FILE",
        help="connection fields (flat or {key, fields}); missing fields come from "
        "environment variables <CONNECTION>_<FIELD> (host of connection "
        "'crm' -> CRM_HOST)",
    )


def add_request_arguments(parser: argparse.ArgumentParser) -> None:
    add_connection_argument(parser)
    parser.add_argument("--inputs", metavar="JSON|@FILE", help="all inputs as one JSON object")
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one input as a raw string (repeatable; wins over --inputs)",
    )


def connection_from_args(
    manifest: Manifest, connection_arg: str | None, environ: Mapping[str, str] | None = None
) -> dict:
    """--connection (flat or {key, fields}), completed from environment variables."""
    if environ is None:
        environ = os.environ
    connection = read_json_arg(connection_arg, "--connection") if connection_arg else {}
    if not isinstance(connection, dict):
        raise UsageError("--connection must be a JSON object")
    conn_op, fields = split_connection(manifest, connection)
    fields = dict(fields)
    for spec in conn_op.inputs:  # environment variables fill what the flag did not give
        name = env_name(conn_op.key, spec.key)
        if spec.key not in fields and name in environ:
            fields[spec.key] = environ[name]
    return {"key": conn_op.key, "fields": fields}


def build_request(
    manifest: Manifest,
    kind: str,
    key: str | None,
    args: argparse.Namespace,
    environ: Mapping[str, str] | None = None,
) -> dict:
    """The request of a step named on the command line (``kind``: action, trigger,
    dataSource or testConnection) from the arguments of ``add_request_arguments``."""
    connection = connection_from_args(manifest, args.connection, environ)
    if kind == "testConnection":
        return {"testConnection": True, "connection": connection}
    inputs = read_json_arg(args.inputs, "--inputs") if args.inputs else {}
    if not isinstance(inputs, dict):
        raise UsageError("--inputs must be a JSON object")
    for pair in args.input:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--input {pair!r}: expected key=value")
        inputs[name] = value  # raw strings, exactly as a platform UI sends them
    return {kind: key, "connection": connection, "inputs": inputs}


def seconds(text: str) -> float:
    """``60s``, ``500ms``, ``2m``, ``1h`` or a number of seconds (an argparse type)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 60s, 500ms or 2m")
    value = float(match.group(1))
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
