"""Serving the built dashboard (``web/dist``) at ``/``, as the run command promises.

Why a fallback to ``index.html``: the dashboard routes on the client (``/orders``,
``/chart/BTCUSDT``), so a reload or a shared link asks the server for a path only the
app knows. Anything under ``/api``, ``/admin`` or ``/runtime`` is never answered here:
an unknown API path stays a 404 problem, not a page.

Assets with a content hash in their name are cached for a year; ``index.html`` never
(a new build must reach the next reload).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from aiohttp import web

WEB_DIST: Final = Path(__file__).resolve().parents[1] / "web" / "dist"
_RESERVED: Final = ("api/", "admin/", "runtime/")
_NOT_BUILT: Final = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Halyard</title></head>
<body><main><h1>Halyard</h1><p>The dashboard is not built. <code>./scripts/run</code> builds it
(<code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>); the API is up at
<a href="/api/health">/api/health</a>.</p></main></body></html>"""


def _resolve(dist: Path, tail: str) -> Path | None:
    """The file under ``dist`` for ``tail``, never outside it (no ``..`` escapes)."""
    candidate = (dist / tail).resolve()
    if dist.resolve() not in candidate.parents and candidate != dist.resolve():
        return None
    return candidate if candidate.is_file() else None


def add_dashboard_routes(app: web.Application, dist: Path = WEB_DIST) -> None:
    """Register last: a catch-all GET for the dashboard's files and client routes."""

    async def serve(request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        if tail.startswith(_RESERVED) or tail in ("api", "admin", "runtime"):
            raise web.HTTPNotFound()
        index = dist / "index.html"
        if not index.is_file():
            return web.Response(text=_NOT_BUILT, content_type="text/html", status=200,
                                headers={"cache-control": "no-store"})
        found = _resolve(dist, tail) if tail else None
        if found is None:
            if "." in tail.rsplit("/", 1)[-1]:
                raise web.HTTPNotFound()  # a missing asset is a 404, not the app shell
            return web.FileResponse(index, headers={"cache-control": "no-store"})
        immutable = "/assets/" in f"/{tail}"
        cache = "public, max-age=31536000, immutable" if immutable else "no-cache"
        return web.FileResponse(found, headers={"cache-control": cache})

    app.router.add_get("/{tail:.*}", serve)
