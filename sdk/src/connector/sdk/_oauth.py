"""OAuth 2.0 for connections: what a platform needs to run the consent flow (the manifest's
``oauth2``), and refreshing an access token at the token endpoint (RFC 6749 section 6).

A connection with ``oauth2`` names its inputs by convention: ``accessToken``,
``refreshToken`` (not for an app-only connection), ``clientId``, ``clientSecret``,
``provider`` (a preset's key, or ``custom``), ``tokenUrl`` (the token endpoint: the custom
provider's, and when given it overrides a preset's) and ``expiresAt`` (RFC 3339). A
``{field}`` in a token or authorization URL is filled from the connection's input of that
key (``{tenant}``, ``{subdomain}``...); the manifest check refuses a placeholder that names
no input. Given a refresh token and a client id, the runtime refreshes an expired token
before the connection opens, and a rejected one (any handler raised AuthFailed: the
connection's, or an action's whose request got a 401) once; the new tokens go back to the
platform in the envelope's ``connectionUpdate``.

A preset with ``grant: clientCredentials`` is app-only (RFC 6749 section 4.4): no user
consents and there is no refresh token; the runtime gets a token with the client's id and
secret for the preset's scopes (Microsoft 365's ``https://outlook.office365.com/.default``)
whenever the connection has none, it has expired or it was rejected. ``oauth2.grant`` is
the grant of the ``custom`` provider (and of presets that name none); unset, ``custom`` is
app-only when every preset is.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode, urlsplit

from . import _egress as egress
from ._scrub import Scrubber
from .errors import AuthFailed, ConnectionFailed, InvalidInput, RateLimited
from .text import VALUE_CHARS, shorten

ACCESS, REFRESH, CLIENT_ID, CLIENT_SECRET = (
    "accessToken",
    "refreshToken",
    "clientId",
    "clientSecret",
)
PROVIDER, TOKEN_URL, EXPIRES_AT, TENANT = "provider", "tokenUrl", "expiresAt", "tenant"
REQUIRED_INPUTS = (ACCESS, REFRESH, CLIENT_ID, CLIENT_SECRET, PROVIDER, TOKEN_URL, EXPIRES_AT)
APP_ONLY, USER = "clientCredentials", "authorizationCode"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# What a placeholder's value may hold: a host label, a tenant id or domain (it goes into a URL).
PLACEHOLDER_VALUE = re.compile(r"[A-Za-z0-9._-]+")
EARLY = 60  # seconds before expiry at which a token counts as expired (clocks drift)
TIMEOUT = 20  # seconds for the token endpoint


def grant_of(oauth2: dict, provider: str | None) -> str:
    """The grant of a provider: its preset's, else ``oauth2.grant``, else (``custom``)
    app-only when every preset is, else a user's consent."""
    presets = oauth2.get("presets") or {}
    preset = presets.get(provider or "custom")
    if isinstance(preset, dict) and preset.get("grant"):
        return str(preset["grant"])
    if oauth2.get("grant"):
        return str(oauth2["grant"])
    if (
        preset is None
        and presets
        and all(isinstance(p, dict) and p.get("grant") == APP_ONLY for p in presets.values())
    ):
        return APP_ONLY
    return USER


def required_inputs(oauth2: dict) -> tuple[str, ...]:
    """The inputs a connection with this ``oauth2`` declares: no refresh token when every
    provider (``custom`` too) is app-only."""
    providers = [*(oauth2.get("presets") or {}), "custom"]
    app_only = all(grant_of(oauth2, name) == APP_ONLY for name in providers)
    return tuple(k for k in REQUIRED_INPUTS if not (app_only and k == REFRESH))


def placeholder_problems(oauth2: dict, inputs: set[str]) -> list[str]:
    """Each ``{field}`` of a preset's URLs that names no input of the connection."""
    problems = []
    for name, preset in (oauth2.get("presets") or {}).items():
        for key in ("tokenUrl", "authorizationUrl"):
            for field in PLACEHOLDER.findall(str((preset or {}).get(key) or "")):
                if field not in inputs:
                    problems.append(
                        f"oauth2 preset {name}: {key} has {{{field}}}, which is not an input of "
                        f"the connection (declare an input {field!r} or fix the URL)"
                    )
    return problems


def endpoint(url: str) -> str:
    """A URL as an error names it: scheme, host and path (a query may hold a secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


class Refresher:
    """Refreshes one connection's access token and says what changed."""

    def __init__(
        self,
        oauth2: dict,
        fields: dict,
        scrubber: Scrubber,
        grant: str,
        labels: dict[str, str] | None = None,
    ):
        self.oauth2, self.fields, self.scrubber = oauth2, dict(fields), scrubber
        self.grant = grant  # "refresh_token" or "client_credentials"
        self.labels = dict(labels or {})  # input key -> label, for errors
        self.changed: dict = {}

    @classmethod
    def for_connection(cls, conn_op: Any, fields: dict, scrubber: Scrubber) -> Refresher | None:
        """A refresher when the connection declares ``oauth2`` and the fields can refresh
        (a refresh token and a client id), or its provider is app-only (a client id)."""
        oauth2 = getattr(conn_op, "oauth2", None)
        if not oauth2 or not fields.get(CLIENT_ID):
            return None
        if grant_of(oauth2, fields.get(PROVIDER)) == APP_ONLY:
            grant = "client_credentials"
        elif fields.get(REFRESH):
            grant = "refresh_token"
        else:
            return None
        for key in (REFRESH, CLIENT_SECRET):
            scrubber.add(fields.get(key))
        labels = {spec.key: spec.label for spec in getattr(conn_op, "inputs", ())}
        return cls(oauth2, fields, scrubber, grant, labels)

    def expired(self) -> bool:
        if not self.fields.get(ACCESS):
            return True  # app-only: no token yet
        text = self.fields.get(EXPIRES_AT)
        if not text:
            return False
        when = datetime.fromisoformat(str(text).upper().replace("Z", "+00:00").replace(" ", "T"))
        return when.timestamp() - EARLY <= time.time()

    def token_url(self) -> str:
        url = self.fields.get(TOKEN_URL) or _preset(self.oauth2, self.fields).get("tokenUrl")
        if not url:
            raise InvalidInput(
                "Token URL is needed to refresh the access token: choose a Provider with a "
                "preset, or give Token URL.",
                path=f"connection.{TOKEN_URL}",
            )
        for field in dict.fromkeys(PLACEHOLDER.findall(url)):
            value = str(self.fields.get(field) or "")
            if not PLACEHOLDER_VALUE.fullmatch(value):
                label = self.labels.get(field, field)
                what = (
                    "the directory (tenant) ID or domain, such as contoso.onmicrosoft.com"
                    if field == TENANT
                    else "letters, digits, '.', '-' or '_'"
                )
                raise InvalidInput(
                    f"{label} is needed for this provider (it goes into the token URL "
                    f"{endpoint(url)}): {what}.",
                    path=f"connection.{field}",
                )
            url = url.replace("{" + field + "}", value)
        parts = urlsplit(url)
        loopback = parts.hostname in ("127.0.0.1", "::1", "localhost")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise InvalidInput(
                "Token URL must use https (the refresh token and client secret travel in it).",
                path=f"connection.{TOKEN_URL}",
            )
        return url

    def refresh(self, context: Any = None) -> dict:
        """POST grant_type=refresh_token (or client_credentials); the fields with the new
        tokens."""
        # ~10 ms of imports (http.client, email): paid only by a step that refreshes.
        import urllib.error  # noqa: PLC0415
        import urllib.request  # noqa: PLC0415

        grant: dict[str, str] = {"grant_type": self.grant}
        if self.grant == "refresh_token":
            grant["refresh_token"] = self.fields[REFRESH]
        else:
            scopes = " ".join(_preset(self.oauth2, self.fields).get("scopes") or [])
            if scopes:  # (a custom provider has none: its default scopes apply)
                grant["scope"] = scopes
        body = urlencode(
            {
                **grant,
                "client_id": self.fields[CLIENT_ID],
                **(
                    {"client_secret": self.fields[CLIENT_SECRET]}
                    if self.fields.get(CLIENT_SECRET)
                    else {}
                ),
            }
        ).encode("ascii")
        url = self.token_url()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in token_url
            url,
            data=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        if context is not None:
            context.log.info("refreshing the access token at %s", url)
        where = f"The token endpoint {endpoint(url)}"
        try:
            # The token endpoint is a destination of its own: https (443) under the step's
            # host rules, whatever ports the steps' servers are allowed.
            with (
                egress.applied(egress.current().for_token_endpoint()),
                _opener().open(request, timeout=TIMEOUT) as reply,
            ):
                answer = json.loads(reply.read(1 << 20) or b"{}")
        except urllib.error.HTTPError as exc:
            raise self._refused(exc, where) from None
        except urllib.error.URLError as exc:  # (a refused destination is raised as itself)
            raise ConnectionFailed(f"{where} cannot be reached ({exc.reason}).") from None
        except (OSError, TimeoutError) as exc:
            raise ConnectionFailed(f"{where} cannot be reached ({exc}).") from None
        except ValueError:
            raise ConnectionFailed(f"{where} answered something that is not JSON.") from None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthFailed(f"{where} answered without an access token: reconnect the account.")
        self.scrubber.add(token)
        self.changed = {ACCESS: token}
        rotated = answer.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            self.scrubber.add(rotated)
            self.changed[REFRESH] = rotated
        expires_in = answer.get("expires_in")
        if isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
            when = datetime.fromtimestamp(time.time() + expires_in, tz=UTC)
            self.changed[EXPIRES_AT] = (
                when.replace(microsecond=0).isoformat().replace("+00:00", "Z")
            )
        self.fields.update(self.changed)
        return dict(self.fields)

    def _refused(self, exc: Any, where: str) -> Exception:
        try:
            said = json.loads(exc.read(4096) or b"{}")
        except ValueError:
            said = {}
        error = said.get("error") if isinstance(said, dict) else None
        error = shorten(error, VALUE_CHARS) if isinstance(error, str) else None
        if exc.code == 429:
            return RateLimited(f"{where} is throttling requests: try again later.")
        if exc.code >= 500:
            return ConnectionFailed(f"{where} failed (HTTP {exc.code}): try again later.")
        if self.grant == "client_credentials":
            return AuthFailed(
                f"{where} refused the client credentials ({error or f'HTTP {exc.code}'}): "
                "check Client ID, Client Secret and the provider's scopes."
            )
        return AuthFailed(
            f"{where} refused to refresh the access token "
            f"({error or f'HTTP {exc.code}'}): reconnect the account to get a new refresh token."
        )

    def update(self) -> dict:
        """The envelope's ``connectionUpdate``: the fields that changed, for the platform."""
        return {"fields": dict(self.changed)}


@lru_cache(maxsize=1)
def _opener() -> Any:
    """urllib through the egress policy (``egress.connect``): the token URL is the caller's
    input too. No proxies from the environment, and redirects reach only what the policy
    allows (every connection goes through ``egress.connect``)."""
    import http.client  # noqa: PLC0415 - with urllib.request below: refresh only
    import ssl  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    tls = ssl.create_default_context()  # the name is verified, not the address connected to

    class PolicedHTTP(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = egress.connect(self.host, self.port, timeout=self.timeout)

    class PolicedHTTPS(http.client.HTTPSConnection):
        def connect(self) -> None:
            sock = egress.connect(self.host, self.port, timeout=self.timeout)
            self.sock = tls.wrap_socket(sock, server_hostname=self.host)

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: Any) -> Any:
            return self.do_open(PolicedHTTP, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: Any) -> Any:
            return self.do_open(PolicedHTTPS, req, context=tls)

    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), HTTPHandler(), HTTPSHandler()
    )


def missing_token(conn_op: Any, fields: dict) -> InvalidInput:
    """The error for an OAuth 2.0 connection with no access token and no way to get one:
    the input to fill, before any request could go out with ``Bearer None``."""
    labels = {spec.key: spec.label for spec in getattr(conn_op, "inputs", ())}
    oauth2 = getattr(conn_op, "oauth2", None) or {}
    app_only = grant_of(oauth2, fields.get(PROVIDER)) == APP_ONLY
    needed = (CLIENT_ID, CLIENT_SECRET) if app_only else (REFRESH, CLIENT_ID)
    return InvalidInput(
        f"{labels.get(ACCESS, ACCESS)} is empty and there is no way to get one: connect the "
        f"account, or give {' and '.join(labels.get(k, k) for k in needed)}.",
        path=f"connection.{ACCESS}",
    )


def _preset(oauth2: dict, fields: dict) -> dict:
    preset = (oauth2.get("presets") or {}).get(fields.get(PROVIDER) or "custom")
    return preset if isinstance(preset, dict) else {}
