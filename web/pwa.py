"""The status page as an installable web app: its manifest, its service worker, the offline page
and the static files they use (icons, ``register.js``, ``notify.js``).

These routes are public, without a login: they hold nothing private, and the browser fetches the
manifest and the worker without the page's session. The worker is served from the root,
``/sw.js``, so that its scope is the whole site; it caches the shell (the offline page, the
stylesheet and scripts, the icons), never a page with data, and shows the offline page when a
navigation cannot reach Gluon.

Its cache is named after a hash of every static file, the offline page and the worker itself,
which ``/sw.js`` fills in when it is served: a changed file is a changed worker, which the browser
installs in place of the old one, dropping the old cache.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from web.pwa_icons import BACKGROUND, ICONS

WEB = Path(__file__).resolve().parent
STATIC = WEB / "static"
PWA_STATIC = STATIC / "pwa"
OFFLINE_PAGE = WEB / "templates" / "offline.html"
WORKER = PWA_STATIC / "sw.js"

THEME_COLOUR = BACKGROUND
BACKGROUND_COLOUR = BACKGROUND
# What sw.js holds in place of its version and shell, so the file is valid JavaScript as stored.
VERSION_SLOT = '"__GLUON_VERSION__"'
SHELL_SLOT = '["__GLUON_SHELL__"]'
# The page's own stylesheet and script (web/static/), cached with the shell when they exist.
PAGE_ASSETS = ("app.css", "app.js")
NO_CACHE = {"Cache-Control": "no-cache"}
# What these routes answer. The browser fetches the manifest and the worker without the page's
# cookie, so the page's sign-in check must let them through (see is_public).
PUBLIC_PATHS = frozenset({"/manifest.webmanifest", "/sw.js", "/offline.html"})
PUBLIC_PREFIX = "/static/pwa/"


def is_public(path: str) -> bool:
    """Whether ``path`` is one of these routes, which need no session."""
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX)


def manifest() -> dict[str, object]:
    """The web app manifest: what Chromium needs to offer installing the page (a name, a start
    URL in scope, a standalone display, a 192 and a 512 pixel icon) and what a phone shows."""
    return {
        "id": "/",
        "name": "Gluon",
        "short_name": "Gluon",
        "description": "Gluon's runs at a glance: the board, live logs and what waits for you.",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "theme_color": THEME_COLOUR,
        "background_color": BACKGROUND_COLOUR,
        "icons": [{"src": icon.url, "sizes": f"{icon.size}x{icon.size}", "type": "image/png",
                   "purpose": icon.purpose}
                  for icon in ICONS if icon.purpose in ("any", "maskable")],
    }


def shell(static: Path = STATIC) -> list[str]:
    """The URLs the worker caches when it installs: the offline page, the page's stylesheet and
    script (those that exist), the PWA's scripts and every icon."""
    assets = [f"/static/{name}" for name in PAGE_ASSETS if (static / name).is_file()]
    return ["/offline.html", *assets, "/static/pwa/register.js", "/static/pwa/notify.js",
            *(icon.url for icon in ICONS)]


def version(files: Iterable[Path], root: Path = WEB) -> str:
    """A short hash of ``files``' names (relative to ``root``) and contents."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def worker_source() -> str:
    """``sw.js`` with its version and shell filled in."""
    files = [p for p in STATIC.rglob("*") if p.is_file()] + [OFFLINE_PAGE]
    source = WORKER.read_text()
    return (source.replace(VERSION_SLOT, json.dumps(version(files)), 1)
            .replace(SHELL_SLOT, json.dumps(shell()), 1))


def manifest_response(request: Request) -> Response:
    return JSONResponse(manifest(), media_type="application/manifest+json")


def worker_response(request: Request) -> Response:
    # no-cache: the browser asks again on each check for an update, so a new worker is found.
    return Response(worker_source(), media_type="text/javascript", headers=NO_CACHE)


def offline_policy() -> str:
    """The offline page's Content-Security-Policy: the page's own (nothing but Gluon's origin)
    with its one inline script allowed by hash, so it works with no other file."""
    text = OFFLINE_PAGE.read_text()
    script = text.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (f"default-src 'self'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
            "frame-ancestors 'none'")


def offline_response(request: Request) -> Response:
    return FileResponse(OFFLINE_PAGE, media_type="text/html",
                        headers={**NO_CACHE, "Content-Security-Policy": offline_policy()})


routes: list[BaseRoute] = [
    Route("/manifest.webmanifest", manifest_response, name="pwa_manifest"),
    Route("/sw.js", worker_response, name="pwa_worker"),
    Route("/offline.html", offline_response, name="pwa_offline"),
    Mount("/static/pwa", StaticFiles(directory=PWA_STATIC), name="pwa_static"),
]
