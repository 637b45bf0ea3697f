"""Where a process's memory goes: ``python -m bench.memprobe OUT -m MODULE ARGS...`` runs
MODULE as ``__main__`` and, on SIGUSR1, writes to OUT (JSON) what it holds: glibc's heap
(mallinfo2), Python's objects by type, with ``PYTHONTRACEMALLOC`` set the traced bytes by
file, and the RSS before and after ``malloc_trim`` (what glibc kept but could give back).
W10's ``--probe`` uses it to split a watcher's bytes between Python, OpenSSL and Temporal's
core (whatever RSS the first two do not explain)."""

from __future__ import annotations

import collections
import ctypes
import gc
import json
import runpy
import signal
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from types import FrameType


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def rollup() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        if value.strip().endswith("kB"):
            out[name] = int(value.split()[0]) * 1024
    return out


def python_bytes(objects: list) -> dict:
    """Python's objects by type, bytes (``sys.getsizeof``: the gc's objects and the
    untracked ones they refer to, strings and bytes, each once); top 30 and the total."""
    seen: set[int] = set()
    sizes: collections.Counter[str] = collections.Counter()
    for o in objects:
        for x in (o, *gc.get_referents(o)):
            if id(x) in seen or (x is not o and gc.is_tracked(x)):
                continue
            seen.add(id(x))
            try:
                sizes[type(x).__qualname__] += sys.getsizeof(x)
            except TypeError:
                pass
    return {"total": sum(sizes.values()), **dict(sizes.most_common(30))}


def report() -> dict:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    heap = {field[0]: getattr(info, field[0]) for field in MallInfo2._fields_}
    objects = gc.get_objects()
    types = collections.Counter(type(o).__qualname__ for o in objects)
    out: dict = {
        "rss": rss(),
        "smaps_rollup": rollup(),
        "mallinfo2": heap,
        "gc objects": len(gc.get_objects()),
        "types": dict(types.most_common(40)),
        "python bytes": python_bytes(objects),
        "threads": threading.active_count(),
    }
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot()
        stats = snapshot.statistics("filename")
        out["traced"] = sum(s.size for s in stats)
        out["traced by file"] = {s.traceback[0].filename: [s.size, s.count] for s in stats[:60]}
        out["tracemalloc overhead"] = tracemalloc.get_tracemalloc_memory()
    started = time.perf_counter()
    libc.malloc_trim(0)
    out["malloc_trim s"] = time.perf_counter() - started
    out["rss after malloc_trim"] = rss()
    return out


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    assert argv[1] == "-m", "usage: memprobe OUT -m MODULE ARGS..."
    module = argv[2]

    def dump(signum: int, frame: FrameType | None) -> None:
        out.write_text(json.dumps(report(), indent=1))

    signal.signal(signal.SIGUSR1, dump)
    sys.argv = [module, *argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
