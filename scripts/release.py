"""The release checklist: ``scripts/release VERSION`` (``0.3.0``), run from a clean ``main``.

It refuses, naming what to change, unless:

1. the working tree is clean, on ``main``, and ``vVERSION`` is not a tag yet;
2. VERSION is in all four places (connector-sdk's and imap-connector's ``pyproject.toml``,
   ``connector.imap.__version__``, the manifest's ``version``), imap-connector's pins of
   connector-sdk are VERSION's compatible range (``>=0.3,<0.4``), and ``CHANGELOG.md`` has
   a dated section ``## [VERSION] - YYYY-MM-DD`` (and nothing left under Unreleased);
3. against the newest ``v*`` tag reachable from HEAD (none yet: nothing to compare), VERSION
   is newer, the manifest breaks no saved step without a new major version (``connector
   diff --last-release``), and neither does the public API: ``sdk/public-api.txt`` (fresh
   from the code) against the tag's, where a removed name or a signature an old call trips
   on needs a new major version (in 0.x a new minor, as ``connector diff`` and Cargo read
   versions);
4. ``scripts/build`` builds both distributions, their files named for VERSION.

Then it prints the ``git tag`` command for HEAD; it creates no tag itself. Exit status 0
when ready, 1 when refused, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import InvalidRequirement, Requirement

import connector.sdk as connector_sdk
from connector.sdk._manifest_diff import major_bump, next_major
from connector.sdk._public_api import compare
from connector.sdk._public_api import text as public_api_text
from connector.sdk.cli import main as connector_cli
from connector.sdk.cli.diff import RELEASE_TAGS

BRANCH = "main"
SDK_NAME = "connector-sdk"
SNAPSHOT = "sdk/public-api.txt"
MANIFEST = "connector.yaml"
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
_DUNDER_VERSION = re.compile(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", re.M)


class Refused(Exception):
    """A check that failed: what is wrong, and what to do."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/release",
        description="Check that VERSION can be released from this clean main, build both "
        "distributions, and print the git tag command (no tag is created).",
    )
    parser.add_argument("version", metavar="VERSION", help="X.Y.Z, such as 0.3.0")
    args = parser.parse_args(argv)
    version: str = args.version
    if _VERSION.fullmatch(version) is None:
        parser.print_usage(sys.stderr)
        print(f"scripts/release: {version!r} is not a version X.Y.Z", file=sys.stderr)
        return 2
    try:
        root = Path(git("rev-parse", "--show-toplevel", cwd=Path.cwd())).resolve()
    except Refused as exc:
        print(f"scripts/release: {exc}", file=sys.stderr)
        return 1
    os.chdir(root)
    stages = (
        [lambda: clean_on_main(root), lambda: not_tagged(root, version)],
        [lambda: versions_agree(root, version), lambda: changelog_dated(root, version)],
        [lambda: compatible_with_last_release(root, version)],
        [lambda: built(root, version)],
    )
    for stage in stages:
        problems = []
        for check in stage:
            try:
                for line in check():
                    print(f"ok      {line}")
            except Refused as exc:
                problems.append(str(exc))
        if problems:
            for problem in problems:
                print(f"REFUSED {problem}", file=sys.stderr)
            print(f"scripts/release: {version} is not ready to release", file=sys.stderr)
            return 1
    head = git("rev-parse", "--short", "HEAD", cwd=root)
    print(f"\nReady: {version} at {head}. Tag it (annotated) and push the tag:\n")
    print(f'  git tag -a v{version} -m "Release {version}" {head}')
    print(f"  git push origin v{version}")
    return 0


# -- 1. the tree -------------------------------------------------------------------------------


def clean_on_main(root: Path) -> list[str]:
    branch = git_or_none("symbolic-ref", "--quiet", "--short", "HEAD", cwd=root)
    if branch != BRANCH:
        raise Refused(
            f"releases are made from {BRANCH}, this is {branch or 'a detached HEAD'}: "
            f"git switch {BRANCH}"
        )
    changed = git("status", "--porcelain", "--untracked-files=normal", cwd=root).splitlines()
    if changed:
        shown = ", ".join(line[3:] for line in changed[:5]) + (", ..." if len(changed) > 5 else "")
        raise Refused(f"the working tree is not clean ({shown}): commit or remove the changes")
    return [f"a clean working tree on {BRANCH}"]


def not_tagged(root: Path, version: str) -> list[str]:
    if git("tag", "--list", f"v{version}", cwd=root):
        raise Refused(f"v{version} is a tag already: release a newer version")
    return [f"v{version} is not a tag yet"]


# -- 2. one number everywhere, and its changelog -----------------------------------------------


def versions_agree(root: Path, version: str) -> list[str]:
    found = {
        "connector-sdk (sdk/pyproject.toml)": distribution_version(root / "sdk/pyproject.toml"),
        "imap-connector (pyproject.toml)": distribution_version(root / "pyproject.toml"),
        "connector.imap.__version__": dunder_version(root / "connector/imap/__init__.py"),
        f"the manifest's version ({MANIFEST})": manifest_version(root / MANIFEST),
    }
    wrong = [f"{where} is {found!r}" for where, found in found.items() if found != version]
    if wrong:
        raise Refused(f"the version is not {version} everywhere: {'; '.join(wrong)}")
    wanted = compatible_range(version)
    pins = sdk_pins(root / "pyproject.toml")
    if not pins:
        raise Refused(f"pyproject.toml does not depend on {SDK_NAME}")
    off = [written for written, specifiers in pins if specifiers != set(wanted.split(","))]
    if off:
        raise Refused(
            f"imap-connector pins {'; '.join(off)}: what it imports is {SDK_NAME} "
            f"{version}'s, so pin {SDK_NAME}{wanted}"
        )
    return [f"{version} in all four places", f"imap-connector depends on {SDK_NAME}{wanted}"]


def distribution_version(pyproject: Path) -> str | None:
    """The version a pyproject declares, or reads from a file (hatch's dynamic version)."""
    data = tomllib.loads(read(pyproject))
    project = data.get("project", {})
    if "version" in project:
        return str(project["version"])
    path = data.get("tool", {}).get("hatch", {}).get("version", {}).get("path")
    return dunder_version(pyproject.parent / path) if path else None


def dunder_version(path: Path) -> str | None:
    found = _DUNDER_VERSION.search(read(path))
    return found.group(1) if found else None


def manifest_version(path: Path) -> str | None:
    data = yaml.safe_load(read(path))
    return str(data["version"]) if isinstance(data, dict) and "version" in data else None


def compatible_range(version: str) -> str:
    """The range a dependent pins: in 0.x the minor (0.3 -> >=0.3,<0.4), else the major."""
    major, minor, _ = (int(part) for part in version.split("."))
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f">={major}.{minor},<{upper}"


def sdk_pins(pyproject: Path) -> list[tuple[str, set[str]]]:
    """Every requirement on connector-sdk (dependencies and extras): as written, and its
    version specifiers."""
    project = tomllib.loads(read(pyproject)).get("project", {})
    written = [*project.get("dependencies", [])]
    for extra in project.get("optional-dependencies", {}).values():
        written += extra
    pins = []
    for line in written:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.name == SDK_NAME:
            pins.append((line, {str(specifier) for specifier in requirement.specifier}))
    return pins


def changelog_dated(root: Path, version: str) -> list[str]:
    text = read(root / "CHANGELOG.md")
    heading = re.search(rf"^## \[{re.escape(version)}\] - (\S+)$", text, re.M)
    if heading is None:
        raise Refused(
            f"CHANGELOG.md has no section '## [{version}] - YYYY-MM-DD': turn Unreleased into "
            "it (and keep an empty Unreleased above)"
        )
    try:
        datetime.date.fromisoformat(heading.group(1))
    except ValueError:
        raise Refused(
            f"CHANGELOG.md's section for {version} is dated {heading.group(1)!r}: "
            "write the date as YYYY-MM-DD"
        ) from None
    unreleased = re.search(r"^## \[Unreleased\]\n(.*?)^## ", text, re.M | re.S)
    if unreleased is not None and re.search(r"^- ", unreleased.group(1), re.M):
        raise Refused(
            f"CHANGELOG.md lists changes under Unreleased: move them into {version}'s section"
        )
    return [f"CHANGELOG.md: {version} dated {heading.group(1)}"]


# -- 3. against the last release ---------------------------------------------------------------


def compatible_with_last_release(root: Path, version: str) -> list[str]:
    tag = git_or_none("describe", "--tags", "--abbrev=0", f"--match={RELEASE_TAGS}", cwd=root)
    fresh = public_api_text()
    if read(root / SNAPSHOT) != fresh:
        raise Refused(
            f"{SNAPSHOT} is not the code's public API: run .venv/bin/python -m "
            f"connector.sdk._public_api --write {SNAPSHOT}, review and commit it"
        )
    shown = Path(connector_sdk.__file__).parent
    fresh_line = f"{SNAPSHOT} is the public API of the connector-sdk at {shown}"
    if not tag:
        return [fresh_line, f"no release tag ({RELEASE_TAGS}) yet: nothing to compare with"]
    last = tag.removeprefix("v")
    if _VERSION.fullmatch(last) and version_key(version) <= version_key(last):
        raise Refused(f"{version} is not newer than the last release {tag}")
    done = [fresh_line, f"{version} is newer than {tag}"]
    print(f"--- connector diff --last-release {MANIFEST}")
    if connector_cli(["diff", "--last-release", MANIFEST]) != 0:
        raise Refused(f"the manifest breaks saved steps since {tag} (connector diff, above)")
    done.append(f"the manifest against {tag}: connector diff allows it")
    old = git_or_none("show", f"{tag}:{SNAPSHOT}", cwd=root)
    if old is None:
        return [*done, f"{tag} has no {SNAPSHOT}: no public API to compare with"]
    changes = compare(old.splitlines(), fresh.splitlines())
    for change in changes:
        print(f"  {change.line()}")
    breaking = [c for c in changes if c.breaking]
    if breaking and not major_bump(last, version):
        raise Refused(
            f"{len(breaking)} breaking change(s) to the public API since {tag} (above) but "
            f"{version} keeps its major part: release it as {next_major(last)}, or keep the "
            "old names and signatures working"
        )
    return [*done, f"the public API against {tag}: {len(breaking)} breaking, allowed"]


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# -- 4. the distributions ----------------------------------------------------------------------


def built(root: Path, version: str) -> list[str]:
    print("--- scripts/build", flush=True)
    ran = subprocess.run([str(root / "scripts" / "build")], cwd=root, check=False)  # noqa: S603
    if ran.returncode != 0:
        raise Refused(f"scripts/build failed (exit status {ran.returncode})")
    wanted = [
        f"dist/{name}-{version}{suffix}"
        for name in ("connector_sdk", "imap_connector")
        for suffix in ("-py3-none-any.whl", ".tar.gz")
    ]
    missing = [path for path in wanted if not (root / path).is_file()]
    if missing:
        raise Refused(f"scripts/build did not write {', '.join(missing)}")
    return [f"built {', '.join(wanted)}"]


# -- helpers -----------------------------------------------------------------------------------


def git(*args: str, cwd: Path) -> str:
    """git's output, stripped; a failure refuses, saying why."""
    ran = run_git(args, cwd)
    if ran.returncode != 0:
        said = (ran.stderr.strip().splitlines() or ["git failed"])[0]
        raise Refused(f"git {args[0]}: {said}")
    return ran.stdout.strip()


def git_or_none(*args: str, cwd: Path) -> str | None:
    """git's output, stripped, or None when git says no (no such tag, no such file)."""
    ran = run_git(args, cwd)
    return ran.stdout.strip() if ran.returncode == 0 else None


def run_git(args: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - fixed arguments, no shell
            ["git", *args],  # noqa: S607 - the user's git
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise Refused(f"cannot run git: {exc.strerror}") from None


def read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Refused(f"cannot read {path.name}: {exc.strerror}") from None


if __name__ == "__main__":
    sys.exit(main())
