"""The test harness (``Harness``: the full invocation pipeline, plus checks of the output
contract) and the standard checks every connector gets from its manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from .._docs import check_docs
from .._manifest import Manifest
from .._runtime import Connector
from ..errors import ManifestError


class Harness:
    """Invoke actions exactly as a platform would, and check outputs against the manifest.

    ``harness.invoke("getContact", id="42")`` returns the envelope; ``ok``
    returns its data and fails the test unless the call succeeded and the data
    fits the action's output schema.
    """

    def __init__(self, connector: Connector, connection: dict | None = None):
        self.connector = connector
        self.connection = connection or {}

    def with_connection(self, **fields: Any) -> Harness:
        """The same connection with these fields changed (inside ``fields`` for a
        ``{"key", "fields"}`` connection)."""
        if set(self.connection) <= {"key", "fields"} and "fields" in self.connection:
            merged = {**(self.connection.get("fields") or {}), **fields}
            return Harness(self.connector, {**self.connection, "fields": merged})
        return Harness(self.connector, {**self.connection, **fields})

    def test_connection(self) -> dict:
        """The connection's test, as ``test-connection`` runs it: the envelope."""
        return self.connector.test_connection(dict(self.connection))

    def invoke(self, action: str, **inputs: Any) -> dict:
        return self.connector.invoke(
            {"action": action, "connection": dict(self.connection), "inputs": inputs}
        )

    def ok(self, action: str, **inputs: Any) -> Any:
        envelope = self.invoke(action, **inputs)
        assert envelope["ok"], f"{action} failed: {envelope['error']}"
        self.check_output(action, envelope["data"])
        return envelope["data"]

    def error(self, action: str, code: str, **inputs: Any) -> dict:
        envelope = self.invoke(action, **inputs)
        assert not envelope["ok"], f"{action} succeeded, expected {code}: {envelope['data']}"
        assert envelope["error"]["code"] == code, f"expected {code}, got {envelope['error']}"
        return envelope["error"]

    def poll(self, trigger: str, state: dict | None = None, **inputs: Any) -> dict:
        """One poll; on success the records are checked against the trigger's output schema."""
        envelope = self.connector.invoke(
            {
                "trigger": trigger,
                "connection": dict(self.connection),
                "inputs": inputs,
                "state": state or {},
            }
        )
        if envelope["ok"]:
            self.check_output(trigger, envelope["data"], kind="trigger")
        return envelope

    def data_source(self, key: str, **inputs: Any) -> Any:
        envelope = self.connector.invoke(
            {"dataSource": key, "connection": dict(self.connection), "inputs": inputs}
        )
        assert envelope["ok"], f"{key} failed: {envelope['error']}"
        self.check_output(key, envelope["data"], kind="dataSource")
        return envelope["data"]

    def check_output(self, key: str, data: Any, kind: str = "action") -> None:
        manifest = self.connector.manifest
        table = {
            "action": manifest.actions,
            "trigger": manifest.triggers,
            "dataSource": manifest.data_sources,
        }[kind]
        action = key
        schema = table[key].output_schema
        if schema is None:  # the manifest declares no output to check against
            return
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        problems = [
            f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in validator.iter_errors(data)
        ]
        assert not problems, f"{action} output does not fit its schema: {problems}"


def required_inputs_are_enforced(connector: Connector) -> list[str]:
    """The standard check every connector gets from its manifest.

    For each action, trigger and data source, with each connection: a request without any
    connection field or input must fail with INVALID_INPUT, before any connection is opened,
    naming every required field and input by its path. Returns the problems found.
    """
    manifest = connector.manifest
    problems = []
    for conn in manifest.connections.values():
        required_fields = {
            f"connection.{s.key}" for s in conn.inputs if s.required and s.default is None
        }
        for kind in ("action", "trigger", "dataSource"):
            for key, op in manifest.table(kind).items():
                request = {kind: key, "connection": {"key": conn.key, "fields": {}}}
                envelope = connector.invoke(request)
                error = envelope.get("error") or {}
                where = f"{kind} {key} (connection {conn.key})"
                if error.get("code") != "INVALID_INPUT":
                    problems.append(f"{where}: expected INVALID_INPUT, got {envelope}")
                    continue
                paths = {d["path"] for d in error.get("details", [])}
                wanted = required_fields | {
                    f"inputs.{s.key}" for s in op.inputs if s.required and s.default is None
                }
                if wanted - paths:
                    problems.append(f"{where}: {sorted(wanted - paths)} not named in {paths}")
    return problems


def standard_checks(connector: Connector, docs: Path | None = None) -> list[str]:
    """Every standard check: the manifest loads (schema, handlers both ways, output examples
    that fit their schemas, picklist links), required inputs are enforced with every
    connection, and, given the docs folder, the generated docs are fresh."""
    problems = required_inputs_are_enforced(connector)
    if connector.manifest.path is not None:
        try:
            Manifest.load(connector.manifest.path)  # validated, whatever load skipped before
        except ManifestError as exc:
            problems += exc.problems
    if docs is not None:
        problems += [f"stale: {name}" for name in check_docs(connector.manifest, docs)]
    return problems
