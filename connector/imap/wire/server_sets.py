"""UID sets a server sent (ESEARCH ``ALL 1:10000``, COPYUID ``4:6,9 101:104``, SEARCH
numbers): counted without being expanded, and expanded only as far as a step needs.

``ALL 1:4294967295`` is twelve bytes that name four billion UIDs: expanded, it was a
MemoryError. Here it is one run, whose length is known at once; a search takes the page it
shows from the end of the runs, and only a step that needs every UID (a STORE, a COPY)
expands them, within ``budgets.MAX_UIDS``.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import budgets
from .malformed import MalformedReply

MAX_UID = 4294967295  # (RFC 3501 nz-number: 32 bits)


class ServerSet:
    """Runs ``(first, last)`` as the server wrote them (``last < first`` counts down, as
    ``6:4`` is written in a COPYUID); ``len()`` counts them, duplicates included."""

    __slots__ = ("_count", "runs")

    def __init__(self, runs: list[tuple[int, int]]):
        self.runs = runs
        self._count = sum(abs(last - first) + 1 for first, last in runs)

    @classmethod
    def parse(cls, text: bytes | str) -> ServerSet:
        """A sequence set as a server writes one (``4:6,9``); ``MalformedReply`` when not."""
        raw = text.encode("ascii", "replace") if isinstance(text, str) else text
        runs: list[tuple[int, int]] = []
        for item in raw.split(b","):
            low, colon, high = item.partition(b":")
            if not (_uid(low) and (not colon or _uid(high))):
                raise MalformedReply(
                    "UID set", f"{len(raw):,} bytes; not a list of numbers from 1 to {MAX_UID}"
                )
            runs.append((int(low), int(high) if colon else int(low)))
        return cls(runs)

    @classmethod
    def of(cls, uids: Iterable[int]) -> ServerSet:
        """Numbers (a SEARCH answer), ascending and distinct, as runs of consecutive UIDs."""
        runs: list[tuple[int, int]] = []
        for uid in sorted(set(uids)):
            if runs and runs[-1][1] == uid - 1:
                runs[-1] = (runs[-1][0], uid)
            else:
                runs.append((uid, uid))
        return cls(runs)

    def __len__(self) -> int:
        return self._count

    def ascending(self) -> ServerSet:
        """The same UIDs, ascending, each once (overlapping runs merged)."""
        merged: list[tuple[int, int]] = []
        for low, high in sorted((min(a, b), max(a, b)) for a, b in self.runs):
            if merged and low <= merged[-1][1] + 1:
                if high > merged[-1][1]:
                    merged[-1] = (merged[-1][0], high)
            else:
                merged.append((low, high))
        return ServerSet(merged)

    def expand(self, limit: int | None = None) -> list[int]:
        """Every UID, in the order written; ``OverBudget`` past ``limit`` (before expanding;
        by default ``budgets.MAX_UIDS``)."""
        budgets.check(budgets.UIDS, budgets.MAX_UIDS if limit is None else limit, self._count)
        out: list[int] = []
        for first, last in self.runs:
            out.extend(range(first, last + 1) if first <= last else range(first, last - 1, -1))
        return out

    def first(self, n: int) -> list[int]:
        """The first ``n`` UIDs as written (of an ``ascending()`` set: the lowest)."""
        out: list[int] = []
        for first, last in self.runs:
            if len(out) >= n:
                break
            step = 1 if first <= last else -1
            take = min(abs(last - first) + 1, n - len(out))
            out.extend(range(first, first + step * take, step))
        return out

    def last(self, n: int) -> list[int]:
        """The last ``n`` UIDs as written, in that order (of an ``ascending()`` set: the
        highest, ascending)."""
        out: list[list[int]] = []
        left = n
        for first, last in reversed(self.runs):
            if left <= 0:
                break
            step = 1 if first <= last else -1
            take = min(abs(last - first) + 1, left)
            out.append(list(range(last - step * (take - 1), last + step, step)))
            left -= take
        return [uid for part in reversed(out) for uid in part]


def count_numbers(lines: Iterable[bytes]) -> None:
    """``OverBudget`` when SEARCH answer lines hold more than ``budgets.MAX_UIDS`` numbers:
    counted before any of them becomes an int."""
    total = sum(line.count(b" ") + 1 for line in lines if line.strip())  # (an upper bound)
    budgets.check(budgets.UIDS, budgets.MAX_UIDS, total)


def _uid(token: bytes) -> bool:
    return token.isdigit() and len(token) <= 10 and 1 <= int(token) <= MAX_UID
