"""What a server may send, in one place: each budget's default and the error past it.

A server is a peer the connector does not control (a hosted step connects wherever its
tenant says), so every size it announces is checked against a budget *before* anything is
allocated for it: a literal's announced length before it is read (and even within the
budget, a large literal is read in pieces, so only bytes that arrived take memory), a
line's length as it is read, a UID set's count before it is expanded, the lines of one
kind in a reply as they are collected. Past a budget the step fails with ``OverBudget``
(SERVER_ERROR, not retryable: the same server will send the same again), naming the
budget and the size announced, never the bytes; the session is then discarded, as after
any error.

The defaults are generous for real mail: a 256 MiB message (Exchange Online allows
150 MB, Gmail 25 MB with attachments encoded), a million UIDs in one step, 20,000
mailboxes (Gmail allows 10,000 labels).
"""

from __future__ import annotations

from connector.sdk.errors import ServerError

MAX_LITERAL = 256 * 1024 * 1024  # bytes of one literal: a message, a part, a name
MAX_LINE = 1_000_000  # bytes of one line: imaplib's cap (a SEARCH without ESEARCH: ~140k UIDs)
MAX_REPLY = MAX_LITERAL + MAX_LINE  # bytes read after one command: the largest literal and a line
MAX_GREETING = 16 * 1024  # bytes of the greeting (real ones are under 1 KB)
MAX_UIDS = 1_000_000  # UIDs a step expands from a server's answer (or FETCH responses it reads)
MAX_MAILBOXES = 20_000  # LIST / LSUB / STATUS responses in one reply
MAX_RESPONSES = MAX_UIDS  # untagged responses of any other kind in one reply (one a message)
MAX_KNOWN_SERVERS = 1024  # servers this process remembers (pipelining, capabilities)
MAX_KNOWN_CAPABILITIES = 8 * 1024  # bytes of one server's capabilities worth remembering
LITERAL_PIECE = 1024 * 1024  # a larger literal is read in pieces of this size
MAX_IDLE = 64 * 1024  # bytes a server may send in IDLE before a response ends (a push line)

# The budgets' names, as errors and the README call them.
LITERAL, LINE, REPLY, GREETING, UIDS, MAILBOXES, RESPONSES, IDLE = (
    "literal",
    "line",
    "reply size",
    "greeting",
    "UID set",
    "mailbox count",
    "response count",
    "IDLE response",
)
_UNITS = {
    LITERAL: "bytes",
    LINE: "bytes",
    REPLY: "bytes",
    GREETING: "bytes",
    UIDS: "UIDs",
    MAILBOXES: "mailboxes",
    RESPONSES: "responses",
    IDLE: "bytes",
}


class OverBudget(ServerError):
    """A server's reply over one of the budgets above (SERVER_ERROR, not retryable).

    Raised from inside the reading of a reply, so it is not an ``imaplib`` error: nothing
    on the way (imaplib, IMAPClient, ``refusal()``) takes it for a refusal or a lost line.
    """

    def __init__(self, budget: str, limit: int, size: int | None = None):
        self.budget, self.limit, self.size = budget, limit, size
        unit = _UNITS.get(budget, "")
        said = (
            f"{size:,} {unit} (at most {limit:,})"
            if size is not None
            else f"more than {limit:,} {unit}"
        )
        super().__init__(
            f"The server sent a reply over this connector's {budget} budget: {said}. "
            "Nothing of it was kept and the session was closed; "
            "the server or the account needs looking at (a smaller mailbox, a narrower "
            "search).",
            retryable=False,
        )


def check(budget: str, limit: int, size: int) -> None:
    """``OverBudget`` when ``size`` (what the server announced) is over ``limit``."""
    if size > limit:
        raise OverBudget(budget, limit, size)
