"""The socket under a session: an overall deadline for opening it, and fewer round trips.

A cold step is mostly round trips when the server is 20-100 ms away. imaplib waits for
the greeting, then asks CAPABILITY, then waits for LOGIN's reply before the step's first
command. Here:

- the greeting's ``[CAPABILITY ...]`` is used when it carries one (no CAPABILITY command);
- over implicit TLS the greeting is not awaited: LOGIN goes out right after the handshake;
- LOGIN is held back (``defer``) and sent in one write with the step's first command
  (RFC 3501 5.5 allows a client to send commands without waiting) to servers known to
  take it (``known_server``; not Courier), whose capabilities after login are then
  taken from that earlier session until this login's reply is read. The greeting,
  LOGIN's reply and the command's reply then come back together: TCP, TLS, and one
  round trip for the step.
  A refused LOGIN is reported as such before the command's reply is read (the server
  refuses a command sent before authentication, so nothing of it runs).

This is the one module that touches imaplib's and IMAPClient's internals; every other
module goes through ``Client``'s public methods. Documented imaplib calls are preferred:
``IMAP4.readline()``, ``IMAP4.read(n)``, ``IMAP4.send()``, ``login``, ``authenticate``,
``state``, ``welcome``, ``capabilities``, ``debug``. The privates still touched, and why:

imaplib (``IMAP4``)
  ``_connect``, ``_create_socket``, ``_get_capabilities``: overridden (greeting deferral,
  deadline watch, greeting capabilities); ``_connect``'s set-up of ``tagpre``, ``tagre``
  and ``_cmd_log*`` is repeated when the greeting is not awaited.
  ``_new_tag``: a tag for commands imaplib cannot build (literal8, nested search keys).
  ``_get_response``, ``_get_tagged_response``, ``_command_complete``,
  ``_untagged_response``: to read the replies of those commands as imaplib would.
  ``_get_response`` (wrapped: a literal's size of thousands of digits), ``_append_untagged``
  (extended: untagged responses counted against their budget), ``_log`` (overridden: kept
  nothing), beside the public ``readline()`` and ``read(n)``: what a server may send is
  checked there, before it is read (``budgets``).
  ``tagged_commands``, ``untagged_responses``: imaplib's bookkeeping of replies (a tag
  answered early; collected response codes such as APPENDUID); ``_tls_established``.
IMAPClient
  ``_create_IMAP4`` (to use the classes below), ``_imap`` (the IMAP4 object),
  ``_checkok`` (its refusal errors), ``_cached_capabilities`` (dropped when capabilities
  change: STARTTLS, login); ``_proc_folder_list`` (its LIST reply parser) and
  ``_process_select_response`` (its SELECT reply reader), extended: what they cannot read
  of a server's reply is ``MalformedReply``, not a bug of ours (``parsing``).

Python versions, from reading imaplib's source: 3.10-3.13 read replies through
``IMAP4.file`` (a buffered socket file); 3.14 (IDLE support, cpython gh-122542) reads
through an internal buffer (``_readbuf``) and makes ``file`` a deprecated property, so
replies are read here only with ``readline()``/``read()``, which every version routes
through its own buffer. ``_connect`` (3.9+), ``_create_socket(timeout)`` (3.9+),
``_get_tagged_response(tag, expect_bye=False)``, ``_command_complete(name, tag)`` and
``_untagged_response(typ, dat, name)`` keep these signatures from 3.10 to 3.14. Since
gh-119511 (3.13, backported) ``read(n)`` reads a large literal in chunks. Tested on 3.11.
"""

from __future__ import annotations

import hashlib
import imaplib
import math
import random
import re
import select
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, ProtocolError
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.imapclient import _parse_untagged_response as parse_untagged
from imapclient.imapclient import require_capability
from imapclient.tls import IMAP4_TLS

from connector.sdk import deadlines, egress
from connector.sdk.deadlines import Watch

from . import budgets
from .budgets import OverBudget
from .malformed import MalformedReply
from .protocol import Literal, Literal8

_CAPABILITY_CODE = re.compile(rb"\[CAPABILITY ([^\]]*)\]", re.I)
# Servers that lose commands sent behind LOGIN: Courier's imaplogin reads ahead, then
# hands the connection to imapd without what it read (measured: the command is never
# answered). Recognised by their greeting.
_LOSES_PIPELINED = re.compile(rb"Courier-IMAP", re.I)
# What an earlier session of this process learnt of a server: whether it takes a command
# behind LOGIN (its greeting says who it is), and its capabilities after login. Keyed by
# host, port and identity (``server_identity``, a digest), so another server behind the
# same address (a port reused, a server replaced) is not taken for the one seen before.
# Unknown servers get LOGIN alone (still before the greeting over implicit TLS), never a
# command they could lose. At most ``budgets.MAX_KNOWN_SERVERS``, the least recently used
# forgotten first: a tenant pointing steps at servers of its own with a fresh greeting each
# time would otherwise grow it without end (measured: +179 MB for 150 steps of 1 MB).
_KNOWN: OrderedDict[tuple, dict] = OrderedDict()
_KNOWN_LOCK = threading.Lock()


def server_identity(imap: imaplib.IMAP4) -> bytes:
    """What tells this server from another at the same address before anything is sent: a
    digest of its certificate over TLS, else of its greeting (read before LOGIN on plain
    connections). Never the greeting itself: it is the server's to make as long as it likes."""
    sock = getattr(imap, "sock", None)
    if isinstance(sock, ssl.SSLSocket):
        cert = sock.getpeercert(binary_form=True)
        if cert:
            return hashlib.sha256(cert).digest()
    return hashlib.sha256(imap.welcome or b"").digest()


def known_server(key: tuple) -> dict | None:
    """{"pipelines": bool, "capabilities": frozenset | None} for a server seen before."""
    with _KNOWN_LOCK:
        entry = _KNOWN.get(key)
        if entry is not None:
            _KNOWN.move_to_end(key)
        return entry


def learn_server(
    key: tuple, *, greeting: bytes | None = None, capabilities: frozenset | None = None
) -> None:
    with _KNOWN_LOCK:
        entry = _KNOWN.get(key)
        if entry is None:
            entry = _KNOWN[key] = {"pipelines": False, "capabilities": None}
            while len(_KNOWN) > budgets.MAX_KNOWN_SERVERS:
                _KNOWN.popitem(last=False)
        else:
            _KNOWN.move_to_end(key)
        if greeting:
            entry["pipelines"] = not _LOSES_PIPELINED.search(greeting)
        # Only a list of the usual size is worth remembering (real ones: ~200-600 bytes).
        if capabilities is not None and (
            sum(len(c) + 1 for c in capabilities) <= budgets.MAX_KNOWN_CAPABILITIES
        ):
            entry["capabilities"] = capabilities


@contextmanager
def parsing(what: str) -> Iterator[None]:
    """Around IMAPClient's own reading of a server's reply, and nothing else: what it cannot
    read (its ProtocolError; a ValueError, TypeError... from a count that is not a number,
    a list too short) is the server's reply at fault, ``MalformedReply`` naming ``what``.
    (Not its text: IMAPClient's errors quote the server's bytes.)"""
    try:
        yield
    except (ProtocolError, ValueError, TypeError, IndexError, KeyError, AttributeError):
        raise MalformedReply(what, "the IMAP library could not read it") from None


class IdleRefused(IMAPClientError):
    """The server answered IDLE with BAD: it does not take IDLE, whatever it advertised."""


class Deadline:
    """Shuts a socket down when the time for opening a session is up."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds
        self.expired = False
        self._timer: threading.Timer | None = None

    def watch(self, sock: socket.socket) -> None:
        """Watch ``sock`` (a new one after TLS is set up) for the time that is left."""

        def expire() -> None:
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
            # (a Thread object with its Events and locks, ~2 KB: a session held for days,
            # a push line's, would keep it for nothing)
            self._timer = None


def no_delay(sock: socket.socket) -> None:
    """TCP_NODELAY: a small write (LOGIN and a command after the TLS Finished) goes out at
    once instead of waiting, by Nagle's rule, for the peer's delayed ACK of the last one."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        pass


class Deferred:
    """A command line held back to travel with the next one, and what to do with its reply."""

    def __init__(
        self,
        tag: bytes,
        line: bytes,
        on_reply: Callable[[str | None, Any], None],
        kind: str = "login",
    ):
        self.tag, self.line, self.on_reply, self.kind = tag, line, on_reply, kind


# Untagged responses that name a mailbox each; any other kind is one per message at most.
_MAILBOX_RESPONSES = frozenset({"LIST", "LSUB", "XLIST", "STATUS"})

if TYPE_CHECKING:  # a mixin for IMAP4 subclasses: typed as one
    from typing_extensions import Buffer  # (collections.abc from 3.12)

    _IMAP4 = imaplib.IMAP4
else:
    _IMAP4 = object


class _Pipelining(_IMAP4):
    """What the plain and the TLS IMAP4 classes share: greeting capabilities, deferral."""

    _deadline: Deadline
    _defer_greeting = False
    _greeting_pending = False
    _deferred: tuple[Deferred, ...] = ()
    _reply_bytes = 0  # read since the last write: one reply's size (``budgets.MAX_REPLY``)
    _greeted = False  # the first line (the greeting, ``budgets.MAX_GREETING``) was read

    def _connect(self) -> None:
        if not self._defer_greeting:
            super()._connect()  # type: ignore[misc]  # (not in typeshed's IMAP4)
            return
        # As IMAP4._connect, without reading the greeting: it is read with the first reply.
        # (typeshed types tagpre as str; imaplib makes it bytes.)
        tagpre: Any = imaplib.Int2AP(random.randint(4096, 65535))  # noqa: S311 - a tag prefix
        self.tagpre = tagpre
        self.tagre = re.compile(
            rb"(?P<tag>" + tagpre + rb"\d+) (?P<type>[A-Z]+) (?P<data>.*)", re.ASCII
        )
        if __debug__:
            self._cmd_log_len, self._cmd_log_idx = 10, 0
            self._cmd_log: dict[int, tuple[bytes, float]] = {}
        self.welcome = b""
        self.state = "NONAUTH"
        self.capabilities = ()
        self.PROTOCOL_VERSION = "IMAP4REV1"
        self._greeting_pending = True

    # -- what a server may send: every reply is read through these (``budgets``)

    def readline(self) -> bytes:
        """One line, within ``budgets.MAX_LINE`` (imaplib's own cap is the ceiling), or
        ``MAX_GREETING`` for the first; and the reply's bytes within ``MAX_REPLY``; the line
        within the connection's Timeout (``watch_progress``). (Per line: ~0.35 us beside
        imaplib's own; a flag read-back of 10,000 messages reads 10,000 lines.)"""
        self._reading_since = time.monotonic()
        try:
            line = super().readline()
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error:  # imaplib's "got more than N bytes"
            raise self._line_over(None) from None
        except OSError:
            if self._stalled:
                raise self._stall() from None
            raise
        finally:
            self._reading_since = None
        if self._stalled:  # (the cut socket read as EOF)
            raise self._stall()
        size = len(line)
        read = self._reply_bytes = self._reply_bytes + size
        if read > budgets.MAX_REPLY or size > budgets.MAX_GREETING or not self._greeted:
            self._check_line(size, read)
        return line

    def _check_line(self, size: int, read: int) -> None:
        """A line past the greeting's, the line's or the reply's budget (the slow path)."""
        if (not self._greeted and size > budgets.MAX_GREETING) or size > budgets.MAX_LINE:
            raise self._line_over(size)
        self._greeted = True
        budgets.check(budgets.REPLY, budgets.MAX_REPLY, read)

    def _line_over(self, size: int | None) -> OverBudget:
        if not self._greeted:
            return OverBudget(budgets.GREETING, budgets.MAX_GREETING, size)
        return OverBudget(budgets.LINE, budgets.MAX_LINE)

    def read(self, size: int) -> bytes:
        """A literal of the ``size`` the server announced: checked against the budget first
        (imaplib would reserve it whole: 4 GB for ``{4000000000}``), then read in pieces, so
        only what arrived takes memory (as CPython does since gh-119511, not in 3.11)."""
        budgets.check(budgets.LITERAL, budgets.MAX_LITERAL, size)
        budgets.check(budgets.REPLY, budgets.MAX_REPLY, self._reply_bytes + size)
        self._reply_bytes += size
        if size <= budgets.LITERAL_PIECE:
            return self._piece(size)
        pieces, left = [], size
        while left:
            piece = self._piece(min(left, budgets.LITERAL_PIECE))
            if not piece:  # EOF: short, as imaplib's read would be
                break
            pieces.append(piece)
            left -= len(piece)
        return b"".join(pieces)

    def _piece(self, size: int) -> bytes:
        """``size`` bytes of a literal, within the connection's Timeout (``watch_progress``)."""
        self._reading_since = time.monotonic()
        try:
            piece = super().read(size)
        except OSError:
            if self._stalled:
                raise self._stall() from None
            raise
        finally:
            self._reading_since = None
        if self._stalled:
            raise self._stall()
        return piece

    # -- the connection's Timeout for each line, however the server trickles it

    _reading_since: float | None = None  # when the line (or literal piece) being read began
    _stall_seconds = 0.0
    _stalled = False  # the watchdog cut the connection: a line took too long
    _progress: Watch | None = None

    def watch_progress(self, seconds: float) -> None:
        """From now on, a line of a reply (or a MiB of a literal) must arrive within
        ``seconds`` of the moment it is waited for; else the connection is cut and the read
        is a ``TimeoutError``. A socket's timeout bounds each ``recv``: a server sending a
        byte a second satisfies it for ever (measured: a step held until the host's cap)."""
        self._stall_seconds = seconds
        self._progress = deadlines.watch(self, time.monotonic() + seconds, self._renew)

    def _renew(self, now: float) -> float | None:
        """The watchdog's question (its thread, its lock): when to look again; None: cut."""
        if self.sock.fileno() < 0:
            return math.inf  # closed: nothing left to watch
        since = self._reading_since
        if since is None:  # not waiting for the server (idle, or the step is working)
            return now + self._stall_seconds
        due = since + self._stall_seconds
        return due if due > now else None

    def interrupt(self) -> None:
        """The watchdog's cut: the blocked read ends at once (see ``watch_progress``)."""
        self._stalled = True
        try:
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass

    def _stall(self) -> TimeoutError:
        return TimeoutError(
            f"the server sent no complete line within {self._stall_seconds:g} s (Timeout)"
        )

    def shutdown(self) -> None:
        if self._progress is not None:
            self._progress.disarm()
        super().shutdown()

    def _get_response(self) -> Any:
        try:
            return super()._get_response()  # type: ignore[misc]  # (not in typeshed's IMAP4)
        except ValueError:  # int() of a literal's size of thousands of digits: its only one
            raise OverBudget(budgets.LITERAL, budgets.MAX_LITERAL) from None

    def _append_untagged(self, typ: str, dat: Any) -> None:
        """imaplib collects untagged responses until the command that wants them takes
        them: counted as they come, a LIST of 300,000 mailboxes stops at the budget."""
        super()._append_untagged(typ, dat)  # type: ignore[misc]  # (not in typeshed's IMAP4)
        if isinstance(dat, tuple):  # (text, literal): the response's last line follows
            return
        kept = self.untagged_responses[typ]
        budget, limit = (
            (budgets.MAILBOXES, budgets.MAX_MAILBOXES)
            if typ in _MAILBOX_RESPONSES
            else (budgets.RESPONSES, budgets.MAX_RESPONSES)
        )
        if len(kept) <= limit:  # (at most one entry per response more than responses)
            return
        counts = self._counts = getattr(self, "_counts", {})
        seen = counts.get(typ)
        if seen is not None and seen[0] == id(kept) and seen[2] == len(kept) - 1:
            count = seen[1] + 1
        else:  # a new list (the last was taken): count its responses once
            count = sum(1 for entry in kept if not isinstance(entry, tuple))
        counts[typ] = (id(kept), count, len(kept))
        if count > limit:  # (how many more are coming, only the server knows)
            raise OverBudget(budget, limit)

    def _log(self, line: str) -> None:
        """Nothing kept: imaplib keeps the last ten lines read and sent (a LOGIN with its
        password; a server's lines of up to 1 MB, four times that as repr) for a debug
        print this connector never makes."""

    def _get_capabilities(self) -> None:
        """The greeting's [CAPABILITY ...] when it has one; else the CAPABILITY command.

        After STARTTLS (imaplib asks again) nothing is asked: the capabilities from before
        TLS must not be trusted (RFC 3501 6.2.1), and the login reply brings new ones; a
        caller that needs them before login asks (IMAPClient does, after STARTTLS).
        """
        if getattr(self, "_tls_established", False):
            self.capabilities = ()
            return
        if not self._greeting_capabilities():
            super()._get_capabilities()  # type: ignore[misc]  # (not in typeshed's IMAP4)

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

    def ask_capabilities(self) -> None:
        """CAPABILITY, for a greeting that did not say them (imaplib keeps the newest)."""
        imaplib.IMAP4._get_capabilities(self)  # type: ignore[attr-defined]  # (not in typeshed)

    def defer(
        self,
        build: Callable[[bytes], bytes],
        on_reply: Callable[[str | None, Any], None],
        kind: str = "login",
    ) -> None:
        """Hold a command (``build(tag)`` -> its line) until the next one; see ``send``.
        Several may be held (LOGIN, then EXAMINE): they go in order, in one write."""
        tag = self._new_tag()
        self.tagged_commands[tag] = None
        self._deferred = (*self._deferred, Deferred(tag, build(tag), on_reply, kind))

    @property
    def deferred(self) -> tuple[Deferred, ...]:
        return self._deferred

    def send(self, data: Buffer) -> None:
        self._reply_bytes = 0  # what is read next is the reply to this
        deferred, self._deferred = self._deferred, ()
        if not deferred:
            super().send(data)
            return
        # One write: one flight for all. Replies are read by tag, in order; a held-back
        # command that fails raises before the later ones' replies are read (the session
        # is then discarded: what it sent after is never mistaken for anything).
        super().send(b"".join(d.line for d in deferred) + bytes(data))
        for held in deferred:
            self._complete(held)

    def flush(self) -> None:
        """Send held-back commands alone and read their replies (nothing to pipeline with)."""
        deferred, self._deferred = self._deferred, ()
        if deferred:
            self._reply_bytes = 0
            super().send(b"".join(d.line for d in deferred))
            for held in deferred:
                self._complete(held)

    def drop_deferred(self) -> None:
        self._deferred = ()

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
    def __init__(
        self, host: str, port: int, timeout: float, deadline: Deadline, defer_greeting: bool = False
    ):
        self._deadline, self._defer_greeting = deadline, defer_greeting
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        # Through the SDK's egress policy: a hosted step reaches only allowed addresses.
        sock = egress.connect(self.host, self.port, timeout=timeout or self._timeout)
        no_delay(sock)
        self._deadline.watch(sock)
        return sock


class TlsIMAP4(_Pipelining, IMAP4_TLS):
    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext,
        timeout: float,
        deadline: Deadline,
        defer_greeting: bool = False,
    ):
        self._deadline, self._defer_greeting = deadline, defer_greeting
        super().__init__(host, port, context, timeout)  # type: ignore[call-arg,arg-type]

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = egress.connect(self.host, self.port, timeout=timeout or self._timeout)
        no_delay(sock)
        tls = self.ssl_context.wrap_socket(
            sock, server_hostname=self.host, do_handshake_on_connect=False
        )
        self._deadline.watch(tls)  # before the handshake, which may trickle too
        tls.do_handshake()
        return tls


class Client(IMAPClient):
    """IMAPClient on our IMAP4 classes (deadline watch, greeting capabilities, pipelining),
    with the lower-level operations the rest of the connector needs as public methods."""

    def __init__(self, *args: Any, deadline: Deadline, defer_greeting: bool = False, **kwargs: Any):
        self._deadline, self._defer_greeting = deadline, defer_greeting
        super().__init__(*args, **kwargs)
        # IMAPClient turns on imaplib's per-line debug logging: message contents and search
        # terms would reach the "imapclient" logger, and a 10,000-line reply pays ~30k calls.
        self._imap.debug = 0

    def _create_IMAP4(self) -> imaplib.IMAP4:  # noqa: N802 - IMAPClient's name
        if self.ssl:
            return TlsIMAP4(
                self.host,
                self.port,
                self.ssl_context,
                self._timeout.connect,
                self._deadline,
                self._defer_greeting,
            )
        return PlainIMAP4(
            self.host, self.port, self._timeout.connect, self._deadline, self._defer_greeting
        )

    # -- state of the connection

    @property
    def authenticated(self) -> bool:
        return self._imap.state in ("AUTH", "SELECTED")

    @property
    def selected(self) -> bool:
        """Whether a mailbox is selected (or examined)."""
        return self._imap.state == "SELECTED"

    def forget_responses(self) -> None:
        """Drop the untagged responses imaplib kept (EXISTS, FETCH, codes...) from past steps."""
        self._imap.untagged_responses.clear()

    @property
    def greeting(self) -> bytes:
        return self._imap.welcome or b""

    @property
    def identity(self) -> bytes:
        """What tells this server from another at the same address (``server_identity``)."""
        return server_identity(self._imap)

    def forget_capabilities(self) -> None:
        """Drop IMAPClient's cached capabilities (they change with STARTTLS and login)."""
        self._cached_capabilities = None

    def said_capabilities(self) -> frozenset[str] | None:
        """The capabilities the server has said (its newest list), without asking it; None
        when it has said none since they were last forgotten."""
        said = self._cached_capabilities or self._imap.untagged_responses.get("CAPABILITY")
        if not said:
            return None
        newest = said if self._cached_capabilities else said[-1].split()
        return frozenset(c.decode("ascii", "replace").upper() for c in newest)

    def capabilities(self) -> tuple:
        """IMAPClient's, from the newest CAPABILITY the server sent, where IMAPClient takes
        the oldest. A server may greet twice: Dovecot whose auth process is slow to answer
        (at start-up, under load) first says "* OK Waiting for authentication process to
        respond..", then greets with its [CAPABILITY ...]; that greeting then reaches us
        with LOGIN's reply, and its list (before login: no UIDPLUS, no CONDSTORE) came
        first, was taken for the session's, and remembered for the server's next sessions."""
        said = self._imap.untagged_responses.get("CAPABILITY")
        if said and len(said) > 1:
            del said[:-1]
        return super().capabilities()

    def watch_progress(self, seconds: float) -> None:
        """Each line of a reply (or MiB of a literal) within ``seconds``, from now on
        (``_Pipelining.watch_progress``)."""
        self._imap.watch_progress(seconds)

    # -- login

    def login_quoted(self, user: bytes, password: str) -> None:
        """LOGIN with the user name already quoted (imaplib quotes only the password)."""
        self._imap.login(user.decode("ascii"), password)

    def authenticate_sasl(self, mechanism: str, respond: Callable[[bytes], bytes]) -> None:
        self._imap.authenticate(mechanism, respond)

    def defer_login(
        self,
        build: Callable[[bytes], bytes],
        on_reply: Callable[[str | None, object], None],
        *,
        send_now: bool,
    ) -> None:
        """Hold LOGIN (``build(tag)`` -> its line) to travel with the next command.

        ``on_reply(type, data)`` gets its reply, or (None, the exception) when reading it
        failed; the connection counts as logged in meanwhile, and is set back when not.
        With ``send_now`` it goes alone at once (a server not known to take pipelining).
        """
        imap = self._imap

        def settle(typ: str | None, data: Any) -> None:
            if typ is None:
                imap.state = "LOGOUT"
            elif typ != "OK":
                imap.state = "NONAUTH"
            on_reply(typ, data)

        imap.defer(build, settle)
        imap.state = "AUTH"  # so the next command goes out; undone if LOGIN is refused
        if send_now:
            imap.flush()

    @property
    def login_pending(self) -> bool:
        return any(d.kind == "login" for d in self._imap.deferred)

    @property
    def unselect_pending(self) -> bool:
        """Whether an UNSELECT is held back (it goes out with the next command)."""
        return any(d.kind == "unselect" for d in self._imap.deferred)

    def defer_unselect(self) -> None:
        """UNSELECT, held back to travel with the next command (one flight for both; its
        reply is read first, by its tag); never sent when the session closes first."""
        imap = self._imap

        def settle(typ: str | None, data: Any) -> None:
            if typ is None:
                return  # reading failed: its own error (a timeout, a lost line) goes on
            if typ != "OK":  # the step that carried it fails, and its session is discarded
                raise imaplib.IMAP4.abort("UNSELECT failed")
            imap.state = "AUTH"

        imap.defer(lambda tag: tag + b" UNSELECT\r\n", settle, kind="unselect")

    def defer_examine(self, mailbox: bytes, on_reply: Callable[[dict | None, Any], None]) -> None:
        """EXAMINE ``mailbox`` (its wire form), held back to travel with the next command.

        For read-only steps only: the next command goes out before EXAMINE's reply is read,
        so it must change nothing whatever that reply says. ``on_reply(info, None)`` gets
        IMAPClient's select info; ``on_reply(None, text)`` the refusal (the next command is
        then refused by the server, "no mailbox selected"); a lost connection raises.
        """
        imap = self._imap
        self.forget_responses()  # what imaplib's select() does before EXAMINE
        imap.is_readonly = True

        def settle(typ: str | None, data: Any) -> None:
            if typ is None:
                return  # reading failed: its own error (a timeout, a lost line) goes on
            if typ != "OK":
                imap.state = "AUTH"  # a failed EXAMINE leaves no mailbox selected
                said = b" ".join(d for d in data if isinstance(d, bytes))
                on_reply(None, said.decode("utf-8", "replace"))
                return
            imap.state = "SELECTED"  # (again: an UNSELECT read just before set AUTH)
            on_reply(self._process_select_response(imap.untagged_responses), None)

        imap.defer(lambda tag: tag + b" EXAMINE " + mailbox + b"\r\n", settle, kind="examine")
        imap.state = "SELECTED"  # so the next command goes out; undone if EXAMINE fails

    def complete_login(self) -> None:
        """Send a held-back LOGIN now and read its reply (nothing to pipeline it with)."""
        self._imap.flush()

    def read_greeting(self) -> None:
        """Read the greeting when it was not awaited (over implicit TLS with pipelining), for
        a login that cannot travel with the step's first command (AUTHENTICATE PLAIN)."""
        if self._imap.greeting_pending:
            self._imap.read_greeting()
            self._cached_capabilities = None  # the greeting's, now known
            if not self._imap.capabilities:  # ("* OK Waiting for authentication...": asked)
                self._imap.ask_capabilities()

    # -- commands imaplib cannot build

    def command(
        self,
        command: bytes,
        tokens: list[bytes],
        *,
        uid: bool,
        response: str | None = None,
        literal_plus: Callable[[], bool] = lambda: False,
    ) -> list:
        """Send one command built from encoded tokens; return its untagged ``response`` data.

        Tokens are joined by spaces, except inside parentheses ("(" and ")" are tokens of
        their own); a ``Literal`` goes as a literal (a ``Literal8`` as a literal8), without
        awaiting the server's "+" where ``literal_plus()`` says it takes LITERAL+.
        """
        imap = self._imap
        tag = imap._new_tag()
        line = tag + (b" UID " if uid else b" ") + command
        previous = None
        for token in tokens:
            if isinstance(token, Literal):
                imap.send(line)
                line = b""
                # (asked now: a LOGIN held back went out with the line and its reply, and
                # so the server's own capabilities, is in; never an earlier session's)
                self._send_literal(tag, command, token, literal_plus())
            else:
                line += (b"" if previous == b"(" or token == b")" else b" ") + token
            previous = token
        imap.send(line + b"\r\n")
        name = command.decode("ascii")
        typ, data = imap._command_complete(name, tag)
        typ, data = imap._untagged_response(typ, data, response or name)
        self._checkok(name, typ, data)
        return data

    def _send_literal(
        self, tag: bytes, command: bytes, data: Literal | Literal8, literal_plus: bool
    ) -> None:
        """`` {n}`` (``~{n}`` for a literal8, RFC 3516), then the octets.

        Without LITERAL+ the server's "+" is awaited first. A tagged reply instead is the
        server refusing the command before its literal (as Office 365 does with CHARSET
        UTF-8): a NO/BAD on a healthy connection, reported as ``IMAP4.error``.
        """
        imap = self._imap
        mark = b" ~{" if isinstance(data, Literal8) else b" {"
        if literal_plus:
            imap.send(mark + b"%d+}\r\n" % len(data) + data)
            return
        imap.send(mark + b"%d}\r\n" % len(data))
        while imap._get_response():  # None once the continuation "+" arrived
            answered = imap.tagged_commands.get(tag)
            if answered:
                del imap.tagged_commands[tag]
                typ, said = answered
                text = b" ".join(d for d in said if isinstance(d, bytes)).decode("utf-8", "replace")
                raise imaplib.IMAP4.error(f"{command.decode()} command error: {typ} [{text}]")
        imap.send(data)

    def send_tagged(self, text: bytes) -> bytes:
        """Send ``TAG text``; its replies are the caller's to read (``read_line``)."""
        imap = self._imap
        tag = imap._new_tag()
        imap.tagged_commands.pop(tag, None)  # not left for imaplib to wait on
        imap.send(tag + b" " + text)
        return tag

    def read_line(self) -> bytes:
        """One reply line, CRLF included; a line past the budget is ``OverBudget``, EOF an
        abort."""
        line = self._imap.readline()
        if not line.endswith(b"\n"):
            raise imaplib.IMAP4.abort("socket error: EOF")
        return line

    def read_exactly(self, size: int) -> bytes:
        data = self._imap.read(size)
        if len(data) < size:
            raise imaplib.IMAP4.abort("socket error: EOF in a literal")
        return data

    def pop_response_code(self, name: str) -> list:
        """Take (and clear) a response code imaplib collected, such as COPYUID."""
        return self._imap.untagged_responses.pop(name, [])

    def idle_check(self, timeout: float | None = None) -> list:
        """The responses that come in IDLE within ``timeout`` seconds, parsed as
        IMAPClient's ``idle_check()`` parses them.

        IMAPClient reads them with the socket non-blocking; over TLS a response that
        arrives in two pieces then loses its first one (Python's buffered reader drops what
        it had read when the SSL socket raises SSLWantReadError mid-line), and the rest
        reads as a response of its own ("unexpected response: 'FLAGS ())'", about 1 in 60
        pushes on pymap). Here only the wait is a poll: each line is read whole, in blocking
        mode within the read timeout."""
        sock, imap = self.socket(), self._imap
        if not (self._buffered(sock) or _readable(sock, timeout)):
            return []
        responses: list = []
        while True:
            try:
                line = imap._get_line()
            except imaplib.IMAP4.abort as exc:
                if "EOF" in str(exc):  # the server closed the line: DONE will tell
                    return responses
                raise
            responses.append(parse_untagged(line))
            if not (self._buffered(sock) or _readable(sock, 0)):
                return responses

    def _buffered(self, sock: socket.socket) -> bool:
        """Whether imaplib's reader (or TLS) holds input already: no poll would see it."""
        timeout = sock.gettimeout()
        sock.setblocking(False)
        try:
            return bool(self._imap.file.peek(1))
        except OSError:  # nothing yet (would block, or TLS wants more)
            return False
        finally:
            sock.settimeout(timeout)

    def parse_folder_list(self, data: list) -> list:
        """LIST reply lines -> [(flags, delimiter, name)] as ``list_folders`` gives them."""
        return self._proc_folder_list(data)

    # -- IMAPClient's readers of replies, whose failures are the server's (``parsing``)

    def _proc_folder_list(self, folder_data: list) -> list:
        """(flags, delimiter, name) for each LIST (or LSUB) response, each of the kind IMAP
        says: a list of flags, a string or NIL, a name (IMAPClient passes on what it read)."""
        with parsing("LIST reply"):
            listed = super()._proc_folder_list(folder_data)
        for flags, delimiter, name in listed:
            if not (
                type(flags) is tuple
                and all(type(flag) is bytes for flag in flags)
                and (delimiter is None or type(delimiter) is bytes)
                and type(name) in (str, bytes)
            ):
                raise MalformedReply("LIST reply", "not flags, a delimiter and a name")
        return listed

    def _process_select_response(self, resp: dict) -> dict:
        with parsing("SELECT reply"):
            return super()._process_select_response(resp)

    @require_capability("IDLE")  # (as IMAPClient's: idle_check() then reads it from cache)
    def idle(self, *, sync_first: bool = False) -> list:
        """IDLE (RFC 2177); returns what the server said before its "+", parsed as
        ``idle_check()`` parses. IMAPClient raises on any of it, but new mail reported just
        as the IDLE went out is news, not an error. A refusal (NO, BAD) still raises.

        ``sync_first``: a NOOP goes just ahead, its reply not awaited, and what it reports
        is returned too (the IDLE then starts right after a look at the mailbox; for
        servers that take pipelined commands)."""
        imap = self._imap
        noop = imap._command("NOOP") if sync_first else None
        self._idle_tag = tag = imap._command("IDLE")
        early: list = []
        line: bytes | None = b""
        # The NOOP's reply first. Dovecot refuses a command it does not know as soon as it
        # reads it, while the NOOP ahead still syncs: IDLE's BAD can come before NOOP's OK.
        while noop is not None and not imap.tagged_commands.get(noop):
            line = imap._get_response()
            if line is None:  # IDLE's "+" before NOOP's reply: NOOP's comes in the IDLE
                break
            self._take_early(line, tag, early)
        if noop is not None and imap.tagged_commands.get(noop):
            typ, data = imap.tagged_commands.pop(noop)
            self._checkok("NOOP", typ, data)
        while line is not None and not imap.tagged_commands.get(tag):
            line = imap._get_response()  # (None: the continuation)
            if line is not None:
                self._take_early(line, tag, early)
        answered = imap.tagged_commands.get(tag)
        if answered:
            kind = answered[0] if isinstance(answered, tuple) else None
            if kind == "BAD":  # (the server does not take IDLE: not a passing fault)
                raise IdleRefused("IDLE refused: BAD")
            raise IMAPClientError(f"IDLE refused: {kind}")
        return early

    def _take_early(self, line: bytes, idle_tag: bytes, early: list) -> None:
        """An untagged line read before the IDLE took hold, parsed into ``early`` (a tagged
        one, the NOOP's or the IDLE's, is imaplib's to file: it is not data)."""
        tagged = self._imap.tagged_commands
        if not line.startswith(b"* ") or tagged.get(idle_tag):
            return
        try:
            early.append(parse_untagged(line))
        except (ProtocolError, ValueError):  # (a literal in it: the poll will tell)
            pass

    # -- IDLE read by a selector (connector.sdk._pushhub): one thread serves every line of a
    # process, so what arrived is read without blocking, and a response that came in part
    # waits for the rest in ``_idle_pending``, never in a blocked read

    _idle_pending = b""

    def idle_read(self) -> list:
        """The responses that arrived whole, parsed as ``idle_check()`` parses (None for one
        that cannot be: a literal in it, garbage), read without blocking from the socket.
        imaplib's reader must hold nothing (``idle()``'s "+" was read with
        ``idle_check(0)`` after it). EOF is an abort (the line is dead); more than
        ``budgets.MAX_IDLE`` bytes without a whole response is ``OverBudget``."""
        sock = self.socket()
        timeout = sock.gettimeout()
        sock.setblocking(False)
        pending = self._idle_pending
        try:
            while True:
                try:
                    data = sock.recv(IDLE_CHUNK)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break
                if not data:
                    raise imaplib.IMAP4.abort("socket error: EOF in IDLE")
                pending += data
                budgets.check(budgets.IDLE, budgets.MAX_IDLE, len(pending))
        finally:
            sock.settimeout(timeout)
        responses, self._idle_pending = _idle_responses(pending)
        return self._untagged(responses)

    def _untagged(self, responses: list) -> list:
        """The untagged ones; a tagged reply (the NOOP that went ahead of the IDLE, answered
        after its "+") is filed as imaplib would, and forgotten."""
        kept = []
        for response in responses:
            if response is not None and response[0] == _TAGGED_MARK:
                self._imap.tagged_commands.pop(response[1], None)
            else:
                kept.append(response)
        return kept

    def idle_settle(self) -> list:
        """Blocking (within the read timeout): the rest of a response that came in part, so
        that DONE's reply is read from a clean start (``idle_read``'s responses)."""
        responses = []
        while self._idle_pending:
            data = self.socket().recv(IDLE_CHUNK)
            if not data:
                raise imaplib.IMAP4.abort("socket error: EOF in IDLE")
            pending = self._idle_pending + data
            budgets.check(budgets.IDLE, budgets.MAX_IDLE, len(pending))
            said, self._idle_pending = _idle_responses(pending)
            responses += self._untagged(said)
        return responses

    def send_done(self) -> None:
        """DONE, its reply not awaited (a line closing: LOGOUT follows)."""
        self._imap.send(b"DONE\r\n")

    # -- goodbye

    def send_logout(self) -> None:
        """LOGOUT without awaiting its reply, then a FIN; a held-back login is never sent."""
        imap = self._imap
        imap.drop_deferred()
        imap.send(imap._new_tag() + b" LOGOUT\r\n")
        imap.sock.shutdown(socket.SHUT_WR)


IDLE_CHUNK = 16 * 1024  # read at once in IDLE (what may wait is ``budgets.MAX_IDLE``)
_LITERAL_AT_END = re.compile(rb"\{(\d{1,9})\+?\}\r?\n$")
_TAGGED = re.compile(rb"^([A-Za-z0-9.]+) (OK|NO|BAD)\b")
_TAGGED_MARK = b"\0tagged"  # (a tagged reply among IDLE's responses: its tag follows)


def _idle_responses(pending: bytes) -> tuple[list, bytes]:
    """Whole untagged responses at the start of ``pending``, parsed (None: unreadable), and
    what is left (a response not yet whole). A literal is skipped by its size."""
    responses: list = []
    start = position = 0
    literal = False
    while (end := pending.find(b"\n", position)) >= 0:
        line = pending[position : end + 1]
        announced = _LITERAL_AT_END.search(line)
        if announced:
            budgets.check(budgets.IDLE, budgets.MAX_IDLE, int(announced[1]))
            size = int(announced[1])
            if len(pending) < end + 1 + size:
                break  # (the literal is still coming)
            position, literal = end + 1 + size, True
            continue
        text, position = pending[start : end + 1], end + 1
        start = position
        if text.startswith(b"+"):  # (a continuation: nothing to say)
            literal = False
            continue
        tagged = _TAGGED.match(text)
        if tagged and not literal:
            responses.append((_TAGGED_MARK, tagged[1]))
            continue
        try:
            responses.append(None if literal else parse_untagged(text.rstrip(b"\r\n")))
        except (ProtocolError, ValueError):
            responses.append(None)
        literal = False
    return responses, pending[start:]


def _readable(sock: socket.socket, timeout: float | None) -> bool:
    """Whether input (or EOF) arrives on ``sock`` within ``timeout`` seconds (None: ever)."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(None if timeout is None else timeout * 1000))
