"""The invocation pipeline: envelopes, error mapping, secret scrubbing, connection closing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from connector.sdk import Connector
from connector.sdk._scrub import Scrubber
from tests import sample_connector
from tests.helpers import ROOT
from tests.sample_connector import MANIFEST

CONN = {"user": "ann", "token": "s3cr3t-T0ken"}


@pytest.fixture
def sample(tmp_path) -> Connector:
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    (tmp_path / "m.yaml").write_text(MANIFEST)
    return Connector.load(tmp_path / "m.yaml")


def test_ok_envelope_with_coerced_inputs_and_defaults(sample):
    envelope = sample.invoke(
        {"action": "echo", "connection": CONN, "inputs": {"count": " 3 ", "tags": '["a"]'}}
    )
    assert envelope == {
        "ok": True,
        "data": {"inputs": {"count": 3, "range_": None, "tags": ["a"]}, "user": "ann"},
    }


def test_structured_connection_and_unknown_connection_key(sample):
    ok = sample.invoke({"action": "echo", "connection": {"key": "basic", "fields": CONN}})
    assert ok["ok"]
    bad = sample.invoke({"action": "echo", "connection": {"key": "other", "fields": CONN}})
    assert bad["error"]["code"] == "INVALID_INPUT"
    assert bad["error"]["details"][0]["path"] == "connection.key"


def test_unknown_action_lists_the_known_ones(sample):
    error = sample.invoke({"action": "nope", "connection": CONN})["error"]
    assert error["code"] == "UNKNOWN_ACTION"
    assert "echo" in error["message"] and "fail" in error["message"]


def test_connection_and_input_errors_come_together(sample):
    error = sample.invoke(
        {"action": "echo", "connection": {}, "inputs": {"count": "x", "range": "junk"}}
    )["error"]
    assert error["code"] == "INVALID_INPUT"
    assert {d["path"] for d in error["details"]} == {
        "connection.user",
        "connection.token",
        "inputs.count",
        "inputs.range",
    }
    assert error["retryable"] is False


def test_typed_error_passes_through(sample):
    error = sample.invoke({"action": "fail", "connection": CONN, "inputs": {"kind": "not-found"}})[
        "error"
    ]
    assert error == {
        "code": "NOT_FOUND",
        "message": "no such thing",
        "retryable": False,
        "details": [],
    }


def test_error_hook_maps_library_exceptions_and_secrets_are_scrubbed(sample):
    envelope = sample.invoke({"action": "fail", "connection": CONN, "inputs": {"kind": "leak"}})
    assert envelope["error"]["code"] == "AUTH_FAILED"
    assert "s3cr3t-T0ken" not in str(envelope)
    assert "***" in envelope["error"]["message"]


def test_secret_in_a_connection_failure_is_scrubbed(sample):
    envelope = sample.invoke({"action": "echo", "connection": {"user": "a", "token": "refuse"}})
    assert envelope["error"]["code"] == "AUTH_FAILED"
    assert "refuse" not in envelope["error"]["message"]


def test_unknown_exception_is_internal_error_without_traceback(sample):
    error = sample.invoke({"action": "fail", "connection": CONN, "inputs": {"kind": "bug"}})[
        "error"
    ]
    assert error["code"] == "INTERNAL_ERROR"
    assert "Traceback" not in error["message"] and "KeyError" in error["message"]
    assert "oops" not in error["message"]  # what the bug said (maybe a peer's words) is logged
    assert CONN["token"] not in error["message"]


def test_unknown_exception_is_logged_with_its_traceback_and_no_secret(sample, caplog):
    with caplog.at_level("ERROR", logger="connector.sdk"):
        sample.invoke({"action": "fail", "connection": CONN, "inputs": {"kind": "bug"}})
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    text = record.getMessage()
    assert "action 'fail'" in text and "Traceback" in text and "KeyError" in text
    assert "sample_connector.py" in text and ", in fail" in text  # where it was raised
    assert CONN["token"] not in text and "***" in text


def test_cli_debug_prints_the_traceback_to_stderr(sample, capsys):
    from connector.sdk.cli import Bound, main

    request = ["invoke", "fail", "--connection", json.dumps(CONN), "--input", "kind=bug"]
    path = Path(sample.manifest.base_dir) / "m.yaml"
    assert main(request, bound=Bound("sample", path)) == 1
    quiet = capsys.readouterr()
    assert json.loads(quiet.out)["error"]["code"] == "INTERNAL_ERROR" and quiet.err == ""
    assert main(["--debug", *request], bound=Bound("sample", path)) == 1
    loud = capsys.readouterr()
    assert json.loads(loud.out) == json.loads(quiet.out)  # the envelope stays as it is
    assert "Traceback" in loud.err and ", in fail" in loud.err
    assert CONN["token"] not in loud.err


def test_non_json_result_is_internal_error(sample):
    error = sample.invoke({"action": "fail", "connection": CONN, "inputs": {"kind": "bytes"}})[
        "error"
    ]
    assert error["code"] == "INTERNAL_ERROR" and "not JSON" in error["message"]


def test_connection_is_closed_after_success_and_failure(sample):
    sample_connector.Session.closed.clear()
    sample.invoke({"action": "echo", "connection": {**CONN, "user": "u1"}})
    sample.invoke(
        {"action": "fail", "connection": {**CONN, "user": "u2"}, "inputs": {"kind": "bug"}}
    )
    assert sample_connector.Session.closed == ["u1", "u2"]


@pytest.mark.parametrize(
    "request_",
    [
        None,
        [],
        "x",
        {"action": "echo", "extra": 1},
        {"action": "echo", "connection": CONN, "inputs": []},
    ],
)
def test_malformed_requests_are_invalid_input(sample, request_):
    assert sample.invoke(request_)["error"]["code"] == "INVALID_INPUT"


def test_poll_returns_records_state_and_has_more(sample):
    first = sample.poll("counter", CONN, {"step": "3"})
    assert first == {"ok": True, "data": [0, 1, 2], "state": {"next": 3}, "hasMore": True}
    second = sample.poll("counter", CONN, {"step": 3}, first["state"])
    assert second == {"ok": True, "data": [3, 4, 5], "state": {"next": 6}, "hasMore": False}


def test_poll_state_must_be_an_object(sample):
    envelope = sample.invoke({"trigger": "counter", "connection": CONN, "state": [1]})
    assert envelope["error"]["code"] == "INVALID_INPUT"
    assert envelope["error"]["details"][0]["path"] == "state"


def test_a_line_that_dies_ends_the_wait_with_its_error_mapped_and_masked(sample):
    request = {"trigger": "counter", "connection": CONN, "state": {"next": 9}}

    def cut() -> None:  # once the line watches, its source goes away
        sample_connector.counter_push.lines[0].far.close()  # type: ignore[attr-defined]

    result = sample.wait_for_change(request, 30, on_watching=cut)
    assert result["error"]["code"] == "AUTH_FAILED", result  # (the error hook's mapping)
    assert CONN["token"] not in json.dumps(result)


def test_a_push_the_source_refuses_is_unsupported(sample):
    request = {"trigger": "counter", "connection": CONN, "inputs": {"step": 97}}
    assert sample.wait_for_change(request, 5) == {"ok": True, "data": {"woke": "unsupported"}}


def test_wait_for_change_needs_a_trigger_and_a_state_object(sample):
    action = sample.wait_for_change({"action": "echo", "connection": CONN}, 5)
    assert action["error"]["code"] == "INVALID_INPUT" and "trigger" in action["error"]["message"]
    state = sample.wait_for_change({"trigger": "counter", "connection": CONN, "state": [1]}, 5)
    assert state["error"]["details"][0]["path"] == "state"


def test_listen_refuses_a_state_it_cannot_save_or_hold(sample, tmp_path, capsys):
    from connector.sdk.cli import Bound, main
    from connector.sdk.cli.steps import state_lock

    path = Path(sample.manifest.base_dir) / "m.yaml"

    def listen(state: Path) -> int:
        argv = ["listen", "counter", "--state-file", str(state), "--connection", json.dumps(CONN)]
        return main(argv, bound=Bound("sample", path))

    assert listen(tmp_path / "missing" / "state.json") == 2
    out = capsys.readouterr()
    assert json.loads(out.out)["error"]["code"] == "INVALID_INPUT"
    assert "does not exist or is not writable" in out.err
    state = tmp_path / "state.json"
    with state_lock(state, timeout=0):  # another poll (or listen) holds it
        assert listen(state) == 2
    assert "another poll holds it" in capsys.readouterr().err
    assert not state.exists()  # nothing polled


def test_unknown_trigger_and_data_source(sample):
    assert (
        sample.invoke({"trigger": "nope", "connection": CONN})["error"]["code"] == "UNKNOWN_ACTION"
    )
    assert sample.invoke({"dataSource": "choices", "connection": CONN}) == {
        "ok": True,
        "data": [{"key": "a", "label": "A"}],
    }


def test_scrubber_masks_escaped_and_encoded_forms():
    scrub = Scrubber(['pa"ss\\word'])
    for leak in ['pa"ss\\word', 'pa\\"ss\\\\word', "cGEic3Ncd29yZA=="]:
        assert "***" in scrub.text(f"server said {leak}!")
        assert "ss" not in scrub.text(leak)


def test_json_problem_names_the_place():
    from connector.sdk._jsonvalues import json_problem

    assert json_problem({"a": [1, "x", None, True, 2.5, {"b": []}]}) is None
    assert json_problem({"a": [1, {"b": b"x"}]}) == "$.a[1].b is a bytes"
    assert json_problem({1: 2}) == "$ has a key that is not text: 1"
    assert json_problem([float("nan")]) == "$[0] is nan"


def test_json_problem_finds_lone_surrogates_in_keys_and_in_long_strings():
    from connector.sdk._jsonvalues import INVALID_TEXT, json_problem

    lone = "caf\udce9"
    assert json_problem({"é": ["ü" * 10]}) is None
    assert json_problem({lone: 1}) == INVALID_TEXT
    assert json_problem({"a": [lone]}) == INVALID_TEXT
    # A list of strings is checked at once (flags): what is not ASCII text is still walked.
    assert json_problem({"a": ["\\Seen", "x"]}) is None
    assert json_problem({"a": ["\\Seen", lone]}) == INVALID_TEXT
    assert json_problem({"a": ["\\Seen", b"x"]}) == "$.a[1] is a bytes"
    assert json_problem({"a": ["\\Seen", ["x", 1j]]}) == "$.a[1][1] is a complex"
    assert json_problem({"body": "é" * 70000 + lone}) == INVALID_TEXT  # searched, not encoded
    assert json_problem({"body": "é" * 70000}) is None
    assert json_problem({"a": {None: 1}}) == "$.a has a key that is not text: None"


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("mailbox", "mailbox"),
        ("messageIndex", "message_index"),
        ("minDHSize", "min_dh_size"),
        ("caCertificate", "ca_certificate"),
        ("startTls", "start_tls"),
        ("uidValidity", "uid_validity"),
        ("pass", "pass_"),
        ("from", "from_"),
        ("range", "range_"),
        ("format", "format_"),
        ("to", "to"),
    ],
)
def test_input_keys_become_snake_case_parameters(key, name):
    from connector.sdk._manifest import python_name

    assert python_name(key) == name


def test_a_handler_without_a_parameter_for_an_input_is_a_manifest_error(tmp_path):
    from connector.sdk.errors import ManifestError

    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    broken = MANIFEST.replace(
        "handler: tests.sample_connector:fail", "handler: tests.sample_connector:choices"
    )
    (tmp_path / "m.yaml").write_text(broken)
    with pytest.raises(ManifestError, match="has no parameter 'kind'"):
        Connector.load(tmp_path / "m.yaml")


CONTEXT_ACTION = """\
  - key: tell
    label: Tell
    description: Logs through its context
    handler: tests.sample_connector:tell
    inputs:
      - {key: word, label: Word, type: string, required: true}
    output:
      schema: {type: object}
      example: {executionId: x}
"""


def test_handlers_get_a_context_whose_logger_masks_secrets(tmp_path, caplog):
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    (tmp_path / "m.yaml").write_text(MANIFEST.replace("actions:\n", "actions:\n" + CONTEXT_ACTION))
    sample = Connector.load(tmp_path / "m.yaml")
    request = {"action": "tell", "connection": CONN, "inputs": {"word": "hi"}}
    with caplog.at_level("INFO", logger="connector.sample"):
        envelope = sample.invoke(request, execution_id="run-7", timeout=30)
    assert envelope["ok"], envelope
    data = envelope["data"]
    assert data["executionId"] == "run-7" and data["connection"] == "basic"
    assert 0 < data["timeLeft"] <= 30
    records = [r for r in caplog.records if r.name == "connector.sample"]
    text = "\n".join(r.getMessage() for r in records)
    assert "word=hi" in text and "Traceback" in text and "ValueError" in text
    assert CONN["token"] not in text and "czNjcjN0LVQwa2Vu" not in text  # base64 form too
    assert all(r.execution_id == "run-7" for r in records)
    assert sample.invoke(request)["data"]["timeLeft"] is None  # no timeout, no deadline
