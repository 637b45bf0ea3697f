"""The IMAP connector: handlers for the actions of connector.yaml."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.3.1"  # also the wheel's version (pyproject.toml reads it) and the manifest's


def manifest_path() -> Path:
    """Where this connector's manifest is: inside the installed package, else the source tree."""
    packaged = Path(__file__).with_name("connector.yaml")  # the wheel puts it beside this file
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "connector.yaml"  # editable / source checkout
