"""The command line: ``connector COMMAND [NAME] ...`` for any installed connector, and the
same console bound to one connector (``imap-connector COMMAND ...``).

Every command is a row of one registry: ``name -> Command("module:function", ...)``, each
function ``run(cli: Invocation, argv: list[str]) -> int``, loaded only when it runs (a
one-step process never imports the service or Temporal). The usage is generated from the
registry. A connector's console binds the registry to itself and may add rows::

    def main(argv=None):
        return connector.sdk.cli.main(
            argv, bound=Bound("crm", manifest_path()), prog="crm", extra={"sync": SYNC}
        )

Public: the names in ``__all__``. The modules of the commands themselves
(``connector.sdk.cli.steps``, ``.diff``...) are the console's own, not for connectors.
"""

from ._console import Bound, Command, Invocation, main

__all__ = ["Bound", "Command", "Invocation", "main"]
