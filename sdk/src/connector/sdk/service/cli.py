"""``connector serve`` (every installed connector, or --connector NAME...) and the bound
console's ``imap-connector serve`` (that connector)."""

from __future__ import annotations

import argparse
import atexit
import inspect
import os
import shutil
import socket
import sys
import tempfile

import uvicorn
from uvicorn.supervisors import Multiprocess

from .._egress import parse_ports
from ..cli import Invocation
from ..cli.egress import add_egress_arguments, egress_problem, hosts
from ..cli.output import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from .auth import (
    METRICS_TOKEN_ENV,
    TOKEN_ENV,
    TokenFileError,
    is_loopback,
    read_metrics_tokens,
    read_tokens,
)
from .edge import GuardedH11Protocol, raise_open_file_limit
from .metrics import MULTIPROCESS_ENV
from .settings import CONFIG_ENV, MB, Settings
from .uvicorn_logs import log_config

DEFAULTS = Settings()


def parser(cli: Invocation) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=cli.usage_prefix,
        description="Run connector steps over HTTP, with pooled sessions, for many tenants.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (8080)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (1)")
    p.add_argument("--certfile", help="serve HTTPS with this certificate chain (PEM)")
    p.add_argument("--keyfile", help="the certificate's private key (PEM)")
    p.add_argument(
        "--token-file",
        help=f"service tokens, one per line: TOKEN or TENANT: TOKEN (also ${TOKEN_ENV})",
    )
    p.add_argument(
        "--metrics-token-file",
        help="the operator's tokens for GET /metrics, one per line: they read every tenant's "
        f"series and run no step (also ${METRICS_TOKEN_ENV}); a tenant's token reads its own",
    )
    p.add_argument(
        "--no-auth", action="store_true", help="no service token (loopback addresses only)"
    )
    p.add_argument(
        "--studio",
        action="store_true",
        help="also serve /studio: each step's form from the manifest, run in the browser "
        "(it asks for the same service token)",
    )
    if not cli.bound:
        p.add_argument(
            "--connector", action="append", help="serve only this connector (repeatable)"
        )

    steps = p.add_argument_group("steps")
    steps.add_argument("--threads", type=int, default=DEFAULTS.threads, help="steps at once (32)")
    steps.add_argument(
        "--sessions-per-account",
        type=int,
        default=DEFAULTS.per_account,
        help=f"pooled sessions per account, all workers together ({DEFAULTS.per_account})",
    )
    steps.add_argument(
        "--account-queue",
        type=int,
        help="steps of one account waiting for a session; beyond, 429 (2 x the sessions)",
    )
    steps.add_argument(
        "--per-tenant", type=int, default=DEFAULTS.per_tenant, help="steps at once per tenant (16)"
    )
    steps.add_argument(
        "--idle-seconds", type=float, default=DEFAULTS.idle_seconds, help="idle close (60)"
    )
    steps.add_argument(
        "--sessions-per-tenant",
        type=int,
        default=DEFAULTS.sessions_per_tenant,
        help="pooled sessions one tenant holds, all workers together; over it, the "
        "tenant's least recently used idle one closes (64)",
    )
    steps.add_argument(
        "--max-sessions",
        type=int,
        default=DEFAULTS.max_sessions,
        help="pooled sessions in all, all workers together; over it, an idle one of the "
        "tenant holding the most closes (256)",
    )
    steps.add_argument(
        "--failed-logins",
        type=int,
        default=DEFAULTS.failed_logins,
        help="a tenant's failed logins to one account in a row before its new logins "
        "there are refused for a while: 429 (3)",
    )
    steps.add_argument(
        "--login-backoff",
        type=float,
        default=DEFAULTS.login_backoff,
        help="how long, doubled by each further failure, up to 15 min (60 s)",
    )
    steps.add_argument(
        "--max-step-timeout",
        "--step-timeout",
        dest="max_step_timeout",
        type=float,
        default=DEFAULTS.max_step_timeout,
        help="the longest a step may run, whatever its connection asks (120 s)",
    )
    steps.add_argument(
        "--connect-timeout",
        type=float,
        default=DEFAULTS.connect_timeout,
        help="opening a connection: TCP, TLS, greeting, login (15 s)",
    )

    edge = p.add_argument_group("the HTTP edge")
    edge.add_argument(
        "--max-body-mb", type=float, default=DEFAULTS.max_body / MB, help="body limit in MB (64)"
    )
    edge.add_argument(
        "--max-body-elements",
        type=int,
        default=DEFAULTS.max_body_elements,
        help="JSON elements in a body (each {, [, string, comma and colon), counted before "
        f"parsing ({DEFAULTS.max_body_elements:,})",
    )
    edge.add_argument(
        "--header-timeout", type=float, default=DEFAULTS.header_timeout, help="headers (10 s)"
    )
    edge.add_argument(
        "--body-timeout", type=float, default=DEFAULTS.body_timeout, help="a body (60 s)"
    )
    edge.add_argument(
        "--keepalive",
        type=float,
        default=DEFAULTS.keepalive,
        help="an idle connection: a new one before its first byte, or a kept-alive one (5 s)",
    )
    edge.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULTS.max_connections,
        help="open HTTP connections (1000)",
    )
    edge.add_argument(
        "--max-connections-per-client",
        type=int,
        default=DEFAULTS.max_connections_per_client,
        help="open HTTP connections from one client address, an IPv6 /64 (256; "
        "0: no cap, as behind a proxy that caps them itself)",
    )
    edge.add_argument(
        "--unauthenticated-rate",
        type=float,
        default=DEFAULTS.unauthenticated_rate,
        help="requests a second without a valid token (401s, /healthz) from one client "
        "address; beyond, 429 after a pause (100; 0: no limit, as behind a proxy)",
    )
    edge.add_argument(
        "--unauthenticated-burst",
        type=int,
        default=DEFAULTS.unauthenticated_burst,
        help="how many of those at once (200)",
    )
    edge.add_argument(
        "--no-fair-share",
        dest="fair_share",
        action="store_false",
        help="never make a tenant wait for its share of the CPU (by default, while the "
        "service is contended, a tenant using more than the others' mean waits)",
    )
    edge.add_argument(
        "--contended-lag",
        type=float,
        default=DEFAULTS.contended_lag,
        help="how late (seconds, on average over 200 ms) the event loop must run for the "
        "service to count as contended, so that tenants over their share wait (0.001; "
        "0: always)",
    )
    edge.add_argument(
        "--share-floor",
        type=float,
        default=DEFAULTS.share_floor,
        help="CPU (in cores) a tenant may use without ever waiting for its share (0.1)",
    )

    add_egress_arguments(p)
    return p


def serve(cli: Invocation, argv: list[str]) -> int:
    args = parser(cli).parse_args(argv)
    prog = cli.usage_prefix
    problem = _problem(args)
    if problem:
        print(f"{prog}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    connectors = (cli.connector,) if cli.bound and cli.connector else args.connector
    ports = parse_ports(args.allow_ports)
    settings = Settings(
        connectors=tuple(connectors) if connectors else None,
        token_file=args.token_file,
        metrics_token_file=args.metrics_token_file,
        no_auth=args.no_auth,
        workers=args.workers,
        threads=args.threads,
        per_account=args.sessions_per_account,
        account_queue=args.account_queue,
        per_tenant=args.per_tenant,
        idle_seconds=args.idle_seconds,
        sessions_per_tenant=args.sessions_per_tenant,
        max_sessions=args.max_sessions,
        failed_logins=args.failed_logins,
        login_backoff=args.login_backoff,
        max_step_timeout=args.max_step_timeout,
        connect_timeout=args.connect_timeout,
        max_body=int(args.max_body_mb * MB),
        max_body_elements=args.max_body_elements,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keepalive=args.keepalive,
        max_connections=args.max_connections,
        max_connections_per_client=args.max_connections_per_client,
        unauthenticated_rate=args.unauthenticated_rate,
        unauthenticated_burst=args.unauthenticated_burst,
        fair_share=args.fair_share,
        share_floor=args.share_floor,
        contended_lag=args.contended_lag,
        allow_hosts=hosts(args.allow_hosts),
        deny_hosts=hosts(args.deny_hosts),
        allow_ports=tuple(sorted(ports)) if ports is not None else None,
        any_port=args.allow_ports is not None and ports is None,
        allow_private=args.allow_private,
        studio=args.studio,
    )
    os.environ[CONFIG_ENV] = settings.to_env()  # read by each worker's create_app
    raise_open_file_limit()  # (inherited by the workers)
    if args.workers > 1:  # one scrape sums every worker's metrics
        shared = tempfile.mkdtemp(prefix="connector-metrics-")
        atexit.register(shutil.rmtree, shared, ignore_errors=True)
        os.environ[MULTIPROCESS_ENV] = shared
    config = uvicorn.Config(
        "connector.sdk.service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
        http=GuardedH11Protocol,
        limit_concurrency=args.max_connections,
        timeout_keep_alive=max(1, round(args.keepalive)),
        log_config=log_config(),  # its warnings as JSON lines, like the service's own
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    # Bound here, before any worker starts (and logs "started"): a busy port is the
    # operator's to change, said in one line, not a traceback after a start.
    try:
        sock = listening_socket(args.host, args.port)
    except OSError as exc:
        print(
            f"{prog}: cannot listen on {args.host} port {args.port}: {exc.strerror or exc} "
            "(another process has it? choose another with --port)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    server = uvicorn.Server(config)
    try:
        if args.workers > 1:
            # (older uvicorn versions also take the function each worker runs: server.run)
            older = "target" in inspect.signature(Multiprocess).parameters
            extra = {"target": server.run} if older else {}
            Multiprocess(config, sockets=[sock], **extra).run()
        else:
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return EXIT_OK if args.workers > 1 or server.started else EXIT_ERROR


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), as uvicorn binds one, to hand to its workers."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the options, before anything starts."""
    if args.no_auth and not is_loopback(args.host):
        return "--no-auth is allowed on a loopback address only"
    if not args.no_auth:
        try:
            tokens = read_tokens(args.token_file)
        except (OSError, TokenFileError) as exc:
            return str(exc)
        if not tokens:
            return f"no service token: set {TOKEN_ENV} or --token-file (or --no-auth on loopback)"
        try:
            operators = read_metrics_tokens(args.metrics_token_file)
        except (OSError, TokenFileError) as exc:
            return str(exc)
        if set(operators) & set(tokens):
            return "a metrics token must not also be a service token"
    if bool(args.certfile) != bool(args.keyfile):
        return "give --certfile and --keyfile together"
    problem = egress_problem(args)
    if problem:
        return problem
    for name in (
        "threads",
        "sessions_per_account",
        "per_tenant",
        "max_connections",
        "workers",
        "max_body_elements",
        "sessions_per_tenant",
        "max_sessions",
        "failed_logins",
        "unauthenticated_burst",
    ):
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be at least 1"
    if args.max_connections_per_client < 0:
        return "--max-connections-per-client must be 0 (no cap) or more"
    if not args.login_backoff > 0:
        return "--login-backoff must be more than 0 seconds"
    if not args.unauthenticated_rate >= 0:
        return "--unauthenticated-rate must be 0 (no limit) or more"
    if not args.share_floor >= 0:
        return "--share-floor must be 0 or more"
    if not args.contended_lag >= 0:
        return "--contended-lag must be 0 (always) or more"
    return None
