"""Service tokens and the tenants they belong to; metrics tokens and the operator.

Tokens come from CONNECTOR_SERVICE_TOKEN (comma or space separated: tenant ``default``) and
the token file, one per line: ``TOKEN``, or ``TENANT: TOKEN`` to name its tenant (the
request log and the metrics show the tenant, never the token; the per-tenant limit counts
the steps of all its tokens). Lines starting with ``#`` are comments.

Metrics tokens (CONNECTOR_METRICS_TOKEN, and ``--metrics-token-file``: one per line) are the
operator's: they read every series of /metrics and run no step. A tenant's token reads only
its own tenant's series.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
from pathlib import Path

TOKEN_ENV = "CONNECTOR_SERVICE_TOKEN"  # noqa: S105 - the variable's name, not a token
METRICS_TOKEN_ENV = "CONNECTOR_METRICS_TOKEN"  # noqa: S105 - the variable's name, not a token
DEFAULT_TENANT = "default"
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class TokenFileError(ValueError):
    """A token file line that is neither TOKEN nor TENANT: TOKEN."""


def read_tokens(token_file: str | None) -> dict[bytes, str]:
    """Token -> tenant, from the environment and the token file."""
    tokens = {
        t.encode("utf-8"): DEFAULT_TENANT
        for t in os.environ.get(TOKEN_ENV, "").replace(",", " ").split()
        if t
    }
    if token_file:
        lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            tenant, sep, token = line.partition(":")
            if not sep:
                tenant, token = DEFAULT_TENANT, line
            tenant, token = tenant.strip(), token.strip()
            if not _TENANT.fullmatch(tenant) or not token or " " in token:
                raise TokenFileError(
                    f"{token_file}:{number}: expected TOKEN or TENANT: TOKEN (a tenant is "
                    "letters, digits, '.', '_' and '-')"
                )
            tokens[token.encode("utf-8")] = tenant
    return tokens


def read_metrics_tokens(token_file: str | None) -> list[bytes]:
    """The operator's metrics tokens, from the environment and the metrics token file."""
    tokens = [t for t in os.environ.get(METRICS_TOKEN_ENV, "").replace(",", " ").split() if t]
    if token_file:
        lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        for number, raw in enumerate(lines, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if " " in line or ":" in line:
                raise TokenFileError(
                    f"{token_file}:{number}: expected one metrics token per line (no tenant)"
                )
            tokens.append(line)
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

    def __init__(
        self,
        tokens: dict[bytes, str],
        *,
        required: bool = True,
        operators: list[bytes] | None = None,
    ):
        self.tokens, self.required = tokens, required
        self.operators = list(operators or [])  # metrics tokens

    @property
    def tenants(self) -> list[str]:
        """Every tenant a request may belong to: a closed set (metrics labels)."""
        return sorted({DEFAULT_TENANT, *self.tokens.values()})

    def tenant(self, authorization: str | None) -> str | None:
        """The tenant of the request's token; None when it has no valid one."""
        if not self.required:
            return DEFAULT_TENANT
        offered = _bearer(authorization)
        if offered is None:
            return None
        found = None
        for token, tenant in self.tokens.items():  # every one: no early exit to time
            if hmac.compare_digest(offered, token):
                found = tenant
        return found

    def operator(self, authorization: str | None) -> bool:
        """Whether the request may read every tenant's metrics: a metrics token, or any
        request when the service takes no token (--no-auth, loopback only)."""
        if not self.required:
            return True
        offered = _bearer(authorization)
        if offered is None:
            return False
        found = False
        for token in self.operators:  # every one: no early exit to time
            found = hmac.compare_digest(offered, token) or found
        return found


def _bearer(authorization: str | None) -> bytes | None:
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    return given.strip().encode("utf-8", "replace")
