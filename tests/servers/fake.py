"""Small hostile or broken servers on loopback, for failures real servers will not produce.

These are real sockets the connector talks to (not mocks of our code): a
listener that never greets, a server that drops the line at LOGIN or echoes
the password back, a TLS endpoint with chosen limits, a capturing proxy.
"""

from __future__ import annotations

import os
import random
import re
import select
import socket
import ssl
import threading
import time


class Listener:
    """Accepts connections on 127.0.0.1 and hands each to ``handle`` in a thread."""

    def __init__(self, handle, context: ssl.SSLContext | None = None):
        self.handle = handle
        self.context = context
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            # Each write leaves at once, as a real server's does (with Nagle's algorithm, a
            # reply in two writes waited for the client's delayed ACK: 40 ms).
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.context is not None:
                conn.settimeout(10)
                conn = self.context.wrap_socket(conn, server_side=True)
            self.handle(conn, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        self._stop = True
        try:  # (close alone leaves a thread blocked in accept(): shutdown wakes it, on Linux)
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(5)


def silent(conn, listener):
    """Accept and never say a word."""
    conn.settimeout(30)
    try:
        while conn.recv(4096):  # swallow whatever comes (a TLS hello too) until the peer leaves
            pass
    except OSError:
        pass


def read_line(conn, listener) -> bytes:
    """One line, up to its CRLF, and not a byte more (what follows stays in the socket, for
    the handler's own reads). A plain socket is peeked at, then read to the line's end: two
    calls a line, not one a byte (a step's command lines cost hundreds of switches between
    the client's thread and this one). TLS cannot peek: a byte at a time."""
    data = b""
    while not data.endswith(b"\r\n"):
        if isinstance(conn, ssl.SSLSocket):
            chunk = conn.recv(1)
        else:
            seen = conn.recv(4096, socket.MSG_PEEK)
            if data.endswith(b"\r") and seen.startswith(b"\n"):
                wanted = 1
            else:
                end = seen.find(b"\r\n")
                wanted = len(seen) if end < 0 else end + 2
            chunk = conn.recv(wanted) if seen else b""
        if not chunk:
            break
        data += chunk
    listener.received += data
    return data


def scripted(on_login, on_other=None, capabilities=b"IMAP4rev1 AUTH=PLAIN", greeting=None):
    """Greets, answers CAPABILITY, lets ``on_login(conn, tag, line)`` handle LOGIN and
    ``on_other(conn, tag, command, line, listener)`` anything else (BAD when not given).
    ``greeting()``, if given, makes each connection's greeting text (after the capabilities)."""

    def handle(conn, listener):
        text = greeting() if greeting is not None else b"ready"
        conn.sendall(b"* OK [CAPABILITY " + capabilities + b"] " + text + b"\r\n")
        while True:
            line = read_line(conn, listener)
            if not line:
                return
            tag, _, rest = line.partition(b" ")
            command = rest.split(b" ", 1)[0].upper().strip()
            if command == b"CAPABILITY":
                conn.sendall(b"* CAPABILITY " + capabilities + b"\r\n" + tag + b" OK done\r\n")
            elif command == b"LOGIN":
                if on_login(conn, tag, line) is False:
                    return
            elif command == b"LOGOUT":
                conn.sendall(b"* BYE\r\n" + tag + b" OK bye\r\n")
                return
            elif on_other is not None:
                on_other(conn, tag, command, line, listener)
            else:
                conn.sendall(tag + b" BAD unknown\r\n")

    return handle


def drop_at_login(conn, tag, line):
    conn.shutdown(socket.SHUT_RDWR)
    return False


def echo_password(conn, tag, line):
    conn.sendall(
        tag + b" NO [AUTHENTICATIONFAILED] rejected credentials: " + line.strip() + b"\r\n"
    )


def ascii_only_search(conn, tag, command, line, listener):
    """A mailbox that can be opened, and a SEARCH that refuses CHARSET UTF-8 (as Office 365)."""
    if command in (b"SELECT", b"EXAMINE"):
        conn.sendall(
            b"* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 1] ok\r\n"
            + tag
            + b" OK [READ-ONLY] done\r\n"
        )
    elif command == b"UID" and b"CHARSET" in line.upper():
        conn.sendall(
            tag + b" NO [BADCHARSET (US-ASCII)] The specified charset is not supported\r\n"
        )
    elif command == b"UID":
        conn.sendall(b"* SEARCH\r\n" + tag + b" OK done\r\n")
    else:
        conn.sendall(tag + b" BAD unknown\r\n")


def echo_sasl(conn, tag, command, line, listener):
    """Refuses AUTHENTICATE, quoting the client's whole SASL message back."""
    if command != b"AUTHENTICATE":
        conn.sendall(tag + b" BAD unknown\r\n")
        return
    conn.sendall(b"+ \r\n")
    blob = read_line(conn, listener).strip()
    conn.sendall(tag + b" NO [AUTHENTICATIONFAILED] bad credentials " + blob + b"\r\n")


def accept_login(conn, tag, line):
    conn.sendall(tag + b" OK logged in\r\n")


class Proxy(Listener):
    """Forwards to a real server, keeping what the client sent."""

    def __init__(
        self, target_port: int, cut_on: bytes | None = None, stall_on: bytes | None = None
    ):
        self.target_port = target_port
        self.cut_on = (
            cut_on  # drop both sides when the client sends this (a server gone mid-command)
        )
        self.stall_on = stall_on  # from then on forward nothing, keep the line open (a hung server)
        super().__init__(self._forward)

    def _forward(self, conn, listener):
        def watch(data: bytes, from_client: bool) -> str:
            if not from_client:
                return "send"
            self.received += data
            if self.cut_on and self.cut_on in bytes(self.received):
                return "stop"
            if self.stall_on and self.stall_on in bytes(self.received):
                return "drop"  # swallow: the client waits for a reply that never comes
            return "send"

        relay(conn, self.target_port, watch)


def relay(conn, target_port: int, watch, on_open=None) -> None:
    """Pump bytes between ``conn`` and a new connection to ``target_port`` until a side
    closes. ``watch(data, from_client)`` says what to do with each chunk: "send", "drop"
    or "stop", or gives the bytes to send instead; ``on_open(upstream)`` sees the upstream
    socket first."""
    upstream = socket.create_connection(("127.0.0.1", target_port))
    if on_open is not None:
        on_open(upstream)

    def pump(src, dst, from_client):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                verdict = watch(data, from_client)
                if verdict == "stop":
                    break
                if verdict == "send":
                    dst.sendall(data)
                elif isinstance(verdict, bytes):
                    dst.sendall(verdict)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    back = threading.Thread(target=pump, args=(upstream, conn, False), daemon=True)
    back.start()
    pump(conn, upstream, True)
    back.join(5)
    upstream.close()


class FaultProxy(Listener):
    """Forwards plain IMAP to a real server and loses the line at one chosen point.

    Client commands are counted (a literal's octets belong to its command; SASL lines
    without a tag are not commands). ``cut_at=N, when="before"``: command N never
    reaches the server. ``when="after"``: the server runs command N, and its tagged
    reply is lost. ``cut_at=None`` only counts (``self.commands``: every command line).
    """

    _LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
    _COMMAND = re.compile(rb"^[A-Za-z0-9]+ [A-Za-z]")

    def __init__(self, target_port: int, cut_at: int | None = None, when: str = "before"):
        self.target_port, self.cut_at, self.when = target_port, cut_at, when
        self.commands: list[bytes] = []
        self.cut = threading.Event()
        super().__init__(self._forward)

    def _forward(self, conn, listener):
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        lost_tag: list[bytes] = []

        def close_all():
            self.cut.set()
            for s in (conn, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        def from_client():
            buffer, literal_left, continuing = b"", 0, False
            try:
                while not self.cut.is_set():
                    data = conn.recv(65536)
                    if not data:
                        break
                    buffer += data
                    out = b""
                    while buffer:
                        if literal_left:
                            take = buffer[:literal_left]
                            literal_left -= len(take)
                            out, buffer = out + take, buffer[len(take) :]
                            continue
                        end = buffer.find(b"\r\n")
                        if end < 0:
                            break
                        line, buffer = buffer[: end + 2], buffer[end + 2 :]
                        if not continuing and self._COMMAND.match(line):
                            self.commands.append(line)
                            if len(self.commands) == self.cut_at:
                                if self.when == "before":
                                    upstream.sendall(out)
                                    close_all()
                                    return
                                lost_tag.append(line.split(b" ", 1)[0] + b" ")
                        literal = self._LITERAL.search(line)
                        literal_left, continuing = (
                            (int(literal.group(1)), True) if literal else (0, False)
                        )
                        out += line
                    upstream.sendall(out)
            except OSError:
                pass
            finally:
                close_all()

        def from_server():
            pending = b""
            try:
                while not self.cut.is_set():
                    data = upstream.recv(65536)
                    if not data:
                        break
                    if lost_tag:
                        pending += data
                        at = pending.find(b"\r\n" + lost_tag[0])
                        if pending.startswith(lost_tag[0]):
                            at = -2
                        if at != -1:
                            conn.sendall(pending[: at + 2])  # everything before the tagged reply
                            close_all()
                            return
                        keep = len(lost_tag[0]) + 2  # a tag split across reads
                        conn.sendall(pending[:-keep])
                        pending = pending[-keep:]
                    else:
                        conn.sendall(data)
            except OSError:
                pass
            finally:
                close_all()

        back = threading.Thread(target=from_server, daemon=True)
        back.start()
        from_client()
        back.join(5)
        upstream.close()


class DelayProxy(Listener):
    """Forwards to a real server, holding each chunk ``delay`` seconds in each direction
    (a round trip costs 2 x delay: this kernel has no netem), and counts client flights.

    A client flight is what the client sends without waiting: a chunk starts a new one
    when the proxy has delivered server data since the client's previous chunk.
    """

    def __init__(self, target_port: int, delay: float = 0.0):
        self.target_port, self.delay = target_port, delay
        self.flights = 0
        self.log: list[tuple[str, int]] = []  # (who, bytes) per chunk, for a failing test's message
        self._lock = threading.Lock()
        super().__init__(self._forward)

    def reset(self) -> None:
        with self._lock:
            self.flights = 0
            self.log = []

    def _forward(self, conn, listener):
        import queue
        import time

        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        # No Nagle in the middle: a reply's second segment must not wait on the client's
        # (delayed) ACK of the first, which no real path between them would add.
        for sock in (conn, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        server_spoke = [True]  # this connection's: has the client been answered since it sent?

        def pump(src, dst, from_client):
            pending: queue.Queue = queue.Queue()

            def deliver():
                while True:
                    due, data = pending.get()
                    if data is None:
                        break
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    try:
                        dst.sendall(data)
                    except OSError:
                        break
                    if not from_client:
                        server_spoke[0] = True
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

            sender = threading.Thread(target=deliver, daemon=True)
            sender.start()
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    self.log.append(("client" if from_client else "server", len(data)))
                    if from_client and server_spoke[0]:
                        server_spoke[0] = False
                        with self._lock:
                            self.flights += 1
                    pending.put((time.monotonic() + self.delay, data))
            except OSError:
                pass
            pending.put((0, None))
            sender.join(10)

        back = threading.Thread(target=pump, args=(upstream, conn, False), daemon=True)
        back.start()
        pump(conn, upstream, True)
        back.join(10)
        upstream.close()


class CapturingProxy(Listener):
    """Forwards plain IMAP to a real server and reads both directions: per connection, how
    many tagged commands the client had outstanding at once after its login, and how many
    connections were open at once. ``cut_all()`` drops every open connection (a server gone).
    """

    _TAGGED = re.compile(rb"^([A-Za-z0-9.]+) (OK|NO|BAD)\b", re.M)
    # Sent ahead of a step's command, in the same write: the last step's UNSELECT, and the
    # EXAMINE of a read-only step.
    RIDE_AHEAD = (b"UNSELECT", b"EXAMINE")
    _COMMAND = re.compile(rb"^([A-Za-z0-9.]+) ([A-Za-z]+)", re.M)

    def __init__(self, target_port: int):
        self.target_port = target_port
        self._lock = threading.Lock()
        self.open = 0
        self.max_open = 0
        self.connections = 0
        # After LOGIN's reply, the most commands outstanding at once: 1 means one step at a
        # time (the commands that ride ahead of a step's command are counted apart).
        self.max_outstanding = 0
        self.commands: list[bytes] = []
        self._sockets: list[socket.socket] = []
        super().__init__(self._forward)

    def cut_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _forward(self, conn, listener):
        state: dict = {"outstanding": {}, "logged_in": False}

        def opened(upstream) -> None:
            with self._lock:
                self.open += 1
                self.connections += 1
                self.max_open = max(self.max_open, self.open)
                self._sockets += [conn, upstream]

        def watch(data: bytes, from_client: bool) -> str:
            with self._lock:
                if from_client:
                    for tag, name in self._COMMAND.findall(data):
                        state["outstanding"][tag] = name.upper()
                        self.commands.append(name.upper())
                        if state["logged_in"]:
                            busy = [
                                n for n in state["outstanding"].values() if n not in self.RIDE_AHEAD
                            ]
                            self.max_outstanding = max(self.max_outstanding, len(busy))
                else:
                    for tag, _ in self._TAGGED.findall(data):
                        state["outstanding"].pop(tag, None)
                        state["logged_in"] = True
            return "send"

        try:
            relay(conn, self.target_port, watch, on_open=opened)
        finally:
            with self._lock:
                self.open -= 1


class RefusingProxy(Proxy):
    """Closes the first ``refuse`` connections at once (a server refusing), then forwards."""

    def __init__(self, target_port: int, refuse: int):
        self.refuse, self.refused = refuse, 0
        super().__init__(target_port)

    def _forward(self, conn, listener):
        if self.refused < self.refuse:
            self.refused += 1
            conn.close()
            return
        super()._forward(conn, listener)


class SplittingProxy(Listener):
    """Forwards to a real server and reshapes the byte stream both ways, as networks do:
    each chunk is cut at random points into writes with short random pauses between them,
    and chunks that follow each other closely are sometimes held and sent as one (a reply
    merged with the next). What arrives is what was sent, in order: only the segment
    boundaries and the timing change. ``seed`` makes it repeatable."""

    def __init__(self, target_port: int, seed: int = 0, pause: float = 0.002):
        self.target_port, self.pause = target_port, pause
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self.connections = 0
        self.from_client: list[bytes] = []  # the client's writes, as they arrived
        self.wire: dict[int, bytearray] = {}  # client port -> both directions, marked
        super().__init__(self._forward)

    def _random(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def _forward(self, conn, listener):
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        self.connections += 1
        for sock in (conn, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        wire = self.wire.setdefault(conn.getpeername()[1], bytearray())

        def pump(src, dst):
            held = b""
            try:
                while True:
                    ready, _, _ = select.select([src], [], [], self.pause if held else None)
                    if ready:
                        data = src.recv(65536)
                        if not data:
                            break
                        if src is conn:
                            self.from_client.append(data)
                        wire.extend((b"\nC> " if src is conn else b"\nS> ") + data)
                        held += data
                        if self._random() < 0.3:
                            continue  # hold it: the next chunk may join it
                    self._send_in_pieces(dst, held)
                    held = b""
                if held:
                    dst.sendall(held)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pump, args=(upstream, conn), daemon=True)
        back.start()
        pump(conn, upstream)
        back.join(5)
        upstream.close()

    def _send_in_pieces(self, dst, data: bytes) -> None:
        while data:
            cut = 1 + int(self._random() * len(data)) if self._random() < 0.7 else len(data)
            dst.sendall(data[:cut])
            data = data[cut:]
            if data and self._random() < 0.3:
                time.sleep(self._random() * self.pause)


class RewritingProxy(Listener):
    """Forwards to a real server, replacing bytes the client sends (``replace``: old -> new),
    to make a real server refuse one command (IDLE -> XIDLE: BAD), and bytes it answers
    (``replies``), to hide a capability."""

    def __init__(
        self,
        target_port: int,
        replace: dict[bytes, bytes],
        replies: dict[bytes, bytes] | None = None,
    ):
        self.target_port, self.replace, self.replies = target_port, replace, replies or {}
        super().__init__(self._forward)

    def _forward(self, conn, listener):
        def rewrite(data: bytes, from_client: bool) -> bytes:
            for old, new in (self.replace if from_client else self.replies).items():
                data = data.replace(old, new)
            return data

        relay(conn, self.target_port, rewrite)


# --- Issue 36's hostile servers: what a tenant can point its own steps at -------------------
# (tests/servers/attacks.py runs them against the service while a victim tenant steps.)


def _hostile_peer(on_command, greeting=None, capabilities=b"IMAP4rev1 AUTH=PLAIN"):
    """An IMAP server that logs anyone in and lets ``on_command(conn, tag, command, line,
    listener)`` answer the rest (STATUS, NOOP, UNSELECT and the like answered plainly when
    it returns False). ``greeting()``: the greeting's text (fresh per connection)."""

    def handle(conn, listener):
        text = greeting() if greeting is not None else b"ready"
        conn.sendall(b"* OK [CAPABILITY " + capabilities + b"] " + text + b"\r\n")
        while not listener._stop:
            line = read_line(conn, listener)
            if not line:
                return
            tag, _, rest = line.partition(b" ")
            command = rest.split(b" ", 1)[0].upper().strip()
            if command == b"LOGOUT":
                conn.sendall(b"* BYE\r\n" + tag + b" OK bye\r\n")
                return
            if command == b"CAPABILITY":
                conn.sendall(b"* CAPABILITY " + capabilities + b"\r\n" + tag + b" OK done\r\n")
            elif command == b"LOGIN":
                conn.sendall(tag + b" OK [CAPABILITY " + capabilities + b"] logged in\r\n")
            elif on_command(conn, tag, command, line, listener) is False:
                conn.sendall(_plain_answer(tag, command))
        listener.received.clear()  # (a long attack sends a lot; nothing reads it)

    return handle


def _plain_answer(tag: bytes, command: bytes) -> bytes:
    if command == b"STATUS":
        return (
            b'* STATUS "INBOX" (MESSAGES 3 RECENT 0 UIDNEXT 4 UIDVALIDITY 7 UNSEEN 1)\r\n'
            + tag
            + b" OK done\r\n"
        )
    if command in (b"SELECT", b"EXAMINE"):
        return (
            b"* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 4] ok\r\n"
            + tag
            + b" OK [READ-ONLY] done\r\n"
        )
    if command in (b"NOOP", b"UNSELECT", b"CLOSE", b"CHECK", b"ENABLE", b"ID", b"NAMESPACE"):
        return tag + b" OK done\r\n"
    return tag + b" BAD unknown\r\n"


def accepts_any_user():
    """Logs in every user name (a tenant varying user names for many pooled sessions)."""
    return _hostile_peer(lambda *args: False)


def greets_with_fresh_bytes(size: int = 990_000):
    """A greeting of ``size`` fresh bytes per connection (under imaplib's 1,000,000-byte
    line cap: the connection goes on), then an ordinary server."""
    return _hostile_peer(lambda *args: False, greeting=fresh_bytes(size))


def drips_after_login():
    """Logs in, then answers every command one byte a second, for as long as it is open."""

    def drip(conn, tag, command, line, listener):
        for byte in b"* STATUS INBOX (MESSAGES 1)\r\n" * 1000:
            if listener._stop:
                return None
            conn.sendall(bytes([byte]))
            time.sleep(1)
        return None

    return _hostile_peer(drip)


def lists_a_huge_literal(size: int = 4_000_000_000):
    """A LIST reply announcing a ``size``-byte literal (the mailbox name), then silence
    while the line is open: imaplib reserves it all before a byte arrives."""

    def announce(conn, tag, command, line, listener):
        if command != b"LIST":
            return False
        conn.sendall(b'* LIST () "/" {%d}\r\n' % size)
        conn.settimeout(1)
        while not listener._stop:
            try:
                if not conn.recv(4096):
                    return None
            except TimeoutError:
                continue
        return None

    return _hostile_peer(announce)


def esearch_all_uids():
    """Answers any UID SEARCH with ``ESEARCH ... UID ALL 1:4294967295`` (every UID there
    could be: a client that expands it asks for 4 billion numbers)."""

    def search(conn, tag, command, line, listener):
        if command != b"UID" or b" SEARCH " not in line.upper():
            return False
        conn.sendall(
            b'* ESEARCH (TAG "' + tag + b'") UID ALL 1:4294967295\r\n' + tag + b" OK done\r\n"
        )
        return None

    return _hostile_peer(search, capabilities=b"IMAP4rev1 AUTH=PLAIN ESEARCH")


def lists_many_mailboxes(count: int = 300_000):
    """A LIST reply of ``count`` mailboxes (300,000: ~37 MB), made once."""
    lines = b"".join(b'* LIST () "/" "box-%07d-%s"\r\n' % (i, b"x" * 80) for i in range(count))

    def listing(conn, tag, command, line, listener):
        if command != b"LIST":
            return False
        conn.sendall(lines + tag + b" OK done\r\n")
        return None

    return _hostile_peer(listing)


# --- servers that send too much, or too slowly (the wire's budgets, the step deadline) -----


def fresh_bytes(size: int):
    """A greeting text of ``size`` printable bytes never sent before (a new cache key each):
    a random prefix, then filler (random all through cost 2.5 ms a megabyte, each time)."""
    return lambda: (os.urandom(16).hex().encode() + b"x" * size)[:size]


def mailbox_opens(conn, tag, command, line, listener, capabilities=b"") -> bool:
    """SELECT / EXAMINE of an empty mailbox; False for any other command."""
    if command not in (b"SELECT", b"EXAMINE"):
        return False
    conn.sendall(
        b"* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 1] ok\r\n"
        + tag
        + (b" OK [READ-ONLY] done\r\n" if command == b"EXAMINE" else b" OK [READ-WRITE] done\r\n")
    )
    return True


def announces_literal(where: bytes, size: int):
    """A server whose reply to ``where`` (LIST, STATUS, SELECT) announces a literal of
    ``size`` bytes, then sends nothing more: a client that reserves it waits holding it."""

    def on_other(conn, tag, command, line, listener):
        if command == where:
            heads = {
                b"LIST": b'* LIST () "/" ',
                b"STATUS": b"* STATUS ",
                b"SELECT": b"* FLAGS ",  # (an untagged reply of any kind can carry one)
                b"EXAMINE": b"* FLAGS ",
            }
            conn.sendall(heads[where] + b"{%d}\r\n" % size)
            silent(conn, listener)
        elif not mailbox_opens(conn, tag, command, line, listener):
            conn.sendall(tag + b" BAD unknown\r\n")

    return on_other


def esearch_all(uids: bytes, copyuid: bytes | None = None):
    """ESEARCH answering every UID SEARCH with ``ALL <uids>``; FETCH answers nothing (the
    messages are gone); COPY and MOVE answer ``[COPYUID 7 <copyuid> <copyuid>]``."""

    def on_other(conn, tag, command, line, listener):
        words = line.upper().split()
        if mailbox_opens(conn, tag, command, line, listener):
            return
        if words[1:3] == [b"UID", b"SEARCH"]:
            conn.sendall(b'* ESEARCH (TAG "' + tag + b'") UID ALL ' + uids + b"\r\n")
            conn.sendall(tag + b" OK done\r\n")
        elif words[1:3] in ([b"UID", b"COPY"], [b"UID", b"MOVE"]):
            code = b"COPYUID 7 " + (copyuid or uids) + b" " + (copyuid or uids)
            conn.sendall(tag + b" OK [" + code + b"] done\r\n")
        elif words[1:2] == [b"UID"] or command in (b"NOOP", b"UNSELECT", b"CLOSE"):
            conn.sendall(tag + b" OK done\r\n")
        else:
            conn.sendall(tag + b" BAD unknown\r\n")

    return on_other


def many_mailboxes(count: int):
    """LIST answered with ``count`` mailboxes (written in 64 KB pieces, as fast as read)."""

    def on_other(conn, tag, command, line, listener):
        if command != b"LIST":  # (LSUB: nothing subscribed)
            conn.sendall(tag + (b" OK done\r\n" if command == b"LSUB" else b" BAD unknown\r\n"))
            return
        piece = bytearray()
        for n in range(count):
            piece += b'* LIST (\\HasNoChildren) "/" "Folder %07d"\r\n' % n
            if len(piece) > 65536:
                conn.sendall(piece)
                piece.clear()
        conn.sendall(bytes(piece) + tag + b" OK done\r\n")

    return on_other


def long_line(size: int):
    """SELECT answered with one untagged line of ``size`` bytes."""

    def on_other(conn, tag, command, line, listener):
        if command not in (b"SELECT", b"EXAMINE"):
            conn.sendall(tag + b" BAD unknown\r\n")
            return
        conn.sendall(b"* OK " + b"x" * size + b"\r\n")
        silent(conn, listener)

    return on_other


class Drip:
    """After login, commands are answered with ``start``, then one byte every ``every``
    seconds, a line (or a literal) that never ends: each read succeeds, so only a deadline
    (the step's, or the connection's Timeout for a whole line) stops it. On each connection
    the first ``answered`` commands are answered by ``answer`` (an ``on_other``) instead.
    ``cut`` counts the connections the client cut while they dripped, and ``last_cut`` is
    when the latest was (``time.monotonic()``)."""

    def __init__(self, every: float = 1.0, answer=None, answered: int = 0, start=b"* OK "):
        self.every, self.answer, self.answered, self.start = every, answer, answered, start
        self.cut = 0
        self.last_cut: float | None = None
        self.dripping = threading.Event()
        self._seen: dict[int, int] = {}
        self._lock = threading.Lock()

    def on_other(self, conn, tag, command, line, listener):
        with self._lock:
            seen = self._seen[id(conn)] = self._seen.get(id(conn), 0) + 1
        if seen <= self.answered:
            self.answer(conn, tag, command, line, listener)
            return
        self.dripping.set()
        try:
            conn.sendall(self.start)  # (then a byte at a time: a line, or a literal's octets)
            give_up = time.monotonic() + 30  # (a client that never cuts: the test fails, not hangs)
            while time.monotonic() < give_up:
                conn.sendall(b"x")
                ready, _, _ = select.select([conn], [], [], self.every)
                if ready and not conn.recv(4096):  # the client shut the line down
                    break
        except OSError:
            pass
        with self._lock:
            self.cut += 1
            self.last_cut = time.monotonic()
        raise OSError("the client left")  # (ends the scripted loop: the line is over)


# --- replies that are not valid IMAP (issue 41: the server's fault, not a bug of ours) -----


def answers(answer):
    """A server whose replies are ``answer(words, tag)``: the untagged lines (the tagged OK
    follows), or None for ``_plain_answer``'s. ``words`` are the command line's words, in
    capitals. Each reply goes out at once (no Nagle wait: such tests run hundreds of steps)."""

    def on_command(conn, tag, command, line, listener):
        said = answer(line.upper().split(), tag)
        if said is None:
            return False
        conn.sendall(said + tag + b" OK done\r\n")
        return None

    serve = _hostile_peer(on_command)

    def handle(conn, listener):
        # (Nagle would hold the second of two small writes for the client's delayed ACK:
        # 40 ms a step.)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        serve(conn, listener)

    return handle


SELECTED = b"* 3 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 4] ok\r\n"


def fetches(reply, search: bytes = b"1 2 3"):
    """A mailbox of three messages (UIDs 1-3, UIDVALIDITY 7, read-write) whose UID SEARCH
    finds ``search`` and whose FETCH and STORE replies are ``reply(line)``."""

    def answer(words, tag):
        if words[1:3] == [b"UID", b"SEARCH"]:
            return b"* SEARCH " + search + b"\r\n"
        if words[1:3] in ([b"UID", b"FETCH"], [b"UID", b"STORE"]) or words[1:2] == [b"FETCH"]:
            return reply(b" ".join(words))
        if words[1:2] == [b"SELECT"]:  # (read-write: ``_plain_answer``'s is read-only)
            return SELECTED
        return None

    return answers(answer)


# --- a server that greets twice (Dovecot whose auth process is slow to answer) ------------------

BEFORE_LOGIN = b"IMAP4rev1 LITERAL+ AUTH=PLAIN"
AFTER_LOGIN = b"IMAP4rev1 LITERAL+ UIDPLUS CONDSTORE ESEARCH MOVE UNSELECT"


def greets_twice(conn, listener):
    """Dovecot at start-up or under load, its auth process not answering yet: "* OK Waiting
    for authentication process to respond..", then (once the client spoke, or a moment
    later) its greeting with the capabilities before login; LOGIN (or AUTHENTICATE PLAIN)
    answers with those after it. STATUS answers HIGHESTMODSEQ when asked (CONDSTORE)."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.sendall(b"* OK Waiting for authentication process to respond..\r\n")
    # The greeting once the client has spoken (its first command, sent on that first line)
    # or a moment later: the order that misled the session, without waiting for it.
    select.select([conn], [], [], 0.05)
    conn.sendall(b"* OK [CAPABILITY " + BEFORE_LOGIN + b"] Dovecot ready.\r\n")
    logged_in = False
    while True:
        line = read_line(conn, listener)
        if not line:
            return
        tag, _, rest = line.partition(b" ")
        command = rest.split(b" ", 1)[0].upper().strip()
        caps = AFTER_LOGIN if logged_in else BEFORE_LOGIN
        if command == b"CAPABILITY":
            conn.sendall(b"* CAPABILITY " + caps + b"\r\n" + tag + b" OK done\r\n")
        elif command in (b"LOGIN", b"AUTHENTICATE"):
            if command == b"AUTHENTICATE":
                conn.sendall(b"+ \r\n")
                read_line(conn, listener)
            logged_in = True
            conn.sendall(tag + b" OK [CAPABILITY " + AFTER_LOGIN + b"] Logged in\r\n")
        elif command == b"STATUS":
            modseq = b" HIGHESTMODSEQ 42" if b"HIGHESTMODSEQ" in line.upper() else b""
            conn.sendall(
                b'* STATUS "INBOX" (MESSAGES 3 RECENT 0 UNSEEN 1 UIDNEXT 4 UIDVALIDITY 7'
                + modseq
                + b")\r\n"
                + tag
                + b" OK done\r\n"
            )
        elif command == b"LOGOUT":
            conn.sendall(b"* BYE\r\n" + tag + b" OK bye\r\n")
            return
        else:
            conn.sendall(_plain_answer(tag, command))


class Replaced:
    """One address, two servers in turn (an upgrade rolled back, a fail-over to an older
    replica): the same greeting, and LITERAL+ after login only while ``literal_plus`` is
    true. APPEND's literal is taken as RFC 3501 says (a "+" first) unless the server has
    LITERAL+; a ``{n+}`` sent to it without is counted in ``misread`` (a real server would
    read the literal's bytes as commands)."""

    def __init__(self) -> None:
        self.literal_plus = True
        self.misread = 0

    def handle(self, conn, listener):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
        after = b"IMAP4rev1 UIDPLUS" + (b" LITERAL+" if self.literal_plus else b"")
        while True:
            line = read_line(conn, listener)
            if not line:
                return
            tag, _, rest = line.partition(b" ")
            command = rest.split(b" ", 1)[0].upper().strip()
            literal = re.search(rb"\{(\d+)(\+?)\}\r\n$", line)
            if command == b"LOGIN":
                conn.sendall(tag + b" OK [CAPABILITY " + after + b"] Logged in\r\n")
            elif command == b"APPEND" and literal is not None:
                if literal.group(2) and not self.literal_plus:
                    self.misread += 1
                    conn.sendall(tag + b" BAD literal+ not supported\r\n")
                    return
                if not literal.group(2):
                    conn.sendall(b"+ go ahead\r\n")
                received = b""
                while len(received) < int(literal.group(1)):
                    received += conn.recv(int(literal.group(1)) - len(received))
                read_line(conn, listener)  # (the CRLF that ends the command)
                conn.sendall(tag + b" OK [APPENDUID 7 1] done\r\n")
            elif command == b"LOGOUT":
                conn.sendall(b"* BYE\r\n" + tag + b" OK bye\r\n")
                return
            else:
                conn.sendall(_plain_answer(tag, command))
