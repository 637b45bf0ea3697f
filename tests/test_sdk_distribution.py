"""connector-sdk as a distribution of its own: entry-point rules, the generic ``connector``
command, and ``connector new``, whose package builds, installs beside imap-connector in a
fresh virtualenv without imapclient, and passes its own tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from connector.sdk import Connector
from connector.sdk.scaffold import scaffold
from tests.sample_connector import MANIFEST

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.mark.slow
def test_scaffold_builds_installs_without_imapclient_and_beside_imap(tmp_path):
    """What CI proves for connector-sdk: a fresh venv outside the tree, the SDK wheel alone
    (no imapclient), a scaffolded connector installed from its folder, its tests passing;
    then imap-connector installed beside it, both listed, the tests still passing."""
    from tests.helpers import build_wheels

    sdk_wheel, imap_wheel = build_wheels(tmp_path / "dist")
    package = scaffold("notes", tmp_path / "src")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, str(sdk_wheel), f"{package}[test]"], check=True, timeout=600)
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            args, cwd=work, capture_output=True, text=True, timeout=300, check=False
        )

    assert run(python, "-c", "import imapclient").returncode != 0
    tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests"))
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "4 passed" in tests.stdout

    subprocess.run([*pip, str(imap_wheel)], check=True, timeout=600)
    listed = run(str(env_dir / "bin" / "connector"), "list")
    assert listed.returncode == 0, listed.stderr
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["imap", "notes"]
    tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests"))
    assert tests.returncode == 0, tests.stdout + tests.stderr
