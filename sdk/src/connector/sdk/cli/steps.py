"""invoke, poll, data-source, test-connection: one step, its envelope on stdout.

Exit status 0 for an ok envelope, 1 for an error envelope, 2 for a usage error (whose
envelope is on stdout too: a platform reads stdout).
"""

from __future__ import annotations

import argparse
import atexit
import fcntl
import gc
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from .. import _envelope as envelope
from .._runtime import Connector
from ..errors import ConnectorError, InvalidInput, ManifestError
from . import Invocation
from .output import EXIT_ERROR, EXIT_OK, EXIT_USAGE, UsageError, print_json
from .requests import add_connection_argument, add_request_arguments, build_request


def parser_for(cli: Invocation, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=cli.usage_prefix, description=description, formatter_class=HelpFormatter
    )


class HelpFormatter(argparse.HelpFormatter):
    """argparse's, with the terminal's width read without shutil: argparse makes a
    formatter for every argument added, and shutil (with bz2, lzma, fnmatch) costs a
    one-step process ~2 ms."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ):
        if width is None:
            width = terminal_columns() - 2  # (as argparse does)
        super().__init__(prog, indent_increment, max_help_position, width)


def terminal_columns() -> int:
    """$COLUMNS, else the terminal's width, else 80 (shutil.get_terminal_size's order)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    stdout = sys.__stdout__
    try:
        return (os.get_terminal_size(stdout.fileno()).columns if stdout else 0) or 80
    except (ValueError, OSError):
        return 80


def load_connector(cli: Invocation) -> Connector:
    # One request per process: the manifest was validated by the test suite and the
    # validate/docs commands; re-checking it here would triple the start-up time.
    return Connector.load(cli.source, validate=False)


def invoke(cli: Invocation, argv: list[str]) -> int:
    parser = parser_for(cli, "Run an action and print its envelope.")
    parser.add_argument("action")
    add_request_arguments(parser)
    args = parser.parse_args(argv)
    return run_step(cli, "action", args.action, args)


def data_source(cli: Invocation, argv: list[str]) -> int:
    parser = parser_for(cli, "Run a data source (such as a picklist) and print its envelope.")
    parser.add_argument("data_source", metavar="DATA_SOURCE")
    add_request_arguments(parser)
    args = parser.parse_args(argv)
    return run_step(cli, "dataSource", args.data_source, args)


def test_connection(cli: Invocation, argv: list[str]) -> int:
    parser = parser_for(cli, "Open the connection, run its test, print the envelope.")
    add_connection_argument(parser)
    args = parser.parse_args(argv)
    return run_step(cli, "testConnection", None, args)


def poll(cli: Invocation, argv: list[str]) -> int:
    parser = parser_for(cli, "Poll a trigger once, keeping its state in a file.")
    parser.add_argument("trigger")
    parser.add_argument(
        "--state-file",
        required=True,
        metavar="FILE",
        help="the trigger's state: read before the poll (missing = first poll), "
        "replaced atomically only after a successful poll; locked meanwhile",
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for another poll of the same state file (default 60)",
    )
    add_request_arguments(parser)
    args = parser.parse_args(argv)
    state_file = Path(args.state_file)
    problem = state_folder_problem(state_file)
    if problem:
        return usage_failure(cli, problem)
    try:
        with state_lock(state_file, args.lock_timeout):
            clear_leftovers(state_file)
            return run_step(cli, "trigger", args.trigger, args, state_file=state_file)
    except UsageError as exc:
        return usage_failure(cli, str(exc))


def run_step(
    cli: Invocation,
    kind: str,
    key: str | None,
    args: argparse.Namespace,
    *,
    state_file: Path | None = None,
) -> int:
    skip_final_collection()
    try:
        connector = load_connector(cli)
    except (ManifestError, LookupError) as exc:  # the installation is broken, not the request
        print(f"{cli.prog}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        request = build_request(connector.manifest, kind, key, args)
        if state_file is not None:
            request["state"] = read_state(state_file)
    except UsageError as exc:
        return usage_failure(cli, str(exc))
    except ConnectorError as exc:
        result = envelope.error(exc)
    else:
        result = connector.invoke(request)
    print_json(result)
    if state_file is not None and result["ok"]:
        # Only after a successful poll whose records are out: a crash before this line
        # repeats the poll (at least once), it never skips mail.
        write_state(state_file, result["state"])
    return EXIT_OK if result["ok"] else EXIT_ERROR


@cache
def skip_final_collection() -> None:
    """At exit, Python runs the cyclic garbage collector over every object still alive as it
    tears the modules down: ~9 ms of CPU of a one-step process's ~95 (18,000 objects, the
    modules' own). Frozen first (``gc.freeze``), they are skipped, and the memory goes back
    with the process. Registered once, run only at the process's exit: a caller running
    steps in its own process (a test) keeps its collector until then. What is left alive at
    exit is not finalized by the collector: a step's output never waits on that (stdout is
    flushed by the interpreter; a state file is written, synced and renamed before)."""
    atexit.register(gc.freeze)


def usage_failure(cli: Invocation, message: str) -> int:
    """A usage error: the message on stderr, and an INVALID_INPUT envelope on stdout."""
    print(f"{cli.prog}: {message}", file=sys.stderr)
    print_json(envelope.error(InvalidInput(message)))
    return EXIT_USAGE


# -- the trigger's state file ---------------------------------------------------------------


def state_folder_problem(path: Path) -> str | None:
    """Checked before polling: a poll whose state cannot be saved would repeat forever."""
    folder = path.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return f"--state-file {path}: the folder {folder} does not exist or is not writable"
    return None


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
    """Replace the state file in one step: a crash leaves the old state or the new, never
    half, and no temporary file: the new state is written to a file without a name
    (O_TMPFILE), which gets one (``.NAME.tmp``) only for the rename; a crash in that instant
    leaves it, and the next write (or ``clear_leftovers``) removes it."""
    data = json.dumps(state).encode("utf-8")
    folder = path.parent or Path(".")
    try:
        fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600)
    except (AttributeError, OSError):  # (no O_TMPFILE on this system or file system)
        _write_named(path, data)
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            temporary = folder / f".{path.name}.tmp"
            temporary.unlink(missing_ok=True)
            os.link(f"/proc/self/fd/{fh.fileno()}", temporary)
        os.replace(temporary, path)
    except OSError:
        _write_named(path, data)  # (no /proc here: a named temporary file, as before)


def _write_named(path: Path, data: bytes) -> None:
    import tempfile  # noqa: PLC0415 - ~2 ms of imports a plain invoke never needs

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def clear_leftovers(path: Path) -> None:
    """Remove the temporary files a killed writer of this state file left (``.NAME.tmp``,
    and ``.NAME.xxxxxxxx`` from earlier versions); called under the state's lock."""
    pattern = re.compile(re.escape(f".{path.name}.") + r"(tmp|[a-z0-9_]{8})")
    folder = path.parent or Path(".")
    for leftover in folder.glob(f".{path.name}.*"):
        if pattern.fullmatch(leftover.name) and leftover.is_file():
            leftover.unlink(missing_ok=True)


@contextmanager
def state_lock(path: Path, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock beside the state file for a whole poll.

    Two pollers sharing one state file would otherwise read the same state and emit
    the same records twice. A second poller waits up to ``timeout`` seconds.
    """
    lock_path = path.with_name(path.name + ".lock")
    # The (empty) lock file stays: removing it would let a poller waiting on the old file
    # and one opening a new file both hold "the" lock.
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
