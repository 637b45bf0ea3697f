"""README examples that are not whole sessions (those: test_readme.py), run as written: the
invoke example's output, ``connector diff`` and ``export`` as shown (and the file names the
next paragraph reads), every ``serve`` option named, and what the element budget counts."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from connector.sdk.service.body import JsonShape
from tests.system.test_readme import ROOT, sh_block

README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent


def section(heading: str) -> str:
    text = README[README.index(f"\n## {heading}\n") :]
    return text[: text.find("\n## ", 4)]


def commands(block: str) -> list[list[str]]:
    """Each command of an sh block (continued lines joined, comments dropped) as argv."""
    joined = block.replace("\\\n", " ")
    argvs = [shlex.split(line, comments=True) for line in joined.splitlines()]
    return [argv for argv in argvs if argv]  # (a line of comment alone is none)


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    if argv[0].startswith(".venv/bin/"):
        argv = [str(BIN / argv[0].removeprefix(".venv/bin/")), *argv[1:]]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONNECTOR_", "IMAP_"))}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_invoke_example_prints_what_the_readme_shows(tmp_path):
    shown = re.search(r"\$ (imap-connector invoke addFlags [^\n]*)\n(\{.*?\n\})\n", README, re.S)
    assert shown, "the README's addFlags example"
    (tmp_path / "conn.json").write_text(
        json.dumps({"host": "imap.example.com", "user": "alice@example.com", "pass": "pw"})
    )
    ran = run([str(BIN / "imap-connector"), *shlex.split(shown.group(1))[1:]], tmp_path)
    assert ran.returncode == 1, ran.stderr
    assert json.loads(ran.stdout) == json.loads(shown.group(2))


def test_the_diff_examples_run(tmp_path):
    lines = commands(sh_block("Upgrades keep saved steps working"))
    assert lines and all(argv[:2] == [".venv/bin/connector", "diff"] for argv in lines)
    for argv in lines:
        ran = run(argv, ROOT)
        assert ran.returncode in (0, 1), (argv, ran.stdout + ran.stderr)  # (1: breaking)
        assert ran.stdout.strip() and "Traceback" not in ran.stderr, argv
        if "--format" in argv:
            assert json.loads(ran.stdout)["new"]["source"] == "connector.yaml"


def test_the_export_examples_write_what_the_next_paragraph_reads(tmp_path):
    text = section("Import it elsewhere")
    for argv in commands(sh_block("Import it elsewhere")):
        argv = [a.replace("build/", f"{tmp_path}/build/") for a in argv]
        ran = run(argv, ROOT)
        assert ran.returncode == 0, (argv, ran.stderr)
    read = set(re.findall(r"build/[\w./-]+\.json", text))
    assert {"build/openapi/openapi.json", "build/openapi-3.0/openapi.json"} <= read, read
    for path in read:
        assert (tmp_path / path).is_file(), path


def test_every_serve_option_is_in_the_readme():
    usage = run([str(BIN / "imap-connector"), "serve", "--help"], ROOT).stdout
    options = set(re.findall(r"(--[a-z][a-z0-9-]+)", usage)) - {"--help"}
    assert "--idle-seconds" in options
    missing = sorted(o for o in options if not re.search(rf"{o}\b", README))
    assert not missing, missing


def test_the_element_budget_says_what_it_counts():
    said = "each `{`, `[`, string (a key or a value), `,` and `:`"
    assert said in section("Sharing fairly")
    shape = JsonShape(10**6, 100)
    shape.feed(b'{"n": [1, true, null], "s": "x"}')
    # { "n" : [ , , , "s" : "x": the numbers, true and null only through their commas
    assert shape.elements == 10
