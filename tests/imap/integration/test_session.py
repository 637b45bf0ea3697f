"""Each connection input does what its label says, against Dovecot and hostile sockets."""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess
import time

import pytest

from connector.imap.wire.session import open_session
from connector.sdk.errors import ConnectorError
from connector.sdk.testing import Harness
from tests.helpers import append, raw_client
from tests.servers import fake
from tests.servers.dovecot import Dovecot


def fields(connector, **given) -> dict:
    """The connection handler's arguments, as the runtime passes them."""
    imap = connector.manifest.connections["imap"]
    return imap.arguments(imap.inputs.resolve(given, "connection"))


def session(connector, **given):
    return open_session(**fields(connector, **given))


def failure(connector, **given) -> ConnectorError:
    with pytest.raises(ConnectorError) as info:
        session(connector, **given).close()
    return info.value


@pytest.fixture(scope="module")
def dh1024_server(ca, tmp_path_factory, request):
    """RSA certificate, DHE-only TLS 1.2 with a 1024-bit group: the Min DH Size input's
    case (Python's ssl cannot report the group size, so only a handshake can tell)."""
    import trustme

    dh = tmp_path_factory.mktemp("dh") / "dh1024.pem"
    subprocess.run(
        ["openssl", "dhparam", "-out", str(dh), "1024"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = Dovecot(
        ca,
        key_type=trustme.KeyType.RSA,
        ssl_conf=(
            f"ssl_dh = <{dh}\nssl_cipher_list = DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0\n"
            "ssl_prefer_server_ciphers = yes\nssl_min_protocol = TLSv1.2\n"
        ),
    )
    info = server.start()
    request.addfinalizer(server.stop)
    return info


@pytest.fixture(scope="module")
def plain_server(ca, request):
    """Dovecot without TLS: it does not offer STARTTLS."""
    server = Dovecot(ca, ssl=False)
    info = server.start()
    request.addfinalizer(server.stop)
    return info


# --- TLS versions ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "given,version",
    [
        ({"maxVersion": "TLSv1.2"}, "TLSv1.2"),
        ({"minVersion": "TLSv1.3"}, "TLSv1.3"),
        ({}, "TLSv1.3"),
    ],
)
def test_tls_version_follows_min_and_max(connector, dovecot_server, given, version):
    s = session(connector, **dovecot_server.connection(**given))
    try:
        assert s.tls["version"] == version
    finally:
        s.close()


def test_max_below_min_is_invalid_input(connector, dovecot_server):
    error = failure(
        connector, **dovecot_server.connection(minVersion="TLSv1.3", maxVersion="TLSv1.2")
    )
    assert error.code == "INVALID_INPUT" and error.details[0]["path"] == "connection.maxVersion"


def test_min_above_the_servers_max_is_tls_error(connector, ca, dovecot_server):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    listener = fake.Listener(fake.scripted(fake.accept_login), context)
    try:
        ok = session(connector, **dovecot_server.connection(port=listener.port, timeout=5))
        assert ok.tls["version"] == "TLSv1.2"  # the server really speaks 1.2
        ok.client.shutdown()
        error = failure(
            connector,
            **dovecot_server.connection(port=listener.port, minVersion="TLSv1.3", timeout=5),
        )
        assert error.code == "TLS_ERROR"
        assert "TLS Version" in error.message
    finally:
        listener.close()


# --- Min DH Size -------------------------------------------------------------------------


def test_dh_1024_connects_with_min_dh_size_1024(connector, dh1024_server):
    s = session(connector, **dh1024_server.connection(maxVersion="TLSv1.2", minDHSize=1024))
    try:
        assert s.tls["version"] == "TLSv1.2" and s.tls["cipher"].startswith("DHE-")
    finally:
        s.close()


def test_dh_1024_fails_with_min_dh_size_2048(connector, dh1024_server):
    error = failure(connector, **dh1024_server.connection(maxVersion="TLSv1.2", minDHSize=2048))
    assert error.code == "TLS_ERROR"
    assert "Min DH Size" in error.message


# --- certificates ------------------------------------------------------------------------


def test_untrusted_certificate_then_trusted_with_ca_certificate(connector, dovecot_server):
    error = failure(connector, **dovecot_server.connection(caCertificate=""))
    assert error.code == "TLS_ERROR" and "CA Certificate" in error.message
    session(connector, **dovecot_server.connection()).close()


def test_host_name_mismatch(connector, ca, dovecot_server):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("mail.other.example").configure_cert(context)
    listener = fake.Listener(fake.scripted(fake.accept_login), context)
    try:
        error = failure(connector, **dovecot_server.connection(port=listener.port, timeout=5))
        assert error.code == "TLS_ERROR"
        assert "not valid for '127.0.0.1'" in error.message
    finally:
        listener.close()


def test_bad_ca_certificate_text_is_invalid_input(connector, dovecot_server):
    broken = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
    error = failure(connector, **dovecot_server.connection(caCertificate=broken))
    assert error.code == "INVALID_INPUT" and error.details[0]["path"] == "connection.caCertificate"


# --- STARTTLS ------------------------------------------------------------------------------


def test_starttls_required_upgrades(connector, dovecot_server):
    s = session(connector, **dovecot_server.connection(secure=False))
    try:
        assert s.tls["version"] == "TLSv1.3"
    finally:
        s.close()


def test_starttls_required_without_offer_fails_before_login(connector, plain_server):
    proxy = fake.Proxy(plain_server.starttls_port)
    try:
        error = failure(connector, **plain_server.connection(secure=False, port=proxy.port))
        time.sleep(0.2)
        assert error.code == "TLS_ERROR" and "STARTTLS" in error.message
        # (No CAPABILITY either: the greeting carried the capabilities.)
        assert b"LOGIN" not in bytes(proxy.received).upper()
        assert b"alicepw" not in bytes(proxy.received)
    finally:
        proxy.close()


def test_starttls_optional_and_never_log_in_without_tls(connector, plain_server):
    for mode in ("optional", "never"):
        s = session(connector, **plain_server.connection(secure=False, startTls=mode))
        try:
            assert s.tls is None
        finally:
            s.close()


def test_starttls_never_does_not_upgrade(connector, dovecot_server):
    s = session(connector, **dovecot_server.connection(secure=False, startTls="never"))
    try:
        assert s.tls is None
    finally:
        s.close()


# --- credentials, refusals, silence ----------------------------------------------------------


def test_wrong_password_is_auth_failed_quickly(connector, dovecot_server):
    started = time.monotonic()
    harness = Harness(connector, dovecot_server.connection(**{"pass": "wrong-pw-123"}))
    error = harness.error("getStatus", "AUTH_FAILED", mailbox="INBOX")
    assert time.monotonic() - started < 2
    assert "Username and Password" in error["message"]
    assert "wrong-pw-123" not in str(error)


def test_closed_port_is_connection_failed(connector, dovecot_server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    envelope = Harness(connector, dovecot_server.connection(port=port)).invoke("getStatus")
    assert envelope["error"]["code"] == "CONNECTION_FAILED"
    assert envelope["error"]["retryable"] is True


def test_host_with_a_trailing_newline_is_invalid_input(connector, dovecot_server):
    harness = Harness(connector, dovecot_server.connection(host="127.0.0.1\n"))
    error = harness.error("getStatus", "INVALID_INPUT")
    assert error["details"][0]["path"] == "connection.host"


def test_unresolvable_host_is_connection_failed(connector, dovecot_server):
    harness = Harness(connector, dovecot_server.connection(host="no-such-host.invalid"))
    error = harness.error("getStatus", "CONNECTION_FAILED")
    assert "cannot be resolved" in error["message"]


@pytest.mark.parametrize("secure", [True, False])
def test_silent_server_times_out_within_the_timeout(connector, dovecot_server, secure):
    listener = fake.Listener(fake.silent)
    try:
        started = time.monotonic()
        harness = Harness(
            connector, dovecot_server.connection(port=listener.port, timeout=2, secure=secure)
        )
        error = harness.error("getStatus", "TIMEOUT")
        assert time.monotonic() - started < 3
        assert "Timeout" in error["message"]
    finally:
        listener.close()


def test_tls_on_a_plain_port_is_connection_failed_with_a_hint(connector, dovecot_server):
    harness = Harness(
        connector, dovecot_server.connection(port=dovecot_server.starttls_port, secure=True)
    )
    error = harness.error("getStatus", "CONNECTION_FAILED")
    assert "Secure" in error["message"]


def test_plain_on_a_tls_port_times_out_with_a_hint(connector, dovecot_server):
    harness = Harness(
        connector,
        dovecot_server.connection(
            port=dovecot_server.tls_port, secure=False, startTls="never", timeout=1
        ),
    )
    error = harness.error("getStatus", "TIMEOUT")
    assert "turn Secure on" in error["message"]


def test_server_hanging_mid_command_costs_one_timeout_not_two(connector, dovecot_server):
    imap = raw_client(dovecot_server)
    imap.select_folder("INBOX")
    uid = append(imap, "INBOX")
    imap.logout()
    proxy = fake.Proxy(dovecot_server.starttls_port, stall_on=b"FETCH")
    try:
        harness = Harness(
            connector,
            dovecot_server.connection(port=proxy.port, secure=False, startTls="never", timeout=4),
        )
        started = time.monotonic()
        harness.error("downloadMessage", "TIMEOUT", mailbox="INBOX", messageIndex=uid)
        # 4 s for the reply that never came, at most ~2 s for the goodbye, not 4 more.
        assert time.monotonic() - started < 7
    finally:
        proxy.close()


def test_server_refusing_utf8_search_is_unsupported(connector, dovecot_server):
    listener = fake.Listener(fake.scripted(fake.accept_login, fake.ascii_only_search))
    try:
        harness = Harness(
            connector,
            dovecot_server.connection(
                port=listener.port, secure=False, startTls="never", timeout=5
            ),
        )
        assert harness.ok("searchMailbox", filterOptions={"subject": "invoice"})["total"] == 0
        error = harness.error(
            "searchMailbox", "UNSUPPORTED", filterOptions={"subject": "facture été"}
        )
        assert "ASCII" in error["message"]
    finally:
        listener.close()


def test_sasl_message_echoed_by_a_server_never_reaches_the_envelope(connector, dovecot_server):
    listener = fake.Listener(
        fake.scripted(fake.accept_login, fake.echo_sasl, capabilities=b"IMAP4rev1 AUTH=XOAUTH2")
    )
    try:
        fields = dovecot_server.connection(
            port=listener.port, secure=False, startTls="never", timeout=5
        )
        fields.pop("pass")
        token = "ya29.secret-token-value"
        harness = Harness(
            connector, {"key": "imapOAuth", "fields": {**fields, "accessToken": token}}
        )
        error = harness.error("getStatus", "AUTH_FAILED")
        assert "bad credentials ***" in error["message"]  # the server's words, its echo masked
        blob = base64.b64encode(f"user=alice\x01auth=Bearer {token}\x01\x01".encode()).decode()
        assert blob not in str(error) and token not in str(error)
    finally:
        listener.close()


def test_dropped_socket_during_login_is_connection_failed(connector, dovecot_server):
    listener = fake.Listener(fake.scripted(fake.drop_at_login))
    try:
        harness = Harness(
            connector,
            dovecot_server.connection(
                port=listener.port, secure=False, startTls="never", timeout=5
            ),
        )
        harness.error("getStatus", "CONNECTION_FAILED")
    finally:
        listener.close()


def test_password_echoed_by_a_server_never_reaches_the_envelope(connector, dovecot_server):
    listener = fake.Listener(fake.scripted(fake.echo_password))
    try:
        secret = 'Tr0ub4dor&"3'
        harness = Harness(
            connector,
            dovecot_server.connection(
                port=listener.port, secure=False, startTls="never", timeout=5, **{"pass": secret}
            ),
        )
        error = harness.error("getStatus", "AUTH_FAILED")
        assert b"Tr0ub4dor" in bytes(listener.received)  # the server did get it, and echoed it
        assert "Tr0ub4dor" not in str(error)
        assert "rejected credentials" in error["message"]
    finally:
        listener.close()


@pytest.mark.parametrize("pipelining", [True, False])
@pytest.mark.parametrize("secure", [True, False])
@pytest.mark.parametrize("name", ["dovecot", "cyrus"])
def test_a_non_ascii_password_logs_in_with_or_without_pipelining(
    connector, request, name, secure, pipelining
):
    """AUTHENTICATE PLAIN carries it (LOGIN cannot): over implicit TLS with pipelining the
    greeting, which says AUTH=PLAIN, was not read yet; it is now, first."""
    server = request.getfixturevalue(f"{name}_server")
    fields = server.connection("carol", secure=secure, pipelining=pipelining)
    envelope = Harness(connector, fields).invoke("getStatus", mailbox="INBOX")
    assert envelope["ok"], envelope
    wrong = Harness(connector, {**fields, "pass": "pässwörd-X"}).invoke(
        "getStatus", mailbox="INBOX"
    )
    assert wrong["error"]["code"] == "AUTH_FAILED", wrong
