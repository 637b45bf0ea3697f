"""A connection from request headers, for platforms that pass connection parameters only
as headers (Power Automate's ``setheader`` policies).

``X-Connection-<field>: value`` carries an ASCII value. A value that is not ASCII (a
password with an accent) or holds a newline (a PEM certificate) cannot travel that way:
HTTP header values are ASCII in practice, servers read other bytes as Latin-1 (so a UTF-8
password arrives as mojibake) and a newline ends the header. Such a value travels as
``X-Connection-<field>-B64: base64 of its UTF-8 bytes``. A value that cannot be read
(non-ASCII in a plain header, B64 that is not base64 of UTF-8) is ``INVALID_INPUT`` naming
the field, never a login that fails later as something retryable.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

from .._inputs import InputSpec
from ..errors import InvalidInput

HEADER_PREFIX = "x-connection-"
B64_SUFFIX = "-b64"


def header_name(field: str, *, b64: bool = False) -> str:
    """``X-Connection-Pass`` (``X-Connection-CaCertificate``), or ``X-Connection-Pass-B64`` for
    the base64 form: the field's key as the manifest spells it, its first letter capital as
    in every HTTP header name (and ``X-Connection-Key``). Names are matched in any case, and
    the server hears them in lower case, so a message can only spell them this one way."""
    return f"X-Connection-{field[:1].upper()}{field[1:]}" + ("-B64" if b64 else "")


def connection_from_headers(connector: Any, headers: Iterable[tuple[str, str]]) -> dict | None:
    """A connection from ``X-Connection-<field>`` / ``X-Connection-<field>-B64`` headers (and
    ``X-Connection-Key``); None without such headers. Field names match the manifest's,
    whatever their case; the B64 form wins when both are given."""
    plain: dict[str, str] = {}
    encoded: dict[str, str] = {}
    for name, value in headers:
        lowered = name.lower()
        if not lowered.startswith(HEADER_PREFIX):
            continue
        field = lowered[len(HEADER_PREFIX) :]
        if field.endswith(B64_SUFFIX):
            encoded[field[: -len(B64_SUFFIX)]] = value
        else:
            plain[field] = value
    if not plain and not encoded:
        return None
    key = encoded.pop("key", None)
    key = _decoded("Key", "key", key) if key is not None else plain.pop("key", None)
    plain.pop("key", None)
    connections = connector.manifest.connections
    chosen = connections.get(key) if key else connector.manifest.default_connection
    if chosen is None:
        return {"key": key, "fields": {}}  # (the runtime names the known connections)
    specs = {spec.key.lower(): spec for spec in chosen.inputs}
    # A field's earlier key (renamedFrom) keeps its case: the runtime maps it by that key.
    specs.update({old.lower(): spec for spec in chosen.inputs for old in spec.renamed_from})
    fields: dict[str, str] = {}
    for lowered, value in plain.items():
        spec = specs.get(lowered)
        field = _field(spec, lowered)
        if not value.isascii():
            label = spec.label if spec else field
            raise InvalidInput(
                f"{label} ({header_name(field)}) is not ASCII: send it as "
                f"{header_name(field, b64=True)}, base64 of its UTF-8 bytes.",
                path=f"connection.{field}",
            )
        fields[field] = value
    for lowered, value in encoded.items():
        spec = specs.get(lowered)
        field = _field(spec, lowered)
        fields[field] = _decoded(spec.label if spec else field, field, value)
    return {"key": chosen.key, "fields": fields}


def _field(spec: InputSpec | None, lowered: str) -> str:
    """The field key a header names (``lowered``: its name in lower case): the input's key,
    or the earlier key it names; an unknown one as sent (the runtime reports it)."""
    if spec is None:
        return lowered
    return next((old for old in spec.renamed_from if old.lower() == lowered), spec.key)


def _decoded(label: str, field: str, value: str) -> str:
    """The text of a ``-B64`` header: base64 (standard alphabet, padding optional) of UTF-8."""
    text = value.strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidInput(
            f"{label} ({header_name(field, b64=True)}) is not base64 of UTF-8 text: encode the "
            "value's UTF-8 bytes with standard base64.",
            path=f"connection.{field}",
        ) from None
