"""Both wheels (connector-sdk and imap-connector) carry what they should, install in a fresh
venv, and run outside the source tree."""

from __future__ import annotations

import json
import subprocess
import venv
import zipfile
from pathlib import Path

import pytest

from connector.sdk import __version__ as sdk_version
from tests.helpers import ROOT, build_wheels


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> tuple[Path, Path]:
    return build_wheels(tmp_path_factory.mktemp("wheels"))


@pytest.fixture(scope="module")
def wheel(wheels) -> Path:
    return wheels[1]


def test_sdk_wheel_contents_and_dependencies(wheels):
    archive = zipfile.ZipFile(wheels[0])
    names = archive.namelist()
    assert "connector/sdk/manifest.schema.json" in names and "connector/sdk/py.typed" in names
    studio = {
        f"connector/sdk/service/studio/{f}"
        for f in ("index.html", "studio.js", "studio.css", "favicon.svg")
    }
    assert studio <= set(names)  # serve --studio works from the wheel alone
    assert not [n for n in names if n.startswith("connector/imap")]
    metadata = archive.read(next(n for n in names if n.endswith("/METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert any("jsonschema" in r for r in requires) and any("pyyaml" in r for r in requires)
    assert not any("imapclient" in r.lower() for r in requires)
    entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt")))
    assert b"connector = connector.sdk.cli:main" in entry_points


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "connector/imap/connector.yaml" in names
    assert "connector/imap/assets/icon.png" in names
    assert not [n for n in names if n.startswith("connector/sdk")]  # connector-sdk's
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA")))
    # The pin is the SDK's compatible range: in 0.x its minor (a minor may break, as Cargo and
    # npm read versions), from 1.0 its major.
    major, minor = (int(part) for part in sdk_version.split(".")[:2])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    assert f"Requires-Dist: connector-sdk<{upper},>={major}.{minor}".encode() in metadata
    assert "connector/__init__.py" not in names  # a namespace package
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[connectors]" in text and "imap = connector.imap:manifest_path" in text
    assert "imap-connector = connector.imap.cli:main" in text


def test_installed_wheels_run_outside_the_source_tree(wheels, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip = [
        str(env_dir / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        *map(str, wheels),
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
