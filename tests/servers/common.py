"""What every test server shares: how tests reach it and what it can do."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ServerInfo:
    """How tests reach a server and what it can do."""

    name: str
    host: str
    ca_pem: str
    users: dict[str, str]
    tls_port: int | None = None  # implicit TLS
    starttls_port: int | None = None  # plain + STARTTLS
    # Known gaps, consulted by tests instead of skipping silently. IMAP names, plus our own
    # SEQUENCE-SEARCH: "UID SEARCH 1:2" means message numbers 1 and 2, as RFC 3501 says;
    # BROKEN-HEADERS: the server answers ENVELOPE for a message with an unreadable Date
    # or obsolete header syntax ("From  : x"); SEARCH-8BIT: SEARCH matches raw UTF-8
    # header bytes (RFC 6532), not only encoded words; BINARY: APPEND takes NUL bytes
    # (RFC 3516); RAW-ENVELOPE: ENVELOPE strings are the
    # header's own bytes (encoded words not decoded by the server).
    capabilities: set[str] = field(default_factory=set)
    first_uid: int = 1
    prefix: str = ""  # where a user's mailboxes live ("INBOX." on Courier)
    delimiter: str = "/"  # the hierarchy separator
    slow_login_failure: bool = False  # the server delays a failed login by seconds
    # Stores many messages in a mailbox faster than APPEND can (Courier: maildir files).
    seed: Callable[[str, list[bytes]], None] | None = None

    def path(self, *names: str) -> str:
        """A mailbox path on this server: ``path("Archive", "2024")`` -> "Archive/2024"."""
        return self.prefix + self.delimiter.join(names)

    def connection(self, user: str = "alice", *, secure: bool | None = None, **extra) -> dict:
        """Connection fields for the connector, over implicit TLS when the server has it."""
        if secure is None:
            secure = self.tls_port is not None
        fields = {
            "host": self.host,
            "port": self.tls_port if secure else self.starttls_port,
            "secure": secure,
            "user": user,
            "pass": self.users[user],
            "caCertificate": self.ca_pem,
            "timeout": 10,
        }
        fields.update(extra)
        return fields


class WorkDir:
    """A server's private directory (config, mail, logs), made when it starts."""

    dir: Path | None = None

    @property
    def workdir(self) -> Path:
        if self.dir is None:
            raise RuntimeError("the server has not been started")
        return self.dir


def bulk_append(
    imap, mailbox: str, messages: list[bytes], flags: bytes = b"", server: ServerInfo | None = None
) -> None:
    """MULTIAPPEND with LITERAL+ through an IMAPClient: thousands of messages in a few round trips.

    A server with a ``seed`` (Courier: ~40 ms an APPEND) is given the messages that way;
    others without MULTIAPPEND get one APPEND per message.
    """
    if server is not None and server.seed is not None and not flags:
        server.seed(mailbox, messages)
        return
    caps = {c.upper() for c in imap.capabilities()}
    if not {b"MULTIAPPEND", b"LITERAL+"} <= caps:
        for message in messages:
            imap.append(mailbox, message, flags=flags.split() if flags else ())
        return
    for start in range(0, len(messages), 500):
        imap.multiappend(
            mailbox,
            [{"msg": message, "flags": flags.split()} for message in messages[start : start + 500]],
        )
