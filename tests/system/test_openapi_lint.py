"""The exported OpenAPI documents pass the linters a platform engineer runs: Spectral's
``spectral:oas`` ruleset and Redocly's recommended rules, 0 errors (and 0 warnings) on
3.1 and 3.0. The tools are pinned in
tests/tools/package-lock.json and installed by scripts/setup."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

TOOLS = ROOT / "tests" / "tools" / "node_modules" / ".bin"


def tool(name: str) -> Path:
    found = TOOLS / name
    if not found.exists():
        pytest.fail(f"{found} is missing: run scripts/setup (npm ci in tests/tools)")
    return found


def export(tmp_path: Path, version: str) -> Path:
    out = tmp_path / version
    made = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "imap-connector"),
            "export",
            "--format",
            f"openapi-{version}",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    return out / "openapi.json"


@pytest.fixture(scope="module", params=["3.1", "3.0"])
def document(request, tmp_path_factory) -> Path:
    return export(tmp_path_factory.mktemp("lint"), request.param)


def test_spectral_oas_finds_nothing(document, tmp_path):
    ruleset = tmp_path / ".spectral.yaml"
    ruleset.write_text('extends: ["spectral:oas"]\n')
    ran = subprocess.run(
        [
            str(tool("spectral")),
            "lint",
            "--ruleset",
            str(ruleset),
            "--format",
            "json",
            "--fail-severity",
            "hint",
            str(document),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    listed, _ = json.JSONDecoder().raw_decode(ran.stdout)  # (a sentence follows the JSON)
    found = [(f["code"], f["severity"], f["message"], f["path"]) for f in listed]
    assert found == [], json.dumps(found[:10], indent=1)
    assert ran.returncode == 0, ran.stderr


def test_redocly_recommended_finds_nothing(document):
    ran = subprocess.run(
        [str(tool("redocly")), "lint", "--format", "json", str(document)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=document.parent,
    )
    report = json.loads(ran.stdout[ran.stdout.index("{") :])
    problems = [(p["ruleId"], p["severity"], p["message"]) for p in report["problems"]]
    assert problems == [], problems[:10]
    assert ran.returncode == 0, ran.stderr[-2000:]
