"""How IDLE's replies are read when they come in an order of the server's choosing."""

from __future__ import annotations

from tests.servers import fake

TRIGGER = "newEmailsPollingTrigger"
CAPABILITIES = b"IMAP4rev1 AUTH=PLAIN IDLE UIDPLUS"


def refuses_idle_before_its_noop(conn, tag, command, line, listener):
    """A server that answers an unknown command as soon as it reads it (Dovecot does), while
    the NOOP ahead of it still syncs: IDLE's BAD comes before NOOP's OK."""
    if command in (b"EXAMINE", b"SELECT"):
        conn.sendall(
            b"* 0 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 1] n\r\n"
            + tag
            + b" OK [READ-ONLY] done\r\n"
        )
    elif command == b"NOOP":
        idle = fake.read_line(conn, listener)
        idle_tag = idle.partition(b" ")[0]
        conn.sendall(idle_tag + b" BAD unknown command\r\n" + tag + b" OK NOOP done\r\n")
    else:
        conn.sendall(tag + b" OK done\r\n")


def test_idle_refused_before_the_noop_answered_is_unsupported_not_a_fault(connector):
    """It read the IDLE's BAD as untagged data ("a response that violates the IMAP
    protocol"): the push failed and was retried for ever instead of being polled only."""
    handler = fake.scripted(fake.accept_login, refuses_idle_before_its_noop, CAPABILITIES)
    with fake.Listener(handler) as listener:
        connection = {
            "host": "127.0.0.1",
            "port": listener.port,
            "secure": False,
            "startTls": "never",
            "user": "u",
            "pass": "p",
            "timeout": 5,
        }
        request = {
            "trigger": TRIGGER,
            "connection": connection,
            "inputs": {"mailbox": "INBOX"},
            "state": {},
        }
        connector.wait_for_change(request, 3)  # (the first session learns the server)
        woke = connector.wait_for_change(request, 3)
        sent = bytes(listener.received)
    assert b" NOOP\r\n" in sent and b" IDLE\r\n" in sent  # (the pipelined pair was tried)
    assert woke == {"ok": True, "data": {"woke": "unsupported"}}, woke
