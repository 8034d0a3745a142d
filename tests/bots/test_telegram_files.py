"""Files from runs in Telegram, through the real python-telegram-bot against the fake Bot API:
a file someone asks for arrives as a document, the agent's screenshot is posted as a photo once
(a restart posts nothing again), a file too big for a bot comes as a link to the status page
that serves it, and a path out of the worktree is refused in one line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bots.chat.migrations import CHAT_TABLES
from core.config import Config
from core.runtime import Runtime
from core.types import RunState
from tests.bots.test_chat_pings import bot_on
from tests.bots.test_orchestrator import orchestrator_requests
from tests.conftest import daemon_environ, make_config
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram
from tests.files_run import AGENT, PNG, agent_steps
from tests.web.site import serving as serving_page

ADA = 42


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={"telegram": base.telegram.model_copy(
        update={"users": [ADA]})})


def said(fake: FakeTelegram) -> list[str]:
    return [m.text or "" for m in fake.sent(ADA, "message")]


def start_the_run(model_server: ScriptedModelServer, telegram: FakeTelegram) -> None:
    model_server.script(AGENT, agent_steps())
    model_server.script("SCRIPT:start", [
        s.tool("start_run", {"project": "demo", "prompt": f"{AGENT} write the schema"}),
        s.text("Started.")])
    telegram.user_message(ADA, ADA, "SCRIPT:start write the users schema in demo")


async def test_a_file_asked_for_arrives_as_a_document_and_the_screenshot_as_a_photo_once(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    runtime = await Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]).open()
    try:
        await runtime.projects.add("demo", str(repo))
        async with bot_on(runtime, telegram, model_server):
            start_the_run(model_server, telegram)
            await telegram.wait_for(lambda f: any(" finished." in t for t in said(f)),
                                    timeout=60)
            [run] = await runtime.runs.store.find()
            assert run.state is RunState.REVIEW
            model_server.script("SCRIPT:send", [
                s.tool("get_run_file", {"run": run.short, "path": "schema.sql"}),
                s.text("Here is `db/schema.sql`.")])
            telegram.user_message(ADA, ADA, "SCRIPT:send send me the new schema.sql")
            await telegram.wait_for(lambda f: bool(f.sent(ADA, "document")), timeout=30)
            model_server.script("SCRIPT:passwd", [
                s.tool("get_run_file", {"run": run.short, "path": "../etc/passwd"}),
                s.text("That is outside the run's worktree.")])
            telegram.user_message(ADA, ADA, "SCRIPT:passwd send me ../etc/passwd")
            await telegram.wait_for(lambda f: "That is outside the run's worktree." in said(f))
        [photo] = telegram.sent(ADA, "photo")
        assert photo.document_bytes == PNG
        assert photo.text == f"🖼 <code>shot.png</code> (run {run.short})"
        assert photo.reply_to is not None  # under the run's status message
        ping = next(n for n, r in enumerate(telegram.sent(ADA)) if " finished." in (r.text or ""))
        assert telegram.sent(ADA).index(photo) < ping  # said after the turn, before the ping
        [document] = telegram.sent(ADA, "document")
        assert document.document_bytes == (Path(run.cwd) / "db/schema.sql").read_bytes()
        assert (document.document_name, document.text) == (
            "schema.sql", f"<code>db/schema.sql</code> of run {run.short}")
        assert "Here is <code>db/schema.sql</code>." in said(telegram)
        [refused] = [r for r in orchestrator_requests(model_server)[-1]["messages"][-1]["content"]
                     if r["type"] == "tool_result"]
        assert refused["is_error"] and "\n" not in refused["content"]
        assert "'../etc/passwd' goes up out of the run's worktree" in refused["content"]
        # The model was told about the file, never given its bytes.
        told = orchestrator_requests(model_server)[-3]["messages"][-1]["content"][0]["content"]
        assert "base64" not in told and "goes to the person with your reply" in told
    finally:
        await runtime.close()
    # Gluon starts again: the screenshot was said, and is not said twice.
    runtime = await Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]).open()
    try:
        async with bot_on(runtime, telegram, model_server):
            pass
        assert len(telegram.sent(ADA, "photo")) == 1
    finally:
        await runtime.close()


async def test_a_file_too_big_for_a_bot_comes_as_a_link_that_serves_it_when_signed_in(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    runtime = await Runtime(config, environ=daemon_environ(), tables=[CHAT_TABLES]).open()
    try:
        await runtime.projects.add("demo", str(repo))
        async with serving_page(runtime) as site, \
                bot_on(runtime, telegram, model_server) as bot:
            bot.upload_limit = 40  # the schema and the screenshot are bigger
            start_the_run(model_server, telegram)
            await telegram.wait_for(lambda f: any(" finished." in t for t in said(f)),
                                    timeout=60)
            [run] = await runtime.runs.store.find()
            model_server.script("SCRIPT:send", [
                s.tool("get_run_file", {"run": run.id, "path": "db/schema.sql"}),
                s.text("Here it is.")])
            telegram.user_message(ADA, ADA, "SCRIPT:send send me the new schema.sql")
            link = f"{site.base}/runs/{run.id}/files/db/schema.sql"
            await telegram.wait_for(lambda f: any(link in t for t in said(f)), timeout=30)
            async with site.visitor() as stranger:
                assert (await stranger.get(link)).status_code == 401
            async with site.person() as (http, _):
                served = await http.get(link)
                shot = await http.get(f"{site.base}/runs/{run.id}/files/shot.png")
        assert served.content == (Path(run.cwd) / "db/schema.sql").read_bytes()
        assert shot.content == PNG
        assert not telegram.sent(ADA, "document") and not telegram.sent(ADA, "photo")
        [too_big] = [t for t in said(telegram) if link in t]
        assert too_big.startswith(f"📎 <code>db/schema.sql</code> of run {run.short}: 65 bytes "
                                  "is more than Telegram lets a bot send (40 bytes)")
        assert any(f"/runs/{run.id}/files/shot.png" in t and "shot.png" in t
                   for t in said(telegram))
    finally:
        await runtime.close()
