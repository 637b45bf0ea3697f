"""The ``imap-connector`` command: the SDK's generic CLI for this connector."""
from __future__ import annotations

import sys

from connector.sdk.cli import main as sdk_main


def main(argv: list[str] | None = None) -> int:
    from . import manifest_path

    return sdk_main(argv, source=manifest_path(), prog="imap-connector")


if __name__ == "__main__":
    sys.exit(main())
