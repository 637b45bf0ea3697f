"""What every command shares: exit codes, JSON on stdout, the --debug log, usage errors."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line itself is wrong (exit status 2)."""


def print_json(value: Any) -> None:
    """JSON as UTF-8 bytes, whatever the locale's encoding (the envelope's text is valid)."""
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    data = text.encode("utf-8", "replace")  # "replace": a last guard, never reached
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


def configure_logging(*, debug: bool) -> None:
    """--debug: every record of the "connector" loggers to stderr, tracebacks included.
    Without it nothing is printed: stdout carries the envelope, which already says what failed.
    """
    root = logging.getLogger("connector")
    if debug:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.setLevel(logging.DEBUG)
    else:
        handler = logging.NullHandler()
    root.addHandler(handler)
