"""OAuth 2.0 presets that fill themselves: any ``{field}`` of a token URL from the
connection's inputs (refused by the manifest check when it names no input), client
credentials for the ``custom`` provider, no refresh token declared for an app-only
connection, never ``Bearer None``, and errors that name the token endpoint. Against the
SDK's FakeHttpServer over real sockets."""

from __future__ import annotations

import shutil

import pytest

from connector.sdk import Connector
from connector.sdk._manifest import Manifest
from connector.sdk.errors import AuthFailed, ManifestError
from connector.sdk.http import ApiKey, Bearer, HttpClient
from connector.sdk.testing import FakeHttpServer, Harness, Reply
from tests.helpers import ROOT

MANIFEST = """\
manifestVersion: 1
key: helpdesk_sample
label: Helpdesk Sample
description: An app-only OAuth connection with a subdomain in its token URL
version: 0.1.0
icon: icon.png
connections:
  - key: app
    label: App
    description: Client credentials
    handler: tests.sdk.test_http_oauth:open_client
    oauth2:
      presets:
        helpdesk:
          tokenUrl: https://{subdomain}.helpdesk.example/oauth/token
          scopes: [tickets]
          grant: clientCredentials
    inputs:
      - {key: baseUrl, label: Base URL, type: string, required: true}
      - {key: subdomain, label: Subdomain, type: string}
      - {key: accessToken, label: Access Token, type: password}
      - {key: clientId, label: Client ID, type: string}
      - {key: clientSecret, label: Client Secret, type: password}
      - {key: provider, label: Provider, type: string, default: helpdesk}
      - {key: tokenUrl, label: Token URL, type: string}
      - {key: expiresAt, label: Expires At, type: date-time}
  - key: user
    label: User
    description: A user's token, refreshed
    handler: tests.sdk.test_http_oauth:open_client
    oauth2:
      presets:
        helpdesk:
          authorizationUrl: https://{subdomain}.helpdesk.example/oauth/authorize
          tokenUrl: https://{subdomain}.helpdesk.example/oauth/token
          scopes: [tickets]
    inputs:
      - {key: baseUrl, label: Base URL, type: string, required: true}
      - {key: subdomain, label: Subdomain, type: string}
      - {key: accessToken, label: Access Token, type: password}
      - {key: refreshToken, label: Refresh Token, type: password}
      - {key: clientId, label: Client ID, type: string}
      - {key: clientSecret, label: Client Secret, type: password}
      - {key: provider, label: Provider, type: string, default: custom}
      - {key: tokenUrl, label: Token URL, type: string}
      - {key: expiresAt, label: Expires At, type: date-time}
actions:
  - key: me
    label: Me
    description: Who the token belongs to
    handler: tests.sdk.test_http_oauth:me
    inputs: []
    output:
      schema: {type: object}
      example: {login: ann}
"""


def open_client(base_url: str, access_token: str | None, context, **_) -> HttpClient:
    return HttpClient(base_url, auth=Bearer(access_token), context=context)  # type: ignore[arg-type]


def me(client: HttpClient) -> dict:
    return client.get("/me")


@pytest.fixture
def connector(tmp_path) -> Connector:
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    (tmp_path / "m.yaml").write_text(MANIFEST)
    return Connector.load(tmp_path / "m.yaml")


@pytest.fixture
def api():
    with FakeHttpServer() as fake:
        fake.route(
            "GET",
            "/me",
            lambda r: {"login": "app"} if fake.authorized(r) else Reply(401, {"message": "no"}),
        )
        yield fake


def fields(api: FakeHttpServer, **more: str) -> dict:
    return {
        "baseUrl": api.url,
        "clientId": "app",
        "clientSecret": "secret-value-123",
        "provider": "custom",
        **more,
    }


def test_a_placeholder_in_the_token_url_is_filled_from_the_connection(connector, api):
    api.oauth(client_id="app", client_secret="secret-value-123", path="/acme/oauth/token")
    app = fields(api, subdomain="acme", tokenUrl=f"{api.url}/{{subdomain}}/oauth/token")
    envelope = Harness(connector, {"key": "app", "fields": app}).invoke("me")
    assert envelope["ok"], envelope
    assert [r.path for r in api.requests] == ["/acme/oauth/token", "/me"]
    assert api.requests[0].form["grant_type"] == "client_credentials"
    assert envelope["connectionUpdate"]["fields"]["accessToken"] in api.valid_tokens


def test_a_placeholder_without_a_value_is_invalid_input_naming_the_field(connector, api):
    for value in ("", "acme/../evil"):
        app = fields(api, subdomain=value, provider="helpdesk")
        envelope = Harness(connector, {"key": "app", "fields": app}).invoke("me")
        error = envelope["error"]
        assert error["code"] == "INVALID_INPUT", error
        assert error["details"][0]["path"] == "connection.subdomain"
        assert "Subdomain is needed" in error["message"]
        assert "https://{subdomain}.helpdesk.example/oauth/token" in error["message"]
    assert api.requests == []


def test_a_placeholder_naming_no_input_is_refused_by_the_manifest_check(tmp_path):
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    broken = MANIFEST.replace(
        "https://{subdomain}.helpdesk.example/oauth/token", "https://{site}.x/t", 1
    )
    (tmp_path / "m.yaml").write_text(broken)
    with pytest.raises(ManifestError) as info:
        Manifest.load(tmp_path / "m.yaml")
    assert any("{site}" in p and "not an input" in p for p in info.value.problems)


def test_an_app_only_connection_declares_no_refresh_token_but_a_user_one_must(tmp_path):
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    (tmp_path / "ok.yaml").write_text(MANIFEST)
    Manifest.load(tmp_path / "ok.yaml")  # the app connection has no refreshToken: fine
    user_without = MANIFEST.replace(
        "      - {key: refreshToken, label: Refresh Token, type: password}\n", ""
    )
    (tmp_path / "bad.yaml").write_text(user_without)
    with pytest.raises(
        ManifestError, match="connection user: oauth2 needs the inputs refreshToken"
    ):
        Manifest.load(tmp_path / "bad.yaml")


def test_the_custom_provider_of_an_app_only_connection_uses_client_credentials(connector, api):
    api.oauth(client_id="app", client_secret="secret-value-123")
    app = fields(api, tokenUrl=f"{api.url}/oauth/token")  # provider custom: no preset
    envelope = Harness(connector, {"key": "app", "fields": app}).invoke("me")
    assert envelope["ok"] and envelope["data"] == {"login": "app"}, envelope
    assert api.requests[0].form == {
        "grant_type": "client_credentials",
        "client_id": "app",
        "client_secret": "secret-value-123",
    }


def test_no_token_and_no_way_to_get_one_is_said_before_any_request(connector, api):
    """Never "Authorization: Bearer None": the input to fill, or (a handler's own Bearer or
    ApiKey without a value) AUTH_FAILED."""
    user = fields(api, tokenUrl=f"{api.url}/oauth/token")  # no access or refresh token
    envelope = Harness(connector, {"key": "user", "fields": user}).invoke("me")
    error = envelope["error"]
    assert error["code"] == "INVALID_INPUT"
    assert error["details"][0]["path"] == "connection.accessToken"
    assert "give Refresh Token and Client ID" in error["message"]
    assert api.requests == []
    with pytest.raises(AuthFailed):
        Bearer(None)
    with pytest.raises(AuthFailed):
        ApiKey("")


def test_a_refused_token_request_names_the_endpoint_never_the_secret(connector, api):
    api.oauth(client_id="someone-else", client_secret="x")
    app = fields(api, tokenUrl=f"{api.url}/oauth/token?key=hidden")
    envelope = Harness(connector, {"key": "app", "fields": app}).invoke("me")
    error = envelope["error"]
    assert error["code"] == "AUTH_FAILED"
    assert (
        f"{api.url}/oauth/token refused the client credentials (invalid_client)" in error["message"]
    )
    assert "hidden" not in error["message"] and "secret-value-123" not in str(envelope)


def test_a_token_url_given_overrides_the_presets(connector, api):
    api.oauth(client_id="app", client_secret="secret-value-123", path="/other/token")
    app = fields(api, provider="helpdesk", subdomain="acme", tokenUrl=f"{api.url}/other/token")
    assert Harness(connector, {"key": "app", "fields": app}).invoke("me")["ok"]
    assert api.requests[0].path == "/other/token"
