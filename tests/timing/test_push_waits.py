"""A trigger's push waits on the clock (connector.sdk._runtime): ``wait_for_change`` until
its timeout, and ``listen`` polling every 200 ms, with the sample connector's counter push
(tests/sample_connector.py) and the ``sample`` connector of tests/sdk/test_runtime.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from connector.sdk import Connector
from tests import sample_connector
from tests.helpers import ROOT
from tests.sample_connector import MANIFEST
from tests.sdk.test_runtime import CONN


@pytest.fixture
def sample(tmp_path) -> Connector:
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    (tmp_path / "m.yaml").write_text(MANIFEST)
    return Connector.load(tmp_path / "m.yaml")


def test_wait_for_change_hands_the_push_the_last_state(sample):
    sample_connector.counter_push.asked.clear()
    sample_connector.Session.closed.clear()
    request = {"trigger": "counter", "connection": CONN}
    assert sample.wait_for_change({**request, "state": {"next": 2}}, 5) == {
        "ok": True,
        "data": {"woke": "change"},
    }
    assert sample.wait_for_change(request, 5)["data"] == {"woke": "change"}  # a first poll: {}
    assert sample.wait_for_change({**request, "state": {"next": 9}}, 0.3)["data"]["woke"] == (
        "timeout"
    )
    assert sample_connector.counter_push.asked == [{"next": 2}, {}, {"next": 9}]
    assert sample_connector.Session.closed == [CONN["user"]] * 3  # a session each, closed


def test_a_push_may_open_more_sessions_and_the_runtime_closes_them_all(sample):
    sample_connector.Session.closed.clear()
    request = {
        "trigger": "counter",
        "connection": CONN,
        "inputs": {"step": 98},
        "state": {"next": 9},
    }
    assert sample.wait_for_change(request, 0.3)["data"] == {"woke": "timeout"}
    lines = sample_connector.counter_push.lines
    assert len(lines) == 3 and all(line.closed for line in lines)
    assert sample_connector.Session.closed == [CONN["user"]] * 3


def test_listen_prints_each_record_as_a_line_and_keeps_the_state(sample, tmp_path, capsys):
    from connector.sdk.cli import Bound, main

    sample_connector.counter_push.asked.clear()
    state = tmp_path / "state.json"
    path = Path(sample.manifest.base_dir) / "m.yaml"
    argv = ["listen", "counter", "--state-file", str(state), "--connection", json.dumps(CONN)]
    # Polls 1-3 count to 6 (no wait while hasMore); the push is asked once, with that state.
    assert main([*argv, "--polls", "4", "--every", "200ms"], bound=Bound("sample", path)) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == list(range(8))
    assert json.loads(state.read_text()) == {"next": 8}
    assert sample_connector.counter_push.asked == [{"next": 6}]
    # Started again, it goes on from the state file.
    assert main([*argv, "--polls", "1", "--no-push"], bound=Bound("sample", path)) == 0
    assert capsys.readouterr().out.split() == ["8", "9"]
