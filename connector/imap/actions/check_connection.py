"""The connections' test: who we are logged in as, over what TLS, with which capabilities."""

from __future__ import annotations

from ..wire.session import ImapSession


def check_connection(session: ImapSession) -> dict:
    session.complete_login()  # a held-back LOGIN (pipelining) must be answered: that is the test
    return {
        "host": session.host,
        "tls": session.tls,
        "capabilities": sorted(session.capabilities),
        "authenticatedAs": session.user,
    }
