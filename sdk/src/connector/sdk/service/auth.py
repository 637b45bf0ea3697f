"""Service tokens: who may call the service."""

from __future__ import annotations

import hmac
import ipaddress
import os
from pathlib import Path

TOKEN_ENV = "CONNECTOR_SERVICE_TOKEN"  # noqa: S105 - the variable's name, not a token


def read_tokens(token_file: str | None) -> list[bytes]:
    """Tokens from CONNECTOR_SERVICE_TOKEN (comma or space separated) and the token file
    (one per line, # comments)."""
    tokens = [t for t in os.environ.get(TOKEN_ENV, "").replace(",", " ").split() if t]
    if token_file:
        lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        tokens += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return [t.encode("utf-8") for t in tokens]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TokenCheck:
    """Bearer tokens, compared in constant time against every known token."""

    def __init__(self, tokens: list[bytes], *, required: bool = True):
        self.tokens, self.required = tokens, required

    def allows(self, authorization: str | None) -> bool:
        if not self.required:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return False
        offered = given.strip().encode("utf-8", "replace")
        matches = [hmac.compare_digest(offered, token) for token in self.tokens]  # every one
        return any(matches)
