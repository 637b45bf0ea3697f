"""``worker``, ``run-step`` and ``watch``: the connector on Temporal, from a shell."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import uuid

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--temporal", required=True, metavar="HOST:PORT", help="Temporal frontend")
    parser.add_argument("--namespace", default="default", help="Temporal namespace (default)")
    parser.add_argument(
        "--task-queue", default="connectors", help="task queue (default: connectors)"
    )
    parser.add_argument(
        "--key-file", help="payload keys, one per line (also $CONNECTOR_TEMPORAL_KEY)"
    )


def _request_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--connection", metavar="JSON|@FILE", help="as for invoke")
    parser.add_argument("--inputs", metavar="JSON|@FILE", help="all inputs as one JSON object")
    parser.add_argument("--input", action="append", default=[], metavar="KEY=VALUE")


def seconds(text: str) -> float:
    """``60s``, ``500ms``, ``2m``, ``1h`` or a number of seconds."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 60s, 500ms or 2m")
    value = float(match.group(1))
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]


def main(command: str, argv: list[str], *, connector_name: str | None, prog: str) -> int:
    """``worker`` (no connector name needed), ``run-step ACTION``, ``watch TRIGGER``."""
    from .codec import KeyError_, load_keys

    parser = argparse.ArgumentParser(prog=f"{prog} {command}")
    _common(parser)
    if command == "worker":
        parser.add_argument(
            "--workflows",
            action="append",
            default=[],
            metavar="MODULE",
            help="also run the workflows of this module (repeatable)",
        )
        parser.add_argument("--threads", type=int, default=16, help="steps at once (16)")
    elif command == "run-step":
        parser.add_argument("action")
        _request_args(parser)
        parser.add_argument("--max-attempts", type=int, default=5, help="for retryable errors (5)")
        parser.add_argument("--retry-seconds", type=float, default=1.0, help="first retry delay")
    else:  # watch
        parser.add_argument("trigger")
        _request_args(parser)
        parser.add_argument("--every", type=seconds, default=60.0, help="poll interval (60s)")
        parser.add_argument("--handler", required=True, help="the workflow type each record starts")
        parser.add_argument("--handler-task-queue", help="its task queue (default: --task-queue)")
        parser.add_argument("--workflow-id", help="the poller's id (default: derived)")
        parser.add_argument(
            "--polls-per-run", type=int, default=100, help="polls before continue-as-new (100)"
        )
    args = parser.parse_args(argv)
    try:
        keys = load_keys(args.key_file)
    except (KeyError_, OSError) as exc:
        print(f"{prog} {command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if command == "worker":
        from .worker import run

        asyncio.run(
            run(
                args.temporal,
                namespace=args.namespace,
                task_queue=args.task_queue,
                keys=keys,
                modules=args.workflows,
                threads=args.threads,
            )
        )
        return EXIT_OK
    from ..cli import UsageError, build_request, read_json_arg  # noqa: F401
    from ..runtime import Connector

    connector = Connector.load(connector_name)
    kind, key = ("action", args.action) if command == "run-step" else ("trigger", args.trigger)
    try:
        request = build_request(connector, key, args.connection, args.inputs, args.input, kind=kind)
    except UsageError as exc:
        print(f"{prog} {command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    request["connector"] = connector.manifest.key
    if command == "run-step":
        envelope = asyncio.run(_run_step(args, keys, request))
        print(json.dumps(envelope, indent=2, ensure_ascii=False))
        return _exit(EXIT_OK if envelope.get("ok") else EXIT_ERROR)
    workflow_id = asyncio.run(_watch(args, keys, request))
    print(f"watching: workflow {workflow_id} on {args.temporal}")
    return _exit(EXIT_OK)


def _exit(code: int) -> int:
    """Leave at once once the output is out: the Temporal client's native threads can call
    back into an interpreter that is finalizing ("PyGILState_Release ... finalizing", seen
    as a crash after a successful run-step)."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _run_step(args, keys, request: dict) -> dict:
    from .worker import connect

    client = await connect(args.temporal, args.namespace, keys)
    return await client.execute_workflow(
        "connector.RunStep",
        {
            "request": request,
            "retry": {
                "maximumAttempts": args.max_attempts,
                "initialIntervalSeconds": args.retry_seconds,
            },
        },
        id=f"step-{request.get('action')}-{uuid.uuid4().hex[:12]}",
        task_queue=args.task_queue,
    )


async def _watch(args, keys, request: dict) -> str:
    from .worker import connect

    client = await connect(args.temporal, args.namespace, keys)
    workflow_id = (
        args.workflow_id
        or f"watch-{request['connector']}-{request['trigger']}-{uuid.uuid4().hex[:8]}"
    )
    await client.start_workflow(
        "connector.PollTrigger",
        {
            "connector": request["connector"],
            "trigger": request["trigger"],
            "connection": request["connection"],
            "inputs": request["inputs"],
            "state": {},
            "everySeconds": args.every,
            "handler": args.handler,
            "handlerTaskQueue": args.handler_task_queue,
            "pollsPerRun": args.polls_per_run,
        },
        id=workflow_id,
        task_queue=args.task_queue,
    )
    return workflow_id
