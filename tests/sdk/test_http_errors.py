"""Errors that keep the API's words: where an API puts its message (``error_message``: a
dotted path or a function), how a field's problems read, the text shortened and its secrets
masked in the envelope, and ``NotFound(path=)``. Against FakeHttpServer over real sockets."""

from __future__ import annotations

import shutil

import pytest

from connector.sdk import Connector
from connector.sdk.errors import InvalidInput, NotFound, ServerError
from connector.sdk.http import HttpClient
from connector.sdk.testing import FakeHttpServer, Harness, Reply
from tests.helpers import ROOT
from tests.sdk.test_http_oauth import MANIFEST

ZENDESK_422 = {
    "error": "RecordInvalid",
    "description": "Record validation errors",
    "details": {"requester_email": [{"description": "is not a valid email"}]},
}


@pytest.fixture
def api():
    with FakeHttpServer() as fake:
        yield fake


def refused(api: FakeHttpServer, body: object, status: int = 422, **client: object) -> str:
    api.route("POST", "/tickets", json=body, status=status)
    with pytest.raises((InvalidInput, ServerError, NotFound)) as info:
        HttpClient(api.url, **client).post("/tickets", json={})  # type: ignore[arg-type]
    return info.value.message


def test_the_apis_words_at_a_path_are_kept(api):
    default = refused(api, ZENDESK_422)
    assert default == "POST /tickets: HTTP 422 (RecordInvalid): the service refused the inputs."
    kept = refused(api, ZENDESK_422, error_message="details")
    assert kept == (
        "POST /tickets: HTTP 422 (requester_email: is not a valid email): "
        "the service refused the inputs."
    )
    json_api = {"errors": [{"status": "422", "detail": "title is blank", "source": {}}]}
    assert "(title is blank)" in refused(api, json_api, error_message="errors.0.detail")
    assert "(title is blank)" in refused(api, json_api)  # errors: found without a path


def test_a_function_says_where_the_words_are(api):
    def words(response) -> str | None:
        return response.headers.get("x-error-reason")

    api.route(
        "POST", "/tickets", lambda r: Reply(409, {}, headers={"X-Error-Reason": "duplicate ref"})
    )
    with pytest.raises(Exception, match=r"HTTP 409 \(duplicate ref\)"):
        HttpClient(api.url, error_message=words).post("/tickets")


def test_long_words_are_shortened(api):
    message = refused(api, {"message": "x" * 5000}, status=400)
    assert len(message) < 400 and "xxx..." in message


def test_an_echoed_secret_is_masked_in_the_envelope(api, tmp_path):
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    (tmp_path / "m.yaml").write_text(MANIFEST)
    connector = Connector.load(tmp_path / "m.yaml")
    api.route("GET", "/me", lambda r: Reply(422, {"message": f"token {r.bearer} is read-only"}))
    fields = {"baseUrl": api.url, "accessToken": "tok-very-secret-42", "provider": "custom"}
    envelope = Harness(connector, {"key": "user", "fields": fields}).invoke("me")
    assert envelope["error"]["code"] == "INVALID_INPUT"
    assert "is read-only" in envelope["error"]["message"]
    assert "tok-very-secret-42" not in str(envelope)


def test_not_found_names_the_input():
    error = NotFound("Ticket 7 does not exist.", path="inputs.ticketId")
    assert error.to_dict()["details"] == [
        {"path": "inputs.ticketId", "message": "Ticket 7 does not exist."}
    ]
    assert NotFound("gone").details == []
