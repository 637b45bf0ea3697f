"""Connection inputs -> TLS -> a logged-in IMAP client, and a clean goodbye.

This is the connection handler of the manifest: the runtime calls
``open_session(**fields)`` and closes what it returns after the action.
"""

from __future__ import annotations

import base64
import imaplib
import select
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from connector.sdk import deadlines
from connector.sdk.context import Context
from connector.sdk.errors import (
    AuthFailed,
    ConnectionFailed,
    InvalidInput,
    Timeout,
    TlsError,
    Unsupported,
)
from connector.sdk.session import Session
from connector.sdk.text import REMOTE_CHARS, shorten

from .errors import rate_limited, server_bug
from .protocol import check_host, quote
from .tls import build_context, explain
from .transport import Client, Deadline, known_server, learn_server

PLAIN_HINT = " If this port expects TLS from the start (usually 993), turn Secure on."


class ImapSession(Session):
    """A logged-in IMAP connection, handed to every action handler (a ``Session``: the pool
    resets, checks and closes it; a step's deadline or a push cuts it)."""

    def __init__(self, client: Client, *, host: str, user: str, port: int = 0):
        self.client = client
        self.host = host
        self.port = port
        self.user = user
        self._capabilities: frozenset[str] | None = None
        self.deadline: Deadline | None = None
        self.pipelining = False
        self.server_key: tuple = (host, port)  # + the server's identity, set once TLS is up
        self.read_timeout = 30.0  # the connection's Timeout (``_open`` sets it)

    def complete_login(self) -> None:
        """Send a held-back LOGIN now and read its reply (for a step that sends no command)."""
        if self.login_pending:
            self.client.complete_login()
            self._capabilities = None

    def pipelines_ahead(self) -> bool:
        """Whether a command may go out ahead of an earlier one's reply: pipelining is on and
        the server is known to take it (its greeting was seen: not Courier)."""
        known = known_server(self.server_key)
        return self.pipelining and bool(known and known["pipelines"])

    @property
    def login_pending(self) -> bool:
        """LOGIN is held back to travel with the step's first command (see ``transport``)."""
        return self.client.login_pending

    @property
    def capabilities(self) -> frozenset[str]:
        if self.login_pending:
            # Until LOGIN's reply is read: the capabilities an earlier session of this
            # process saw after login, or else complete the login first.
            known = known_server(self.server_key)
            if known and known["capabilities"] is not None:
                return known["capabilities"]
            self.client.complete_login()
        if self._capabilities is None:
            self._capabilities = frozenset(
                c.decode("ascii", "replace").upper() if isinstance(c, bytes) else str(c).upper()
                for c in self.client.capabilities()
            )
            if self.client.authenticated:
                learn_server(self.server_key, capabilities=self._capabilities)
        return self._capabilities

    def refresh_capabilities(self) -> None:
        """Re-read the capabilities after login, which may add some.

        Read at once: servers announce them in the login reply, and IMAPClient keeps that
        only until the next SELECT (after which asking costs a CAPABILITY round trip).
        """
        self.forget_capabilities()
        _ = self.capabilities

    def forget_capabilities(self) -> None:
        self._capabilities = None
        self.client.forget_capabilities()

    def has(self, capability: str) -> bool:
        return capability.upper() in self.capabilities

    def said(self, capability: str) -> bool:
        """Whether the server has said it has ``capability``, from what it said so far, never
        asking (for a decision in the middle of a command being sent); False when unsaid."""
        if self._capabilities is not None:
            return capability.upper() in self._capabilities
        said = self.client.said_capabilities()
        return said is not None and capability.upper() in said

    @property
    def tls(self) -> dict | None:
        sock = self.client.socket()
        if isinstance(sock, ssl.SSLSocket):
            cipher = sock.cipher()
            return {"version": sock.version(), "cipher": cipher[0] if cipher else None}
        return None

    # -- the session pool's hooks (connector.sdk._pool), for hosts that keep sessions

    def reset(self) -> None:
        """Between steps: logged in, no mailbox selected, nothing expunged.

        UNSELECT where the server offers it, sent with the next step's first command (one
        round trip for both; its reply is read first, by its tag); CLOSE is never used (it
        expunges \\Deleted mail). Without UNSELECT the mailbox stays selected until the next
        step's SELECT or EXAMINE, which replaces it without expunging anything either.
        """
        self.complete_login()
        self.client.forget_responses()
        if self.client.selected and self.has("UNSELECT"):
            self.client.defer_unselect()

    def check(self) -> None:
        """A round trip that fails on a connection the server dropped (before reuse)."""
        self._noop()

    def stale(self) -> bool:
        """Whether the server dropped this idle session, without a round trip when all is
        well: an idle connection has nothing to read; when it has (EOF, BYE, or a TLS record),
        NOOP tells."""
        try:
            readable, _, _ = select.select([self.client.socket()], [], [], 0)
        except (OSError, ValueError):  # closed already
            return True
        if not readable:
            return False
        try:
            self._noop()
        except Exception:  # noqa: BLE001 - any failure: not reusable
            return True
        return False

    def _noop(self) -> None:
        """NOOP, its whole reply within the connection's Timeout: a server dripping it a
        byte at a time is cut (as a step past its deadline is), and the session not reused."""
        watch = deadlines.watch(self, time.monotonic() + self.read_timeout)
        try:
            self.client.noop()
        finally:
            if watch.disarm():
                raise Timeout("The server did not answer NOOP in time.")

    def interrupt(self) -> None:
        """From another thread: end a blocking read at once (a push asked to stop, as in
        IDLE). The connection is cut; the session cannot be used after."""
        try:
            socket.socket.shutdown(self.client.socket(), socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        """LOGOUT, without waiting for the reply: the step's outcome is already settled.

        The command goes out (the server ends the session cleanly), then our side of the
        connection is closed. A login still held back (the step sent no command) is never
        sent.
        """
        if self.deadline is not None:
            self.deadline.cancel()  # a login held back and never sent leaves its timer
        try:
            self.client.send_logout()
        except Exception:  # noqa: BLE001,S110 - the connection may already be dead
            pass
        try:
            self.client.shutdown()
        except Exception:  # noqa: BLE001,S110
            pass


def open_session(context: Context | None = None, **fields: Any) -> ImapSession:
    """The ``imap`` connection: user name and password."""
    return _open(
        fields,
        lambda session: login(session, fields["user"], fields["pass_"], timeout=fields["timeout"]),
        context,
    )


def open_oauth_session(context: Context | None = None, **fields: Any) -> ImapSession:
    """The ``imapOAuth`` connection: an OAuth 2.0 access token (XOAUTH2 or OAUTHBEARER)."""
    if not fields.get("access_token"):
        raise InvalidInput(
            "Access Token is required (or choose an app-only Provider and give Client ID and "
            "Client Secret: the token is then fetched for you).",
            path="connection.accessToken",
        )
    return _open(
        fields,
        lambda session: oauth_login(
            session,
            fields["user"],
            fields["access_token"],
            fields["mechanism"],
            timeout=fields["timeout"],
        ),
        context,
    )


def _open(
    fields: dict, authenticate: Callable[[ImapSession], None], step: Context | None
) -> ImapSession:
    host, port, asked = check_host(fields["host"]), fields["port"], fields["timeout"]
    # The connection's Timeout, within what the host allows: the step's deadline for each
    # read, and its connect bound for the whole opening (connector serve: 15 s by default).
    timeout = step.step_timeout(asked) if step is not None else asked
    opening = step.open_timeout(asked) if step is not None else asked
    context = build_context(
        min_version=fields["min_version"],
        max_version=fields["max_version"],
        min_dh_size=fields["min_dh_size"],
        ca_certificate=fields.get("ca_certificate"),
    )
    # The opening has its own deadline too: a server trickling one byte at a time would
    # otherwise hold the step for ever.
    deadline = Deadline(opening)
    pipelining = bool(fields.get("pipelining"))
    session: ImapSession | None = None
    try:
        client = connect(
            host,
            port,
            secure=fields["secure"],
            context=context,
            timeout=timeout,
            deadline=deadline,
            defer_greeting=pipelining and fields["secure"],
        )
        session = ImapSession(client, host=host, user=fields["user"], port=port)
        try:
            if not fields["secure"]:
                negotiate_starttls(client, fields["start_tls"], context, host=host, port=port)
                deadline.watch(client.socket())  # TLS replaced the socket being watched
            session.deadline, session.pipelining = deadline, pipelining
            session.read_timeout = float(asked)
            session.server_key = (host, port, client.identity)
            authenticate(session)
            # The connection's Timeout for each line of every reply from now on, however
            # the server trickles it (the opening has its deadline above).
            client.watch_progress(float(asked))
        except BaseException:
            try:  # no LOGOUT: after a failed handshake or login the socket may be unusable
                client.shutdown()
            except Exception:  # noqa: BLE001,S110
                pass
            raise
    except Exception:
        if deadline.expired:
            raise Timeout(
                f"{host}:{port} did not complete connecting and logging in within "
                f"{opening:g} s: check Host and Port, or raise Timeout (seconds)."
                + ("" if fields["secure"] else PLAIN_HINT)
            ) from None
        raise
    finally:
        if session is None or not session.login_pending:
            deadline.cancel()  # else when the held-back login completes (or at close)
    return session


def connect(
    host: str,
    port: int,
    *,
    secure: bool,
    context: ssl.SSLContext,
    timeout: float,
    deadline: Deadline | None = None,
    defer_greeting: bool = False,
) -> IMAPClient:
    """TCP (+ TLS) + the server's greeting (read later with ``defer_greeting``), each failure
    named."""
    try:
        client = Client(
            host,
            port=port,
            ssl=secure,
            ssl_context=context,
            timeout=timeout,
            deadline=deadline or Deadline(timeout),
            defer_greeting=defer_greeting,
        )
    except ssl.SSLError as exc:
        raise explain(exc, host=host, port=port) from None
    except TimeoutError:
        raise Timeout(
            f"{host}:{port} did not answer within {timeout:g} s: check Host and Port, "
            "or raise Timeout (seconds)." + ("" if secure else PLAIN_HINT)
        ) from None
    except socket.gaierror:
        raise ConnectionFailed(
            f"The host name {host!r} cannot be resolved: check Host.", retryable=False
        ) from None
    except ConnectionRefusedError:
        raise ConnectionFailed(
            f"{host}:{port} refused the connection: check Host and Port "
            "(993 for TLS, 143 for STARTTLS)."
        ) from None
    except imaplib.IMAP4.abort as exc:
        # Not IMAP (an SMTP banner, a web server...): what a peer that is not an IMAP server
        # said is never repeated (it may be anything on a private network). Cut off before
        # any greeting: a server at its limits may do that, so it is worth another try.
        if "unexpected response" in str(exc):
            raise not_imap(host, port, secure) from None
        raise ConnectionFailed(
            f"{host}:{port} closed the connection before greeting: try again, or check "
            "Host and Port."
        ) from None
    except imaplib.IMAP4.error as exc:  # an IMAP greeting other than OK: "* BYE ..."
        # "* BYE Too many connections" (or "* BYE [SERVERBUG] ...") as the greeting
        refused = rate_limited(str(exc)) or server_bug(str(exc))
        if refused is not None:
            raise refused from None
        raise ConnectionFailed(
            f"{host}:{port} refused the session in its greeting ({_short(exc)})."
        ) from None
    except OSError as exc:
        raise ConnectionFailed(f"Cannot reach {host}:{port}: {exc.strerror or exc}.") from None
    return client


def negotiate_starttls(
    client: IMAPClient, mode: str, context: ssl.SSLContext, *, host: str, port: int
) -> None:
    if mode == "never":
        return
    if not client.has_capability("STARTTLS"):
        if mode == "required":
            # Nothing secret has been sent: we stop before LOGIN.
            raise TlsError(
                f"{host}:{port} does not offer STARTTLS, so the password would travel "
                "unencrypted. Turn Secure on (port 993), or set STARTTLS to optional "
                "or never if you accept that."
            )
        return
    try:
        client.starttls(context)
    except ssl.SSLError as exc:
        raise explain(exc, host=host, port=port) from None
    except TimeoutError:
        raise Timeout(f"{host}:{port} stopped answering during STARTTLS.") from None
    # IMAPClient keeps the capabilities it read before TLS; they may differ now.
    client.forget_capabilities()


def login(session: ImapSession, user: str, password: str, *, timeout: float) -> None:
    client = session.client
    if any(c in user + password for c in "\r\n\0"):
        raise InvalidInput(
            "Username and Password must not contain line breaks or NUL characters.",
            path="connection.user" if any(c in user for c in "\r\n\0") else "connection.pass",
        )
    encrypted = isinstance(client.socket(), ssl.SSLSocket)
    if not encrypted and session.has("LOGINDISABLED"):  # (over TLS it never applies)
        raise AuthFailed(
            "The server refuses to log in over an unencrypted connection: turn "
            "Secure on, or set STARTTLS to required."
        )
    # What AUTHENTICATE PLAIN sends; hidden from an error should a server echo it.
    plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
    if session.pipelining and (user + password).isascii():
        defer_login(session, user, password, plain, timeout)
        return
    try:
        # Not pipelined (non-ASCII needs AUTHENTICATE PLAIN, which LOGIN cannot carry): the
        # greeting comes first, and with it the capabilities that say whether PLAIN exists.
        client.read_greeting()
    except imaplib.IMAP4.abort as exc:
        if "unexpected response" in str(exc):
            raise not_imap(session.host, session.port, secure=encrypted) from None
        raise ConnectionFailed("The connection was dropped during login: try again.") from None
    except imaplib.IMAP4.error as exc:  # an IMAP greeting other than OK ("* BYE ...")
        said = _short(exc, hide=plain)
        raise (
            rate_limited(said)
            or server_bug(said)
            or ConnectionFailed(f"The server refused the session in its greeting ({said}).")
        ) from None
    session.forget_capabilities()
    try:
        if (user + password).isascii():
            # Both as quoted strings (RFC 3501 astring): imaplib quotes only the password, so
            # "al ice" would go out as two arguments.
            client.login_quoted(quote(user), password)
        elif session.has("AUTH=PLAIN"):
            client.plain_login(user, password)  # LOGIN cannot carry non-ASCII text
        else:
            raise InvalidInput(
                "The server cannot take a user name or password with non-ASCII "
                "characters (it lacks AUTH=PLAIN).",
                path="connection.pass",
            )
    except (LoginError, imaplib.IMAP4.error) as exc:
        if (
            isinstance(exc, imaplib.IMAP4.abort)
            or isinstance(exc.__context__, imaplib.IMAP4.abort)
            or "socket error" in str(exc)
        ):
            raise ConnectionFailed("The connection was dropped during login: try again.") from None
        raise login_refused(_short(exc, hide=plain)) from None
    except TimeoutError:
        raise Timeout(f"The server did not answer the login within {timeout:g} s.") from None
    session.refresh_capabilities()


def login_refused(said: str) -> Exception:
    """RATE_LIMITED when the refusal is about load, else AUTH_FAILED, with the server's words."""
    refused = rate_limited(said) or server_bug(said)  # load, or the server's own failure
    if refused is not None:
        return refused
    # The user name is not repeated: were it also the password, its mask would tell.
    return AuthFailed(f"Login failed: check Username and Password (server said: {said}).")


def defer_login(session: ImapSession, user: str, password: str, plain: str, timeout: float) -> None:
    """Hold LOGIN back to go out with the step's first command (``transport.defer``).

    Its reply is read before the command's: a refusal is AUTH_FAILED (or RATE_LIMITED),
    never an error about the command, which the server refuses unauthenticated.
    """
    client = session.client
    deadline = session.deadline

    def on_reply(typ: str | None, data: Any) -> None:
        if deadline is not None:
            deadline.cancel()
        if typ is None:  # reading the greeting or the reply failed: ``data`` says why
            if deadline is not None and deadline.expired:
                raise Timeout(
                    f"The server did not complete the login within {timeout:g} s: "
                    "raise Timeout (seconds)."
                ) from None
            if isinstance(data, TimeoutError):
                raise Timeout(
                    f"The server did not answer the login within {timeout:g} s."
                ) from None
            if isinstance(data, imaplib.IMAP4.abort) and "unexpected response" in str(data):
                raise not_imap(session.host, session.port, secure=True) from None
            if isinstance(data, (imaplib.IMAP4.abort, OSError)):
                raise ConnectionFailed(
                    "The connection was dropped during login: try again."
                ) from None
            text = _short(data, hide=plain)  # an IMAP greeting other than OK ("* BYE ...")
            raise (
                rate_limited(text)
                or server_bug(text)
                or ConnectionFailed(f"The server refused the session in its greeting ({text}).")
            ) from None
        if typ != "OK":
            text = " ".join(
                d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in data
            )
            raise login_refused(_short(Exception(text), hide=plain))
        session.forget_capabilities()  # re-read: the login reply may carry more
        learn_server(session.server_key, greeting=client.greeting)

    known = known_server(session.server_key)
    # LOGIN alone (before the greeting over implicit TLS) to a server not known to take a
    # command behind it, never a command it could lose.
    client.defer_login(
        lambda tag: tag + b" LOGIN " + quote(user) + b" " + quote(password) + b"\r\n",
        on_reply,
        send_now=not (known and known["pipelines"]),
    )


def oauth_login(
    session: ImapSession, user: str, token: str, mechanism: str, *, timeout: float
) -> None:
    """SASL XOAUTH2 / OAUTHBEARER (RFC 7628) with an access token the platform obtained."""
    if any(c in user + token for c in "\r\n\0\x01"):
        raise InvalidInput(
            "Username and Access Token must not contain line breaks or control characters.",
            path="connection.accessToken",
        )
    if not session.has(f"AUTH={mechanism}"):
        offered = sorted(c[5:] for c in session.capabilities if c.startswith("AUTH="))
        raise Unsupported(
            f"The server does not offer {mechanism} (it offers "
            f"{', '.join(offered) or 'no SASL mechanism'}): choose another Mechanism."
        )
    if mechanism == "XOAUTH2":
        initial = f"user={user}\x01auth=Bearer {token}\x01\x01"
        after_error = b""  # XOAUTH2: an empty reply ends the exchange after an error challenge
    else:
        authzid = user.replace("=", "=3D").replace(",", "=2C")
        initial = f"n,a={authzid},\x01auth=Bearer {token}\x01\x01"
        after_error = b"\x01"  # OAUTHBEARER: a lone kvsep acknowledges the error (RFC 7628 3.2.3)
    sent: list[bytes] = []

    def respond(challenge: bytes) -> bytes:
        reply = initial.encode("utf-8") if not sent else after_error
        sent.append(reply)
        return reply

    try:
        session.client.authenticate_sasl(mechanism, respond)
    except imaplib.IMAP4.abort:
        raise ConnectionFailed("The connection was dropped during login: try again.") from None
    except imaplib.IMAP4.error as exc:
        # The runtime masks the token itself; a server echoing the whole SASL message
        # would show it base64-encoded with the user name, which only we can recognise.
        said = _short(exc, hide=base64.b64encode(initial.encode("utf-8")).decode("ascii"))
        throttled = rate_limited(said)
        if throttled is not None:
            raise throttled from None
        raise AuthFailed(
            f"The access token for {user!r} was rejected: it is invalid or expired. "
            "Refresh the OAuth connection (or check Username) and try again "
            f"(server said: {said})."
        ) from None
    except TimeoutError:
        raise Timeout(f"The server did not answer the login within {timeout:g} s.") from None
    session.refresh_capabilities()


def not_imap(host: str, port: int, secure: bool) -> ConnectionFailed:
    # Not retryable: the same host and port answer the same way until the connection's
    # settings change (as a TLS mismatch, tls.explain).
    hint = " The port may expect TLS: turn Secure on." if not secure else ""
    return ConnectionFailed(
        f"{host}:{port} did not greet like an IMAP server: check Host and Port.{hint}",
        retryable=False,
    )


def _short(exc: Exception, hide: str | None = None) -> str:
    text = str(exc)
    if hide:
        text = text.replace(hide, "***")
    return shorten(text, REMOTE_CHARS)
