"""Connection fields sent as headers (Power Automate's way), against Dovecot through the
service: ``X-Connection-<field>`` for ASCII, ``X-Connection-<field>-B64`` (base64 of UTF-8)
for a non-ASCII password and a PEM certificate; what cannot be read is 400 INVALID_INPUT
naming the field, never a retryable 503."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.servers.service import HEADERS, Service


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    running = Service(tmp_path_factory.mktemp("svc-headers"))
    yield running
    running.stop()


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def as_headers(fields: dict, *, encoded: tuple[str, ...] = ()) -> list[tuple[bytes, bytes]]:
    """The fields as X-Connection-* headers: those in ``encoded`` as -B64."""
    out = [(b"Authorization", HEADERS["Authorization"].encode())]
    for key, value in fields.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if key in encoded:
            out.append((f"X-Connection-{key}-B64".encode(), b64(text).encode()))
        else:
            out.append((f"X-Connection-{key}".encode(), text.encode("utf-8")))
    return out


def post(service: Service, headers: list[tuple[bytes, bytes]]) -> httpx.Response:
    # Raw header bytes: httpx would refuse non-ASCII text, as a platform's proxy may not.
    return service.http.post(
        "/v1/imap/actions/getStatus", json={"inputs": {"mailbox": "INBOX"}}, headers=headers
    )


def test_a_non_ascii_password_and_a_pem_travel_base64(service, dovecot_server):
    fields = dovecot_server.connection("carol")  # carol's password is "pässwörd-€"
    assert not fields["pass"].isascii() and "\n" in fields["caCertificate"]
    reply = post(service, as_headers(fields, encoded=("pass", "caCertificate")))
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"]["path"] == "INBOX"


def test_a_pem_whose_line_breaks_were_lost_still_works(service, dovecot_server):
    # A platform's one-line connection field drops the PEM's newlines (or makes them spaces).
    fields = dovecot_server.connection("alice")
    for joined in ("", " "):
        pem = joined.join(fields["caCertificate"].strip().split("\n"))
        one_line = dict(fields, caCertificate=pem)
        reply = post(service, as_headers(one_line))
        assert reply.status_code == 200, reply.text


def test_a_non_ascii_plain_header_is_invalid_input_naming_the_field(service, dovecot_server):
    fields = dovecot_server.connection("carol")
    reply = post(service, as_headers(fields, encoded=("caCertificate",)))
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "INVALID_INPUT" and error["retryable"] is False
    assert error["details"][0]["path"] == "connection.pass"
    assert "X-Connection-Pass-B64" in error["message"]
    assert fields["pass"] not in reply.text  # never the secret


@pytest.mark.parametrize(
    "value",
    ["not base64!", base64.b64encode(b"\xff\xfe latin-1 \xe9").decode()],
    ids=["not-base64", "not-utf8"],
)
def test_a_b64_header_that_cannot_be_decoded_is_invalid_input(service, dovecot_server, value):
    fields = dovecot_server.connection("alice")
    headers = as_headers(fields, encoded=("caCertificate",))
    headers = [h for h in headers if h[0] != b"X-Connection-pass"]
    headers.append((b"X-Connection-Pass-B64", value.encode()))
    reply = post(service, headers)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "INVALID_INPUT" and error["retryable"] is False
    assert error["details"][0]["path"] == "connection.pass"
    assert "Password" in error["message"] and "base64" in error["message"]
