"""connector-sdk as a distribution of its own: entry-point rules, the generic ``connector``
command, and ``connector new``, whose package builds, installs beside imap-connector in a
fresh virtualenv without imapclient, and passes its own tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connector.sdk import Connector
from connector.sdk._scaffold import scaffold
from tests.helpers import ROOT
from tests.sample_connector import MANIFEST


def fake_distribution(where: Path, dist: str, entry_points: dict[str, str]) -> None:
    """A dist-info on sys.path: importlib.metadata finds it as an installed distribution."""
    info = where / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[connectors]\n{lines}")


@pytest.fixture
def sample_on_path(tmp_path, monkeypatch) -> Path:
    """The sample manifest, and a module returning its path, importable from tmp_path."""
    shutil.copy(ROOT / "assets" / "icon.png", tmp_path / "icon.png")
    (tmp_path / "m.yaml").write_text(MANIFEST)
    path = str(tmp_path / "m.yaml")
    (tmp_path / "sample_paths.py").write_text(
        f"from pathlib import Path\n\ndef manifest():\n    return Path({path!r})\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_two_distributions_claiming_one_name_is_an_error_naming_both(sample_on_path):
    fake_distribution(sample_on_path, "sample-one", {"sample": "sample_paths:manifest"})
    fake_distribution(sample_on_path, "sample-two", {"sample": "sample_paths:manifest"})
    with pytest.raises(LookupError) as info:
        Connector.load("sample")
    assert "sample-one 1.0" in str(info.value) and "sample-two 1.0" in str(info.value)


def test_the_entry_point_name_must_equal_the_manifest_key(sample_on_path):
    fake_distribution(sample_on_path, "imposter", {"other": "sample_paths:manifest"})
    with pytest.raises(LookupError, match="must equal its manifest's key"):
        Connector.load("other")


def test_connector_new_writes_a_valid_package(tmp_path):
    root = scaffold("weather_station", tmp_path)
    assert root.name == "weather-station-connector"
    assert (root / "connector/weather_station/icon.png").read_bytes().startswith(b"\x89PNG")
    assert not (root / "connector/__init__.py").exists()  # a namespace package
    probe = (
        "from connector.sdk import Connector; "
        f"c = Connector.load({str(root / 'connector/weather_station/connector.yaml')!r}); "
        "print(sorted(c.manifest.actions), sorted(c.manifest.triggers), "
        "sorted(c.manifest.data_sources))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": f"{root}:{ROOT}"},
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "['addNote'] ['newNotes'] ['listTags']"
    with pytest.raises(FileExistsError):
        scaffold("weather_station", tmp_path)


def test_connector_new_refuses_a_name_that_is_not_a_key(tmp_path, capsys):
    from connector.sdk.cli import main as generic_main

    assert generic_main(["new", "Bad-Name", "--dir", str(tmp_path)]) == 2
    assert "not a connector name" in capsys.readouterr().err


def test_generic_cli_runs_the_installed_imap_connector(capsys):
    from connector.sdk.cli import main as generic_main

    assert generic_main(["list"]) == 0
    assert capsys.readouterr().out.startswith("imap\timap-connector ")
    assert generic_main(["describe", "imap", "getStatus"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["inputs"][0]["dataSource"] == "listMailboxes"
    assert generic_main(["invoke", "imap", "getStatus"]) == 1  # no connection: an envelope
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "INVALID_INPUT"
    assert generic_main(["invoke"]) == 2
    assert "needs the connector's name" in capsys.readouterr().err
