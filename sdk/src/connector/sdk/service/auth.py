"""Service tokens and the tenants they belong to; metrics tokens and the operator.

Tokens come from CONNECTOR_SERVICE_TOKEN (comma or space separated: tenant ``default``) and
the token file, one per line: ``TOKEN``, or ``TENANT: TOKEN`` to name its tenant (the
request log and the metrics show the tenant, never the token; the per-tenant limit counts
the steps of all its tokens). Lines starting with ``#`` are comments. A token has 16
characters at least, and belongs to one tenant: one given twice stops the start.

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


# A token someone could guess is no token: 16 characters at least (secrets.token_urlsafe(24)
# gives 32). The rule covers the environment's tokens, the token file's and the metrics ones.
MIN_TOKEN_CHARS = 16
MAKE_ONE = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))' makes one"


class TokenFileError(ValueError):
    """A token that cannot be used: a malformed line, a short token, one given twice. The
    message names where (the variable, or the file and line), never the token."""


def _long_enough(token: str, where: str) -> None:
    if len(token) < MIN_TOKEN_CHARS:
        raise TokenFileError(
            f"{where}: the token is {len(token)} character{'' if len(token) == 1 else 's'} "
            f"long: at least {MIN_TOKEN_CHARS} ({MAKE_ONE})"
        )


def _environment_tokens(variable: str) -> list[tuple[str, str]]:
    """(token, where) for each token of a comma- or space-separated variable."""
    tokens = [t for t in os.environ.get(variable, "").replace(",", " ").split() if t]
    return [(t, f"{variable} (token {n})") for n, t in enumerate(tokens, start=1)]


def read_tokens(token_file: str | None) -> dict[bytes, str]:
    """Token -> tenant, from the environment and the token file. A token given twice is
    refused, whichever tenants it names: which tenant it would be is not for the file's order
    to decide."""
    tokens: dict[bytes, str] = {}
    seen: dict[bytes, str] = {}  # token -> where it was given first

    def add(token: str, tenant: str, where: str) -> None:
        _long_enough(token, where)
        key = token.encode("utf-8")
        if key in seen:
            raise TokenFileError(
                f"{seen[key]} and {where} give the same token: each token belongs to one "
                "tenant, give each line its own"
            )
        seen[key], tokens[key] = where, tenant

    for token, where in _environment_tokens(TOKEN_ENV):
        add(token, DEFAULT_TENANT, where)
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
            add(token, tenant, f"{token_file}:{number}")
    return tokens


def read_metrics_tokens(token_file: str | None) -> list[bytes]:
    """The operator's metrics tokens, from the environment and the metrics token file."""
    tokens = []
    for token, where in _environment_tokens(METRICS_TOKEN_ENV):
        _long_enough(token, where)
        tokens.append(token)
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
            _long_enough(line, f"{token_file}:{number}")
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
