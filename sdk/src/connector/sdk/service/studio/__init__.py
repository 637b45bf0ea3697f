"""The studio (``serve --studio``): a page that renders each step's form from the served
manifests, tests the connection, fills picklists, runs steps and polls triggers through the
service's own routes, and shows what came back.

Three static files, no build step and nothing fetched from elsewhere. The page holds no
secret: it asks for the service token, keeps it for the tab (sessionStorage) and sends it
as the API's callers do. Its Content-Security-Policy allows only these files and calls to
this service; a message's HTML is shown in a sandboxed frame (no script) that inherits the
policy, so remote images (tracking pixels) are not loaded.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

HERE = Path(__file__).parent
FILES = {
    "studio.js": "text/javascript; charset=utf-8",
    "studio.css": "text/css; charset=utf-8",
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
    "Cache-Control": "no-cache",
}


async def page(request: Request) -> Response:
    return FileResponse(HERE / "index.html", media_type="text/html", headers=HEADERS)


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in FILES:
        return Response("Not found", status_code=404, media_type="text/plain")
    return FileResponse(HERE / name, media_type=FILES[name], headers=HEADERS)


def routes() -> list[Route]:
    return [
        Route("/studio", page, methods=["GET"]),
        Route("/studio/{name}", asset, methods=["GET"]),
    ]
