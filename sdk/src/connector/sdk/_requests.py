"""The shape of a request: its kinds, what each may hold, and its connection."""

from __future__ import annotations

from typing import Any

from ._manifest import Manifest, Operation
from .errors import InvalidInput

# What each kind of request may contain.
REQUEST_KINDS = {
    "action": {"action", "connection", "inputs"},
    "trigger": {"trigger", "connection", "inputs", "state"},
    "dataSource": {"dataSource", "connection", "inputs"},
    "testConnection": {"testConnection", "connection"},
}


def kind_of(request: dict) -> str:
    """The request's kind (an action when it names none or several)."""
    kinds = [k for k in REQUEST_KINDS if k in request]
    return kinds[0] if len(kinds) == 1 else "action"


def split_connection(manifest: Manifest, connection: Any) -> tuple[Operation, dict]:
    """Accept {"key": K, "fields": {...}} or the fields alone (first connection)."""
    if connection is None:
        connection = {}
    if not isinstance(connection, dict):
        raise InvalidInput("connection must be a JSON object.", path="connection")
    if "fields" in connection and set(connection) <= {"key", "fields"}:
        key = connection.get("key") or manifest.default_connection.key
        fields = connection["fields"]
        fields = {} if fields is None else fields
        if not isinstance(key, str) or key not in manifest.connections:
            known = ", ".join(manifest.connections)
            raise InvalidInput(
                f"Unknown connection {key!r:.60}. Known connections: {known}.",
                path="connection.key",
            )
        if not isinstance(fields, dict):
            raise InvalidInput("connection.fields must be a JSON object.", path="connection.fields")
        return manifest.connections[key], fields
    named = connection.get("key")
    if "fields" not in connection and isinstance(named, str) and named in manifest.connections:
        raise InvalidInput(
            f"connection names the connection {connection['key']!r} but has no fields: give "
            '{"key": ..., "fields": {...}} (the fields inside "fields").',
            path="connection.fields",
        )
    return manifest.default_connection, connection
