"""OAuth 2.0 for connections: what a platform needs to run the consent flow (the manifest's
``oauth2``), and refreshing an access token at the token endpoint (RFC 6749 section 6).

A connection with ``oauth2`` names its inputs by convention: ``accessToken``,
``refreshToken``, ``clientId``, ``clientSecret``, ``provider`` (a preset's key, or
``custom``), ``tokenUrl`` (the custom provider's token endpoint) and ``expiresAt``
(RFC 3339), and optionally ``tenant`` (filling ``{tenant}`` in a token URL). Given a refresh
token and a client id, the runtime refreshes an expired token before the connection opens,
and a rejected one (any handler raised AuthFailed: the connection's, or an action's whose
request got a 401) once; the new tokens go back to the platform in the envelope's
``connectionUpdate``.

A preset with ``grant: clientCredentials`` is app-only (RFC 6749 section 4.4): no user
consents and there is no refresh token; the runtime gets a token with the client's id and
secret for the preset's scopes (Microsoft 365's ``https://outlook.office365.com/.default``)
whenever the connection has none, it has expired or it was rejected.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode, urlsplit

from . import egress
from .errors import AuthFailed, ConnectionFailed, InvalidInput, RateLimited
from .scrub import Scrubber

ACCESS, REFRESH, CLIENT_ID, CLIENT_SECRET = (
    "accessToken",
    "refreshToken",
    "clientId",
    "clientSecret",
)
PROVIDER, TOKEN_URL, EXPIRES_AT, TENANT = "provider", "tokenUrl", "expiresAt", "tenant"
REQUIRED_INPUTS = (ACCESS, REFRESH, CLIENT_ID, CLIENT_SECRET, PROVIDER, TOKEN_URL, EXPIRES_AT)
EARLY = 60  # seconds before expiry at which a token counts as expired (clocks drift)
TIMEOUT = 20  # seconds for the token endpoint


class Refresher:
    """Refreshes one connection's access token and says what changed."""

    def __init__(self, oauth2: dict, fields: dict, scrubber: Scrubber, grant: str):
        self.oauth2, self.fields, self.scrubber = oauth2, dict(fields), scrubber
        self.grant = grant  # "refresh_token" or "client_credentials"
        self.changed: dict = {}

    @classmethod
    def for_connection(cls, conn_op: Any, fields: dict, scrubber: Scrubber) -> Refresher | None:
        """A refresher when the connection declares ``oauth2`` and the fields can refresh
        (a refresh token and a client id), or its preset is app-only (a client id)."""
        oauth2 = getattr(conn_op, "oauth2", None)
        if not oauth2 or not fields.get(CLIENT_ID):
            return None
        if _preset(oauth2, fields).get("grant") == "clientCredentials":
            grant = "client_credentials"
        elif fields.get(REFRESH):
            grant = "refresh_token"
        else:
            return None
        for key in (REFRESH, CLIENT_SECRET):
            scrubber.add(fields.get(key))
        return cls(oauth2, fields, scrubber, grant)

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
        if "{tenant}" in url:
            tenant = str(self.fields.get(TENANT) or "")
            if not tenant or not all(c.isalnum() or c in "-._" for c in tenant):
                raise InvalidInput(
                    "Tenant is needed for this provider: the directory (tenant) ID or domain, "
                    "such as contoso.onmicrosoft.com.",
                    path=f"connection.{TENANT}",
                )
            url = url.replace("{tenant}", tenant)
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
            grant["scope"] = " ".join(_preset(self.oauth2, self.fields).get("scopes") or [])
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
        try:
            # The token endpoint is a destination of its own: https (443) under the step's
            # host rules, whatever ports the steps' servers are allowed.
            with (
                egress.applied(egress.current().for_token_endpoint()),
                _opener().open(request, timeout=TIMEOUT) as reply,
            ):
                answer = json.loads(reply.read(1 << 20) or b"{}")
        except urllib.error.HTTPError as exc:
            raise self._refused(exc) from None
        except urllib.error.URLError as exc:  # (a refused destination is raised as itself)
            raise ConnectionFailed(
                f"The token endpoint cannot be reached ({exc.reason})."
            ) from None
        except (OSError, TimeoutError) as exc:
            raise ConnectionFailed(f"The token endpoint cannot be reached ({exc}).") from None
        except ValueError:
            raise ConnectionFailed(
                "The token endpoint answered something that is not JSON."
            ) from None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthFailed(
                "The token endpoint answered without an access token: reconnect the account."
            )
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

    def _refused(self, exc: Any) -> Exception:
        try:
            said = json.loads(exc.read(4096) or b"{}")
        except ValueError:
            said = {}
        error = said.get("error") if isinstance(said, dict) else None
        if exc.code == 429:
            return RateLimited("The token endpoint is throttling requests: try again later.")
        if exc.code >= 500:
            return ConnectionFailed(
                f"The token endpoint failed (HTTP {exc.code}): try again later."
            )
        return AuthFailed(
            "The token endpoint refused to refresh the access token "
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


def _preset(oauth2: dict, fields: dict) -> dict:
    preset = (oauth2.get("presets") or {}).get(fields.get(PROVIDER) or "custom")
    return preset if isinstance(preset, dict) else {}
