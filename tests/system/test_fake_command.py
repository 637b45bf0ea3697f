"""``connector fake`` in the venv ``scripts/setup --author`` makes: this repository installed
editable puts its root, and so its own ``tests`` package, on ``sys.path``; a scaffolded
connector's ``tests/`` (no ``__init__.py``) must still be the one the command loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from connector.sdk._scaffold import scaffold

CONSOLE = str(Path(sys.executable).parent / "connector")
API_KEY = "key-" + "k" * 20  # the rest template's


@pytest.fixture(scope="module")
def tracker(tmp_path_factory) -> Path:
    return scaffold("tracker", tmp_path_factory.mktemp("src"), template="rest")


def start_fake(package: Path, spec: str) -> tuple[subprocess.Popen, str]:
    fake = subprocess.Popen(
        [CONSOLE, "fake", spec],
        cwd=package,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert fake.stdout is not None
    first = fake.stdout.readline()
    if not first.startswith("fake API at http://127.0.0.1:"):
        fake.kill()
        fake.wait(timeout=10)
        pytest.fail(f"{spec}: {first}{fake.stdout.read()}")
    return fake, first.split()[3]


@pytest.mark.parametrize("spec", ["tests/test_tracker.py:Tracker", "tests.test_tracker:Tracker"])
def test_the_scaffolds_fake_runs_beside_this_repositorys_tests_package(tracker, spec):
    """The repository's ``tests`` package is importable in this venv (the editable install),
    and yet both spellings load the scaffold's file and serve its routes."""
    shadowing = subprocess.run(
        [sys.executable, "-c", "import tests; print(tests.__file__)"],
        cwd=tracker,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "__init__.py" in shadowing.stdout  # the trap is armed: a regular package wins
    fake, url = start_fake(tracker, spec)
    try:
        answer = httpx.get(f"{url}/user/repos", headers={"X-Api-Key": API_KEY}, timeout=10)
        assert answer.status_code == 200
        assert [repo["full_name"] for repo in answer.json()] == ["acme/web", "acme/app"]
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    assert fake.returncode == 0


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("tests/missing.py:Tracker", "no file tests/missing.py"),
        ("tests/test_tracker.py:Nope", "tests/test_tracker.py defines no Nope"),
        ("tests/test_tracker.py", "give FILE.py:factory"),
    ],
)
def test_a_wrong_factory_is_a_usage_error_saying_what_is_missing(tracker, spec, says):
    ran = subprocess.run(
        [CONSOLE, "fake", spec], cwd=tracker, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 2
    assert says in ran.stderr
    assert "Traceback" not in ran.stderr
