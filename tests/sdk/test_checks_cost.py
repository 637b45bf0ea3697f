"""What checking an input costs: nothing is shown (no repr of the value) unless a message is
made; a big text that fails a check is shown by its start only."""

from __future__ import annotations

from connector.sdk import _checks as checks


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


def test_a_text_over_its_length_is_not_matched_against_its_pattern():
    """An 11 MB range cost 3.9 s in its pattern alone: over maxLength, that is the one
    message and the pattern never runs."""
    schema = {"type": "string", "maxLength": 10, "pattern": "^(a|b)+$"}
    errors = list(checks.errors(schema, "a" * 100 + "!"))
    assert len(errors) == 1 and "too long (at most 10)" in errors[0][1], errors
