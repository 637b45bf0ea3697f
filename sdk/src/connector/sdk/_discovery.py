"""Finding installed connectors: the ``connectors`` entry-point group, name -> manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

ENTRY_POINT_GROUP = "connectors"


def is_connector_name(source: str | Path | None) -> bool:
    """Whether ``source`` names an installed connector (else it is a manifest path)."""
    return isinstance(source, str) and not ("/" in source or source.endswith((".yaml", ".yml")))


def resolve_manifest(source: str | Path | None) -> Path:
    """A manifest path as given, or the one an installed connector of that name declares."""
    if source is not None and not is_connector_name(source):
        return Path(source)
    return manifest_path_of(source if isinstance(source, str) else None)


def installed_connectors() -> dict[str, list[tuple[str, str, EntryPoint]]]:
    """Entry-point name -> [(distribution, version, entry point)] of every installed connector.

    A name with two distributions is a conflict that ``manifest_path_of`` reports.
    """
    # ~13 ms: a console bound to its manifest (imap-connector) never needs it.
    from importlib.metadata import entry_points  # noqa: PLC0415

    found: dict[str, list[tuple[str, str, EntryPoint]]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        name = dist.metadata["Name"] if dist is not None else "?"
        version = dist.version if dist is not None else "?"
        claims = found.setdefault(ep.name, [])
        if all(claim[0] != name for claim in claims):  # (one distribution seen twice on sys.path)
            claims.append((name, version, ep))
    return found


def manifest_path_of(name: str | None) -> Path:
    """Find an installed connector's manifest through the ``connectors`` entry points."""
    found = installed_connectors()
    if not found:
        raise LookupError("no connector is installed (no 'connectors' entry points)")
    if name is None:
        if len(found) > 1:
            raise LookupError(f"several connectors are installed ({', '.join(found)}): name one")
        name = next(iter(found))
    if name not in found:
        raise LookupError(f"no installed connector named {name!r}; installed: {', '.join(found)}")
    claims = found[name]
    if len(claims) > 1:
        owners = " and ".join(f"{dist} {version}" for dist, version, _ in claims)
        raise LookupError(
            f"two installed distributions claim the connector {name!r}: {owners}; "
            "uninstall one of them"
        )
    return Path(claims[0][2].load()())
