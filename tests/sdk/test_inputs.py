"""The coercion of raw input strings by the manifest's types (the guide's "Inputs"), and
validation with paths."""

from __future__ import annotations

import pytest

from connector.sdk._inputs import CoercionError, InputSet, InputSpec, coerce
from connector.sdk.errors import InvalidInput

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
    from connector.sdk._checks import ecma_anchors

    assert ecma_anchors(r"^[a-z$]+$|^\$x$") == r"^[a-z$]+\Z|^\$x\Z"
    inputs = InputSet(
        [InputSpec(key="host", label="Host", type="string", schema={"pattern": "^[a-z.]+$"})]
    )
    assert inputs.resolve({"host": "mail.example"}, "inputs")["host"] == "mail.example"
    with pytest.raises(InvalidInput):
        inputs.resolve({"host": "mail.example\n"}, "inputs")  # Python's "$" alone would pass it


# One meaning for every keyword: the fast checker and the jsonschema fallback agree.
DIFFERENTIAL = [
    ({"type": "string", "pattern": "^[a-z.]+$"}, ["evil.com", "evil.com\n", "Evil", ""]),
    ({"type": "string", "pattern": "a$"}, ["a", "a\n", "ba", "ab"]),
    ({"type": "string", "pattern": "^[$]+$"}, ["$$", "$\n", "a"]),
    ({"type": "string", "pattern": "x\\$"}, ["x$", "x", "x$\n"]),
    ({"type": "string", "minLength": 2, "maxLength": 3}, ["a", "ab", "abcd", "ab\n"]),
    ({"type": "integer", "minimum": 1, "maximum": 9}, [0, 1, 9, 10, -3]),
    ({"type": "number", "minimum": 0.5}, [0, 0.5, -1, 3]),
    ({"type": "string", "enum": ["a", "b"]}, ["a", "c", "A"]),
    ({"type": "array", "items": {"type": "string", "pattern": "^\\d+$"}}, [["1"], ["1\n"], []]),
    ({"type": "array", "minItems": 1}, [[], [1]]),
    ({"type": "string", "format": "date"}, ["2024-05-01", "2024-13-01", "2024-05-01\n"]),
    ({"type": "string", "format": "date-time"}, ["2024-05-01T09:30:00Z", "2024-05-01"]),
]


@pytest.mark.parametrize(("schema", "values"), DIFFERENTIAL)
def test_fast_checker_and_jsonschema_fallback_agree(schema, values):
    from jsonschema import Draft202012Validator

    from connector.sdk import _checks as checks
    from connector.sdk._inputs import _jsonschema_validator

    assert checks.handles(schema)
    fallback = _jsonschema_validator(schema)
    for value in values:
        fast = not list(checks.errors(schema, value))
        slow = fallback.is_valid(value)
        assert fast == slow, (schema, value, fast, slow)
    # (and the plain jsonschema reading differs where $ meets a final newline)
    if schema.get("pattern") == "^[a-z.]+$":
        assert Draft202012Validator(schema).is_valid("evil.com\n")


def test_an_unhandled_keyword_does_not_change_what_a_pattern_means():
    """uniqueItems sends the whole input set to jsonschema: Host must still refuse "\\n"."""
    from connector.sdk._inputs import InputSet

    inputs = InputSet(
        [
            InputSpec(key="host", label="Host", type="string", schema={"pattern": "^[a-z.]+$"}),
            InputSpec(key="tags", label="Tags", type="list", schema={"uniqueItems": True}),
        ]
    )
    with pytest.raises(InvalidInput) as info:
        inputs.resolve({"host": "evil.com\n", "tags": ["a"]}, "inputs")
    assert info.value.details[0]["path"] == "inputs.host"
    assert inputs.resolve({"host": "evil.com", "tags": ["a"]}, "inputs")["host"] == "evil.com"


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        ("number", "2.5", 2.5),
        ("number", " 3 ", 3),
        ("number", 7, 7),
        ("number", "-1e3", -1000.0),
        ("date", "2024-05-01", "2024-05-01"),
        ("date-time", "2024-05-01T09:30:00Z", "2024-05-01T09:30:00Z"),
        ("date-time", "2024-05-01T09:30:00+02:00", "2024-05-01T09:30:00+02:00"),
    ],
)
def test_number_date_and_date_time_inputs(kind, raw, value):
    spec = InputSpec(key="x", label="X", type=kind)
    assert coerce(spec, raw) == value


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("number", "NaN"),
        ("number", "1,5"),
        ("number", True),
        ("number", float("inf")),
        ("date", "2024-02-30"),
        ("date", "01/05/2024"),
        ("date-time", "2024-05-01T09:30:00"),  # no offset
        ("date-time", "2024-05-01"),
        ("date-time", 5),
    ],
)
def test_number_date_and_date_time_refusals(kind, raw):
    with pytest.raises(CoercionError):
        coerce(InputSpec(key="x", label="X", type=kind), raw)
