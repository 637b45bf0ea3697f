"""The wheel carries the manifest and icon, installs in a fresh venv, and runs outside the
source tree."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # builds a wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("imap_connector-*.whl")
    return built


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "connector/imap/connector.yaml" in names
    assert "connector/imap/assets/icon.png" in names
    assert "connector/sdk/manifest.schema.json" in names
    assert "connector/__init__.py" not in names  # a namespace package
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[connectors]" in text and "imap = connector.imap:manifest_path" in text
    assert "imap-connector = connector.imap.cli:main" in text


def test_installed_wheel_runs_outside_the_source_tree(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = [
        str(env_dir / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        str(wheel),
    ]
    subprocess.run(pip, check=True, capture_output=True, timeout=600)
    work = tmp_path / "elsewhere"
    work.mkdir()
    cli = str(env_dir / "bin" / "imap-connector")

    actions = subprocess.run([cli, "actions"], cwd=work, capture_output=True, text=True, timeout=60)
    assert actions.returncode == 0, actions.stderr
    assert len(actions.stdout.strip().splitlines()) == 14

    described = subprocess.run(
        [cli, "describe", "searchMailbox"], cwd=work, capture_output=True, text=True, timeout=60
    )
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["label"] == "Search / List Mailbox Messages"

    probe = (
        "from connector.sdk import Connector; import connector.imap as m; "
        "c = Connector.load('imap'); print(len(c.manifest.actions), m.manifest_path())"
    )
    found = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", probe],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert found.returncode == 0, found.stderr
    count, path = found.stdout.split()
    assert count == "14" and str(ROOT) not in path and "site-packages" in path
