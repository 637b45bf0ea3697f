"""``connector fake FILE.py:factory|MODULE:factory [--port P]``: a FakeHttpServer run by hand,
to try a REST connector against the fake its tests use (``invoke``, ``serve``, the studio)
with no account.

``factory(api)`` sets up the routes of the ``FakeHttpServer`` it is given (the rest
template's ``Tracker`` is one). ``tests/test_tracker.py:Tracker`` loads that file itself;
``tests.test_tracker:Tracker`` is read from the current folder's ``tests/test_tracker.py``
when there is one, and imported otherwise. Why not simply import it: a package folder's
``tests/`` has no ``__init__.py``, and a namespace portion loses to any regular ``tests``
package on ``sys.path`` (an editable install's repository root has one), whatever the order.
Each request is printed as it is answered; Ctrl-C (or SIGTERM) stops it.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._manifest import import_object
from ..testing._http import FakeHttpServer
from . import Invocation
from .output import EXIT_OK, EXIT_USAGE


def fake(cli: Invocation, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{cli.prog} fake",
        description="Run a FakeHttpServer on 127.0.0.1, its routes set by FILE.py:factory.",
    )
    parser.add_argument(
        "factory",
        metavar="FILE.py:factory",
        help="called with the server, such as tests/test_tracker.py:Tracker (or MODULE:factory)",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    args = parser.parse_args(argv)
    where, _, name = args.factory.rpartition(":")
    if not where or not name:
        print(
            f"{cli.prog} fake: give FILE.py:factory, such as tests/test_tracker.py:Tracker",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        factory = load_factory(where, name)
    except (ImportError, AttributeError, OSError, SyntaxError) as exc:
        print(f"{cli.prog} fake: cannot load {args.factory}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        api = FakeHttpServer(port=args.port, log=lambda line: print(line, flush=True))
    except OSError as exc:
        print(
            f"{cli.prog} fake: cannot listen on 127.0.0.1 port {args.port}: "
            f"{exc.strerror or exc} (choose another with --port)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    stop = threading.Event()

    def stopping(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    try:
        factory(api)
        print(f"fake API at {api.url} ({args.factory}); Ctrl-C stops it", flush=True)
        stop.wait()
    finally:
        api.close()
    return EXIT_OK


def load_factory(where: str, name: str) -> Callable[..., Any]:
    """The factory ``name`` of a file (``tests/test_x.py``) or of a module (``tests.test_x``,
    read from the current folder's file of that path when there is one)."""
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
    else:
        path = Path(*where.split(".")).with_suffix(".py")
        if not path.is_file():
            return import_object(f"{where}:{name}")
    if not path.is_file():
        raise ImportError(f"no file {path} (from {Path.cwd()})")
    # What the file imports from beside it, as pytest's default import mode would find it.
    sys.path.insert(0, str(path.resolve().parent))
    module_name = f"_connector_fake_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look their module up
    spec.loader.exec_module(module)
    if not hasattr(module, name):
        raise AttributeError(f"{path} defines no {name}")
    factory: Callable[..., Any] = getattr(module, name)
    return factory
