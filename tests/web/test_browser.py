"""The status page in a real browser (Debian's headless Chromium, driven by Playwright): a
person signs in with a link and watches a real run move on the board and its log grow without
reloading, answers an agent's question on the page and sees the chat's message closed, a
viewer is refused, and a stranger is kept out. One browser serves the whole module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from bots.chat.migrations import CHAT_TABLES
from core.config import Config
from core.runtime import Runtime
from core.types import Role, RunState
from tests.bots.test_daemon import running
from tests.conftest import daemon_environ, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram
from tests.web.site import serving

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADA = 42
LIVE_EVENTS = """() => {
  window.seen = [];
  document.addEventListener("gluon:event", (e) => window.seen.push(e.detail));
}"""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                    headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


class Visits:
    """Every address a page asked for: the page must reach Gluon and nothing else."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))

    def only(self, base: str) -> bool:
        return bool(self.urls) and all(u.startswith(base + "/") for u in self.urls)


# A page going to the background and coming back, as a browser tells it.
HIDE = """() => {
  Object.defineProperty(document, "hidden", {value: true, configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => {
  Object.defineProperty(document, "hidden", {value: false, configurable: true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


async def sign_in(page: Page, base: str, token: str) -> None:
    await page.goto(f"{base}/signin/{token}")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(f"{base}/")


async def test_a_run_moves_from_running_to_review_on_the_board_and_its_log_grows_live(
        browser: Browser, config: Config, repo: Path,
        model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:board", [s.bash("echo working hard"),
                                         s.hold("board", then=s.text("Finished the task."))])
    async with Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]) as runtime, \
            serving(runtime) as site:
        await runtime.projects.add("demo", str(repo))
        context = await browser.new_context()
        board = await context.new_page()
        visits = Visits(board)
        await sign_in(board, site.base, await site.link("cli", Role.ADMIN))
        await expect(board.locator("header .who")).to_have_text("cli · admin")
        await board.evaluate(LIVE_EVENTS)

        run = await runtime.runs.start_run("demo", "SCRIPT:board write the report")
        await expect(board.locator(f"#col-running #run-{run.id}")).to_contain_text(
            "write the report")
        log = await context.new_page()
        await log.goto(f"{site.base}/runs/{run.id}")
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:board"
                                         and r.step == 1)
        await expect(log.locator("#log li.tool summary")).to_have_text("Run: echo working hard")
        await expect(log.locator("#run-head .state")).to_have_text("running")

        # The run page goes to the background: it lets go of its stream (browsers open six
        # connections to a host at most), and takes it up where it left off when shown.
        streams: list[str] = []
        log.on("request", lambda r: streams.append(r.url) if "/events" in r.url else None)
        await log.evaluate(HIDE)
        model_server.release("board")
        await expect(board.locator(f"#col-review #run-{run.id}")).to_be_visible()
        await expect(log.locator("#run-head .state")).to_have_text("running")  # not yet
        await log.evaluate(SHOW)
        await expect(log.locator("#log")).to_contain_text("Finished the task.")
        assert len(streams) == 1 and "after=" in streams[0], streams
        await expect(board.locator("#col-running .card")).to_have_count(0)
        await expect(board.locator("#col-review .count")).to_have_text("1")
        await expect(log.locator("#log")).to_contain_text("Finished the task.")
        await expect(log.locator("#run-head .state")).to_have_text("review")
        await expect(log.locator("#run-head")).to_contain_text("Merge")
        # The tool call's result folded under it; the page was never reloaded.
        await log.locator("#log li.tool summary").click()
        await expect(log.locator("#log li.tool pre.result")).to_have_text("working hard")
        seen = await board.evaluate("window.seen.map(e => [e.kind, e.run_id, e.new])")
        assert ["RunStateChanged", run.id, "review"] in seen
        assert visits.only(site.base), visits.urls
        await context.close()


async def test_a_question_is_answered_on_the_page_and_the_chat_message_is_closed(
        browser: Browser, tmp_path: Path, repo: Path, model_server: ScriptedModelServer,
        telegram: FakeTelegram) -> None:
    config = Config.model_validate({
        "home": str(tmp_path / "home"), "server": {"port": 0},
        "anthropic": {"api_key": "sk-test", "base_url": model_server.base_url},
        "agents": {"warm": 0},
        "telegram": {"token": telegram.token, "api_base_url": telegram.base_url,
                     "users": [ADA]}})
    model_server.script("SCRIPT:ask", [s.ask("Which database?", ["Postgres", "SQLite"]),
                                       s.text("Going with SQLite.")])
    async with running(config) as (daemon, _):  # gluon serve, with its Telegram bot
        runtime = daemon.runtime
        assert runtime is not None and runtime.web.served_at is not None
        base = runtime.web.served_at
        await runtime.projects.add("demo", str(repo))
        link = await runtime.web.create_link(f"telegram:{ADA}", Role.OPERATOR, "Ada")
        context = await browser.new_context()
        page = await context.new_page()
        visits = Visits(page)
        await sign_in(page, base, link.url.rsplit("/", 1)[1])
        await expect(page.locator("header .who")).to_have_text("Ada · operator")

        telegram.user_message(ADA, ADA, "/run demo SCRIPT:ask set up storage")
        await telegram.wait_for(lambda f: any("asks: Which database?" in (m.text or "")
                                              for m in f.messages(ADA).values()), timeout=60)
        panel = page.locator("#panel-needs-you")
        await expect(panel.locator(".count")).to_have_text("1")  # arrived without a reload
        await expect(panel).to_contain_text("Which database?")
        await panel.get_by_role("button", name="SQLite").click()
        await expect(page.locator(".notice.ok")).to_have_text("Answered: SQLite")

        await telegram.wait_for(lambda f: any("Answered by telegram:42: SQLite" in (m.text or "")
                                              for m in f.messages(ADA).values()), timeout=60)
        question = next(m for m in telegram.messages(ADA).values()
                        if "asks: Which database?" in (m.text or ""))
        assert question.buttons == []  # the chat's buttons are gone
        [run] = await runtime.runs.find()
        done = await wait_state(runtime, run.id)
        assert done.state is RunState.REVIEW and done.result_text == "Going with SQLite."
        [answered] = [e for e in await runtime.activity.recent()
                      if e.action == "tool.answer_question"]
        assert (answered.actor, answered.outcome, answered.detail) == (
            "telegram:42", "ok", "web")
        await expect(panel.locator(".count")).to_have_text("0")
        assert visits.only(base), visits.urls
        await context.close()


async def test_a_viewer_is_refused_with_the_reason_and_a_stranger_is_kept_out(
        browser: Browser, config: Config, repo: Path,
        model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:hold", [s.hold("viewer")])
    async with Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]) as runtime, \
            serving(runtime) as site:
        await runtime.projects.add("demo", str(repo))
        code = await runtime.access.create_code("viewer")
        await runtime.access.pair("telegram", "7", "Vic", code.code)
        run = await runtime.runs.start_run("demo", "SCRIPT:hold keep at it")
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:hold")

        viewer = await browser.new_context()
        page = await viewer.new_page()
        await sign_in(page, site.base, await site.link("telegram:7", Role.VIEWER, "Vic"))
        await page.goto(f"{site.base}/runs/{run.id}")
        await page.get_by_role("button", name="Cancel").click()
        await expect(page.locator(".notice.no")).to_have_text(
            "cancel_run needs the operator role and telegram:7 is a viewer; an admin can "
            "change roles in the config")
        await expect(page.locator("#run-head .state")).to_have_text("running")

        # With the network cut, the page the service worker kept says Gluon is offline, and
        # its own script runs under the page's Content-Security-Policy.
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security" in m.text
                else None)
        await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        await page.reload()
        await page.wait_for_function("navigator.serviceWorker.controller !== null")
        await viewer.set_offline(True)
        await page.goto(f"{site.base}/runs/{run.id}")
        await expect(page.locator("h1")).to_have_text("Gluon is offline")
        await page.wait_for_load_state("load")  # a refused script is reported before this
        assert refused == []
        await viewer.set_offline(False)
        await viewer.close()

        stranger = await browser.new_context()
        page = await stranger.new_page()
        visits = Visits(page)
        answered = await page.goto(f"{site.base}/runs/{run.id}")
        assert answered is not None and answered.status == 401
        await expect(page.locator("h1")).to_have_text("Sign in to Gluon")
        await expect(page.locator("main")).not_to_contain_text("keep at it")
        assert visits.only(site.base), visits.urls
        await stranger.close()
        assert (await runtime.runs.get(run.id)).state is RunState.RUNNING
        model_server.release("viewer")
