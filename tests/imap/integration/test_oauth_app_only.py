"""Microsoft 365 app-only: no user and no access token; the runtime gets one with the
client credentials grant at the tenant's token URL (a loopback token endpoint here), and
Dovecot's token passdb accepts only that token."""

from __future__ import annotations

import pytest

from connector.sdk.testing import FakeHttpServer
from tests.helpers import start_dovecot

APP_TOKEN = "eyJ0eXAiOiJKV1Qi.app-only-token-" + "a" * 24
SECRET = "app-client-secret-" + "s" * 16
TENANT = "contoso.onmicrosoft.com"
SCOPE = "https://outlook.office365.com/.default"


@pytest.fixture(scope="module")
def app_server(ca, request):
    return start_dovecot(ca, request, tokens={"alice": APP_TOKEN})


@pytest.fixture
def entra():
    with FakeHttpServer() as fake:
        fake.oauth(
            client_id="app-1",
            client_secret=SECRET,
            scope=SCOPE,
            access_token=APP_TOKEN,
            path=f"/{TENANT}/oauth2/v2.0/token",
        )
        yield fake


def app_connection(server, entra, **extra) -> dict:
    return {
        "key": "imapOAuth",
        "fields": {
            "host": server.host,
            "port": server.tls_port,
            "user": "alice",
            "provider": "microsoftAppOnly",
            "tenant": TENANT,
            "clientId": "app-1",
            "clientSecret": SECRET,
            "tokenUrl": f"{entra.url}/{{tenant}}/oauth2/v2.0/token",
            "caCertificate": server.ca_pem,
            **extra,
        },
    }


def get_status(connector, connection) -> dict:
    return connector.invoke(
        {"action": "getStatus", "connection": connection, "inputs": {"mailbox": "INBOX"}}
    )


def test_an_app_only_token_is_fetched_and_logs_in(connector, app_server, entra):
    envelope = get_status(connector, app_connection(app_server, entra))
    assert envelope["ok"], envelope
    assert envelope["connectionUpdate"]["fields"]["accessToken"] == APP_TOKEN
    (sent,) = [r.form for r in entra.requests]
    assert sent["grant_type"] == "client_credentials" and sent["scope"] == SCOPE
    assert sent["client_id"] == "app-1" and sent["client_secret"] == SECRET
    assert SECRET not in str(envelope)


def test_a_rejected_app_token_is_fetched_anew_once(connector, app_server, entra):
    stale = app_connection(app_server, entra, accessToken="expired-app-token")
    envelope = get_status(connector, stale)
    assert envelope["ok"], envelope
    assert len(entra.requests) == 1


def test_without_tenant_the_error_names_it(connector, app_server, entra):
    connection = app_connection(app_server, entra)
    del connection["fields"]["tenant"]
    error = get_status(connector, connection)["error"]
    assert error["code"] == "INVALID_INPUT" and error["details"][0]["path"] == "connection.tenant"


def test_without_access_token_or_app_only_the_error_says_so(connector, app_server, entra):
    connection = app_connection(app_server, entra, provider="microsoft")
    error = get_status(connector, connection)["error"]
    assert error["code"] == "INVALID_INPUT" and "Access Token" in error["message"]
