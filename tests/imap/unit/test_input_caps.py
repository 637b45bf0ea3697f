"""What a caller's lists may hold (flags, search filters) and what reading them costs: every
list has a cap the manifest states, over it is INVALID_INPUT naming the input and the maximum,
and reading a list is linear in its length (measured as a ratio, N against 10 N, in this
process: never a wall-clock bound)."""

from __future__ import annotations

import gc
import re
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from connector.imap import search
from connector.imap.wire import protocol
from connector.sdk import InvalidInput

T = TypeVar("T")


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The fastest of ``runs`` timings (the least disturbed by other processes), without the
    garbage collector's passes (which grow with everything the process holds)."""
    best = float("inf")
    gc.disable()
    try:
        for _ in range(runs):
            started = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - started)
    finally:
        gc.enable()
    return best


def growth(work: Callable[[T], object], make: Callable[[int], T], n: int) -> float:
    """How much longer ``work`` takes on ``make(10 n)`` than on ``make(n)``: ~10 when linear,
    ~100 when quadratic."""
    small, large = make(n), make(10 * n)
    work(small)  # (warm: caches, allocator)
    return best_of(7, lambda: work(large)) / best_of(7, lambda: work(small))


class Counted(str):
    """A keyword that counts how often it is compared with another (a list lookup compares
    with every item; a dict or set hashes once and compares only on a hash match)."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        Counted.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_normalizing_flags_is_linear():
    def comparisons(count: int) -> int:
        Counted.comparisons = 0
        protocol.normalize_flags([Counted(f"k{i}") for i in range(count)] + ["\\seen", "k1"])
        return Counted.comparisons

    # Looking each keyword up in the list built so far compared 60,000 keywords 1.8 billion
    # times (~20 s of CPU per addFlags).
    small, large = comparisons(1000), comparisons(10_000)
    assert large <= 10 * small + 10, (small, large)


def test_normalized_flags_keep_their_first_order_once_each():
    flags = ["b", "\\SEEN", "a", "b", "\\Seen", "$Junk", "a"]
    assert protocol.normalize_flags(flags) == ["b", "\\Seen", "a", "$Junk"]


def test_building_an_or_search_is_linear(monkeypatch):
    monkeypatch.setattr(search, "MAX_OR_ITEMS", 10**6)
    monkeypatch.setattr(search, "MAX_TERMS", 10**6)

    def filters(count: int) -> dict:
        return {"or": [{"seen": True}] * count}

    def build(value: dict) -> None:
        search.translate(value, search.Criteria(), "filterOptions")

    # 40,000 alternatives took 5 s of CPU when each OR copied the keys built so far (a
    # growth of ~100 from 2,000 to 20,000; linear: 11 to 18 here).
    assert growth(build, filters, 2000) < 50


def test_a_long_or_still_reads_as_the_right_fold():
    keys = search.translate(
        {"or": [{"seen": True}, {"draft": True}, {"flagged": True}]},
        search.Criteria(),
        "filterOptions",
    )
    b = b" ".join(keys)
    assert b == b"OR ( SEEN ) OR ( DRAFT ) ( FLAGGED )"


@pytest.mark.parametrize("action", ["addFlags", "removeFlags", "setFlags", "appendMessage"])
def test_a_flags_list_over_its_cap_is_invalid_input_naming_the_input_and_the_maximum(
    connector, action
):
    operation = connector.manifest.actions[action]
    raw = {"mailbox": "INBOX", "path": "INBOX", "range": "1", "content": "Subject: x\r\n\r\nx\r\n"}
    raw = {k: v for k, v in raw.items() if k in operation.inputs.by_key}
    operation.inputs.resolve({**raw, "flags": [f"k{i}" for i in range(100)]}, "inputs")
    with pytest.raises(InvalidInput) as info:
        operation.inputs.resolve({**raw, "flags": [f"k{i}" for i in range(60_000)]}, "inputs")
    error = info.value
    assert error.code == "INVALID_INPUT"
    assert [d["path"] for d in error.details] == ["inputs.flags"]  # one message, not 60,000
    assert "Flags (flags)" in error.message and "at most 100" in error.message
    assert "60000 items" in error.message


def test_a_list_input_without_a_declared_cap_gets_the_sdks():
    from connector.sdk._inputs import MAX_ITEMS, InputSpec

    assert InputSpec("tags", "Tags", "list").json_schema()["maxItems"] == MAX_ITEMS
    assert InputSpec("tags", "Tags", "list", schema={"maxItems": 5}).json_schema()["maxItems"] == 5


def filters_error(filters: dict) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        search.translate(filters, search.Criteria(), "filterOptions")
    return info.value


def test_an_or_over_its_cap_names_the_list_and_the_maximum():
    search.translate({"or": [{"seen": True}] * 100}, search.Criteria(), "filterOptions")
    error = filters_error({"or": [{"seen": True}] * 101})
    assert error.details[0]["path"] == "inputs.filterOptions.or"
    assert "101 alternatives: at most 100" in error.message


def test_or_and_not_nested_over_the_cap_are_refused():
    def nested(levels: int) -> dict:
        value: dict = {"seen": True}
        for level in range(levels):
            value = {"not": value} if level % 2 else {"or": [value, {"draft": True}]}
        return value

    search.translate(nested(8), search.Criteria(), "filterOptions")
    error = filters_error(nested(9))
    assert "more than 8 levels deep: at most 8" in error.message
    assert error.details[0]["path"].startswith("inputs.filterOptions.")


def test_filters_over_the_total_cap_are_refused_wherever_they_are():
    ok = {"or": [{"header": {f"X-H{i}": "1" for i in range(4)}} for _ in range(100)]}
    search.translate(ok, search.Criteria(), "filterOptions")  # 1 or + 100 headers x 4 = 401
    many = {"or": [{"header": {f"X-H{i}": "1" for i in range(5)}} for _ in range(100)]}
    error = filters_error(many)
    assert "more than 500 filters" in error.message and "at most 500" in error.message


def test_the_manifest_states_the_caps_the_code_applies(connector):
    for action in ("addFlags", "removeFlags", "setFlags", "appendMessage"):
        flags = connector.manifest.actions[action].inputs.by_key["flags"]
        assert flags.json_schema()["maxItems"] == 100
    for table, key in (("actions", "searchMailbox"), ("triggers", "newEmailsPollingTrigger")):
        spec = getattr(connector.manifest, table)[key].inputs.by_key["filterOptions"]
        said = spec.comments
        caps = re.search(
            r"At most (\d+) filters .*?, (\d+) alternatives .*?nested (\d+) levels", said
        )
        assert caps, said
        assert tuple(map(int, caps.groups())) == (
            search.MAX_TERMS,
            search.MAX_OR_ITEMS,
            search.MAX_NESTING,
        )


def test_a_range_over_its_length_is_refused_before_its_pattern_runs(connector):
    """11 MB of "1,2,3,..." cost 13 s of CPU (pattern, parse, merge); now refused on its
    length, by the manifest and by protocol alike."""
    operation = connector.manifest.actions["addFlags"]
    spec = operation.inputs.by_key["range"]
    assert spec.json_schema()["maxLength"] == protocol.MAX_SET_TEXT
    assert (
        str(protocol.MAX_SET_TEXT) in spec.invalid_message
        and str(protocol.MAX_SET_TEXT) in spec.comments
    )
    fits = ",".join(str(i) for i in range(1, 20_000))[: protocol.MAX_SET_TEXT].rstrip(",")
    protocol.parse_uid_set(fits)
    operation.inputs.resolve({"mailbox": "INBOX", "range": fits, "flags": ["a"]}, "inputs")
    huge = ",".join(str(i) for i in range(1, 1_500_000))
    with pytest.raises(InvalidInput) as info:
        operation.inputs.resolve({"mailbox": "INBOX", "range": huge, "flags": ["a"]}, "inputs")
    assert "Range (range)" in info.value.message and "at most 100000" in info.value.message
    with pytest.raises(InvalidInput, match="at most 100000"):
        protocol.parse_uid_set(huge)
    with pytest.raises(InvalidInput, match="at most 100000"):
        search.translate({"uid": huge}, search.Criteria(), "filterOptions")
