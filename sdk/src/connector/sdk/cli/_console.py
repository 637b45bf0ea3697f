"""The console's registry and entry point (``connector.sdk.cli`` declares what is public).

Every command is a row of one registry (``COMMANDS``): ``name -> "module:function"``, each
function ``run(cli: Invocation, argv: list[str]) -> int``, loaded only when it runs (a
one-step process never imports the service or Temporal). The usage is generated from the
registry. A connector's console binds the registry to itself and may add rows::

    def main(argv=None):
        return connector.sdk.cli.main(argv, bound=Bound("crm", manifest_path()), prog="crm")
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

from .output import EXIT_OK, EXIT_USAGE, configure_logging

# (NamedTuples, not dataclasses: dataclasses brings inspect, ~3 ms of a one-step process.)


class Command(NamedTuple):
    """One row of the registry."""

    target: str  # "module:function", the function taking (Invocation, argv)
    summary: str
    args: str = ""  # what follows the command (and NAME) in the usage
    # What the command runs on: "one" connector (NAME, unless the console is bound), "all"
    # installed (or the bound one), or "none" (list, new: hidden from a bound console).
    scope: str = "one"
    extra: str | None = None  # the connector-sdk extra its imports need
    names: str = "NAME"  # how the usage shows the connector's place ("NAME|PATH")


COMMANDS: dict[str, Command] = {
    "list": Command(
        "connector.sdk.cli.manifests:list_connectors", "the installed connectors", scope="none"
    ),
    "new": Command(
        "connector.sdk._scaffold:command", "scaffold a new connector package", "NAME", scope="none"
    ),
    "build": Command(
        "connector.sdk.cli.build:build",
        "a connector package's wheel, checked",
        "[PATH] [--out DIR]",
        scope="none",
    ),
    "fake": Command(
        "connector.sdk.cli.fake:fake",
        "a FakeHttpServer by hand, its routes from your tests",
        "FILE.py:factory [--port P]",
        scope="none",
    ),
    "actions": Command("connector.sdk.cli.manifests:actions", "the actions, one per line"),
    "describe": Command(
        "connector.sdk.cli.manifests:describe", "a step's inputs and output, as JSON", "STEP"
    ),
    "invoke": Command(
        "connector.sdk.cli.steps:invoke", "run an action, print its envelope", "ACTION"
    ),
    "poll": Command(
        "connector.sdk.cli.steps:poll", "poll a trigger, its state in a file", "TRIGGER"
    ),
    "listen": Command(
        "connector.sdk.cli.listen:listen",
        "a trigger's new records as they come (push + poll)",
        "TRIGGER",
    ),
    "data-source": Command(
        "connector.sdk.cli.steps:data_source", "run a data source (a picklist)", "KEY"
    ),
    "test-connection": Command(
        "connector.sdk.cli.steps:test_connection", "log in and run the connection's test"
    ),
    "validate": Command(
        "connector.sdk.cli.manifests:validate",
        "check a manifest: an installed connector's, or a file",
        names="NAME|PATH",
    ),
    "docs": Command("connector.sdk.cli.manifests:docs", "write docs/ from the manifest"),
    "diff": Command(
        "connector.sdk.cli.diff:diff",
        "what an upgrade changes for saved steps",
        "OLD NEW|--last-release NEW [--format json]",
        scope="all",
    ),
    "export": Command(
        "connector.sdk.export.cli:command",
        "OpenAPI 3.1/3.0 or a Power Automate connector",
        "--out DIR",
    ),
    "serve": Command(
        "connector.sdk.service.cli:serve",
        "the steps over HTTP, pooled sessions",
        scope="all",
        extra="serve",
    ),
    "worker": Command(
        "connector.sdk.temporal.cli:worker",
        "a Temporal worker for the steps",
        scope="all",
        extra="temporal",
    ),
    "run-step": Command(
        "connector.sdk.temporal.cli:run_step",
        "one step through Temporal",
        "ACTION",
        extra="temporal",
    ),
    "watch-status": Command(
        "connector.sdk.temporal.cli:watch_status",
        "a durable poller's health",
        "WORKFLOW_ID",
        scope="all",
        extra="temporal",
    ),
    "watch": Command(
        "connector.sdk.temporal.cli:watch",
        "a trigger as a durable poller",
        "TRIGGER",
        extra="temporal",
    ),
}
# The modules each extra brings: a command whose import misses one names the extra to install.
EXTRA_MODULES = {
    "serve": {"starlette", "uvicorn", "prometheus_client", "anyio"},
    "temporal": {"temporalio", "cryptography"},
}


class Bound(NamedTuple):
    """A console bound to one connector: its name, and its manifest (skips the entry-point
    lookup, which costs a cold process some milliseconds)."""

    name: str
    manifest: Path | None = None


class Invocation(NamedTuple):
    """What a command function is given besides its arguments."""

    prog: str  # "connector" or the bound console's name
    command: str
    connector: str | None  # the connector's name (or a manifest path, for validate)
    source: str | Path | None  # what Connector.load takes: a manifest path or the name
    bound: bool
    extra: Mapping[str, Command] = MappingProxyType({})

    @property
    def usage_prefix(self) -> str:
        """``connector invoke imap`` or ``imap-connector invoke``: for messages and help."""
        name = f" {self.connector}" if not self.bound and self.connector else ""
        return f"{self.prog} {self.command}{name}"


def registry(bound: Bound | None, extra: Mapping[str, Command]) -> dict[str, Command]:
    rows = {**COMMANDS, **extra}
    if bound is not None:
        rows = {name: row for name, row in rows.items() if row.scope != "none"}
    return rows


def usage(prog: str, rows: Mapping[str, Command], *, bound: bool) -> str:
    name = "" if bound else " [NAME]"
    lines = [
        f"usage: {prog} [--debug] COMMAND{name} ...",
        "",
        "Run this connector's steps from a shell."
        if bound
        else "Run any installed connector from a shell.",
        "",
    ]
    shown = []
    for command, row in rows.items():
        who = "" if bound or row.scope != "one" else f" {row.names}"
        shown.append((f"{command}{who} {row.args}".rstrip(), row.summary))
    width = max(len(left) for left, _ in shown)
    lines += [f"  {left.ljust(width)}  {summary}" for left, summary in shown]
    lines += ["", "Steps take --connection JSON|@FILE and --input KEY=VALUE (repeatable)."]
    lines += ["", f"'{prog} COMMAND --help' shows a command's options."]
    return "\n".join(lines) + "\n"


def main(
    argv: list[str] | None = None,
    *,
    bound: Bound | None = None,
    prog: str = "connector",
    extra: Mapping[str, Command] | None = None,
) -> int:
    """The console: ``[--debug] COMMAND [NAME] ARGS...``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    rows = registry(bound, extra or {})
    debug = args[:1] == ["--debug"]
    rest = args[1:] if debug else args
    if not rest or rest[0] in ("-h", "--help"):
        print(
            usage(prog, rows, bound=bound is not None),
            end="",
            file=sys.stdout if rest else sys.stderr,
        )
        return EXIT_OK if rest else EXIT_USAGE
    command, rest = rest[0], rest[1:]
    row = rows.get(command)
    if row is None:
        text = usage(prog, rows, bound=bound is not None)
        print(f"{prog}: unknown command {command!r}\n\n{text}", end="", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(debug=debug)
    name: str | None = None
    source: str | Path | None = None
    if bound is not None:
        name, source = bound.name, bound.manifest or bound.name
    elif row.scope == "one" and rest and not rest[0].startswith("-"):
        name, rest = rest[0], rest[1:]
        source = name
    elif row.scope == "one" and not any(a in ("-h", "--help") for a in rest):
        what = "name or a manifest's path" if "PATH" in row.names else "name"
        print(
            f"{prog}: {command} needs the connector's {what} (see '{prog} list')",
            file=sys.stderr,
        )
        return EXIT_USAGE
    run = load(row, prog, command)
    if run is None:
        return EXIT_USAGE
    cli = Invocation(prog, command, name, source, bound is not None, dict(extra or {}))
    return run(cli, rest)


def load(row: Command, prog: str, command: str) -> Callable[[Invocation, list[str]], int] | None:
    """The command's function; a missing optional dependency is one line naming the extra."""
    module_name, _, function = row.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        extra = next((e for e, mods in EXTRA_MODULES.items() if missing in mods), row.extra)
        if extra is None or missing not in EXTRA_MODULES.get(extra, ()):
            raise
        print(
            f"{prog} {command} needs connector-sdk's '{extra}' extra ({missing} is not "
            f"installed): pip install 'connector-sdk[{extra}]'",
            file=sys.stderr,
        )
        return None
    found: Callable[[Invocation, list[str]], int] = getattr(module, function)
    return found
