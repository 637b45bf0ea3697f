"""connector diff: what an upgrade changes for saved steps, breaking or compatible, and
whether the version allows it; ``--last-release`` against the tags of a git repository."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from connector.sdk._manifest import Manifest
from connector.sdk._manifest_diff import compare, major_bump, next_major, verdict
from connector.sdk.cli import main as cli_main

BASE = {
    "manifestVersion": 1,
    "key": "crm",
    "label": "CRM",
    "description": "A CRM",
    "version": "1.2.0",
    "icon": "icon.png",
    "connections": [
        {
            "key": "crm",
            "label": "CRM",
            "description": "An account",
            "handler": "crm:connect",
            "inputs": [{"key": "token", "label": "Token", "type": "password", "required": True}],
        }
    ],
    "actions": [
        {
            "key": "findContact",
            "label": "Find Contact",
            "description": "Finds a contact",
            "handler": "crm:find",
            "inputs": [
                {"key": "email", "label": "Email", "type": "string", "required": True},
                {"key": "limit", "label": "Limit", "type": "integer", "default": 10,
                 "schema": {"maximum": 100}},
                {"key": "order", "label": "Order", "type": "string", "default": "asc",
                 "choices": [{"value": "asc"}, {"value": "desc"}]},
                {"key": "score", "label": "Score", "type": "integer"},
            ],
            "output": {
                "schema": {
                    "type": "object",
                    "required": ["id", "name"],
                    "properties": {
                        "id": {"type": "integer"},
                        "name": {"type": "string"},
                        "tags": {"type": "array", "items": {"type": "object",
                                 "properties": {"label": {"type": "string"}}}},
                    },
                },
                "example": {"id": 1, "name": "Ann"},
            },
        },
        {"key": "ping", "label": "Ping", "description": "Pings", "handler": "crm:ping",
         "inputs": []},
    ],
    "triggers": [
        {"key": "newContact", "label": "New Contact", "description": "New contacts",
         "handler": "crm:poll", "inputs": []}
    ],
}  # fmt: skip


def manifest(data: dict) -> Manifest:
    return Manifest(data, Path("."))


def changed(edit) -> list:
    """The changes from BASE to BASE edited by ``edit(data)``."""
    new = copy.deepcopy(BASE)
    edit(new)
    return compare(manifest(BASE), manifest(new))


def action_inputs(data: dict) -> list[dict]:
    return data["actions"][0]["inputs"]


def only(changes, subject: str):
    found = [c for c in changes if c.subject == subject]
    assert len(found) == 1, changes
    return found[0]


def test_the_same_manifest_changes_nothing():
    assert compare(manifest(BASE), manifest(copy.deepcopy(BASE))) == []


def test_a_renamed_input_is_breaking_and_names_what_to_declare():
    def rename(data):
        action_inputs(data)[0]["key"] = "emailAddress"

    changes = changed(rename)
    removed = only(changes, "input email")
    assert removed.breaking
    assert "declare renamedFrom: [email] on emailAddress" in removed.what
    added = only(changes, "input emailAddress")  # (required, no default: breaking too)
    assert added.breaking and "required" in added.what


def test_a_declared_rename_is_compatible():
    def rename(data):
        action_inputs(data)[0].update(key="emailAddress", renamedFrom=["email"])

    changes = changed(rename)
    assert [(c.breaking, c.subject) for c in changes] == [(False, "input email")]
    assert "renamed to emailAddress" in changes[0].what


def test_a_new_required_input_breaks_unless_it_has_a_default():
    def add(default):
        def edit(data):
            spec = {"key": "region", "label": "Region", "type": "string", "required": True}
            action_inputs(data).append({**spec, **({"default": default} if default else {})})

        return edit

    assert only(changed(add(None)), "input region").breaking
    assert not only(changed(add("eu")), "input region").breaking


def test_an_input_made_required_without_a_default_is_breaking():
    def edit(data):
        action_inputs(data)[3]["required"] = True

    change = only(changed(edit), "input score")
    assert change.breaking and "now required" in change.what


def test_narrowed_choices_and_types_break_widened_ones_do_not():
    def fewer_choices(data):
        action_inputs(data)[2]["choices"] = [{"value": "asc"}]

    def more_choices(data):
        action_inputs(data)[2]["choices"].append({"value": "random"})

    def number(data):
        action_inputs(data)[3]["type"] = "number"

    def boolean(data):
        action_inputs(data)[3]["type"] = "boolean"

    assert only(changed(fewer_choices), "input order").breaking
    assert "'desc'" in only(changed(fewer_choices), "input order").what
    assert not only(changed(more_choices), "input order").breaking
    assert not only(changed(number), "input score").breaking  # integer -> number
    assert only(changed(boolean), "input score").breaking


def test_tighter_limits_break_looser_ones_do_not():
    def lower(data):
        action_inputs(data)[1]["schema"] = {"maximum": 50}

    def higher(data):
        action_inputs(data)[1]["schema"] = {"maximum": 500}

    def pattern(data):
        action_inputs(data)[0]["schema"] = {"pattern": "@"}

    assert only(changed(lower), "input limit").breaking
    assert not only(changed(higher), "input limit").breaking
    assert only(changed(pattern), "input email").breaking


def test_a_changed_default_is_breaking():
    def edit(data):
        action_inputs(data)[1]["default"] = 20

    change = only(changed(edit), "input limit")
    assert change.breaking and "10 to 20" in change.what


def test_removed_steps_break_added_ones_do_not():
    def edit(data):
        data["triggers"] = []
        data["actions"].pop()  # ping
        data["actions"].append({**BASE["actions"][1], "key": "pong"})

    changes = {(c.where, c.breaking) for c in changed(edit)}
    assert changes == {("trigger newContact", True), ("action ping", True), ("action pong", False)}


def test_output_fields_removed_loosened_or_retyped_break_added_ones_do_not():
    def edit(data):
        schema = data["actions"][0]["output"]["schema"]
        del schema["properties"]["id"]
        schema["required"] = []  # name: may now be missing
        schema["properties"]["tags"]["items"]["properties"]["label"] = {"type": ["string", "null"]}
        schema["properties"]["email"] = {"type": "string"}

    changes = {c.subject: c for c in changed(edit)}
    assert changes["output id"].breaking
    assert (
        changes["output name"].breaking
        and "no longer always present" in changes["output name"].what
    )
    assert changes["output tags[].label"].breaking and "null" in changes["output tags[].label"].what
    assert not changes["output email"].breaking


def test_connection_fields_are_compared_like_inputs():
    def edit(data):
        data["connections"][0]["inputs"][0]["key"] = "apiKey"

    assert only(changed(edit), "input token").where == "connection crm"


@pytest.mark.parametrize(
    ("old", "new", "bumped"),
    [
        ("1.2.0", "2.0.0", True),
        ("1.2.0", "1.9.0", False),
        ("0.2.0", "0.3.0", True),  # 0.x: the minor number is the major part
        ("0.2.0", "0.2.5", False),
        ("0.0.3", "0.0.4", True),
        ("1.0.0", "0.9.0", False),
        ("1.0", "2.0", False),  # not X.Y.Z: never counted as a bump
    ],
)
def test_the_major_part_of_a_version(old, new, bumped):
    assert major_bump(old, new) is bumped


def test_the_verdict_asks_for_the_next_major_version():
    def rename(data):
        action_inputs(data)[0]["key"] = "emailAddress"

    changes = changed(rename)
    judged = verdict("1.2.0", "1.3.0", changes)
    assert not judged.ok and "2.0.0" in judged.message
    assert verdict("1.2.0", "2.0.0", changes).ok
    assert verdict("1.2.0", "1.2.1", []).ok
    assert next_major("0.2.7") == "0.3.0"


# -- the command ------------------------------------------------------------------------


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli_main(["diff", *argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_diff_lists_changes_and_fails_on_a_breaking_one_in_the_same_major(tmp_path, capsys):
    new = copy.deepcopy(BASE)
    action_inputs(new)[0]["key"] = "emailAddress"
    old_file, new_file = write(tmp_path / "old.yaml", BASE), write(tmp_path / "new.yaml", new)
    status, out, _ = run(capsys, str(old_file), str(new_file))
    assert status == 1
    assert "breaking    action findContact input email: removed" in out
    status, out, _ = run(capsys, str(old_file), str(new_file), "--format", "json")
    report = json.loads(out)
    assert status == 1 and report["ok"] is False and report["breaking"] == 2
    assert {"breaking": True, "where": "action findContact", "subject": "input email"}.items() <= (
        report["changes"][0].items()
    )
    new["version"] = "2.0.0"
    status, out, _ = run(capsys, str(old_file), str(write(new_file, new)))
    assert status == 0 and "allowed by the major version 1.2.0 -> 2.0.0" in out


def test_diff_names_what_it_cannot_read(tmp_path, capsys):
    status, _, err = run(capsys, str(tmp_path / "nowhere.yaml"), str(tmp_path / "x.yaml"))
    assert status == 1 and "is not a manifest file, a git REF:PATH" in err
    (tmp_path / "list.yaml").write_text("- 1\n")
    status, _, err = run(capsys, str(tmp_path / "list.yaml"), str(tmp_path / "list.yaml"))
    assert status == 1 and "not a connector manifest" in err
    assert run(capsys, str(tmp_path / "list.yaml"))[0] == 2  # one manifest: a usage error


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_last_release_compares_with_the_newest_tag_and_says_when_there_is_none(
    tmp_path, capsys, monkeypatch
):
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    target = write(repo / "sub" / "connector.yaml", BASE)
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    monkeypatch.chdir(tmp_path)  # (outside the repository: the file's own is used)
    status, out, _ = run(capsys, "--last-release", str(target))
    assert status == 0 and "no release tag (v[0-9]*) is reachable from HEAD" in out

    git(repo, "tag", "v1.2.0")
    renamed = copy.deepcopy(BASE)
    action_inputs(renamed)[0].update(key="emailAddress")
    write(target, renamed)
    git(repo, "commit", "-q", "-am", "rename")
    status, out, _ = run(capsys, "--last-release", str(target))
    assert status == 1 and "v1.2.0:sub/connector.yaml" in out

    action_inputs(renamed)[0]["renamedFrom"] = ["email"]
    write(target, renamed)  # (the working tree is compared, committed or not)
    status, out, _ = run(capsys, "--last-release", str(target))
    assert status == 0 and "compatible  action findContact input email: renamed" in out

    status, _, err = run(capsys, "v1.2.0:sub/connector.yaml", str(target))
    assert status == 1 and "cannot read v1.2.0:sub/connector.yaml from git" in err  # (no repo)
    monkeypatch.chdir(repo)
    status, out, _ = run(capsys, "v1.2.0:sub/connector.yaml", str(target))
    assert status == 0
