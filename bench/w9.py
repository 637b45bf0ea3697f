"""W9: a victim tenant's getStatus p99 under each attack of issue 36, beside its quiet p99
from the same run (one service per attack; tests/servers/attacks.py), against the bound
``max(2 x quiet, quiet + 250 ms)``.

``bench/run --only W9`` (with the bench's Dovecot), or alone on a fresh Dovecot:
``.venv/bin/python -m bench.w9 [attack keys...]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.servers.attacks import ATTACKS, Figures, measure, p99, shared_service, table


def run_w9(dovecot, workdir: Path, keys: list[str] | None = None) -> dict[str, dict]:
    """Prints the table; returns the figures (ms) by attack."""
    results: list[Figures] = []
    for n, attack in enumerate(a for a in ATTACKS if not keys or a.key in keys):
        tmp = workdir / f"w9-{n}"
        tmp.mkdir(exist_ok=True)
        with shared_service(tmp) as service:
            results.append(measure(attack, service, dovecot))
    print("\nW9 the victim's getStatus under each attack (one service each, same run):")
    print(table(results))
    return {
        figures.attack: {
            "quiet p99 ms": round(p99(figures.quiet) * 1000, 1),
            "attacked p99 ms": round(p99(figures.attacked) * 1000, 1),
            "bound ms": round(figures.bound * 1000, 1),
            "victim failed": len(figures.errors),
            "within": figures.within,
        }
        for figures in results
    }


def main(argv: list[str]) -> int:
    import trustme

    from tests.servers.dovecot import Dovecot

    server = Dovecot(trustme.CA())
    info = server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            figures = run_w9(info, Path(tmp), argv or None)
    finally:
        server.stop()
    return 0 if all(f["within"] for f in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
