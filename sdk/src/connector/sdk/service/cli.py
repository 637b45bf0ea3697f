"""``connector serve`` (every installed connector, or --connector NAME...) and the bound
console's ``imap-connector serve`` (that connector)."""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from ..cli import Invocation
from ..cli.output import EXIT_OK, EXIT_USAGE
from .auth import TOKEN_ENV, is_loopback, read_tokens
from .settings import CONFIG_ENV, Settings

DEFAULTS = Settings()


def serve(cli: Invocation, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=cli.usage_prefix, description="Run connector steps over HTTP, with pooled sessions."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (8080)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    parser.add_argument("--certfile", help="serve HTTPS with this certificate chain (PEM)")
    parser.add_argument("--keyfile", help="the certificate's private key (PEM)")
    parser.add_argument("--token-file", help=f"service tokens, one per line (also ${TOKEN_ENV})")
    parser.add_argument(
        "--no-auth", action="store_true", help="no service token (loopback addresses only)"
    )
    if not cli.bound:
        parser.add_argument(
            "--connector", action="append", help="serve only this connector (repeatable)"
        )
    parser.add_argument("--threads", type=int, default=DEFAULTS.threads, help="steps at once (32)")
    parser.add_argument(
        "--sessions-per-account",
        type=int,
        default=DEFAULTS.per_account,
        help="pooled sessions per account (3)",
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=DEFAULTS.idle_seconds, help="idle close (60)"
    )
    parser.add_argument(
        "--step-timeout", type=float, default=DEFAULTS.step_timeout, help="per step (300 s)"
    )
    parser.add_argument(
        "--max-body-mb", type=float, default=64, help="request body limit in MB (64)"
    )
    args = parser.parse_args(argv)
    prog = cli.usage_prefix
    if args.no_auth and not is_loopback(args.host):
        print(f"{prog}: --no-auth is allowed on a loopback address only", file=sys.stderr)
        return EXIT_USAGE
    if not args.no_auth and not read_tokens(args.token_file):
        print(
            f"{prog}: no service token: set {TOKEN_ENV} or --token-file "
            "(or --no-auth on a loopback address)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if bool(args.certfile) != bool(args.keyfile):
        print(f"{prog}: give --certfile and --keyfile together", file=sys.stderr)
        return EXIT_USAGE
    connectors = (cli.connector,) if cli.bound and cli.connector else args.connector
    settings = Settings(
        connectors=tuple(connectors) if connectors else None,
        token_file=args.token_file,
        no_auth=args.no_auth,
        threads=args.threads,
        per_account=args.sessions_per_account,
        idle_seconds=args.idle_seconds,
        step_timeout=args.step_timeout,
        max_body=int(args.max_body_mb * 1024 * 1024),
    )
    os.environ[CONFIG_ENV] = settings.to_env()  # read by each worker's create_app
    uvicorn.run(
        "connector.sdk.service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    return EXIT_OK
