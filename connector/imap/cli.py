"""``imap-connector``: the SDK's console bound to this connector, plus ``demo``."""

from __future__ import annotations

import sys

from connector.sdk.cli import Bound, Command
from connector.sdk.cli import main as sdk_main

from . import manifest_path

DEMO = Command(
    "connector.imap.demo.run:command",
    "the main job on an embedded IMAP server",
    "[--json] [--serve]",
)


def main(argv: list[str] | None = None) -> int:
    return sdk_main(
        argv, bound=Bound("imap", manifest_path()), prog="imap-connector", extra={"demo": DEMO}
    )


if __name__ == "__main__":
    sys.exit(main())
