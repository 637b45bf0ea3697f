"""The C heap's free pages given back (connector.sdk._heap): glibc keeps what is freed in
the middle of its heap resident until ``malloc_trim``."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from connector.sdk import _heap as heap


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_gives_back_the_pages_freed_in_the_middle_of_the_heap() -> None:
    # 64 MB in 4 KB pieces (under glibc's mmap threshold: from the heap), then every piece
    # freed but one in 64, so the heap's top stays in use and free() alone returns little.
    pieces = [bytes(4096 - 64) + bytes([n % 256]) for n in range(16_384)]
    kept = pieces[63::64]
    del pieces
    before = rss()
    assert heap.trim()
    after = rss()
    # About 63 MB are free pages in the middle: trimming gives back more than half of them.
    assert before - after > 32 * 2**20, (before, after)
    assert len(kept) == 256
