"""`gluon serve` with a Telegram or Discord token (a subprocess), and `gluon chat`, as a user
runs them, against the fake Bot API, the fake Discord and the scripted model server."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bots.in_process import run_main
from tests.bots.test_daemon_recovery import Daemon
from tests.conftest import make_repo
from tests.fakes import scripts as s
from tests.fakes.discord import FakeDiscord
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram

GLUON = str(Path(sys.executable).parent / "gluon")


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


def environ(tmp_path: Path, model_server: ScriptedModelServer) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "LANG": "C.UTF-8",
            "GLUON_HOME": str(tmp_path / "home"), "GLUON_SERVER_PORT": "0",
            "ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": model_server.base_url}


async def test_serve_starts_the_bot_and_its_first_user_pairs_as_admin(
        tmp_path: Path, model_server: ScriptedModelServer, telegram: FakeTelegram) -> None:
    env = {**environ(tmp_path, model_server), "GLUON_TELEGRAM_TOKEN": telegram.token,
           "GLUON_TELEGRAM_API_BASE_URL": telegram.base_url}
    daemon = Daemon(env)
    await daemon.start()
    try:
        await telegram.wait_for(lambda f: any(c[0] == "setMyCommands" for c in f.calls))
        # The daemon prints a one-time code that makes its sender the admin (another
        # process's log file: read it until the line is there, bounded).
        for _ in range(200):
            found = re.search(r"/pair ([A-Z0-9]{4}-[A-Z0-9]{4})", daemon.log.read_text())
            if found:
                break
            await asyncio.sleep(0.05)
        assert found, daemon.log.read_text()
        telegram.user_message(5, 5, "/help")
        telegram.user_message(5, 5, f"/pair {found.group(1)}")
        await telegram.wait_for(lambda f: any("Paired: you are in as admin" in (m.text or "")
                                              for m in f.messages(5).values()))
        assert any((m.text or "").startswith("You are not allowed")
                   for m in telegram.messages(5).values())
        assert daemon.kill(signal.SIGTERM) == 0
    finally:
        daemon.stop()
    log = daemon.log.read_text()
    assert telegram.token not in log and "Traceback" not in log


def test_gluon_chat_talks_in_the_terminal(tmp_path: Path,
                                          model_server: ScriptedModelServer) -> None:
    env = environ(tmp_path, model_server)
    repo = make_repo(tmp_path / "demo")
    assert run_main(["project", "add", str(repo)], env, tmp_path).code == 0
    model_server.script("SCRIPT:console", [s.tool("list_projects", {}),
                                           s.text("You have one project, demo.")])
    done = run_main(["chat"], env, tmp_path,
                    stdin=b"SCRIPT:console what is there?\n/projects\n/bogus\n")
    assert done.code == 0, done.err
    assert "You have one project, demo." in done.out
    assert f"demo {repo}" in done.out
    assert "Unknown command /bogus; see /help." in done.out


async def test_serve_connects_to_discord_and_its_first_user_pairs_as_admin(
        tmp_path: Path, model_server: ScriptedModelServer) -> None:
    with FakeDiscord(token="MTAwMDAwMQ.serve.token") as fake:
        fake.add_guild(500, "Team")
        fake.add_channel(500, 600, "general")
        fake.add_member(500, 5, "sam")
        env = {**environ(tmp_path, model_server), "GLUON_DISCORD_TOKEN": fake.token,
               "GLUON_DISCORD_GUILD": "500", "GLUON_DISCORD_API_BASE_URL": fake.rest_base,
               "GLUON_DISCORD_GATEWAY_URL": fake.gateway_url}
        daemon = Daemon(env)
        await daemon.start()
        try:
            await fake.wait_for(lambda f: bool(f.commands(500)), timeout=30)
            assert {c["name"] for c in fake.commands(500)} >= {
                "run", "runs", "status", "cancel", "resume", "projects", "model", "clear"}
            for _ in range(200):
                found = re.search(r"pair ([A-Z0-9]{4}-[A-Z0-9]{4})", daemon.log.read_text())
                if found:
                    break
                await asyncio.sleep(0.05)
            assert found, daemon.log.read_text()
            fake.user_message(600, 5, "hello", mentions_bot=True)
            await fake.wait_for(lambda f: any("not allowed" in m.content
                                              for m in f.messages(600).values()))
            fake.user_message(700, 5, f"pair {found.group(1)}")
            await fake.wait_for(lambda f: any("Paired: you are in as admin" in m.content
                                              for m in f.messages(700).values()))
            assert daemon.kill(signal.SIGTERM) == 0
        finally:
            daemon.stop()
    log = daemon.log.read_text()
    assert fake.token not in log, "the bot token is in the daemon's log"
    assert "Traceback" not in log, log
