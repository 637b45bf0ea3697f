"""Workflows of the Temporal tests, run by the workers they start (--workflows)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from connector.sdk.temporal.workflows import step


@workflow.defn(name="tests.MailFlow")
class MailFlow:
    """search -> download -> addFlags -> moveMessage, each a step activity."""

    @workflow.run
    async def run(self, args: dict) -> dict:
        base = {"connector": "imap", "connection": args["connection"]}
        box = args["mailbox"]
        retry = {"initialIntervalSeconds": 0.5, "maximumAttempts": 20}
        # A step on a worker that died is retried once this much time has passed.
        limit = timedelta(seconds=args.get("step_seconds", 10))
        found = await step(
            {
                **base,
                "action": "searchMailbox",
                "inputs": {"mailbox": box, "filterOptions": {"subject": args["subject"]}},
            },
            retry=retry,
            start_to_close_timeout=limit,
        )
        uid = found["data"]["messages"][0]["uid"]
        results = {"uid": uid}
        for action, inputs in (
            ("downloadMessage", {"mailbox": box, "messageIndex": uid}),
            ("addFlags", {"mailbox": box, "range": str(uid), "flags": ["\\Flagged"]}),
            ("moveMessage", {"mailbox": box, "range": str(uid), "path": args["destination"]}),
        ):
            envelope = await step(
                {**base, "action": action, "inputs": inputs},
                retry=retry,
                start_to_close_timeout=limit,
            )
            if not envelope["ok"]:
                return {"failed": action, "envelope": envelope}
            results[action] = envelope["data"]
            if args.get("pause_after") == action:
                await workflow.sleep(args.get("pause_seconds", 2))
        return results


@workflow.defn(name="tests.RecordSink")
class RecordSink:
    """The handler of each polled record: returns its Message-ID."""

    @workflow.run
    async def run(self, record: dict) -> str:
        return str((record.get("envelope") or {}).get("messageId"))


@workflow.defn(name="tests.FailingSink")
class FailingSink:
    """A handler that fails for good (its follow-up is afterFailure's)."""

    @workflow.run
    async def run(self, record: dict) -> str:
        from temporalio.exceptions import ApplicationError

        raise ApplicationError("the handler refuses this record", non_retryable=True)


@workflow.defn(name="tests.SlowSink")
class SlowSink:
    """A handler that takes a few seconds (a worker can die meanwhile)."""

    @workflow.run
    async def run(self, record: dict) -> str:
        await workflow.sleep(4)
        return str((record.get("envelope") or {}).get("messageId"))


@workflow.defn(name="tests.Alert")
class Alert:
    """The --on-failure workflow: returns what it was told."""

    @workflow.run
    async def run(self, args: dict) -> dict:
        return args


@workflow.defn(name="tests.LegacyPush")
class LegacyPush:
    """What a watcher of an earlier version does while it waits: it holds connector.push."""

    @workflow.run
    async def run(self, request: dict) -> dict:
        return await workflow.execute_activity(
            "connector.push",
            request,
            start_to_close_timeout=timedelta(seconds=120),
            heartbeat_timeout=timedelta(seconds=10),
        )
