"""The host pattern's wide class, compiled as its negation, costs a fraction of what it
did (tests/sdk/test_checks_wide_classes.py checks it matches the same code points). Here,
not in the unit run: it reads a clock."""

from __future__ import annotations

import re
import time

from connector.sdk import _checks as checks

HOST = r"^[A-Za-z0-9._:\[\]\u00a1-\uffff-]+$"  # connector.yaml's host pattern


def fastest_compile(pattern: str) -> float:
    times = []
    for _ in range(5):
        re.purge()
        started = time.perf_counter()
        re.compile(pattern)
        times.append(time.perf_counter() - started)
    return min(times)


def test_the_host_pattern_compiles_several_times_faster():
    anchored = checks.ecma_anchors(HOST)
    rewritten = checks.wide_classes_negated(anchored)
    # (measured: 2.5 ms as written, 0.1-0.3 ms rewritten; 3x leaves room for a noisy machine)
    assert fastest_compile(rewritten) * 3 < fastest_compile(anchored)
