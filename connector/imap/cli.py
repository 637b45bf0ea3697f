"""The ``imap-connector`` command: the SDK's generic CLI for this connector."""

from __future__ import annotations

import sys

from connector.sdk.cli import main as sdk_main


def main(argv: list[str] | None = None) -> int:
    from . import manifest_path

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["serve"]:  # the HTTP service (connector-sdk[serve]) for this connector
        from connector.sdk.service import main as serve_main

        return serve_main(args[1:], connectors=["imap"], prog="imap-connector")
    if args[:1] and args[0] in ("worker", "run-step", "watch"):  # connector-sdk[temporal]
        from connector.sdk.temporal.cli import main as temporal_main

        return temporal_main(args[0], args[1:], connector_name="imap", prog="imap-connector")

    return sdk_main(
        argv,
        source=manifest_path(),
        prog="imap-connector",
        extra_commands={"demo": (_demo_parser, _demo)},
    )


def _demo_parser(parser) -> None:
    parser.add_argument("--json", action="store_true", help="also print each full envelope")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep the seeded server running and print a connection to use",
    )


def _demo(args) -> int:
    from .demo.run import command  # only this command pays for the demo's imports

    return command(args)


if __name__ == "__main__":
    sys.exit(main())
