"""What checking an input costs: nothing is shown (no repr of the value) unless a message is
made; a big text that fails a check is shown by its start only."""

from __future__ import annotations

from connector.sdk import checks


class Counted(str):
    reprs = 0

    def __repr__(self) -> str:
        Counted.reprs += 1
        return str.__repr__(self)


def test_a_valid_value_is_never_shown():
    Counted.reprs = 0
    schema = {"type": "string", "minLength": 1, "maxLength": 10**9, "pattern": "^S"}
    assert list(checks.errors(schema, Counted("Subject: x\r\n" * 1000))) == []
    assert Counted.reprs == 0  # (was one repr per check: 0.45 s for a 45 MB message)


def test_an_invalid_value_is_shown_shortened():
    errors = list(checks.errors({"type": "string", "pattern": "^S"}, "x" * 10_000_000))
    assert len(errors) == 1
    _path, message = errors[0]
    assert message.startswith("'xxx") and "..." in message and len(message) < 200
