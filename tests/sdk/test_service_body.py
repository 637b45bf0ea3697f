"""The request body's budget counted before parsing (connector.sdk.service.body): elements and
nesting read the same whatever the pieces the bytes arrive in, strings (with their escapes,
brackets and quotes) count once, and a body over a cap is refused early."""

from __future__ import annotations

import json
import random

import pytest

from connector.sdk.errors import InvalidInput, PayloadTooLarge
from connector.sdk.service.body import MAX_BODY_DEPTH, JsonShape, parse_object


def shape_of(data: bytes, pieces: int | None = None, **caps: int) -> JsonShape:
    shape = JsonShape(caps.get("max_elements", 10**9), caps.get("max_depth", 10**9))
    if pieces is None:
        shape.feed(data)
    else:
        for start in range(0, len(data), pieces):
            shape.feed(data[start : start + pieces])
    return shape


def elements_of(value: object) -> int:
    """What JsonShape counts, from the parsed value: containers, strings (keys too), and the
    separators between items and after keys."""
    if isinstance(value, dict):
        inner = sum(1 + 1 + elements_of(v) for v in value.values())
        return 1 + inner + max(0, len(value) - 1)
    if isinstance(value, list):
        return 1 + sum(elements_of(v) for v in value) + max(0, len(value) - 1)
    return 1 if isinstance(value, str) else 0


def random_json(rng: random.Random, depth: int = 0) -> object:
    kind = rng.choice("sdlnx" if depth < 5 else "sn")
    if kind == "s":
        alphabet = ["a", '"', "\\", "{", "}", "[", "]", ",", ":", "é", "\n", "\u2028", " "]
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if kind == "d":
        return {random_json(rng, 9): random_json(rng, depth + 1) for _ in range(rng.randrange(4))}
    if kind == "l":
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == "n":
        return rng.choice([0, -1.5e3, 12345678901234567890])
    return rng.choice([True, False, None])


def test_elements_and_depth_read_the_same_in_any_pieces():
    rng = random.Random(36)
    for _ in range(300):
        value = {"inputs": random_json(rng)}
        data = json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()
        whole = shape_of(data)
        assert whole.depth == 0 and not whole._in_string
        assert whole.elements == elements_of(value)
        for pieces in (1, 2, 3, 7):
            split = shape_of(data, pieces)
            assert (split.elements, split.depth) == (whole.elements, 0), (data, pieces)


def test_strings_count_once_whatever_they_hold():
    shape = shape_of(json.dumps({"a": 'x{[",:]}\\"\\\\' * 1000}).encode(), 5)
    assert shape.elements == 4  # { "a" : "..."
    assert shape_of(b'["\\\\", "\\\\\\"", ""]', 1).elements == 6


def test_a_body_of_empty_objects_is_refused_after_its_first_elements():
    caps = {"max_elements": 100_000, "max_depth": MAX_BODY_DEPTH}
    chunk = b"{}," * 21_845  # ~64 KB, as a server reads it
    shape = JsonShape(**caps)
    shape.feed(b'{"inputs": [')
    fed = 0
    with pytest.raises(PayloadTooLarge) as info:
        for _ in range(700):  # 45 MB
            shape.feed(chunk)
            fed += 1
    assert fed <= 3  # refused within ~200 KB of the 45 MB
    assert "at most 100000" in info.value.message and "elements" in info.value.message


def test_nesting_past_the_cap_is_invalid_input():
    ok = b'{"inputs": {"x": ' + b"[" * (MAX_BODY_DEPTH - 2) + b"]" * (MAX_BODY_DEPTH - 2) + b"}}"
    shape_of(ok, 3, max_depth=MAX_BODY_DEPTH)
    deep = b'{"inputs": {"x": ' + b"[" * (MAX_BODY_DEPTH - 1)
    with pytest.raises(InvalidInput) as info:
        shape_of(deep, 3, max_depth=MAX_BODY_DEPTH)
    assert f"nested more than {MAX_BODY_DEPTH} levels deep" in info.value.message


def test_the_deepest_input_the_runtime_takes_fits_the_body_depth():
    """Every body whose inputs the runtime would accept passes the body's depth cap."""
    from connector.sdk._inputs import MAX_DEPTH, plain_json_problem

    value: object = "x"
    for _ in range(MAX_DEPTH):
        value = [value]
    assert plain_json_problem(value) is None
    body = json.dumps({"inputs": {"x": value}, "state": value}).encode()
    shape_of(body, max_depth=MAX_BODY_DEPTH)
    assert plain_json_problem([value]) is not None  # one more is the runtime's refusal


def test_closing_more_than_was_opened_is_not_json():
    with pytest.raises(InvalidInput, match="must be a JSON object"):
        shape_of(b"]]]]", max_depth=5)


def test_a_long_string_costs_no_elements():
    text = ('line one, [with] {brackets}: and "quotes"\r\n' * 200_000).encode()
    body = json.dumps({"inputs": {"content": text.decode()}}).encode()
    shape = shape_of(body, 65_536, max_elements=10)
    assert shape.elements == 7


def test_parse_object_takes_objects_only_and_frees_the_pieces():
    pieces = ['{"a": ', "[1, 2]}"]
    assert parse_object(pieces) == {"a": [1, 2]}
    assert pieces == []  # freed once joined
    for bad in ("[1]", "{", "\ufeff{}", "nul"):
        with pytest.raises(InvalidInput, match="must be a JSON object"):
            parse_object([bad])


def test_escapes_across_pieces_in_long_strings():
    """A string whose escaped quotes and backslash runs fall on every piece boundary."""
    for text in ('a\\"b', "\\" * 7 + '"', 'x"' * 50, '\\\\"' * 9):
        body = json.dumps({"k": text * 40, "n": [1, {"m": text}]}).encode()
        for pieces in (1, 2, 3, 4, 5):
            shape = shape_of(body, pieces)
            assert (shape.elements, shape.depth) == (elements_of(json.loads(body)), 0)
