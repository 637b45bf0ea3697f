"""connector-sdk as a distribution of its own: entry-point rules, the generic ``connector``
command, and ``connector new``, whose package builds, installs beside imap-connector in a
fresh virtualenv without imapclient, and passes its own tests."""

from __future__ import annotations

import json
import subprocess
import venv
from pathlib import Path

import pytest

from connector.sdk._scaffold import scaffold


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> tuple[Path, Path]:
    from tests.helpers import build_wheels

    return build_wheels(tmp_path_factory.mktemp("dist"))


def fresh_venv(where: Path) -> tuple[str, list[str]]:
    """A virtualenv outside the tree: its python, and its pip install command."""
    venv.create(where, with_pip=True)
    python = str(where / "bin" / "python")
    return python, [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]


def run_in(work: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=work, capture_output=True, text=True, timeout=300, check=False)


def test_scaffold_builds_installs_without_imapclient_and_beside_imap(tmp_path, wheels):
    """What CI proves for connector-sdk: a fresh venv outside the tree, the SDK wheel alone
    (no imapclient), a scaffolded connector installed from its folder, its tests passing;
    then imap-connector installed beside it, both listed, the tests still passing."""
    sdk_wheel, imap_wheel = wheels
    package = scaffold("notes", tmp_path / "src")
    env_dir = tmp_path / "venv"
    python, pip = fresh_venv(env_dir)
    subprocess.run([*pip, str(sdk_wheel), f"{package}[test]"], check=True, timeout=600)
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess:
        return run_in(work, *args)

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


def test_the_rest_template_passes_its_tests_on_the_sdk_wheel_alone(tmp_path, wheels):
    """connector new --template rest: a REST connector on connector.sdk.http using every part
    (OAuth client credentials with a {workspace} token URL, the API's error words, a retry on
    429 only, an upload, link and cursor pages, a ListPoller trigger under ties and pages),
    tested against the SDK's FakeHttpServer in a fresh venv with the SDK wheel (and its http
    extra); then built by ``connector build`` and tried by hand through ``connector fake``."""
    sdk_wheel, _ = wheels
    package = scaffold("tracker", tmp_path / "src", template="rest")
    python, pip = fresh_venv(tmp_path / "venv")
    subprocess.run([*pip, f"{sdk_wheel}[http]", f"{package}[test]"], check=True, timeout=600)
    work = tmp_path / "elsewhere"
    work.mkdir()
    tests = run_in(work, python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package))
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "17 passed" in tests.stdout
    console = str(tmp_path / "venv" / "bin" / "connector")
    validated = run_in(work, console, "validate", "tracker")
    assert validated.returncode == 0, validated.stderr
    assert "(3 connections, 5 actions, 1 trigger, 1 data source)" in validated.stdout

    built = run_in(package, console, "build", "--out", str(tmp_path / "dist"))
    assert built.returncode == 0, built.stdout + built.stderr
    assert [p.name for p in (tmp_path / "dist").glob("*.whl")] == [
        "tracker_connector-0.1.0-py3-none-any.whl"
    ]

    fake = subprocess.Popen(  # the template's fake API, by hand, on a free port
        [console, "fake", "tests/test_tracker.py:Tracker"],
        cwd=package,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert fake.stdout is not None
        first = fake.stdout.readline()
        assert first.startswith("fake API at http://127.0.0.1:"), first
        url = first.split()[3]
        connection = json.dumps({"baseUrl": url, "apiKey": "key-" + "k" * 20})
        created = run_in(
            work, console, "invoke", "tracker", "createIssue", "--connection", connection,
            "--input", "repo=acme/web", "--input", "title=By hand",
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr
        assert json.loads(created.stdout)["data"]["title"] == "By hand"
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    assert fake.returncode == 0
