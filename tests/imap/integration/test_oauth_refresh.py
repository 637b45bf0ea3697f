"""OAuth 2.0 refresh: a local token endpoint and a Dovecot that accepts only the refreshed
access token. The platform gets the new tokens in connectionUpdate; no secret is logged."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from tests.helpers import start_dovecot

STALE = "ya29.stale-access-token-" + "s" * 20
FRESH = "ya29.fresh-access-token-" + "f" * 20
REFRESH = "1//refresh-token-" + "r" * 20
ROTATED = "1//rotated-refresh-token-" + "q" * 16
CLIENT_SECRET = "GOCSPX-client-secret-" + "c" * 12


class TokenEndpoint:
    """RFC 6749 section 6 on loopback: a refresh grant with the right client gives FRESH."""

    def __init__(self):
        self.requests: list[dict] = []
        self.refuse = False
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                endpoint.requests.append(form)
                good = (
                    form.get("grant_type") == "refresh_token"
                    and form.get("refresh_token") == REFRESH
                    and form.get("client_id") == "client-1"
                    and form.get("client_secret") == CLIENT_SECRET
                )
                if endpoint.refuse or not good:
                    status, body = 400, {"error": "invalid_grant"}
                else:
                    status = 200
                    body = {
                        "access_token": FRESH,
                        "expires_in": 3599,
                        "refresh_token": ROTATED,
                        "token_type": "Bearer",
                    }
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture(scope="module")
def fresh_only_server(ca, request):
    """Dovecot whose token passdb accepts only the refreshed access token."""
    return start_dovecot(ca, request, tokens={"alice": FRESH})


@pytest.fixture
def endpoint():
    token_endpoint = TokenEndpoint()
    yield token_endpoint
    token_endpoint.close()


def connection(server, endpoint, **extra) -> dict:
    fields = server.connection("alice")
    fields.pop("pass")
    fields.update(
        {
            "accessToken": STALE,
            "refreshToken": REFRESH,
            "clientId": "client-1",
            "clientSecret": CLIENT_SECRET,
            "provider": "custom",
            "tokenUrl": endpoint.url,
            **extra,
        }
    )
    return {"key": "imapOAuth", "fields": fields}


def get_status(connector, conn) -> dict:
    return connector.invoke(
        {"action": "getStatus", "connection": conn, "inputs": {"mailbox": "INBOX"}}
    )


def failed_logins(server, at_least: int = 0) -> int:
    """Dovecot's count of failed logins ("auth failed"), waiting up to 3 s for ``at_least``
    (it writes the line when the failed connection closes)."""
    deadline = time.monotonic() + 3
    while True:
        count = server.process.log().count("auth failed")
        if count >= at_least or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def no_secret_in(text: str) -> None:
    for secret in (STALE, FRESH, REFRESH, ROTATED, CLIENT_SECRET):
        assert secret not in text


def test_a_rejected_token_is_refreshed_and_the_step_succeeds(
    connector, fresh_only_server, endpoint, caplog
):
    failures = failed_logins(fresh_only_server)
    with caplog.at_level("DEBUG", logger="connector"):
        envelope = get_status(connector, connection(fresh_only_server, endpoint))
    assert envelope["ok"], envelope
    assert failed_logins(fresh_only_server, at_least=failures + 1) == failures + 1  # the stale one
    update = envelope["connectionUpdate"]["fields"]
    assert update["accessToken"] == FRESH and update["refreshToken"] == ROTATED
    expires = datetime.fromisoformat(update["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(minutes=55) < expires - datetime.now(UTC) < timedelta(minutes=61)
    assert len(endpoint.requests) == 1
    no_secret_in(caplog.text)
    # The platform stores the update: the next step logs in at once, nothing refreshed.
    stored = connection(fresh_only_server, endpoint, **update)
    again = get_status(connector, stored)
    assert again["ok"] and "connectionUpdate" not in again
    assert len(endpoint.requests) == 1


def test_an_expired_token_is_refreshed_before_logging_in(connector, fresh_only_server, endpoint):
    failures = failed_logins(fresh_only_server)
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    envelope = get_status(connector, connection(fresh_only_server, endpoint, expiresAt=past))
    assert envelope["ok"], envelope
    assert envelope["connectionUpdate"]["fields"]["accessToken"] == FRESH
    assert len(endpoint.requests) == 1
    # The stale token was never presented: no failed login before the good one.
    time.sleep(0.3)  # a failed login's line, were there one, would be written by now
    assert failed_logins(fresh_only_server) == failures


def test_a_refused_refresh_is_auth_failed_naming_what_to_do(
    connector, fresh_only_server, endpoint, caplog
):
    endpoint.refuse = True
    with caplog.at_level("DEBUG", logger="connector"):
        envelope = get_status(connector, connection(fresh_only_server, endpoint))
    error = envelope["error"]
    assert error["code"] == "AUTH_FAILED" and not error["retryable"]
    assert "invalid_grant" in error["message"] and "reconnect" in error["message"]
    assert "connectionUpdate" not in envelope
    no_secret_in(json.dumps(envelope) + caplog.text)


def test_without_a_refresh_token_a_rejected_token_fails_as_before(
    connector, fresh_only_server, endpoint
):
    conn = connection(fresh_only_server, endpoint)
    conn["fields"].pop("refreshToken")
    envelope = get_status(connector, conn)
    assert envelope["error"]["code"] == "AUTH_FAILED"
    assert endpoint.requests == []


def test_a_token_url_must_be_https_unless_on_loopback(connector, fresh_only_server, endpoint):
    conn = connection(fresh_only_server, endpoint, tokenUrl="http://tokens.example.com/token")
    error = get_status(connector, conn)["error"]
    assert error["code"] == "INVALID_INPUT" and error["details"][0]["path"] == (
        "connection.tokenUrl"
    )
