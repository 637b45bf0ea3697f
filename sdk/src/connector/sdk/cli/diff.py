"""``connector diff OLD NEW``: what an upgrade changes for saved steps (``manifest_diff``).

OLD and NEW are each a manifest file, a git ``REF:PATH`` (``v0.3.0:connector.yaml``) or an
installed connector's name. ``--last-release`` compares NEW with its own file at the newest
release tag reachable from HEAD, and says so when there is none yet (CI runs it on every
commit). Exit status 0 when saved steps keep working or the major version allows the
breaking changes, 1 when it does not (or a manifest cannot be read), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from .._discovery import is_connector_name, resolve_manifest
from .._manifest import Manifest, parse_yaml
from .._manifest_diff import compare, verdict
from ..errors import ManifestError
from . import Invocation
from .output import EXIT_ERROR, EXIT_OK, EXIT_USAGE, print_json

RELEASE_TAGS = "v[0-9]*"  # the tags releases get (v0.3.0)


class Source:
    """A manifest to compare: what the user named, and its text."""

    def __init__(self, name: str, text: str, base_dir: Path):
        self.name, self.text, self.base_dir = name, text, base_dir

    def manifest(self) -> Manifest:
        """The manifest as written, unchecked: an old release's may use keys the schema has
        since dropped, and its handlers need not import."""
        data = parse_yaml(self.text)
        try:
            return Manifest(data, self.base_dir)
        except (KeyError, TypeError, AttributeError) as exc:
            what = f"no {exc.args[0]!r}" if isinstance(exc, KeyError) else "a wrong shape"
            raise ManifestError([f"{self.name}: not a connector manifest ({what})"]) from None


def diff(cli: Invocation, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=cli.usage_prefix,
        description="List what an upgrade from OLD to NEW changes for saved steps, as breaking "
        "or compatible. OLD and NEW: a manifest file, a git REF:PATH (v0.3.0:connector.yaml), "
        "or an installed connector's name.",
    )
    parser.add_argument("manifests", nargs="*", metavar="OLD NEW")
    parser.add_argument(
        "--last-release",
        action="store_true",
        help=f"compare NEW with its file at the newest tag matching {RELEASE_TAGS} "
        "reachable from HEAD (none yet: nothing to compare, exit status 0)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args(argv)
    names: list[str] = list(args.manifests)
    bound = [str(cli.source)] if cli.bound and cli.source is not None else []
    wanted = 1 if args.last_release else 2
    if len(names) == wanted - 1 and bound:
        names += bound  # (a bound console: NEW is its own manifest)
    if len(names) != wanted:
        what = "NEW" if args.last_release else "OLD and NEW"
        parser.print_usage(sys.stderr)
        print(f"{cli.prog} diff: give {what}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.last_release:
            new = read_source(names[0])
            old = last_release(names[0])
            if isinstance(old, str):
                return _nothing_to_compare(old, new, args.format)
        else:
            old, new = read_source(names[0]), read_source(names[1])
        before, after = old.manifest(), new.manifest()
    except (ManifestError, LookupError) as exc:
        print(f"{cli.prog} diff: {exc}", file=sys.stderr)
        return EXIT_ERROR
    changes = compare(before, after)
    judged = verdict(before.version, after.version, changes)
    if args.format == "json":
        print_json(
            {
                "old": _about(old, before),
                "new": _about(new, after),
                "changes": [change.as_json() for change in changes],
                "breaking": sum(1 for c in changes if c.breaking),
                "compatible": sum(1 for c in changes if not c.breaking),
                "majorBump": judged.major_bump,
                "ok": judged.ok,
                "message": judged.message,
            }
        )
    else:
        print(f"{before.key} {before.version} ({old.name}) -> {after.version} ({new.name})")
        for change in sorted(changes, key=lambda c: not c.breaking):
            print(f"  {'breaking  ' if change.breaking else 'compatible'}  {change.line()}")
        print(judged.message)
    return EXIT_OK if judged.ok else EXIT_ERROR


def read_source(name: str) -> Source:
    """A manifest file, a git ``REF:PATH``, or an installed connector's manifest."""
    path = Path(name)
    if path.is_file():
        return Source(name, _read(path), path.parent)
    if ":" in name:
        ref, _, inside = name.partition(":")
        return Source(name, git_show(ref, inside), Path(inside).parent)
    if is_connector_name(name):
        found = resolve_manifest(name)
        return Source(f"{name}, installed", _read(found), found.parent)
    raise LookupError(
        f"{name!r} is not a manifest file, a git REF:PATH (such as v0.3.0:connector.yaml) "
        "or an installed connector's name"
    )


def last_release(name: str) -> Source | str:
    """``name``'s file at the newest release tag reachable from HEAD, or why there is none."""
    path = Path(name)
    if not path.is_file():
        raise LookupError(f"--last-release compares a manifest file: {name!r} is not one")
    folder = path.resolve().parent
    found = _git(["describe", "--tags", "--abbrev=0", f"--match={RELEASE_TAGS}"], folder)
    if found.returncode != 0:
        return f"no release tag ({RELEASE_TAGS}) is reachable from HEAD"
    tag = found.stdout.strip()
    top = _git(["rev-parse", "--show-toplevel"], folder).stdout.strip()
    inside = path.resolve().relative_to(Path(top).resolve()).as_posix()
    shown = _git(["cat-file", "-e", f"{tag}:{inside}"], folder)
    if shown.returncode != 0:
        return f"{inside} is not in the release {tag}"
    return Source(f"{tag}:{inside}", git_show(tag, inside, folder), path.parent)


def git_show(ref: str, inside: str, folder: Path | None = None) -> str:
    """A file as committed at ``ref`` (``inside``: its path in the repository)."""
    shown = _git(["show", f"{ref}:{inside}"], folder)
    if shown.returncode != 0:
        said = (shown.stderr.strip().splitlines() or ["git failed"])[0]
        raise LookupError(f"cannot read {ref}:{inside} from git: {said}")
    return shown.stdout


def _git(args: list[str], folder: Path | None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - fixed arguments, no shell
            ["git", *args],  # noqa: S607 - the user's git
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise LookupError(f"cannot run git: {exc.strerror}") from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LookupError(f"cannot read {path}: {exc}") from None


def _about(source: Source, manifest: Manifest) -> dict[str, Any]:
    return {"source": source.name, "key": manifest.key, "version": manifest.version}


def _nothing_to_compare(why: str, new: Source, output: str) -> int:
    message = f"{why}: nothing to compare against"
    if output == "json":
        print_json(
            {
                "old": None,
                "new": {"source": new.name},
                "changes": [],
                "breaking": 0,
                "compatible": 0,
                "majorBump": False,
                "ok": True,
                "message": message,
            }
        )
    else:
        print(message)
    return EXIT_OK
