"""pymap, a pure-Python IMAP server (in-memory backend): STARTTLS only, one user."""

from __future__ import annotations

from connector.imap.demo.localserver import PymapServer

from .common import ServerInfo


def available() -> bool:
    return PymapServer.available()


class Pymap:
    def __init__(self, ca):
        self.server = PymapServer(ca=ca)

    def start(self) -> ServerInfo:
        self.server.start()
        return ServerInfo(
            name="pymap",
            host="127.0.0.1",
            ca_pem=self.server.ca_pem,
            users={self.server.user: self.server.password},
            tls_port=None,
            starttls_port=self.server.port,
            # Known gaps: no SPECIAL-USE, CONDSTORE or NAMESPACE; keywords dropped;
            # UID SEARCH reads a sequence-set key as UIDs (no SEQUENCE-SEARCH);
            # a Date it cannot parse or obsolete header syntax ends the
            # connection mid-ENVELOPE (no BROKEN-HEADERS).
            capabilities={"UIDPLUS", "MOVE", "SEARCH-8BIT", "BINARY"},
            first_uid=101,
        )

    def stop(self) -> None:
        self.server.stop()
