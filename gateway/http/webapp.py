"""The demo page: serves the built `clients/web/dist` (Vite's output) at `/`.

index.html answers `/` and any other GET path of the page's own (client-side views such as
`/history`), never an API, Socket.IO or health path: those keep their own 404/405. Hashed
files under `assets/` are cached for a year; index.html is revalidated every time, so a new
build is picked up on the next load. The directory is looked at per request, so `make web`
while the gateway runs is enough; with no build, `/` says how to make one.
"""

from __future__ import annotations

import html
from pathlib import Path

from aiohttp import web

from streams.settings import Settings

DEFAULT_DIST = Path(__file__).resolve().parents[2] / "clients" / "web" / "dist"

# Paths the page never owns: they answer their own 404/405 (the error envelope), not index.html.
_NOT_THE_PAGE = r"(?!api(?:/|$)|socket\.io(?:/|$)|healthz$|readyz$)"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>streamproc: demo page not built</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;
color:#1f2430}}code{{background:#eef0f4;padding:.1rem .35rem;border-radius:4px}}</style></head>
<body><h1>The demo page is not built</h1>
<p>The gateway is running, but <code>{dist}</code> has no <code>index.html</code>.</p>
<p>Build it with <code>make web</code> (or just <code>make run</code>, which builds it first),
then reload. The REST API is under <code>/api</code>
(<a href="/api/openapi.json">OpenAPI</a>).</p></body></html>
"""


class WebApp:
    """Serves one dist directory; `dist` None means the checkout's clients/web/dist."""

    def __init__(self, dist: Path) -> None:
        self.dist = dist.resolve()

    @classmethod
    def from_settings(cls, settings: Settings) -> WebApp:
        return cls(Path(settings.web_dist_dir) if settings.web_dist_dir else DEFAULT_DIST)

    def _index(self) -> web.StreamResponse:
        index = self.dist / "index.html"
        if not index.is_file():
            page = NOT_BUILT.format(dist=html.escape(str(self.dist)))
            return web.Response(
                text=page, status=404, content_type="text/html", headers={"Cache-Control": NO_CACHE}
            )
        return web.FileResponse(index, headers={"Cache-Control": NO_CACHE})

    async def page(self, request: web.Request) -> web.StreamResponse:
        """A file of the build if the path names one, else index.html (a view of the page)."""
        tail = request.match_info.get("tail", "")
        if tail:
            found = self._file(tail)
            if found is not None:
                cache = IMMUTABLE if tail.startswith("assets/") else NO_CACHE
                return web.FileResponse(found, headers={"Cache-Control": cache})
            if tail.startswith("assets/") or "." in tail.rsplit("/", 1)[-1]:
                # a missing file (an old hash after a rebuild) is a 404, not the page as JavaScript
                raise web.HTTPNotFound(reason=f"no such file in the demo page's build: /{tail}")
        return self._index()

    def _file(self, tail: str) -> Path | None:
        """The file `tail` names inside dist, or None; nothing outside dist is ever served."""
        candidate = (self.dist / tail).resolve()
        if not candidate.is_relative_to(self.dist) or not candidate.is_file():
            return None
        return candidate


def routes(settings: Settings) -> list[web.RouteDef]:
    """Register last: the catch-all only sees what no API route matched."""
    app = WebApp.from_settings(settings)
    return [
        web.get("/", app.page),
        web.get("/{tail:" + _NOT_THE_PAGE + ".+}", app.page),
    ]
