"""The connector's one error hook: exceptions from the IMAP stack -> typed errors.

Handlers raise typed errors where they know the meaning (a missing mailbox is
NOT_FOUND); what they do not catch lands here.
"""

from __future__ import annotations

import imaplib
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, ProtocolError

from connector.sdk.errors import (
    ConnectionFailed,
    ConnectorError,
    RateLimited,
    ServerError,
    Timeout,
    TlsError,
)
from connector.sdk.text import REMOTE_CHARS, shorten

from .malformed import MalformedReply

# Response codes (RFC 5530) that say trying again later may work.
TRANSIENT_CODES = ("[OVERQUOTA]",)
# RFC 5530's SERVERBUG: the server failed on this request. Neither the connection's fault
# nor cured by repeating it, whether it comes as NO, BAD or BYE (pymap closes with
# "* BYE [SERVERBUG] Unhandled server error." on a search term too long for it).
_SERVER_BUG = re.compile(r"\[SERVERBUG\]", re.I)
# Refusals for load or connection limits: RFC 5530 codes, Office 365's and Gmail's texts,
# Dovecot's per-user connection limit.
_THROTTLED = re.compile(
    r"\[(?:LIMIT|UNAVAILABLE|INUSE|THROTTLED)\]|request is throttled|too many simultaneous"
    r"|exceeded command or bandwidth limits|too many (?:connections|concurrent)"
    r"|maximum number of connections|try again later|server busy|temporarily unavailable",
    re.I,
)
_AUTH_CODES = re.compile(r"\[(?:AUTHENTICATIONFAILED|AUTHORIZATIONFAILED|EXPIRED)\]", re.I)
_BACKOFF = re.compile(r"backoff time:\s*(\d+)\s*(milli)?", re.I)


def rate_limited(text: str) -> RateLimited | None:
    """RATE_LIMITED when a server's refusal says it is about load or limits, else None.

    A refusal coded as an authentication failure stays one, whatever else its text says
    ("try again later"): retrying a wrong password helps nobody.
    """
    if not _THROTTLED.search(text) or _AUTH_CODES.search(text):
        return None
    backoff = _BACKOFF.search(text)
    after = None
    if backoff:
        after = int(backoff.group(1)) / (1000 if backoff.group(2) else 1)
    return RateLimited(
        f"The server is limiting requests or connections: try again later "
        f"(server said: {text[:200]}).",
        retry_after=after,
    )


def server_bug(text: str) -> ServerError | None:
    """SERVER_ERROR, not retryable, when the server's words carry [SERVERBUG], else None."""
    if not _SERVER_BUG.search(text):
        return None
    return ServerError(
        f"The server failed on this request ({shorten(text, REMOTE_CHARS)}): repeating it "
        "will fail the same way; change the request or ask the server's operator.",
        retryable=False,
    )


class Refusal:
    """What ``refusal()`` caught: the server's NO or BAD, or None when the command went through."""

    error: imaplib.IMAP4.error | None = None


@contextmanager
def refusal() -> Iterator[Refusal]:
    """Catch the server refusing a command (NO, BAD) into the yielded ``Refusal``; a dropped
    connection (``IMAP4.abort``, a subclass of the refusal) passes through to the error hook.

        with refusal() as refused:
            session.client.subscribe_folder(path)
        subscribed = refused.error is None
    """
    caught = Refusal()
    try:
        yield caught
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as exc:
        caught.error = exc


def map_exception(exc: Exception) -> ConnectorError | None:
    if isinstance(exc, (IMAPClientError, imaplib.IMAP4.error)):
        refused = rate_limited(str(exc)) or server_bug(server_text(exc))
        if refused is not None:
            return refused
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return Timeout("The server stopped answering: try again, or raise Timeout (seconds).")
    if isinstance(exc, ssl.SSLError):
        return TlsError(f"The TLS connection failed: {exc.reason or exc}.")
    if isinstance(exc, ProtocolError):
        # IMAPClient's parser on a reply that is not IMAP: the server's fault (its text
        # quotes the server's bytes: not repeated).
        return MalformedReply("reply", "the IMAP library could not read it")
    if isinstance(exc, (IMAPClientAbortError, imaplib.IMAP4.abort, ConnectionError)):
        return ConnectionFailed(f"The connection to the server was lost: {server_text(exc)}")
    if isinstance(exc, (IMAPClientError, imaplib.IMAP4.error)):
        text = server_text(exc)
        return ServerError(
            f"The server refused the request: {text}",
            retryable=any(code in text.upper() for code in TRANSIENT_CODES),
        )
    if isinstance(exc, OSError):
        return ConnectionFailed(f"Network error: {exc.strerror or exc}.")
    return None


def server_text(exc: Exception) -> str:
    """The server's words from an imaplib/IMAPClient error, without Python's noise."""
    text = str(exc)
    for noise in ("b'", 'b"'):
        text = text.replace(noise, "'")
    return shorten(text, REMOTE_CHARS)
