"""The coercion table of SPEC.md "Inputs", and validation with paths."""

from __future__ import annotations

import pytest

from connector.sdk.errors import InvalidInput
from connector.sdk.inputs import CoercionError, InputSet, InputSpec, coerce

RAW = ["993", " 993 ", "9.5", "abc", "", "TRUE", "yes", "2", '["a"]', "a,b", '{"x":1}', "{bad"]
BAD = CoercionError

# Expected value for each type and raw value. "" is handled before coercion: it
# means "not given" for every optional input (these are optional), text included.
TEXT = [None if raw == "" else raw for raw in RAW]
TABLE = {
    "integer": [993, 993, BAD, BAD, None, BAD, BAD, 2, BAD, BAD, BAD, BAD],
    "boolean": [BAD, BAD, BAD, BAD, None, True, True, BAD, BAD, BAD, BAD, BAD],
    "list": [BAD, BAD, BAD, BAD, None, BAD, BAD, BAD, ["a"], BAD, BAD, BAD],
    "object": [BAD, BAD, BAD, BAD, None, BAD, BAD, BAD, BAD, BAD, {"x": 1}, BAD],
    "string": TEXT,
    "text": TEXT,
    "password": TEXT,
}


@pytest.mark.parametrize("kind", sorted(TABLE))
@pytest.mark.parametrize("index", range(len(RAW)))
def test_coercion_table(kind, index):
    spec = InputSpec(key="x", label="X", type=kind)
    raw, expected = RAW[index], TABLE[kind][index]
    inputs = InputSet([spec])
    if expected is BAD:
        with pytest.raises(InvalidInput) as info:
            inputs.resolve({"x": raw}, "inputs")
        assert info.value.details[0]["path"] == "inputs.x"
    else:
        assert inputs.resolve({"x": raw}, "inputs") == {"x": expected}


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("false", False),
        ("FALSE", False),
        ("0", False),
        ("no", False),
        ("Off", False),
        ("1", True),
        ("on", True),
        (True, True),
        (0, False),
    ],
)
def test_boolean_words(raw, expected):
    assert coerce(InputSpec(key="b", label="B", type="boolean"), raw) is expected


def test_json_values_pass_through():
    assert coerce(InputSpec(key="i", label="I", type="integer"), 7) == 7
    assert coerce(InputSpec(key="l", label="L", type="list"), ["a"]) == ["a"]
    assert coerce(InputSpec(key="o", label="O", type="object"), {"a": 1}) == {"a": 1}
    with pytest.raises(CoercionError):
        coerce(InputSpec(key="i", label="I", type="integer"), True)
    with pytest.raises(CoercionError):
        coerce(InputSpec(key="s", label="S", type="string"), ["a"])


def test_defaults_required_unknown_and_every_error_collected():
    inputs = InputSet(
        [
            InputSpec(key="host", label="Host", type="string", required=True),
            InputSpec(
                key="port",
                label="Port",
                type="integer",
                default=993,
                schema={"minimum": 1, "maximum": 65535},
            ),
            InputSpec(
                key="mode",
                label="Mode",
                type="string",
                default="a",
                choices=({"value": "a"}, {"value": "b"}),
            ),
        ]
    )
    assert inputs.resolve({"host": "h"}, "connection") == {"host": "h", "port": 993, "mode": "a"}
    assert inputs.resolve({"host": "h", "port": ""}, "connection")["port"] == 993
    with pytest.raises(InvalidInput) as info:
        inputs.resolve({"port": "70000", "mode": "c", "colour": "red"}, "connection")
    paths = {d["path"] for d in info.value.details}
    assert paths == {"connection.colour", "connection.host", "connection.port", "connection.mode"}
    assert "known inputs: host, port, mode" in info.value.message + str(info.value.details)


def test_required_string_must_not_be_empty():
    inputs = InputSet([InputSpec(key="host", label="Host", type="string", required=True)])
    with pytest.raises(InvalidInput) as info:
        inputs.resolve({"host": ""}, "connection")
    assert info.value.details[0]["path"] == "connection.host"


def test_format_checking_is_on():
    inputs = InputSet(
        [InputSpec(key="when", label="When", type="string", schema={"format": "date-time"})]
    )
    assert inputs.resolve({"when": "2024-05-01T09:30:00+02:00"}, "inputs")
    with pytest.raises(InvalidInput) as info:
        inputs.resolve({"when": "yesterday"}, "inputs")
    assert info.value.details[0]["path"] == "inputs.when"


def test_invalid_message_replaces_the_validator_wording():
    inputs = InputSet(
        [
            InputSpec(
                key="range",
                label="Range",
                type="string",
                schema={"pattern": "^[0-9]+$"},
                invalid_message="use UIDs",
            )
        ]
    )
    with pytest.raises(InvalidInput) as info:
        inputs.resolve({"range": "junk"}, "inputs")
    assert info.value.details == [{"path": "inputs.range", "message": "Range (range): use UIDs"}]


def test_nested_errors_have_nested_paths():
    inputs = InputSet(
        [InputSpec(key="flags", label="Flags", type="list", schema={"items": {"type": "string"}})]
    )
    with pytest.raises(InvalidInput) as info:
        inputs.resolve({"flags": '["a", 3]'}, "inputs")
    assert info.value.details[0]["path"] == "inputs.flags.1"


def test_a_huge_bad_value_does_not_come_back_whole():
    inputs = InputSet(
        [InputSpec(key="code", label="Code", type="string", schema={"pattern": "^[0-9]+$"})]
    )
    with pytest.raises(InvalidInput) as info:
        inputs.resolve({"code": "x" * 100_000}, "inputs")
    assert len(info.value.details[0]["message"]) < 200


def test_patterns_anchor_like_json_schema():
    from connector.sdk.checks import ecma_anchors

    assert ecma_anchors(r"^[a-z$]+$|^\$x$") == r"^[a-z$]+\Z|^\$x\Z"
    inputs = InputSet(
        [InputSpec(key="host", label="Host", type="string", schema={"pattern": "^[a-z.]+$"})]
    )
    assert inputs.resolve({"host": "mail.example"}, "inputs")["host"] == "mail.example"
    with pytest.raises(InvalidInput):
        inputs.resolve({"host": "mail.example\n"}, "inputs")  # Python's "$" alone would pass it
