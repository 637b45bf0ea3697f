"""scripts/release VERSION: each refusal, in a temporary git repository holding this one's
release files (both pyprojects, the version files, the manifest, the changelog, the public
API snapshot) and tags of its own; and the way through to the printed tag command.

The repository's own ``scripts/build`` is not run here (test_packaging builds the real
wheels): the temporary one writes the four files a build names for its version, or fails.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

RELEASE = ROOT / "scripts" / "release.py"
VERSION_FILES = ("sdk/src/connector/sdk/__init__.py", "connector/imap/__init__.py")
COPIED = ("pyproject.toml", "sdk/pyproject.toml", "connector.yaml", "sdk/public-api.txt")
BUILD = """#!/bin/sh
# What scripts/build writes, named for the version in sdk/src/connector/sdk/__init__.py.
set -e
version=$(sed -n 's/^__version__ = "\\(.*\\)"/\\1/p' sdk/src/connector/sdk/__init__.py)
mkdir -p dist
for name in connector_sdk imap_connector; do
  touch "dist/$name-$version-py3-none-any.whl" "dist/$name-$version.tar.gz"
done
"""


def git(repo: Path, *args: str) -> str:
    ran = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    )
    return ran.stdout


def set_version(repo: Path, version: str, *, sdk: str | None = None, pin: str | None = None):
    """The four places at ``version`` (connector-sdk's at ``sdk`` when given), imap-connector
    pinning its compatible range (or ``pin``), and a changelog dated for it."""
    for relative in VERSION_FILES:
        wanted = sdk if sdk is not None and "sdk" in relative else version
        (repo / relative).write_text(f'"""Version."""\n\n__version__ = "{wanted}"\n')
    manifest = repo / "connector.yaml"
    text = re.sub(r"^version: .*$", f"version: {version}", manifest.read_text(), flags=re.M)
    manifest.write_text(text)
    major, minor, _ = version.split(".")
    pinned = pin or f">={major}.{minor},<{major}.{int(minor) + 1}"
    pyproject = repo / "pyproject.toml"
    pin_pattern = r"(connector-sdk(?:\[\w+\])?)>=[\d.]+,<[\d.]+"
    pyproject.write_text(re.sub(pin_pattern, rf"\g<1>{pinned}", pyproject.read_text()))
    (repo / "CHANGELOG.md").write_text(
        f"# Changelog\n\n## [Unreleased]\n\n## [{version}] - 2026-12-05\n\n### Fixed\n- A fix.\n"
    )


def commit(repo: Path, message: str, tag: str | None = None) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    if tag:
        git(repo, "tag", "-a", tag, "-m", tag)


@pytest.fixture
def repo(tmp_path) -> Path:
    """A repository on main with this one's release files at 0.3.0, committed, untagged."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for relative in COPIED:
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
        (repo / relative).write_text((ROOT / relative).read_text(encoding="utf-8"))
    for relative in VERSION_FILES:
        (repo / relative).parent.mkdir(parents=True, exist_ok=True)
    (repo / ".gitignore").write_text("dist/\n")
    build = repo / "scripts" / "build"
    build.parent.mkdir()
    build.write_text(BUILD)
    build.chmod(0o755)
    set_version(repo, "0.3.0")
    commit(repo, "0.3.0")
    return repo


def release(repo: Path, version: str) -> tuple[int, str, str]:
    ran = subprocess.run(
        [sys.executable, str(RELEASE), version],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return ran.returncode, ran.stdout, ran.stderr


def refused(repo: Path, version: str) -> str:
    status, out, err = release(repo, version)
    assert status == 1, (out, err)
    assert "git tag" not in out
    assert f"{version} is not ready to release" in err
    return err


def test_the_first_release_goes_through_and_prints_the_tag_command(repo):
    status, out, err = release(repo, "0.3.0")
    assert status == 0, (out, err)
    head = git(repo, "rev-parse", "--short", "HEAD").strip()
    assert f'git tag -a v0.3.0 -m "Release 0.3.0" {head}' in out
    assert "no release tag (v[0-9]*) yet: nothing to compare with" in out
    assert (repo / "dist" / "imap_connector-0.3.0-py3-none-any.whl").is_file()
    assert git(repo, "tag", "--list") == ""  # it creates no tag


def test_a_dirty_tree_or_another_branch_is_refused(repo):
    (repo / "notes.txt").write_text("wip\n")
    assert "the working tree is not clean (notes.txt)" in refused(repo, "0.3.0")
    (repo / "notes.txt").unlink()
    git(repo, "switch", "-q", "-c", "topic")
    assert "releases are made from main, this is topic" in refused(repo, "0.3.0")


def test_versions_that_disagree_are_refused_naming_each_place(repo):
    set_version(repo, "0.3.0", sdk="0.2.9")
    commit(repo, "sdk behind")
    err = refused(repo, "0.3.0")
    assert "connector-sdk (sdk/pyproject.toml) is '0.2.9'" in err
    assert "connector.imap.__version__" not in err  # (that one is right)
    err = refused(repo, "0.3.1")
    assert "connector.imap.__version__ is '0.3.0'" in err
    assert "the manifest's version (connector.yaml) is '0.3.0'" in err


def test_a_pin_that_does_not_match_what_is_imported_is_refused(repo):
    set_version(repo, "0.3.0", pin=">=0.2,<0.3")
    commit(repo, "old pin")
    err = refused(repo, "0.3.0")
    assert "connector-sdk>=0.2,<0.3" in err
    assert "so pin connector-sdk>=0.3,<0.4" in err


def test_a_changelog_without_the_dated_section_is_refused(repo):
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n## [Unreleased]\n\n- Something.\n")
    commit(repo, "undated")
    assert "CHANGELOG.md has no section '## [0.3.0] - YYYY-MM-DD'" in refused(repo, "0.3.0")
    (repo / "CHANGELOG.md").write_text(
        "# Changelog\n\n## [Unreleased]\n\n### Added\n- Late.\n\n## [0.3.0] - 2026-12-05\n"
    )
    commit(repo, "left under unreleased")
    assert "lists changes under Unreleased" in refused(repo, "0.3.0")
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n## [0.3.0] - December\n")
    commit(repo, "a date in words")
    assert "dated 'December'" in refused(repo, "0.3.0")


def test_a_version_already_tagged_or_not_newer_is_refused(repo):
    git(repo, "tag", "-a", "v0.3.0", "-m", "v0.3.0")
    assert "v0.3.0 is a tag already" in refused(repo, "0.3.0")
    set_version(repo, "0.2.5")
    commit(repo, "older")
    assert "0.2.5 is not newer than the last release v0.3.0" in refused(repo, "0.2.5")


def test_a_public_api_break_needs_a_new_major_version(repo):
    """The tagged release exported a name this one lacks: 0.3.1 is refused, 0.4.0 is not."""
    snapshot = repo / "sdk" / "public-api.txt"
    current = snapshot.read_text()
    snapshot.write_text(current + "connector.sdk.text.GONE: int = 1\n")
    commit(repo, "0.3.0 with a name since removed", tag="v0.3.0")
    snapshot.write_text(current)
    set_version(repo, "0.3.1")
    commit(repo, "0.3.1")
    err = refused(repo, "0.3.1")
    assert "1 breaking change(s) to the public API since v0.3.0" in err
    assert "release it as 0.4.0" in err
    set_version(repo, "0.4.0")
    commit(repo, "0.4.0")
    status, out, err = release(repo, "0.4.0")
    assert status == 0, (out, err)
    assert "breaking    connector.sdk.text.GONE: removed" in out
    assert "git tag -a v0.4.0" in out


def test_an_added_name_is_no_reason_to_refuse(repo):
    snapshot = repo / "sdk" / "public-api.txt"
    current = snapshot.read_text()
    lines = current.splitlines(keepends=True)
    snapshot.write_text("".join(line for line in lines if ".text.shorten:" not in line))
    commit(repo, "0.3.0 before shorten", tag="v0.3.0")
    snapshot.write_text(current)
    set_version(repo, "0.3.1")
    commit(repo, "0.3.1")
    status, out, err = release(repo, "0.3.1")
    assert status == 0, (out, err)
    assert "compatible  connector.sdk.text.shorten: added" in out


def test_a_manifest_break_needs_a_new_major_version(repo):
    manifest = repo / "connector.yaml"
    data = yaml.safe_load(manifest.read_text())
    key = data["actions"][0]["key"]
    git(repo, "tag", "-a", "v0.3.0", "-m", "v0.3.0")
    data["actions"] = data["actions"][1:]  # an action removed: saved steps that use it break
    data["version"] = "0.3.1"
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))
    set_version(repo, "0.3.1")
    commit(repo, "0.3.1 without an action")
    err = refused(repo, "0.3.1")
    assert "the manifest breaks saved steps since v0.3.0" in err
    out = release(repo, "0.3.1")[1]
    assert f"action {key}" in out  # (connector diff's own lines, printed above)


def test_a_stale_public_api_snapshot_is_refused(repo):
    snapshot = repo / "sdk" / "public-api.txt"
    snapshot.write_text(snapshot.read_text().replace("def (text: str, limit: int)", "def (t)"))
    commit(repo, "hand-edited")
    assert "sdk/public-api.txt is not the code's public API" in refused(repo, "0.3.0")


def test_a_failed_build_is_refused(repo):
    (repo / "scripts" / "build").write_text("#!/bin/sh\necho 'no compiler' >&2\nexit 3\n")
    commit(repo, "broken build")
    assert "scripts/build failed (exit status 3)" in refused(repo, "0.3.0")


def test_a_usage_error_is_not_a_refusal(repo):
    status, _, err = release(repo, "0.3")
    assert status == 2
    assert "'0.3' is not a version X.Y.Z" in err
