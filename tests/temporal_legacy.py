"""A watcher as connector.PollTrigger was before issue 37 (no cursor in its memo; each
record's handler started by the workflow under a hash of the whole record), for the test
that resumes one after its death. Run by the workers that pass ``--workflows
tests.temporal_legacy``."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from connector.sdk.temporal.workflows import record_id, step


@workflow.defn(name="tests.LegacyWatcher")
class LegacyWatcher:
    """Polls with the step activity; hands each record off as a child; with
    ``hangAfterHandOff`` it stops right after handing off records, before its state moves on
    (as a watcher terminated mid-poll did)."""

    @workflow.run
    async def run(self, args: dict) -> None:
        me = workflow.info()
        state = args.get("state") or {}
        while True:
            envelope = await step(
                {
                    "connector": "imap",
                    "trigger": "newEmailsPollingTrigger",
                    "connection": args["connection"],
                    "inputs": args["inputs"],
                    "state": state,
                    "watcher": me.workflow_id,
                }
            )
            if envelope.get("ok"):
                for record in envelope["data"]:
                    try:
                        await workflow.start_child_workflow(
                            "tests.RecordSink",
                            record,
                            id=f"{me.workflow_id}/{record_id(record)}",
                            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                        )
                    except WorkflowAlreadyStartedError:
                        pass
                if envelope["data"] and args.get("hangAfterHandOff"):
                    await workflow.wait_condition(lambda: False)
                state = envelope["state"]
            await workflow.sleep(0.5)
