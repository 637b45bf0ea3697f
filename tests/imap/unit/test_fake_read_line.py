"""The scripted peers' line reader (tests/servers/fake.py ``read_line``) reads one line up
to its CRLF and not a byte more, however the line arrives: the handlers read what follows
(a literal, the next command) from the same socket."""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

from tests.servers import fake


def reader_of(pieces: list[bytes]) -> tuple[list[bytes], bytes]:
    """The lines ``read_line`` gives for ``pieces`` sent one by one (until a bare ``END``),
    and what it left unread in the socket. (A pause between pieces, so that they arrive
    apart: the reader then meets a line cut anywhere, a CRLF too.)"""
    ours, theirs = socket.socketpair()
    listener = SimpleNamespace(received=bytearray())
    sent = threading.Event()

    def send() -> None:
        for piece in pieces:
            theirs.sendall(piece)
            time.sleep(0.01)
        sent.set()

    threading.Thread(target=send, daemon=True).start()
    lines = []
    while (line := fake.read_line(ours, listener)) != b"END\r\n":
        lines.append(line)
    assert sent.wait(5)
    theirs.close()
    rest = b""
    while chunk := ours.recv(4096):
        rest += chunk
    ours.close()
    assert bytes(listener.received) == b"".join(lines) + b"END\r\n"
    return lines, rest


def test_lines_that_come_together_are_read_one_at_a_time_and_nothing_past_them():
    lines, rest = reader_of([b"A1 LOGIN u p\r\nA2 APPEND INBOX {3}\r\nEND\r\nabc"])
    assert lines == [b"A1 LOGIN u p\r\n", b"A2 APPEND INBOX {3}\r\n"] and rest == b"abc"


def test_a_line_in_pieces_and_a_crlf_cut_in_two_end_where_the_crlf_does():
    pieces = [b"A1 NO", b"OP\r", b"\nA2 X\rY\nZ", b"\r", b"\n", b"END\r\n", b"tail"]
    lines, rest = reader_of(pieces)
    assert lines == [b"A1 NOOP\r\n", b"A2 X\rY\nZ\r\n"] and rest == b"tail"


def test_a_peer_that_leaves_mid_line_gives_what_came():
    ours, theirs = socket.socketpair()
    theirs.sendall(b"A1 HALF")
    theirs.close()
    assert fake.read_line(ours, SimpleNamespace(received=bytearray())) == b"A1 HALF"
    ours.close()
