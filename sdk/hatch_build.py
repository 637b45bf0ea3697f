"""Editable installs of connector-sdk copy nothing: the tree's connector/sdk is used.

The wheel takes ../connector/sdk through force-include, which hatchling applies to editable
builds too unless a hook names other files (``force_include_editable``); the copy would
shadow the tree's package. One marker file leaves only a directory without __init__.py,
which the tree's regular package (put on sys.path by dev-mode-dirs) takes precedence over.
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class EditableWithoutCopies(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            build_data["force_include_editable"] = {
                "../connector/sdk/py.typed": "connector/sdk/py.typed"
            }
