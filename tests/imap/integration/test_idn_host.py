"""An international host name (münchen.example) is looked up in its IDNA form and the step
runs: Dovecot reached through a resolver that knows only the xn-- name."""

from __future__ import annotations

import socket

from connector.sdk import _egress as egress
from connector.sdk._egress import EgressPolicy
from connector.sdk.testing import Harness


def test_an_international_host_name_reaches_the_server(connector, dovecot_server):
    asked: list[str] = []

    def resolve(host, port, *args, **kwargs):
        asked.append(host)
        if host != "xn--mnchen-3ya.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    fields = dovecot_server.connection(secure=False, host="münchen.example", startTls="never")
    with egress.applied(EgressPolicy.permissive().with_resolver(resolve)):
        data = Harness(connector, fields).ok("getStatus", mailbox="INBOX")
    assert data["path"] == "INBOX"
    assert asked and set(asked) == {"xn--mnchen-3ya.example"}
