"""Delete Mailbox of a mailbox a pooled session had selected (``connector serve`` and the
Temporal worker keep sessions between steps): the mailbox is gone and the step says so,
never a retryable CONNECTION_FAILED; the next step on that account works."""

from __future__ import annotations

import uuid

from connector.sdk._pool import SessionPool
from tests.helpers import make_message, raw_client


def test_rename_then_delete_a_mailbox_a_pooled_session_had_selected(connector, server):
    client = raw_client(server)
    mailbox = server.path(f"ds-{uuid.uuid4().hex[:8]}")
    client.create_folder(mailbox)
    client.append(mailbox, make_message(subject="to be deleted"))
    client.logout()
    pool = SessionPool(per_account=1)
    connection = server.connection(timeout=10, startTls="required")

    def run(action: str, inputs: dict) -> dict:
        return connector.invoke(
            {"action": action, "connection": connection, "inputs": inputs}, pool=pool
        )

    try:
        found = run("searchMailbox", {"mailbox": mailbox})  # selects it; kept in the pool
        assert found["ok"], found
        uid = found["data"]["messages"][0]["uid"]
        assert run("downloadMessage", {"mailbox": mailbox, "messageIndex": uid})["ok"]
        renamed = f"{mailbox}-renamed"
        moved = run("renameMailbox", {"path": mailbox, "newPath": renamed})
        assert moved["ok"], moved
        assert run("searchMailbox", {"mailbox": renamed})["ok"]  # selected again
        mailbox = renamed
        deleted = run("deleteMailbox", {"path": mailbox})
        assert deleted["ok"], deleted
        assert deleted["data"] == {"path": mailbox, "deleted": True}
        after = run("getStatus", {"mailbox": "INBOX"})
        assert after["ok"], after
        again = run("deleteMailbox", {"path": mailbox})
        assert again["error"]["code"] == "NOT_FOUND", again
    finally:
        pool.close()
