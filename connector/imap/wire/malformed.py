"""A server reply that breaks IMAP's grammar: the server's fault, told apart from ours.

The readers of replies (``fetch_response``, ``server_sets``, ``commands``) check what they
take from a server where they take it, and raise ``MalformedReply`` (SERVER_ERROR) when it
is not what IMAP allows. Any other exception on the way (a TypeError, an IndexError) is a
bug of ours: it reaches the runtime unmapped, as INTERNAL_ERROR, logged with its traceback.
So no reader catches broad exception types around its parsing; the one exception is
IMAPClient's own parser, whose failures on a server's bytes ``transport`` maps where it
calls it.
"""

from __future__ import annotations

from connector.sdk.errors import ServerError

MAX_DIGITS = 20  # a number in a reply: 32-bit UIDs, 63-bit MODSEQs (int() of more is a cost)


class MalformedReply(ServerError):
    """A reply that is not valid IMAP (SERVER_ERROR, not retryable: the same server will send
    the same again). ``what`` names the reply, ``why`` what is wrong with it, in our words:
    never the server's bytes (a hostile server's text is its own to choose)."""

    def __init__(self, what: str, why: str):
        self.what, self.why = what, why
        super().__init__(
            f"The server sent a {what} that is not valid IMAP ({why}): the server or the "
            "message needs looking at.",
            retryable=False,
        )


def number(token: object, what: str, item: str) -> int:
    """A number the server wrote (``token``: bytes of ASCII digits, at most ``MAX_DIGITS``),
    as an int; ``MalformedReply`` naming ``item`` when it is anything else."""
    if type(token) is bytes and 0 < len(token) <= MAX_DIGITS and token.isdigit():
        return int(token)
    raise MalformedReply(what, f"{item} is not a number")
