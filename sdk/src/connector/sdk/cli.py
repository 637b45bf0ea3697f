"""The generic command line of a connector: actions, describe, invoke, validate, docs.

A connector's console script calls ``main(argv, source=..., prog=...)``; it may
add commands of its own through ``extra_commands``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import ManifestError

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
REQUEST_COMMANDS = ("invoke", "poll", "data-source", "test-connection")


class UsageError(Exception):
    pass


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
        raise UsageError(f"{what}: not valid JSON ({exc})") from None


def connection_from_args(
    connector, connection_arg: str | None, environ: Mapping[str, str] | None = None
) -> dict:
    """--connection (flat or {key, fields}), completed from environment variables."""
    if environ is None:
        environ = os.environ
    connection = read_json_arg(connection_arg, "--connection") if connection_arg else {}
    if not isinstance(connection, dict):
        raise UsageError("--connection must be a JSON object")
    from .runtime import split_connection

    conn_op, fields = split_connection(connector.manifest, connection)
    fields = dict(fields)
    for spec in conn_op.inputs:  # environment variables fill what the flag did not give
        name = env_name(conn_op.key, spec.key)
        if spec.key not in fields and name in environ:
            fields[spec.key] = environ[name]
    return {"key": conn_op.key, "fields": fields}


def build_request(
    connector,
    action: str,
    connection_arg: str | None,
    inputs_arg: str | None,
    input_pairs: list[str],
    environ: dict | None = None,
    kind: str = "action",
) -> dict:
    connection = connection_from_args(connector, connection_arg, environ)
    inputs = read_json_arg(inputs_arg, "--inputs") if inputs_arg else {}
    if not isinstance(inputs, dict):
        raise UsageError("--inputs must be a JSON object")
    for pair in input_pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--input {pair!r}: expected key=value")
        inputs[key] = value  # raw strings, exactly as a platform UI sends them
    return {kind: action, "connection": connection, "inputs": inputs}


def describe(op) -> dict:
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
                **({"choices": [c["value"] for c in s.choices]} if s.choices else {}),
                **({"placeholder": s.placeholder} if s.placeholder else {}),
                **({"dataSource": s.data_source} if s.data_source else {}),
            }
            for s in op.inputs
        ],
        **(
            {"output": {"schema": op.output_schema, "example": op.output_example}}
            if op.output_schema is not None
            else {}
        ),
    }


def _print_json(value: Any) -> None:
    """JSON as UTF-8 bytes, whatever the locale's encoding (the envelope's text is valid)."""
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    data = text.encode("utf-8", "replace")  # "replace": a last guard, never reached
    sys.stdout.flush()
    sys.stdout.buffer.write(data)


def configure_logging(*, debug: bool) -> None:
    """--debug: every record of the "connector" loggers to stderr, tracebacks included.
    Without it nothing is printed: stdout carries the envelope, which already says what failed.
    """
    import logging

    root = logging.getLogger("connector")
    if debug:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.setLevel(logging.DEBUG)
    else:
        handler = logging.NullHandler()
    root.addHandler(handler)


def parser(prog: str, extra: dict) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog=prog, description="Run this connector's actions from a shell."
    )
    top.add_argument(
        "--debug",
        action="store_true",
        help="log to stderr, with the traceback of any unexpected error (secrets masked)",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("actions", help="list the actions")
    p = sub.add_parser(
        "describe", help="an action's (or trigger's, data source's) inputs and output, as JSON"
    )
    p.add_argument("action")
    p = sub.add_parser("invoke", help="run an action and print its envelope")
    p.add_argument("action")
    _request_arguments(p)
    p = sub.add_parser("poll", help="poll a trigger once, keeping its state in a file")
    p.add_argument("trigger")
    p.add_argument(
        "--state-file",
        required=True,
        metavar="FILE",
        help="the trigger's state: read before the poll (missing = first poll), "
        "replaced atomically only after a successful poll; locked meanwhile",
    )
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for another poll of the same state file (default 60)",
    )
    _request_arguments(p)
    p = sub.add_parser("data-source", help="run a data source (such as a picklist)")
    p.add_argument("data_source", metavar="DATA_SOURCE")
    _request_arguments(p)
    p = sub.add_parser("test-connection", help="open the connection and run its test")
    p.add_argument(
        "--connection",
        metavar="JSON|@FILE",
        help="connection fields, as for invoke (environment variables fill the rest)",
    )
    p = sub.add_parser("validate", help="check a manifest (default: this connector's)")
    p.add_argument("path", nargs="?")
    p = sub.add_parser("docs", help="write docs/ from the manifest")
    p.add_argument("--check", action="store_true", help="fail when docs/ is not up to date")
    p.add_argument("--out", default="docs", help="folder (default: docs)")
    for name, (setup, _run) in extra.items():
        setup(sub.add_parser(name))
    return top


def _request_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--connection",
        metavar="JSON|@FILE",
        help="connection fields (flat or {key, fields}); missing fields come from "
        "environment variables <CONNECTION>_<FIELD> (host of connection "
        "'crm' -> CRM_HOST)",
    )
    p.add_argument("--inputs", metavar="JSON|@FILE", help="all inputs as one JSON object")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one input as a raw string (repeatable; wins over --inputs)",
    )


def read_state(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8") or "{}")
    except RecursionError:
        raise UsageError(f"--state-file {path}: the JSON is nested too deeply") from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise UsageError(f"--state-file {path}: not readable JSON ({exc})") from None
    if not isinstance(state, dict):
        raise UsageError(f"--state-file {path}: must hold a JSON object")
    return state


def write_state(path: Path, state: dict) -> None:
    """Replace the state file in one step: a crash leaves the old state or the new, never half."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(
    argv: list[str] | None = None,
    *,
    source: Any = None,
    prog: str = "connector",
    extra_commands: dict[str, tuple[Callable, Callable]] | None = None,
) -> int:
    extra = extra_commands or {}
    args = parser(prog, extra).parse_args(argv)
    args.name_suffix = f" {source}" if prog == "connector" and isinstance(source, str) else ""
    configure_logging(debug=args.debug)
    try:
        if args.command in extra:
            return extra[args.command][1](args)
        if args.command == "validate":
            return _validate(args, source)
        from .runtime import Connector

        # One request per process: the manifest was validated by the test suite and the
        # validate/docs commands; re-checking it here would triple the start-up time.
        connector = Connector.load(source, validate=args.command == "docs")
        command = {"actions": _actions, "describe": _describe, "docs": _docs}.get(
            args.command, _request
        )
        return command(connector, args, prog)
    except UsageError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        if args.command in REQUEST_COMMANDS:  # a platform reads stdout: an envelope there too
            _print_json(
                {
                    "ok": False,
                    "error": {
                        "code": "INVALID_INPUT",
                        "message": str(exc),
                        "retryable": False,
                        "details": [],
                    },
                }
            )
        return EXIT_USAGE
    except (ManifestError, LookupError) as exc:  # the installation is broken, not the request
        print(f"{prog}: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _actions(connector, args, prog) -> int:
    width = max((len(k) for k in connector.manifest.actions), default=0)
    for key, op in connector.manifest.actions.items():
        print(f"{key.ljust(width)}  {op.label}: {op.description}")
    return EXIT_OK


def _describe(connector, args, prog) -> int:
    manifest = connector.manifest
    tables = (manifest.actions, manifest.triggers, manifest.data_sources)
    found = next((table[args.action] for table in tables if args.action in table), None)
    if found is None:
        known = [key for table in tables for key in table]
        raise UsageError(f"unknown action {args.action!r}; known: {', '.join(known)}")
    _print_json(describe(found))
    return EXIT_OK


def _request(connector, args, prog) -> int:
    """invoke, poll, data-source, test-connection: one request, its envelope on stdout."""
    state_file = Path(args.state_file) if args.command == "poll" else None
    if state_file is None:
        return _run_request(connector, args, None)
    folder = state_file.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        # Checked before polling: a poll whose state cannot be saved would repeat forever.
        raise UsageError(
            f"--state-file {state_file}: the folder {folder} does not exist or is not writable"
        )
    with state_lock(state_file, args.lock_timeout):
        return _run_request(connector, args, state_file)


@contextmanager
def state_lock(path: Path, timeout: float):
    """Hold an exclusive lock beside the state file for a whole poll.

    Two pollers sharing one state file would otherwise read the same state and emit
    the same records twice. A second poller waits up to ``timeout`` seconds.
    """
    import fcntl
    import time

    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UsageError(
                        f"--state-file {path}: another poll holds it (lock file "
                        f"{lock_path}); still busy after {timeout:g} s"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _run_request(connector, args, state_file: Path | None) -> int:
    from .errors import ConnectorError
    from .runtime import error_envelope
    from .scrub import Scrubber

    try:
        if args.command == "test-connection":
            request = {
                "testConnection": True,
                "connection": connection_from_args(connector, args.connection),
            }
        else:
            kind, key = {
                "invoke": ("action", "action"),
                "poll": ("trigger", "trigger"),
                "data-source": ("dataSource", "data_source"),
            }[args.command]
            request = build_request(
                connector, getattr(args, key), args.connection, args.inputs, args.input, kind=kind
            )
            if state_file is not None:
                request["state"] = read_state(state_file)
    except ConnectorError as exc:
        envelope = error_envelope(exc, Scrubber())
    else:
        envelope = connector.invoke(request)
    _print_json(envelope)
    sys.stdout.flush()
    if state_file is not None and envelope["ok"]:
        # Only after a successful poll whose records are out: a crash before this line
        # repeats the poll (at least once), it never skips mail.
        write_state(state_file, envelope["state"])
    return EXIT_OK if envelope["ok"] else EXIT_ERROR


def _docs(connector, args, prog) -> int:
    from .docs import check_docs, write_docs

    if args.check:
        stale = check_docs(connector.manifest, Path(args.out))
        for name in stale:
            print(f"stale: {name} (run '{prog} docs{args.name_suffix}')", file=sys.stderr)
        return EXIT_ERROR if stale else EXIT_OK
    for name in write_docs(connector.manifest, Path(args.out)):
        print(f"wrote {name}")
    return EXIT_OK


def _validate(args, source) -> int:
    from .errors import ManifestError
    from .manifest import Manifest
    from .runtime import resolve_manifest

    path = Path(args.path) if args.path else resolve_manifest(source)
    try:
        manifest = Manifest.load(path)
    except ManifestError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(
        f"{path}: valid ({len(manifest.connections)} connections, {len(manifest.actions)} actions)"
    )
    return EXIT_OK


# -- the generic "connector" command (connector-sdk's console script) -------------------

CONNECTOR_COMMANDS = (
    "actions",
    "describe",
    "invoke",
    "poll",
    "data-source",
    "test-connection",
    "validate",
    "docs",
)
GENERIC_USAGE = """\
usage: connector [--debug] COMMAND ...

Run any installed connector from a shell.

  connector list                        the installed connectors
  connector new NAME [--dir DIR]        scaffold a new connector package
  connector serve [--port 8080] ...     run the installed connectors' steps over HTTP
  connector worker --temporal H:P       a Temporal worker for every installed connector
  connector run-step NAME ACTION --temporal H:P ...   one step through Temporal
  connector watch NAME TRIGGER --temporal H:P --handler WF ...   a durable poller
  connector actions NAME                NAME's actions
  connector describe NAME ACTION        an action's (trigger's, data source's) inputs, as JSON
  connector invoke NAME ACTION ...      run an action, print its envelope
  connector poll NAME TRIGGER ...       poll a trigger
  connector data-source NAME KEY ...    run a data source (a picklist)
  connector test-connection NAME ...    open the connection and run its test
  connector validate NAME|PATH          check a manifest
  connector docs NAME [--out DIR]       write the connector's docs

'connector COMMAND NAME --help' shows a command's options.
"""


def generic_main(argv: list[str] | None = None) -> int:
    """``connector COMMAND [NAME] ...``: the commands of ``main`` for any installed connector,
    plus ``list`` and ``new``."""
    args = list(sys.argv[1:] if argv is None else argv)
    options = [a for a in args[:1] if a == "--debug"]
    rest = args[len(options) :]
    if not rest or rest[0] in ("-h", "--help"):
        print(GENERIC_USAGE, end="", file=sys.stdout if rest else sys.stderr)
        return EXIT_OK if rest else EXIT_USAGE
    command, rest = rest[0], rest[1:]
    if command == "list":
        return _list_connectors()
    if command == "new":
        from .scaffold import main as scaffold_main

        return scaffold_main(rest)
    if command == "serve":
        from .service import main as serve_main

        return serve_main(rest)
    if command == "worker":
        from .temporal.cli import main as temporal_main

        return temporal_main("worker", rest, connector_name=None, prog="connector")
    if command in ("run-step", "watch"):
        if not rest or rest[0].startswith("-"):
            print(f"connector: {command} needs the connector's name", file=sys.stderr)
            return EXIT_USAGE
        from .temporal.cli import main as temporal_main

        return temporal_main(command, rest[1:], connector_name=rest[0], prog="connector")
    if command not in CONNECTOR_COMMANDS:
        print(f"connector: unknown command {command!r}\n\n{GENERIC_USAGE}", end="", file=sys.stderr)
        return EXIT_USAGE
    if not rest or rest[0].startswith("-"):
        print(
            f"connector: {command} needs the connector's name (see 'connector list')",
            file=sys.stderr,
        )
        return EXIT_USAGE
    name, rest = rest[0], rest[1:]
    if command == "validate":
        from .runtime import is_connector_name

        if not is_connector_name(name):  # a manifest path
            return main([*options, "validate", name], prog="connector")
    return main([*options, command, *rest], source=name, prog="connector")


def _list_connectors() -> int:
    """One line per installed connector: name, distribution and version, manifest label."""
    from .runtime import Connector, installed_connectors

    found = installed_connectors()
    if not found:
        print("no connector is installed", file=sys.stderr)
        return EXIT_OK
    status = EXIT_OK
    for name in sorted(found):
        claims = found[name]
        dists = ", ".join(f"{dist} {version}" for dist, version, _ in claims)
        try:
            manifest = Connector.load(name, check_handlers=False, validate=False).manifest
            print(f"{name}\t{dists}\t{manifest.label}: {manifest.description}")
        except (ManifestError, LookupError, OSError) as exc:
            print(f"{name}\t{dists}\tBROKEN: {exc}")
            status = EXIT_ERROR
    return status
