"""The studio (``serve --studio``): a page that renders each step's form from the served
manifests, tests the connection, fills picklists, runs steps and polls triggers through the
service's own routes, and shows what came back.

Static files, no build step and nothing fetched from elsewhere. The page holds no secret:
it asks for the service token, keeps it for the tab (sessionStorage) and sends it as the
API's callers do. Its Content-Security-Policy allows only these files and calls to this
service; a message's HTML is shown in a sandboxed frame (no script) that inherits the
policy, so remote images (tracking pixels) are not loaded.

The page names each asset with its digest (``studio.js?v=...``), so assets are cached for a
year and a new version is a new URL; the page itself is revalidated (ETag). Everything is
sent gzip-compressed to browsers that take it (~4x smaller). The page names its own favicon,
so browsers never ask the token-guarded ``/favicon.ico``.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path
from typing import NamedTuple

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HERE = Path(__file__).parent
TYPES = {
    "studio.js": "text/javascript; charset=utf-8",
    "studio.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        # A message's own inline styles, in the preview frame (no script runs there).
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
YEAR = "public, max-age=31536000, immutable"


class Asset(NamedTuple):
    """One file, ready to send: its bytes, gzipped bytes, type and ETag."""

    body: bytes
    gzipped: bytes
    media_type: str
    etag: str


def _asset(body: bytes, media_type: str) -> Asset:
    digest = hashlib.sha256(body).hexdigest()[:16]
    return Asset(body, gzip.compress(body, 9, mtime=0), media_type, f'"{digest}"')


def _load() -> dict[str, Asset]:
    """The assets, then the page with each asset's digest in its URL."""
    assets = {name: _asset((HERE / name).read_bytes(), kind) for name, kind in TYPES.items()}
    page = (HERE / "index.html").read_text(encoding="utf-8")
    for name, asset in assets.items():
        page = page.replace("{{" + name + "}}", asset.etag.strip('"'))
    assets["index.html"] = _asset(page.encode("utf-8"), "text/html; charset=utf-8")
    return assets


ASSETS = _load()


def _send(request: Request, asset: Asset, cache: str) -> Response:
    headers = {**HEADERS, "Cache-Control": cache, "ETag": asset.etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


async def page(request: Request) -> Response:
    return _send(request, ASSETS["index.html"], "no-cache")


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in TYPES:
        return Response("Not found", status_code=404, media_type="text/plain")
    return _send(request, ASSETS[name], YEAR)


def routes() -> list[Route]:
    return [
        Route("/studio", page, methods=["GET"]),
        Route("/studio/{name}", asset, methods=["GET"]),
    ]
