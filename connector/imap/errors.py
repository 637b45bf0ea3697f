"""The connector's one error hook: exceptions from the IMAP stack -> typed errors.

Handlers raise typed errors where they know the meaning (a missing mailbox is
NOT_FOUND); what they do not catch lands here.
"""
from __future__ import annotations

import imaplib
import socket
import ssl

from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from connector.sdk.errors import (ConnectionFailed, ConnectorError, ServerError, Timeout,
                                  TlsError)

# Response codes (RFC 5530) that say trying again later may work.
TRANSIENT_CODES = ("[UNAVAILABLE]", "[INUSE]", "[LIMIT]", "[SERVERBUG]", "[OVERQUOTA]")


def map_exception(exc: Exception) -> ConnectorError | None:
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return Timeout("The server stopped answering: try again, or raise Timeout (seconds).")
    if isinstance(exc, ssl.SSLError):
        return TlsError(f"The TLS connection failed: {exc.reason or exc}.")
    if isinstance(exc, (IMAPClientAbortError, imaplib.IMAP4.abort, ConnectionError)):
        return ConnectionFailed(f"The connection to the server was lost: {server_text(exc)}")
    if isinstance(exc, (IMAPClientError, imaplib.IMAP4.error)):
        text = server_text(exc)
        return ServerError(f"The server refused the request: {text}",
                           retryable=any(code in text.upper() for code in TRANSIENT_CODES))
    if isinstance(exc, OSError):
        return ConnectionFailed(f"Network error: {exc.strerror or exc}.")
    return None


def server_text(exc: Exception) -> str:
    """The server's words from an imaplib/IMAPClient error, without Python's noise."""
    text = str(exc)
    for noise in ("b'", 'b"'):
        text = text.replace(noise, "'")
    return text if len(text) <= 300 else text[:297] + "..."
