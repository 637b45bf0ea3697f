"""``worker``, ``run-step`` and ``watch``: the connector on Temporal, from a shell."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid

from .._discovery import installed_connectors
from .._pushhub import MAX_LINES
from .._runtime import Connector
from ..cli import Invocation
from ..cli.egress import add_egress_arguments, egress_problem, policy_from_args
from ..cli.output import EXIT_ERROR, EXIT_OK, EXIT_USAGE, UsageError
from ..cli.requests import add_request_arguments, build_request, seconds
from .abridged import CURSOR_TEXT_SHOWN, abridged
from .codec import KeyError_, load_keys
from .status import watcher_status
from .worker import CACHED_RUNS, connect, run
from .workflows import HEARTBEAT_TIMEOUT, POLLS_PER_RUN

# A poll's step heartbeats every 2 s: a heartbeat timeout shorter than this would retry
# polls that are merely slow.
HEARTBEAT_LEAST = 5.0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--temporal", required=True, metavar="HOST:PORT", help="Temporal frontend")
    parser.add_argument("--namespace", default="default", help="Temporal namespace (default)")
    parser.add_argument(
        "--task-queue", default="connectors", help="task queue (default: connectors)"
    )
    parser.add_argument(
        "--key-file", help="payload keys, one per line (also $CONNECTOR_TEMPORAL_KEY)"
    )


def worker(cli: Invocation, argv: list[str]) -> int:
    """``worker``: run the step activity and the built-in workflows until SIGTERM."""
    parser = argparse.ArgumentParser(prog=cli.usage_prefix)
    _common(parser)
    parser.add_argument(
        "--workflows",
        action="append",
        default=[],
        metavar="MODULE",
        help="also run the workflows of this module (repeatable)",
    )
    parser.add_argument("--threads", type=int, default=16, help="steps at once (16)")
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=15.0,
        help="opening a connection: TCP, TLS, greeting, login (15 s)",
    )
    parser.add_argument(
        "--metrics-port", type=int, help="serve Prometheus metrics on 127.0.0.1:PORT"
    )
    parser.add_argument(
        "--max-push-lines",
        type=int,
        default=MAX_LINES,
        help=f"push lines (IMAP IDLE connections) this worker holds for watchers, on one "
        f"thread ({MAX_LINES}); past it a watcher polls and says 'waiting: capacity'",
    )
    parser.add_argument(
        "--cached-runs",
        type=int,
        default=CACHED_RUNS,
        help=f"workflow runs kept in memory between their tasks ({CACHED_RUNS}); a quiet "
        "watcher beyond them is replayed from its history when woken",
    )
    add_egress_arguments(parser)
    args = parser.parse_args(argv)
    for flag, value in (
        ("--max-push-lines", args.max_push_lines),
        ("--cached-runs", args.cached_runs),
    ):
        if value < 1:
            print(f"{cli.usage_prefix}: {flag} must be at least 1", file=sys.stderr)
            return EXIT_USAGE
    keys = _keys(cli, args)
    problem = egress_problem(args)
    if keys is None or problem:
        if problem:
            print(f"{cli.usage_prefix}: {problem}", file=sys.stderr)
        return EXIT_USAGE
    names = [cli.connector] if cli.bound and cli.connector else sorted(installed_connectors())
    manifests = {name: Connector.load(name, validate=False).manifest for name in names}
    declared = {port for manifest in manifests.values() for port in manifest.ports}
    operations = {
        name: [key for kind in ("action", "trigger", "dataSource") for key in m.table(kind)]
        for name, m in manifests.items()
    }
    asyncio.run(
        run(
            args.temporal,
            namespace=args.namespace,
            task_queue=args.task_queue,
            keys=keys,
            modules=args.workflows,
            threads=args.threads,
            egress=policy_from_args(args, declared),
            connect_timeout=args.connect_timeout,
            metrics_port=args.metrics_port,
            operations=operations,
            max_push_lines=args.max_push_lines,
            cached_runs=args.cached_runs,
        )
    )
    return EXIT_OK


def run_step(cli: Invocation, argv: list[str]) -> int:
    """``run-step ACTION``: one step through Temporal, its envelope on stdout."""
    parser = argparse.ArgumentParser(prog=cli.usage_prefix)
    _common(parser)
    parser.add_argument("action")
    add_request_arguments(parser)
    parser.add_argument("--max-attempts", type=int, default=5, help="for retryable errors (5)")
    parser.add_argument("--retry-seconds", type=float, default=1.0, help="first retry delay")
    parser.add_argument(
        "--local",
        action="store_true",
        help="run the step as a local activity: faster for short steps, no heartbeats",
    )
    args = parser.parse_args(argv)
    keys = _keys(cli, args)
    request = _request(cli, "action", args.action, args)
    if keys is None or request is None:
        return EXIT_USAGE
    envelope = asyncio.run(_run_step(args, keys, request))
    print(json.dumps(envelope, indent=2, ensure_ascii=False))
    return _exit(EXIT_OK if envelope.get("ok") else EXIT_ERROR)


def watch(cli: Invocation, argv: list[str]) -> int:
    """``watch TRIGGER``: start the durable poller (connector.PollTrigger)."""
    parser = argparse.ArgumentParser(prog=cli.usage_prefix)
    _common(parser)
    parser.add_argument("trigger")
    add_request_arguments(parser)
    parser.add_argument("--every", type=seconds, default=60.0, help="poll interval (60s)")
    parser.add_argument("--handler", required=True, help="the workflow type each record starts")
    parser.add_argument("--handler-task-queue", help="its task queue (default: --task-queue)")
    parser.add_argument(
        "--workflow-id",
        help="the poller's id (default: derived); an id whose watcher died (terminated, "
        "timed out, failed) starts it again from the cursor it saved",
    )
    parser.add_argument(
        "--polls-per-run",
        type=int,
        default=POLLS_PER_RUN,
        help=f"polls before continue-as-new ({POLLS_PER_RUN}; sooner when its history "
        "reaches its budget)",
    )
    parser.add_argument(
        "--heartbeat",
        type=seconds,
        default=HEARTBEAT_TIMEOUT.total_seconds(),
        help=f"a poll or push whose worker died is retried elsewhere after this long "
        f"({HEARTBEAT_TIMEOUT.total_seconds():g}s; at least {HEARTBEAT_LEAST:g}s: steps "
        "heartbeat every 2s)",
    )
    parser.add_argument(
        "--push",
        action="store_true",
        help="also lease the trigger's push on a worker (IMAP IDLE: one more connection to "
        "the server, held by the worker's push hub) and poll as soon as it reports new mail; "
        "polls still come every --every",
    )
    parser.add_argument(
        "--push-renew",
        type=seconds,
        default=1500.0,
        help="end and re-issue the push (IDLE) at least this often (25m: servers drop an "
        "IDLE after 30 minutes, some NATs sooner)",
    )
    parser.add_argument(
        "--on-failure",
        metavar="WORKFLOW",
        help="a workflow type started (once per pause) when the poller pauses on a failure "
        "retrying cannot fix, with its status (for the platform to alert someone)",
    )
    args = parser.parse_args(argv)
    keys = _keys(cli, args)
    request = _request(cli, "trigger", args.trigger, args)
    if keys is None or request is None:
        return EXIT_USAGE
    try:
        workflow_id, resumed = asyncio.run(_watch(args, keys, request))
    except UsageError as exc:
        print(f"{cli.prog} {cli.command}: {exc}", file=sys.stderr)
        return _exit(EXIT_ERROR)
    if resumed is not None:
        print(f"resuming: the last run {resumed}; its saved cursor is the new run's state")
    print(f"watching: workflow {workflow_id} on {args.temporal}")
    return _exit(EXIT_OK)


def _keys(cli: Invocation, args: argparse.Namespace) -> list[bytes] | None:
    try:
        return load_keys(args.key_file)
    except (KeyError_, OSError) as exc:
        print(f"{cli.prog} {cli.command}: {exc}", file=sys.stderr)
        return None


def _request(cli: Invocation, kind: str, key: str, args: argparse.Namespace) -> dict | None:
    connector = Connector.load(cli.source)
    try:
        request = build_request(connector.manifest, kind, key, args)
    except UsageError as exc:
        print(f"{cli.prog} {cli.command}: {exc}", file=sys.stderr)
        return None
    request["connector"] = connector.manifest.key
    return request


def _exit(code: int) -> int:
    """Leave at once once the output is out: the Temporal client's native threads can call
    back into an interpreter that is finalizing ("PyGILState_Release ... finalizing", seen
    as a crash after a successful run-step)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _run_step(args: argparse.Namespace, keys: list[bytes], request: dict) -> dict:
    client = await connect(args.temporal, args.namespace, keys)
    return await client.execute_workflow(
        "connector.RunStep",
        {
            "request": request,
            "retry": {
                "maximumAttempts": args.max_attempts,
                "initialIntervalSeconds": args.retry_seconds,
            },
            "local": args.local,
        },
        id=f"step-{request.get('action')}-{uuid.uuid4().hex[:12]}",
        task_queue=args.task_queue,
    )


async def _watch(
    args: argparse.Namespace, keys: list[bytes], request: dict
) -> tuple[str, str | None]:
    """Start the watcher; with the id of one that died, from the cursor it saved (and what
    became of it)."""
    client = await connect(args.temporal, args.namespace, keys)
    workflow_id = (
        args.workflow_id
        or f"watch-{request['connector']}-{request['trigger']}-{uuid.uuid4().hex[:8]}"
    )
    state: dict = {}
    resumed = None
    legacy = False
    if args.workflow_id:
        before = await watcher_status(client, workflow_id)
        if before["state"] == "dead":
            state = before.get("cursor") or {}
            resumed = f"{before['status']} ({before['reason']})"
            # (a run of an earlier version: its last poll's records may be handed off under
            # its ids, which the first poll checks)
            legacy = before.get("cursorFrom") == "history"
        elif before["state"] != "unknown" or before.get("cursor") is not None:
            raise UsageError(
                f"a watcher with the workflow id {workflow_id} is running: see watch-status "
                "(terminate it first to start it again)"
            )
    await client.start_workflow(
        "connector.PollTrigger",
        {
            "connector": request["connector"],
            "trigger": request["trigger"],
            "connection": request["connection"],
            "inputs": request["inputs"],
            "state": state,
            "everySeconds": args.every,
            "handler": args.handler,
            "handlerTaskQueue": args.handler_task_queue,
            "pollsPerRun": args.polls_per_run,
            "heartbeatSeconds": max(HEARTBEAT_LEAST, args.heartbeat),
            "onFailure": args.on_failure,
            "push": args.push,
            "pushRenewSeconds": max(1.0, args.push_renew),
            "legacyIds": legacy,
        },
        id=workflow_id,
        task_queue=args.task_queue,
    )
    return workflow_id, resumed


def watch_status(cli: Invocation, argv: list[str]) -> int:
    """``watch-status WORKFLOW_ID``: a durable poller's health, as JSON (``--resume`` first
    signals it to poll at once, out of a pause). Exit status 0 while it polls, 1 when it
    is paused, dead (terminated, timed out, failed: ``reason`` says why) or unknown."""
    parser = argparse.ArgumentParser(prog=cli.usage_prefix, description=watch_status.__doc__)
    _common(parser)
    parser.add_argument("workflow_id", metavar="WORKFLOW_ID", help="the poller's workflow id")
    parser.add_argument("--resume", action="store_true", help="poll at once (and un-pause)")
    parser.add_argument(
        "--full",
        action="store_true",
        help=f"print the cursor's strings whole (longer than {CURSOR_TEXT_SHOWN} characters "
        "they are cut, with their length)",
    )
    args = parser.parse_args(argv)
    keys = _keys(cli, args)
    if keys is None:
        return EXIT_USAGE
    status = asyncio.run(_watch_status(args, keys))
    if not args.full and isinstance(status.get("cursor"), dict):
        status["cursor"] = {key: abridged(value) for key, value in status["cursor"].items()}
    print(json.dumps(status, indent=2, ensure_ascii=False))
    return _exit(EXIT_OK if status.get("state") == "polling" else EXIT_ERROR)


async def _watch_status(args: argparse.Namespace, keys: list[bytes]) -> dict:
    client = await connect(args.temporal, args.namespace, keys)
    return await watcher_status(client, args.workflow_id, resume=args.resume)
