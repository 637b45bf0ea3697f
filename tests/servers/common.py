"""What every test server shares: free ports, waiting for the greeting, a certificate."""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_greeting(port: int, process, *, timeout: float = 15.0, tls=None) -> None:
    """Until the port greets with ``* OK`` (over TLS when ``tls`` is an SSLContext)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before greeting")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
                sock = tls.wrap_socket(raw, server_hostname="localhost") if tls else raw
                if sock.recv(100).startswith(b"* OK"):
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.02)
    raise RuntimeError(f"no IMAP greeting on port {port} within {timeout} s ({last})")


@dataclass
class ServerInfo:
    """How tests reach a server and what it can do."""
    name: str
    host: str
    ca_pem: str
    users: dict[str, str]
    tls_port: int | None = None       # implicit TLS
    starttls_port: int | None = None  # plain + STARTTLS
    # Known gaps, consulted by tests instead of skipping silently.
    capabilities: set[str] = field(default_factory=set)
    first_uid: int = 1

    def connection(self, user: str = "alice", *, secure: bool | None = None, **extra) -> dict:
        """Connection fields for the connector, over implicit TLS when the server has it."""
        if secure is None:
            secure = self.tls_port is not None
        fields = {"host": self.host, "port": self.tls_port if secure else self.starttls_port,
                  "secure": secure, "user": user, "pass": self.users[user],
                  "caCertificate": self.ca_pem, "timeout": 10}
        fields.update(extra)
        return fields
