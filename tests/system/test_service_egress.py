"""Egress through the real service: IPv6 special ranges refused by default, a denied name
refused whatever the step calls it, and an OAuth connection refreshing its token at a real
https endpoint on 443 while the steps' servers are allowed only their own port."""

from __future__ import annotations

import errno
import random
import socket
import ssl
import time
from datetime import UTC, datetime, timedelta

import pytest

from connector.sdk.testing import FakeHttpServer
from tests.helpers import start_dovecot
from tests.servers import fake
from tests.servers.service import Service

STATUS = "/v1/imap/actions/getStatus"
FIELDS = {"user": "alice", "pass": "pw", "secure": False, "startTls": "never", "timeout": 5}
FRESH = "ya29.fresh-access-token-" + "f" * 20
REFRESH = "1//refresh-token-" + "r" * 20
SECRET = "client-secret-" + "c" * 16


def status(service: Service, connection: dict):
    return service.post(STATUS, {"connection": connection, "inputs": {"mailbox": "INBOX"}})


def refused(reply, rule: str) -> str:
    """The refusal's message, once its status, code and rule are checked."""
    error = reply.json()["error"]
    assert reply.status_code == 403 and error["code"] == "DESTINATION_NOT_ALLOWED", reply.text
    assert error["details"] == [{"rule": rule}] and error["retryable"] is False, error
    return error["message"]


# --- IPv6 special ranges, under the hosted default --------------------------------------------


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    running = Service(tmp_path_factory.mktemp("strict"), allow=())
    yield running
    running.stop()


@pytest.mark.parametrize(
    "host",
    [
        "fec0::1",  # site-local (deprecated): was attempted (CONNECTION_FAILED), issue 36
        "3ffe::1",  # 6bone
        "2001:db8::1",  # documentation
        "2001:20::1",  # ORCHIDv2
        "2001:0:4136:e378::80ff:fffe",  # Teredo, embedding 127.0.0.1
        "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo, embedding 8.8.8.8
        "64:ff9b:1::7f00:1",  # local-use NAT64
    ],
)
def test_ipv6_special_ranges_are_refused_before_any_connection(strict, host):
    with fake.Listener(fake.silent) as listener:
        message = refused(status(strict, {**FIELDS, "host": host, "port": 143}), "addressClass")
        time.sleep(0.05)
        assert listener.received == b""
    assert "127.0.0.1" not in message and "8.8.8.8" not in message


# --- deny rules, whatever the step calls the server -------------------------------------------


@pytest.fixture(scope="module")
def denying(tmp_path_factory):
    """Loopback allowed as a network, at any port; the name localhost denied."""
    running = Service(
        tmp_path_factory.mktemp("deny"),
        "--deny-hosts",
        "localhost",
        allow=("--allow-hosts", "127.0.0.0/8", "--allow-ports", "any"),
    )
    yield running
    running.stop()


@pytest.mark.parametrize(
    "host", ["localhost", "127.0.0.1", "127.1", "2130706433", "0x7f000001", "::ffff:127.0.0.1"]
)
def test_a_denied_name_is_refused_by_its_address_and_other_spellings(denying, dovecot_server, host):
    conn = {**dovecot_server.connection(secure=False), "host": host}
    message = refused(status(denying, conn), "denyHosts")
    assert "--deny-hosts" in message and "127.0.0.1" not in message.replace(repr(host), "")


def test_what_the_deny_rule_does_not_cover_stays_allowed(denying):
    """127.0.0.2 is allowed (127.0.0.0/8) and is not what localhost resolves to."""
    server = socket.create_server(("127.0.0.2", 0))
    try:
        conn = {**FIELDS, "host": "127.0.0.2", "port": server.getsockname()[1], "timeout": 2}
        reply = status(denying, conn)  # (it accepts and never greets: a timeout, not a 403)
        assert reply.json()["error"]["code"] == "TIMEOUT", reply.text
    finally:
        server.close()


# --- an OAuth token endpoint: https on 443, its own rule ---------------------------------------


def https_on_443(ca) -> FakeHttpServer:
    """A token endpoint on a loopback address of its own, at 443 (root, or
    CAP_NET_BIND_SERVICE: the suite's servers need root too)."""
    for _ in range(20):
        host = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(host).configure_cert(tls)
        try:
            return FakeHttpServer(host=host, port=443, tls=tls)
        except PermissionError:
            pytest.fail("this test binds port 443 on loopback: run it as root")
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
    raise RuntimeError("no free loopback address at port 443")


@pytest.fixture(scope="module")
def token_endpoint(ca):
    endpoint = https_on_443(ca)
    endpoint.oauth(
        client_id="client-1", client_secret=SECRET, refresh_token=REFRESH, access_token=FRESH
    )
    yield endpoint
    endpoint.close()


@pytest.fixture(scope="module")
def fresh_only(ca, request):
    """Dovecot whose token passdb accepts only the refreshed access token."""
    return start_dovecot(ca, request, tokens={"alice": FRESH})


@pytest.fixture(scope="module")
def oauth_service(tmp_path_factory, ca, fresh_only, token_endpoint):
    """The hosted default but for the test servers: loopback allowed by name, and the
    steps' servers only at Dovecot's port (as a real one would be at 993)."""
    tmp = tmp_path_factory.mktemp("oauth")
    bundle = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    host = token_endpoint.url.split("//")[1]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SSL_CERT_FILE", str(bundle))  # (the service trusts the endpoint's CA)
        running = Service(
            tmp,
            allow=(
                "--allow-hosts",
                f"localhost,{host}",
                "--allow-ports",
                str(fresh_only.starttls_port),
            ),
        )
    yield running
    running.stop()


def oauth_connection(server, **extra) -> dict:
    fields = {**server.connection("alice", secure=False), "host": "localhost"}
    fields.pop("pass")
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    fields.update(
        {
            "accessToken": "ya29.expired",
            "refreshToken": REFRESH,
            "clientId": "client-1",
            "clientSecret": SECRET,
            "provider": "custom",
            "expiresAt": past,
            **extra,
        }
    )
    return {"key": "imapOAuth", "fields": fields}


def test_an_oauth_connection_refreshes_at_443_while_steps_keep_their_port(
    oauth_service, fresh_only, token_endpoint
):
    before = len(token_endpoint.requests)
    conn = oauth_connection(fresh_only, tokenUrl=f"{token_endpoint.url}/oauth/token")
    reply = status(oauth_service, conn)
    assert reply.status_code == 200, reply.text  # issue 36: "Port 443 is not allowed"
    assert reply.json()["connectionUpdate"]["fields"]["accessToken"] == FRESH
    assert [r.path for r in token_endpoint.requests[before:]] == ["/oauth/token"]
    # 443 is the token endpoint's, not the steps': an IMAP server there is refused.
    host = token_endpoint.url.split("//")[1]
    imap_at_443 = {**FIELDS, "host": host, "port": 443}
    assert "Port 443 is not allowed by" in refused(status(oauth_service, imap_at_443), "allowPorts")


@pytest.mark.parametrize(
    ("url", "rule", "said"),
    [
        ("https://{host}:8443/oauth/token", "tokenEndpoint.allowPorts", "Port 8443 is not allowed"),
        ("https://10.0.0.1/oauth/token", "tokenEndpoint.addressClass", "a private address"),
        ("https://169.254.169.254/token", "tokenEndpoint.addressClass", "link-local"),
        ("https://[fec0::1]/oauth/token", "tokenEndpoint.addressClass", "a site-local address"),
    ],
)
def test_a_token_endpoint_elsewhere_is_refused_by_its_own_rule(
    oauth_service, fresh_only, token_endpoint, url, rule, said
):
    before = len(token_endpoint.requests)
    host = token_endpoint.url.split("//")[1]
    conn = oauth_connection(fresh_only, tokenUrl=url.format(host=host))
    message = refused(status(oauth_service, conn), rule)
    assert said in message and "OAuth token endpoint" in message
    assert len(token_endpoint.requests) == before
