"""connector-sdk as a distribution of its own: entry-point rules, the generic ``connector``
command, and ``connector new``, whose package builds, installs beside imap-connector in a
fresh virtualenv without imapclient, and passes its own tests."""

from __future__ import annotations

import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from connector.sdk.scaffold import scaffold
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
