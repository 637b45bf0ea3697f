"""``connector build [PATH] [--out DIR]``: a connector package's wheel, checked first and
after: its manifest valid (handlers imported from PATH), and the wheel holding the manifest,
its icon and the ``connectors`` entry point, so what is installed elsewhere finds itself.

The wheel is built by ``python -m build`` when installed, else ``pip wheel`` (both build in
an isolated environment: the package's build backend comes from the index or pip's cache).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

from .._manifest import Manifest
from ..errors import ManifestError
from . import Invocation
from .output import EXIT_ERROR, EXIT_OK, EXIT_USAGE

TIMEOUT = 600  # seconds: an isolated build may install its backend first


def build(cli: Invocation, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{cli.prog} build", description="Build a connector package's wheel, checked."
    )
    parser.add_argument("path", nargs="?", default=".", metavar="PATH", help="the package (.)")
    parser.add_argument("--out", default="dist", help="where the wheel goes (default: dist)")
    args = parser.parse_args(argv)
    root = Path(args.path).resolve()
    prog = f"{cli.prog} build"
    manifests = sorted(root.glob("connector/*/connector.yaml"))
    if not (root / "pyproject.toml").is_file() or not manifests:
        print(
            f"{prog}: {root} is not a connector package (pyproject.toml and "
            "connector/NAME/connector.yaml, as 'connector new' writes them)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    sys.path.insert(0, str(root))  # its handlers import from here, installed or not
    loaded = []
    for path in manifests:
        try:
            loaded.append(Manifest.load(path))
        except ManifestError as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            return EXIT_ERROR
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.glob("*.whl"))
    if importlib.util.find_spec("build") is not None:
        command = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(root)]
    else:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(root)]
    done = subprocess.run(  # noqa: S603 - our own interpreter, the package's folder
        command, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        print(f"{prog}: the build failed:\n{tail}", file=sys.stderr)
        return EXIT_ERROR
    wheels = (
        sorted(set(out.glob("*.whl")) - before)
        or sorted(out.glob("*.whl"), key=lambda p: p.stat().st_mtime)[-1:]
    )
    if not wheels:
        print(f"{prog}: the build made no wheel in {out}", file=sys.stderr)
        return EXIT_ERROR
    wheel = wheels[-1]
    problems = [p for manifest in loaded for p in wheel_problems(wheel, manifest)]
    for problem in problems:
        print(f"{wheel.name}: {problem}", file=sys.stderr)
    if problems:
        return EXIT_ERROR
    names = ", ".join(f"{m.key} {m.version}" for m in loaded)
    print(f"built {wheel} ({names})")
    return EXIT_OK


def wheel_problems(wheel: Path, manifest: Manifest) -> list[str]:
    """What an installed copy would miss: the manifest, its icon, the entry point."""
    base = f"connector/{manifest.key}/"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        points = next(
            (archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt")),
            "",
        )
    problems = [
        f"has no {base}{part} (ship it inside the package)"
        for part in ("connector.yaml", manifest.icon)
        if base + part not in names
    ]
    group = points.partition("[connectors]")[2].partition("\n[")[0]
    if not any(line.split("=")[0].strip() == manifest.key for line in group.splitlines()):
        problems.append(
            f"declares no entry point {manifest.key!r} in the group 'connectors' "
            "(pyproject: [project.entry-points.connectors])"
        )
    return problems
