"""The author's commands, in process: validate counts every kind, the usage matches the
parsers, build and fake refuse what they cannot use with one line (exit 2), and the Power
Automate export's service token is serviceToken. (Building a real wheel and running the
fake by hand: tests/system/test_scaffold_wheel.py.)"""

from __future__ import annotations

import json

from connector.imap import manifest_path
from connector.sdk.cli import main
from connector.sdk.export import powerautomate


def test_validate_counts_every_kind(connector, capsys):
    assert main(["validate", "imap"]) == 0
    said = capsys.readouterr().out
    manifest = connector.manifest
    triggers, sources = len(manifest.triggers), len(manifest.data_sources)
    assert f"{len(manifest.actions)} actions, {triggers} trigger" in said
    assert f"{sources} data source" in said and "connections" in said
    assert main(["validate", str(manifest_path())]) == 0  # a path in NAME's place


def test_the_usage_says_what_the_parsers_take(capsys):
    assert main(["--help"]) == 0
    usage = capsys.readouterr().out
    assert "validate NAME|PATH" in usage and "new NAME" in usage
    assert "build [PATH] [--out DIR]" in usage and "fake FILE.py:factory [--port P]" in usage
    for argv, shown in (
        (["validate", "imap", "--help"], "usage: connector validate imap [-h]\n"),
        (["new", "--help"], "[--dir DIR] NAME"),
        (["build", "--help"], "[--out OUT] [PATH]"),
        (["fake", "--help"], "[--port PORT] FILE.py:factory"),
    ):
        try:
            main(argv)
        except SystemExit as exc:  # argparse's --help
            assert exc.code == 0
        assert shown in capsys.readouterr().out


def test_build_and_fake_refuse_with_one_line(tmp_path, capsys):
    assert main(["build", str(tmp_path)]) == 2
    assert "is not a connector package" in capsys.readouterr().err
    assert main(["fake", "nothing.here:factory"]) == 2
    assert "cannot load nothing.here:factory" in capsys.readouterr().err
    assert main(["fake", "no_colon"]) == 2


def test_the_power_automate_service_token_is_service_token(connector, tmp_path):
    powerautomate.export(connector, tmp_path)
    properties = json.loads((tmp_path / "apiProperties.json").read_text())["properties"]
    swagger = json.loads((tmp_path / "apiDefinition.swagger.json").read_text())
    assert "serviceToken" in properties["connectionParameters"]
    assert list(swagger["securityDefinitions"]) == ["serviceToken"]
    assert "api_key" not in json.dumps(swagger) + json.dumps(properties)
