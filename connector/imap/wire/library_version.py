"""IMAPClient's version, from the name of its metadata folder, before IMAPClient loads.

IMAPClient 4.1 reads its own version when it is imported (``imapclient/version.py``:
``importlib.metadata.version("imapclient")``). Importing importlib.metadata (with email,
zipfile and csv) and searching sys.path for the distribution is a fifth of what a one-step
process imports beyond raw imaplib. ``provide()`` (run by ``connector.imap.wire`` before
any of its modules imports IMAPClient) puts ``imapclient.version`` in place with the version
named by the ``imapclient-X.Y.Z.dist-info`` folder beside the package Python will import:
the same metadata, found without the search. Anything unusual (IMAPClient already loaded,
no such folder, two of them) leaves IMAPClient to read it itself.
"""

from __future__ import annotations

import os
import re
import sys
import types

_DIST_INFO = re.compile(r"imapclient-(\d+)\.(\d+)\.(\d+)\.dist-info", re.IGNORECASE)


def provide() -> None:
    """Install ``imapclient.version`` unless IMAPClient is loaded or its folder is not found."""
    if "imapclient" in sys.modules or "imapclient.version" in sys.modules:
        return
    for entry in sys.path:
        folder = entry or os.curdir
        if not os.path.isfile(os.path.join(folder, "imapclient", "__init__.py")):
            continue  # (the first folder that has the package is the one Python imports)
        try:
            found = [m for m in map(_DIST_INFO.fullmatch, os.listdir(folder)) if m]
        except OSError:
            return
        if len(found) == 1:
            major, minor, micro = (int(part) for part in found[0].groups())
            module = types.ModuleType("imapclient.version", "IMAPClient's version.")
            module.version = f"{major}.{minor}.{micro}"  # type: ignore[attr-defined]
            module.version_info = (major, minor, micro, "final")  # type: ignore[attr-defined]
            sys.modules["imapclient.version"] = module
        return
