"""The status page as an installable web app, in a real headless Chromium: the manifest meets
Chromium's installability rules, the service worker takes over the page and shows the offline
page without a network, and a live event about a run notifies with a click that opens the run.

The app here is ``web.pwa.routes`` plus a page that includes ``_pwa_head.html`` the way every
status page does, served by uvicorn on 127.0.0.1 (a secure context, so the worker registers).
The browser runs with a profile on disk: Chromium reports any fresh Playwright context as
incognito, where nothing is installable.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from jinja2 import Environment, FileSystemLoader, select_autoescape
from playwright.async_api import BrowserContext, Page, async_playwright, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.fakes.threaded import ThreadedServer
from web import pwa
from web.pwa_icons import png_size

TEMPLATES = Path(pwa.__file__).resolve().parent / "templates"
JINJA = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
# A status page as the real ones are built: the viewport is the page's, the rest of the head is
# _pwa_head.html, and the header has the slot for the notifications button.
PAGE = JINJA.from_string(
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>{{ title }}</title>{% include '_pwa_head.html' %}</head>"
    '<body><header><h1>{{ title }}</h1><span id="notify-toggle"></span></header>'
    "<main>{{ body }}</main></body></html>")


def page(request: Request) -> Response:
    run_id = request.path_params.get("run_id")
    title = f"Run {run_id}" if run_id else "Board"
    return HTMLResponse(PAGE.render(title=title, body="2 runs working"))


def bad_gateway(request: Request) -> Response:
    return Response("upstream unreachable", status_code=502)  # a proxy while Gluon is down


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server: ThreadedServer

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server.ready()
        yield

    # The page's own stylesheet and script are served beside the app's files, as web.app does.
    app = Starlette(routes=[*pwa.routes, Mount("/static", StaticFiles(directory=pwa.STATIC)),
                            Route("/", page), Route("/runs/{run_id}", page),
                            Route("/behind-a-proxy", bad_gateway)],
                    lifespan=lifespan)
    server = ThreadedServer(app, "pwa-page")
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            tmp_path / "profile", executable_path="/usr/bin/chromium", headless=True)
        try:
            yield context
        finally:
            await context.close()


async def controlled_page(browser: BrowserContext, base_url: str) -> Page:
    """The board, once the service worker controls it (it takes over at the next load)."""
    tab = browser.pages[0] if browser.pages else await browser.new_page()
    await tab.goto(base_url + "/")
    await tab.evaluate("navigator.serviceWorker.ready")
    await tab.reload()
    assert await tab.evaluate("navigator.serviceWorker.controller !== null")
    return tab


def test_the_manifest_names_gluon_and_its_icons_have_the_sizes_it_declares(
        base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        response = client.get("/manifest.webmanifest")
        assert response.headers["content-type"] == "application/manifest+json"
        manifest = response.json()
        assert (manifest["name"], manifest["start_url"], manifest["scope"],
                manifest["display"]) == ("Gluon", "/", "/", "standalone")
        purposes = {(icon["purpose"], icon["sizes"]) for icon in manifest["icons"]}
        assert {("any", "192x192"), ("any", "512x512"), ("maskable", "192x192"),
                ("maskable", "512x512")} <= purposes
        for icon in manifest["icons"]:
            assert pwa.is_public(icon["src"])
            png = client.get(icon["src"])
            assert png.headers["content-type"] == "image/png"
            assert "x".join(map(str, png_size(png.content))) == icon["sizes"], icon["src"]


def test_the_worker_is_served_from_the_root_uncached_and_everything_it_keeps_exists(
        base_url: str) -> None:
    with httpx.Client(base_url=base_url) as client:
        worker = client.get("/sw.js")
        assert worker.headers["content-type"] == "text/javascript; charset=utf-8"
        assert worker.headers["cache-control"] == "no-cache"
        assert "__GLUON_" not in worker.text
        assert pwa.is_public("/sw.js") and pwa.is_public("/manifest.webmanifest")
        shell = pwa.shell()
        assert f"const SHELL = {json.dumps(shell)};" in worker.text
        # One missing file would fail the worker's install, and with it the offline page.
        assert {url: client.get(url).status_code for url in shell} == dict.fromkeys(shell, 200)


def test_a_changed_static_file_is_a_new_worker_version(tmp_path: Path) -> None:
    css = tmp_path / "app.css"
    css.write_text("body { color: black }")
    before = pwa.version([css], root=tmp_path)
    assert pwa.version([css], root=tmp_path) == before
    css.write_text("body { color: navy }")
    assert pwa.version([css], root=tmp_path) != before


def test_the_offline_page_loads_nothing_else_and_shares_the_manifests_colour() -> None:
    offline = pwa.OFFLINE_PAGE.read_text()
    assert not re.search(r"\b(src|href)\s*=|url\(|@import", offline)
    theme = f'<meta name="theme-color" content="{pwa.manifest()["theme_color"]}">'
    assert theme in offline
    assert theme in JINJA.get_template("_pwa_head.html").render()


async def test_the_page_is_installable_and_shows_the_offline_page_when_gluon_cannot_be_reached(
        browser: BrowserContext, base_url: str) -> None:
    tab = await controlled_page(browser, base_url)
    cdp = await browser.new_cdp_session(tab)
    installability: dict[str, Any] = await cdp.send("Page.getInstallabilityErrors")
    assert installability["installabilityErrors"] == []

    await tab.goto(base_url + "/behind-a-proxy")
    await expect(tab.locator("h1")).to_have_text("Gluon is offline")
    await tab.goto(base_url + "/runs/r1")  # a page with data, which must not be kept
    await browser.set_offline(True)
    await tab.goto(base_url + "/runs/r1")
    await expect(tab.locator("h1")).to_have_text("Gluon is offline")
    assert await tab.evaluate("fetch('/static/pwa/notify.js').then(r => r.status)") == 200
    kept: list[str] = await tab.evaluate("""async () => {
        const paths = [];
        for (const name of await caches.keys()) {
            for (const request of await (await caches.open(name)).keys()) {
                paths.push(new URL(request.url).pathname);
            }
        }
        return paths;
    }""")
    assert "/offline.html" in kept
    assert [p for p in kept if not (p.startswith("/static/") or p == "/offline.html")] == []

    await browser.set_offline(False)
    await tab.goto(base_url + "/runs/r1")
    await expect(tab.locator("h1")).to_have_text("Run r1")


# Records every notification the page shows (and whether it was closed), and lets the test click
# one, through a subclass of the browser's own Notification.
RECORD_NOTIFICATIONS = """() => {
    window.shown = [];
    window.Notification = class extends window.Notification {
        constructor(title, options) {
            super(title, options);
            this.closed = false;
            window.shown.push(this);
        }
        close() { this.closed = true; super.close(); }
    };
}"""
SHOWN = "() => window.shown.map(n => [n.title, n.body, n.closed])"
# As on Chrome for Android, where a page may not construct a Notification and asks the service
# worker to show one; records what the page asks the worker to show and which ones it closes.
WORKER_NOTIFICATIONS = """() => {
    window.workerCalls = [];
    const show = ServiceWorkerRegistration.prototype.showNotification;
    ServiceWorkerRegistration.prototype.showNotification = function (title, options) {
        window.workerCalls.push(["show", title, options.data.url]);
        return show.call(this, title, options);
    };
    const close = window.Notification.prototype.close;
    window.Notification.prototype.close = function () {
        window.workerCalls.push(["close", this.tag]);
        return close.call(this);
    };
    window.Notification = class extends window.Notification {
        constructor() { throw new TypeError("Illegal constructor"); }
    };
}"""


def dispatch(data: dict[str, object]) -> str:
    return f"document.dispatchEvent(new CustomEvent('gluon:event', {{detail: {json.dumps(data)}}}))"


async def test_a_finished_run_or_a_question_notifies_and_a_click_opens_the_run(
        browser: BrowserContext, base_url: str) -> None:
    tab = await controlled_page(browser, base_url)
    toggle = tab.locator("#notify-toggle button")
    await expect(toggle).to_have_text("Enable notifications")
    await browser.grant_permissions(["notifications"], origin=base_url)
    await tab.reload()
    await expect(tab.locator("h1")).to_have_text("Board")
    await expect(toggle).to_be_hidden()

    await tab.evaluate(RECORD_NOTIFICATIONS)
    running = {"seq": 1, "kind": "RunStateChanged", "run_id": "r7", "project": "shop",
               "old": "queued", "new": "running", "reason": "started"}
    review = {"seq": 2, "kind": "RunStateChanged", "run_id": "r7", "project": "shop",
              "old": "running", "new": "review", "reason": "the agent finished"}
    question = {"seq": 3, "kind": "InteractionRequested", "run_id": "r8", "project": "shop",
                "interaction_id": "q1", "interaction_kind": "question",
                "title": "Which database?", "options": ["SQLite", "Postgres"]}
    # The same, with the event told by its fields and the interaction's own kind in "kind".
    permission = {"seq": 4, "run_id": "r9", "project": "shop", "interaction_id": "p1",
                  "kind": "permission", "title": "Bash: rm -rf build", "options": []}
    answered = {"seq": 5, "kind": "InteractionAnswered", "run_id": "r8", "project": "shop",
                "interaction_id": "q1", "answer": "SQLite", "answered_by": "ann"}
    for event in (running, review, review, question, permission):  # the repeat is shown once
        await tab.evaluate(dispatch(event))
    assert await tab.evaluate(SHOWN) == [
        ["shop: run r7 is ready for review", "the agent finished", False],
        ["shop: run r8 needs you", "Question: Which database?\nSQLite / Postgres", False],
        ["shop: run r9 needs you", "Permission request: Bash: rm -rf build", False]]
    await tab.evaluate(dispatch(answered))
    assert [closed for *_, closed in await tab.evaluate(SHOWN)] == [False, True, False]

    await tab.evaluate("window.shown[0].dispatchEvent(new Event('click'))")
    await tab.wait_for_url(base_url + "/runs/r7")
    await expect(tab.locator("h1")).to_have_text("Run r7")

    await tab.evaluate(WORKER_NOTIFICATIONS)
    await tab.evaluate(dispatch(question))
    await tab.evaluate(dispatch(answered))
    await tab.wait_for_function("() => window.workerCalls.length >= 2")
    assert await tab.evaluate("window.workerCalls") == [
        ["show", "shop: run r8 needs you", "/runs/r8"], ["close", "gluon-ask-q1"]]
