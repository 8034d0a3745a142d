"""Draws docs/board.png, the status page's board as the README shows it.

    uv run python docs/screenshot.py

Real runs (the real Claude Code CLI against the scripted model server in tests/fakes) on a
throwaway data dir, served as ``gluon serve`` serves the page, photographed by Debian's headless
Chromium: one run in review, one working, one asking a question, one queued behind the
project's limit, one queued for later, and a schedule.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from playwright.async_api import async_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bots.chat.migrations import CHAT_TABLES  # noqa: E402
from core.config import Config  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.types import Role, RunState  # noqa: E402
from tests.conftest import daemon_environ, make_repo, wait_state  # noqa: E402
from tests.fakes import scripts as s  # noqa: E402
from tests.fakes.model_server import ScriptedModelServer  # noqa: E402
from tests.web.site import serving  # noqa: E402

OUT = ROOT / "docs" / "board.png"


async def main() -> None:
    model = ScriptedModelServer()
    model.start()
    model.script("fix the flaky login test", [s.bash("pytest -q tests/test_login.py"),
                                 s.text("The login test waited on a fixed sleep; it now waits "
                                        "for the session cookie. 40 runs, no failure.")])
    model.script("add retries to the payment client",
                 [s.bash("rg -n 'retry' src/"), s.hold("work")])
    model.script("cache the product list",
                 [s.ask("Which database should the cache use?", ["Postgres", "SQLite"]),
                  s.text("Done.")])
    model.script("bump the SDK to 2.4", [s.text("Done.")])
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        config = Config.model_validate({
            "home": str(tmp / "home"), "server": {"port": 0},
            "anthropic": {"api_key": "sk-test", "base_url": model.base_url},
            "agents": {"warm": 0, "max_concurrent_per_project": 2},
        })
        async with Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]) as rt, \
                serving(rt) as site:
            await rt.projects.add("api", str(make_repo(tmp / "api")))
            await rt.projects.add("web", str(make_repo(tmp / "web")))
            done = await rt.runs.start_run("api", "fix the flaky login test",
                                           actor="telegram:42")
            await wait_state(rt, done.id, RunState.REVIEW)
            await rt.runs.start_run("api", "add retries to the payment client",
                                    actor="telegram:42")
            await rt.runs.start_run("web", "cache the product list",
                                    actor="discord:7")
            await model.await_request(lambda r: r.script_key == "cache the product list")
            await rt.runs.start_run("api", "bump the SDK to 2.4",
                                    actor="cli")
            await rt.runs.start_run("web", "translate the checkout page",
                                    not_before=time.time() + 2 * 3600, actor="telegram:42",
                                    source="chat")
            await rt.schedules.add("api", "0 7 * * mon-fri", "hunt the flaky tests",
                                   tz="Europe/Berlin", actor="telegram:42")
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path="/usr/bin/chromium")
                page = await browser.new_page(viewport={"width": 1280, "height": 800})
                await page.goto(f"{site.base}/signin/{await site.link('cli', Role.ADMIN)}")
                await page.get_by_role("button", name="Sign in").click()
                await page.wait_for_url(f"{site.base}/")
                await page.locator("#panel-needs-you").wait_for()
                await page.screenshot(path=str(OUT), full_page=True)
                await browser.close()
            model.release("work")
            for run in await rt.runs.find(states=[RunState.WAITING]):
                await rt.runs.cancel(run.id)
    model.stop()
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
