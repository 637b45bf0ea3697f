"""The socket under a session: an overall deadline for opening it, and fewer round trips.

A cold step is mostly round trips when the server is 20-100 ms away. imaplib waits for
the greeting, then asks CAPABILITY, then waits for LOGIN's reply before the step's first
command. Here:

- the greeting's ``[CAPABILITY ...]`` is used when it carries one (no CAPABILITY command);
- over implicit TLS the greeting is not awaited: LOGIN goes out right after the handshake;
- LOGIN is held back (``defer``) and sent in one write with the step's first command
  (RFC 3501 5.5 allows a client to send commands without waiting) to servers known to
  take it (``known_server``; not Courier), whose capabilities after login are then
  taken from that earlier session until this login's reply is read. The greeting, LOGIN's reply and the
  command's reply then come back together: TCP, TLS, and one round trip for the step.
  A refused LOGIN is reported as such before the command's reply is read (the server
  refuses a command sent before authentication, so nothing of it runs).

This module and ``commands`` are where imaplib's internals are touched: ``_get_response``,
``_get_tagged_response``, ``tagged_commands``, ``untagged_responses``, ``_new_tag``,
``tagpre``/``tagre`` (set up as ``IMAP4._connect`` does), and IMAPClient's
``_create_IMAP4`` (to choose the IMAP4 class). Checked against CPython 3.11's imaplib.
"""
from __future__ import annotations

import hashlib
import imaplib
import random
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable

from imapclient import IMAPClient
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.tls import IMAP4_TLS

_CAPABILITY_CODE = re.compile(rb"\[CAPABILITY ([^\]]*)\]", re.I)
# Servers that lose commands sent behind LOGIN: Courier's imaplogin reads ahead, then
# hands the connection to imapd without what it read (measured: the command is never
# answered). Recognised by their greeting.
_LOSES_PIPELINED = re.compile(rb"Courier-IMAP", re.I)
# What an earlier session of this process learnt of a server: whether it takes a command
# behind LOGIN (its greeting says who it is), and its capabilities after login. Keyed by
# host, port and identity (``server_identity``), so another server behind the same
# address (a port reused, a server replaced) is not taken for the one seen before.
# Unknown servers get LOGIN alone (still before the greeting over implicit TLS), never a
# command they could lose.
_KNOWN: dict[tuple, dict] = {}


def server_identity(imap) -> bytes:
    """What tells this server from another at the same address before anything is sent:
    its certificate over TLS, else its greeting (read before LOGIN on plain connections)."""
    sock = getattr(imap, "sock", None)
    if isinstance(sock, ssl.SSLSocket):
        cert = sock.getpeercert(binary_form=True)
        if cert:
            return hashlib.sha256(cert).digest()
    return imap.welcome or b""


def known_server(key: tuple) -> dict | None:
    """{"pipelines": bool, "capabilities": frozenset | None} for a server seen before."""
    return _KNOWN.get(key)


def learn_server(key: tuple, *, greeting: bytes | None = None,
                 capabilities: frozenset | None = None) -> None:
    entry = _KNOWN.setdefault(key, {"pipelines": False, "capabilities": None})
    if greeting:
        entry["pipelines"] = not _LOSES_PIPELINED.search(greeting)
    if capabilities is not None:
        entry["capabilities"] = capabilities


class Deadline:
    """Shuts a socket down when the time for opening a session is up."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds
        self.expired = False
        self._timer: threading.Timer | None = None

    def watch(self, sock: socket.socket) -> None:
        """Watch ``sock`` (a new one after TLS is set up) for the time that is left."""
        def expire():
            self.expired = True
            try:  # the plain socket's shutdown: a blocked read (TLS or not) returns at once
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

        self.cancel()
        self._timer = threading.Timer(max(0.0, self.end - time.monotonic()), expire)
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def no_delay(sock: socket.socket) -> None:
    """TCP_NODELAY: a small write (LOGIN and a command after the TLS Finished) goes out at
    once instead of waiting, by Nagle's rule, for the peer's delayed ACK of the last one."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


class Deferred:
    """A command line held back to travel with the next one, and what to do with its reply."""

    def __init__(self, tag: bytes, line: bytes, on_reply: Callable[[str, list], None]):
        self.tag, self.line, self.on_reply = tag, line, on_reply


class _Pipelining:
    """What the plain and the TLS IMAP4 classes share: greeting capabilities, deferral."""

    _deadline: Deadline
    _defer_greeting = False
    _greeting_pending = False
    _deferred: Deferred | None = None

    def _connect(self):
        if not self._defer_greeting:
            super()._connect()
            return
        # As IMAP4._connect, without reading the greeting: it is read with the first reply.
        self.tagpre = imaplib.Int2AP(random.randint(4096, 65535))
        self.tagre = re.compile(br"(?P<tag>" + self.tagpre + br"\d+) (?P<type>[A-Z]+) (?P<data>.*)",
                                re.ASCII)
        if __debug__:
            self._cmd_log_len, self._cmd_log_idx, self._cmd_log = 10, 0, {}
        self.welcome = b""
        self.state = "NONAUTH"
        self.capabilities = ()
        self.PROTOCOL_VERSION = "IMAP4REV1"
        self._greeting_pending = True

    def _get_capabilities(self):
        """The greeting's [CAPABILITY ...] when it has one; else the CAPABILITY command.

        After STARTTLS (imaplib asks again) nothing is asked: the capabilities from before
        TLS must not be trusted (RFC 3501 6.2.1), and the login reply brings new ones; a
        caller that needs them before login asks (IMAPClient does, after STARTTLS).
        """
        if getattr(self, "_tls_established", False):
            self.capabilities = ()
            return
        if not self._greeting_capabilities():
            super()._get_capabilities()

    def _greeting_capabilities(self) -> bool:
        """Take the greeting's [CAPABILITY ...] (out of untagged_responses too, where the
        login reply's would otherwise come second and be overlooked)."""
        found = _CAPABILITY_CODE.search(self.welcome or b"")
        if found:
            self.capabilities = tuple(found.group(1).decode("ascii", "replace").upper().split())
            self.untagged_responses.pop("CAPABILITY", None)
        return found is not None

    def read_greeting(self) -> None:
        """The greeting that was not awaited: OK (or PREAUTH), else the server's refusal."""
        self._greeting_pending = False
        self.welcome = self._get_response()
        if "PREAUTH" not in self.untagged_responses and "OK" not in self.untagged_responses:
            raise self.error(self.welcome)
        self._greeting_capabilities()

    @property
    def greeting_pending(self) -> bool:
        return self._greeting_pending

    def defer(self, build: Callable[[bytes], bytes], on_reply: Callable[[str, list], None]):
        """Hold a command (``build(tag)`` -> its line) until the next one; see ``send``."""
        tag = self._new_tag()
        self.tagged_commands[tag] = None
        self._deferred = Deferred(tag, build(tag), on_reply)

    @property
    def deferred(self) -> Deferred | None:
        return self._deferred

    def send(self, data):
        deferred, self._deferred = self._deferred, None
        if deferred is None:
            super().send(data)
            return
        super().send(deferred.line + data)  # one write: one flight for both commands
        self._complete(deferred)

    def flush(self) -> None:
        """Send a held-back command alone and read its reply (nothing to pipeline with)."""
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            super().send(deferred.line)
            self._complete(deferred)

    def drop_deferred(self) -> None:
        self._deferred = None

    def _complete(self, deferred: Deferred) -> None:
        """Read the greeting (if not yet) and the held-back command's reply; ``on_reply``
        gets (type, data), or (None, the exception) when reading failed."""
        try:
            if self._greeting_pending:
                self.read_greeting()
            typ, data = self._get_tagged_response(deferred.tag)
        except (imaplib.IMAP4.error, OSError) as exc:
            self.tagged_commands.pop(deferred.tag, None)
            deferred.on_reply(None, exc)
            raise  # on_reply raised its own error; this is only reached if it did not
        self.tagged_commands.pop(deferred.tag, None)
        deferred.on_reply(typ, data)


class PlainIMAP4(_Pipelining, IMAP4WithTimeout):
    def __init__(self, host: str, port: int, timeout: float, deadline: Deadline,
                 defer_greeting: bool = False):
        self._deadline, self._defer_greeting = deadline, defer_greeting
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout=None):
        sock = super()._create_socket(timeout)
        no_delay(sock)
        self._deadline.watch(sock)
        return sock


class TlsIMAP4(_Pipelining, IMAP4_TLS):
    def __init__(self, host: str, port: int, context: ssl.SSLContext, timeout: float,
                 deadline: Deadline, defer_greeting: bool = False):
        self._deadline, self._defer_greeting = deadline, defer_greeting
        super().__init__(host, port, context, timeout)

    def _create_socket(self, timeout=None):
        sock = socket.create_connection((self.host, self.port), timeout=timeout or self._timeout)
        no_delay(sock)
        tls = self.ssl_context.wrap_socket(sock, server_hostname=self.host,
                                           do_handshake_on_connect=False)
        self._deadline.watch(tls)  # before the handshake, which may trickle too
        tls.do_handshake()
        return tls


class Client(IMAPClient):
    """IMAPClient on our IMAP4 classes (deadline watch, greeting capabilities, pipelining)."""

    def __init__(self, *args, deadline: Deadline, defer_greeting: bool = False, **kwargs):
        self._deadline, self._defer_greeting = deadline, defer_greeting
        super().__init__(*args, **kwargs)

    def _create_IMAP4(self):  # noqa: N802 - IMAPClient's name
        if self.ssl:
            return TlsIMAP4(self.host, self.port, self.ssl_context, self._timeout.connect,
                            self._deadline, self._defer_greeting)
        return PlainIMAP4(self.host, self.port, self._timeout.connect, self._deadline,
                          self._defer_greeting)
