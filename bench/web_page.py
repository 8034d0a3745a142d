"""Page weight of the status page, as a real headless Chromium loads it.

    uv run python bench/web_page.py [--url URL]

Without ``--url`` it serves, on 127.0.0.1, what every status page carries for the installable
app (``web.pwa.routes`` and a bare page including ``_pwa_head.html``): the weight the PWA adds
to each page. With ``--url`` it loads that page of a running ``gluon serve`` instead; a sign-in
link works, as it signs the browser in and goes on to the board.

Prints, for the first visit and for a visit once the service worker controls the page:
every response the page received by type (uncompressed bytes, and whether the worker answered
it: a page from the network, anything else from its cache), the HTML+CSS+JS total against the
100 KB budget, the bytes the worker keeps for the shell, and any request to a host other than
the page's own (there must be none).

This is not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader
from playwright.async_api import BrowserContext, Response, async_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes.threaded import ThreadedServer  # noqa: E402
from web import pwa  # noqa: E402

BUDGET = 100 * 1024
PAGE_TYPES = ("document", "stylesheet", "script")
BARE_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Gluon</title>{% include '_pwa_head.html' %}</head>"
    '<body><header><h1>Gluon</h1><span id="notify-toggle"></span></header></body></html>')


@dataclass
class Loaded:
    kind: str  # Playwright's resource type: document, stylesheet, script, image, ...
    url: str
    size: int
    from_worker: bool


def bare_app() -> tuple[Starlette, ThreadedServer]:
    page = Environment(loader=FileSystemLoader(pwa.WEB / "templates"),
                       autoescape=True).from_string(BARE_PAGE)
    server: ThreadedServer

    def board(request: Request) -> HTMLResponse:
        return HTMLResponse(page.render())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server.ready()
        yield

    app = Starlette(routes=[*pwa.routes, Route("/", board)], lifespan=lifespan)
    server = ThreadedServer(app, "web-page-bench")
    return app, server


SHELL_BYTES = """async () => {
    if (!navigator.serviceWorker) return null;
    await navigator.serviceWorker.ready;
    let bytes = 0;
    for (const name of await caches.keys())
        for (const response of await (await caches.open(name)).matchAll())
            bytes += (await response.arrayBuffer()).byteLength;
    return bytes;
}"""


async def visit(context: BrowserContext, url: str) -> tuple[list[Loaded], str, int | None]:
    """Load ``url`` in a new tab: every response it received, where it ended up, and the bytes
    the service worker keeps once it is ready (None without one)."""
    tab = await context.new_page()
    responses: list[Response] = []
    tab.on("response", lambda response: responses.append(response))
    # A board keeps its live stream open, so the network never idles: wait for the page's
    # load, then a moment for what it asks for after (the worker's files, icons).
    await tab.goto(url, wait_until="load")
    await tab.wait_for_timeout(1500)
    loaded = []
    for response in responses:
        streaming = response.headers.get("content-type", "").startswith("text/event-stream")
        if streaming:  # the live stream: it never ends, and is not part of the page's weight
            continue
        body = b"" if 300 <= response.status < 400 else await response.body()
        loaded.append(Loaded(response.request.resource_type, response.url, len(body),
                             response.from_service_worker))
    final = tab.url
    shell: int | None = await tab.evaluate(SHELL_BYTES)
    await tab.close()
    return loaded, final, shell


def report(title: str, loaded: list[Loaded], origin: str) -> None:
    print(f"\n{title}")
    sizes: Counter[str] = Counter()
    for item in loaded:
        sizes[item.kind] += item.size
        where = "worker" if item.from_worker else "network"
        print(f"  {item.kind:<11} {item.size:>8} B  {where:<12}  {urlsplit(item.url).path}")
    page = sum(sizes[kind] for kind in PAGE_TYPES)
    print("  by type: " + ", ".join(f"{kind} {size} B" for kind, size in sorted(sizes.items())))
    print(f"  HTML+CSS+JS: {page} B = {page / BUDGET:.1%} of the {BUDGET // 1024} KB budget")
    # The worker answers a page from the network (it never keeps one); the rest from its cache.
    network = sum(item.size for item in loaded
                  if not item.from_worker or item.kind == "document")
    print(f"  over the network: {network} B")
    foreign = sorted({item.url for item in loaded if not item.url.startswith(origin)})
    print(f"  requests to other hosts: {len(foreign)}" + "".join(f"\n    {u}" for u in foreign))


async def measure(url: str) -> None:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    with tempfile.TemporaryDirectory() as profile:
        async with async_playwright() as playwright:
            # A profile on disk: Chromium keeps no service worker for an incognito context.
            context = await playwright.chromium.launch_persistent_context(
                profile, executable_path="/usr/bin/chromium", headless=True)
            if "/signin/" in parts.path:  # sign in (the link's page has a button), then measure
                tab = await context.new_page()  # the board it leads to
                await tab.goto(url)
                await tab.get_by_role("button", name="Sign in").click()
                await tab.wait_for_url(f"{origin}/")
                await tab.close()
                url = f"{origin}/"
            first, page_url, shell = await visit(context, url)
            report(f"First visit: {page_url}", first, origin)
            again, _, _ = await visit(context, page_url)
            report("Visit with the service worker in control", again, origin)
            print(f"\nShell kept by the service worker: {shell} B")
            await context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a page of a running gluon serve, or a sign-in link")
    args = parser.parse_args()
    if args.url:
        asyncio.run(measure(args.url))
        return
    _, server = bare_app()
    server.start()
    try:
        asyncio.run(measure(f"http://127.0.0.1:{server.port}/"))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
