"""``connector fake MODULE:factory [--port P]``: a FakeHttpServer run by hand, to try a REST
connector against the fake its tests use (``invoke``, ``serve``, the studio) with no account.

``factory(api)`` sets up the routes of the ``FakeHttpServer`` it is given (the rest
template's ``Tracker`` is one); MODULE is imported from the current folder first, so
``connector fake tests.test_tracker:Tracker`` works from the package's folder. Each request
is printed as it is answered; Ctrl-C (or SIGTERM) stops it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

from ..manifest import import_object
from ..testing.http import FakeHttpServer
from . import Invocation
from .output import EXIT_OK, EXIT_USAGE


def fake(cli: Invocation, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{cli.prog} fake",
        description="Run a FakeHttpServer on 127.0.0.1, its routes set by MODULE:factory.",
    )
    parser.add_argument("factory", metavar="MODULE:factory", help="called with the server")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    args = parser.parse_args(argv)
    if ":" not in args.factory:
        print(
            f"{cli.prog} fake: give MODULE:factory, such as tests.test_tracker:Tracker",
            file=sys.stderr,
        )
        return EXIT_USAGE
    sys.path.insert(0, os.getcwd())  # the package's own tests, from its folder
    try:
        factory = import_object(args.factory)
    except (ImportError, AttributeError) as exc:
        print(f"{cli.prog} fake: cannot import {args.factory}: {exc}", file=sys.stderr)
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
