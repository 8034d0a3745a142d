"""The Discord bot end to end: the real discord.py against a fake Discord (REST and gateway),
the real `anthropic` client against the scripted model server, real runs of the real Claude
Code CLI."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anthropic
import pytest

from bots.chat.migrations import CHAT_TABLES
from bots.chat.orchestrator import Orchestrator
from bots.discord.bot import WORDS, DiscordBot
from core.config import Config
from core.runtime import Runtime
from core.types import RunState
from tests.bots.test_model_api_errors import closed_port
from tests.bots.test_telegram import unreachable_api
from tests.conftest import daemon_environ, make_config, make_repo, wait_state
from tests.fakes import scripts as s
from tests.fakes.discord import DiscordMessage, FakeDiscord
from tests.fakes.model_server import ScriptedModelServer

TOKEN = "MTAwMDAwMQ.fake.discord-token"
BOT = 1_000_001
GUILD, OTHER_GUILD = 500, 900
GENERAL, TOPICAL, ELSEWHERE = 600, 601, 901
ADA, BOB, EVE = 42, 43, 666
DM_ADA = 700
DEVS = 510  # a Discord role mapped to operator


@pytest.fixture
def discord_api() -> Iterator[FakeDiscord]:
    with FakeDiscord(token=TOKEN, bot_id=BOT) as fake, fake.patch_discord():
        fake.add_guild(GUILD, "Team")
        fake.add_role(GUILD, DEVS, "devs")
        fake.add_channel(GUILD, GENERAL, "general")
        fake.add_channel(GUILD, TOPICAL, "web", topic="The web app --project other --model opus")
        for user, name in ((ADA, "ada"), (BOB, "bob"), (EVE, "eve")):
            fake.add_member(GUILD, user, name)
        fake.add_guild(OTHER_GUILD, "Elsewhere")
        fake.add_channel(OTHER_GUILD, ELSEWHERE, "chat")
        fake.add_member(OTHER_GUILD, ADA, "ada")
        yield fake


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={"discord": base.discord.model_copy(update={
        "users": [ADA, BOB], "guild": [GUILD]})})


class Gluon:
    """The daemon's side: a runtime and its Discord bot, which a test may restart."""

    def __init__(self, config: Config, model_server: ScriptedModelServer,
                 environ: dict[str, str] | None = None) -> None:
        self.config, self.model_server = config, model_server
        self.environ = environ or daemon_environ()
        self.runtime = Runtime(config, environ=self.environ, tables=[CHAT_TABLES])
        self.bot: DiscordBot | None = None

    async def start_bot(self) -> DiscordBot:
        llm = anthropic.AsyncAnthropic(base_url=self.model_server.base_url, api_key="sk-test",
                                       max_retries=0)
        self.bot = DiscordBot(self.runtime, Orchestrator(self.runtime, llm), TOKEN,
                              guild_ready_timeout=0.2)
        await self.bot.start(ready_timeout=20)
        return self.bot

    async def stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.stop()
            self.bot = None

    async def restart(self) -> None:
        """The whole daemon stops and starts again on the same data dir."""
        await self.stop_bot()
        await self.runtime.close()
        self.runtime = Runtime(self.config, environ=self.environ, tables=[CHAT_TABLES])
        await self.runtime.open()
        await self.start_bot()


@asynccontextmanager
async def serving(config: Config, model_server: ScriptedModelServer, projects: dict[str, Path],
                  environ: dict[str, str] | None = None) -> AsyncIterator[Gluon]:
    """A runtime with these projects and its Discord bot, running until the block ends; the
    orchestrator talks to the scripted model server whatever the agents are given."""
    g = Gluon(config, model_server, environ)
    await g.runtime.open()
    for name, path in projects.items():
        await g.runtime.projects.add(name, str(path))
    await g.start_bot()
    try:
        yield g
    finally:
        await g.stop_bot()
        await g.runtime.close()


@pytest.fixture
async def gluon(config: Config, discord_api: FakeDiscord, model_server: ScriptedModelServer,
                repo: Path, tmp_path: Path) -> AsyncIterator[Gluon]:
    projects = {"demo": repo, "other": make_repo(tmp_path / "other")}
    async with serving(config, model_server, projects) as g:
        yield g


def contents(fake: FakeDiscord, channel: int) -> list[str]:
    return [m.content for m in fake.messages(channel).values()]


def find(fake: FakeDiscord, channel: int, text: str) -> DiscordMessage:
    return next(m for m in fake.messages(channel).values() if text in m.content)


def card(message: DiscordMessage) -> dict[str, str]:
    """A run card's fields by name, and its title."""
    [embed] = message.embeds
    return {"title": embed["title"], **{f["name"]: f["value"] for f in embed["fields"]}}


async def test_a_request_in_a_linked_channel_gets_a_thread_a_live_card_and_a_ping(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    runtime = gluon.runtime
    discord_api.user_message(GENERAL, ADA, "link demo", mentions_bot=True)
    await discord_api.wait_for(lambda f: any("Linked" in t for t in contents(f, GENERAL)))
    model_server.script("SCRIPT:agent-hello", [
        s.bash("printf 'hi\\n' > hello.txt && git add hello.txt && git commit -qm hello"),
        s.text("Committed hello.txt.")])
    model_server.script("SCRIPT:start", [
        s.tool("start_run", {"prompt": "SCRIPT:agent-hello add hello"}),
        s.text("Started a run on **demo**.")])
    request = discord_api.user_message(GENERAL, ADA, "SCRIPT:start add a hello file")
    await discord_api.wait_for(lambda f: any(t.starter_message_id == request
                                             for t in f.threads.values()), timeout=60)
    [thread] = [t for t in discord_api.threads.values() if t.starter_message_id == request]
    await discord_api.wait_for(lambda f: any("finished" in t for t in contents(f, thread.id)),
                               timeout=60)
    [run] = await runtime.runs.store.find()
    assert run.project == "demo" and run.created_by == "discord:42"
    assert run.short in thread.name and thread.parent_id == GENERAL
    assert "Started a run on **demo**." in contents(discord_api, GENERAL)
    status = next(m for m in discord_api.messages(thread.id).values() if m.embeds)
    fields = card(status)
    assert fields["Project"] == "demo" and f"Run {run.short}" in fields["title"]
    assert "review" in fields["title"] and fields["Branch"] == f"`{run.branch}`"
    assert fields["Health"] == "🟢 ready for review" and fields["Cost"].startswith("$")
    assert status.edits >= 1  # the one card, edited in place
    ping = find(discord_api, thread.id, "finished")
    assert ping.content.startswith(f"<@{ADA}>") and "Committed hello.txt." in ping.content
    assert ping.reply_to == status.id
    assert [x for x in discord_api.sent(GENERAL) if x.kind == "typing"]


async def run_thread(fake: FakeDiscord, runtime: Runtime) -> tuple[str, int]:
    """The only run, and the thread it got."""
    await fake.wait_for(lambda f: bool(f.threads), timeout=30)
    [run] = await runtime.runs.store.find()
    [thread] = [t for t in fake.threads.values() if run.short in t.name]
    return run.id, thread.id


async def test_a_dm_picks_the_project_with_project_colon_and_reports_in_the_dm(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:agent-dm", [s.text("Looked at it.")])
    model_server.script("SCRIPT:dm-start", [
        s.tool("start_run", {"prompt": "SCRIPT:agent-dm look around"}),
        s.text("Started.")])
    discord_api.user_message(DM_ADA, ADA, "SCRIPT:dm-start look around project:other")
    await discord_api.wait_for(lambda f: any("finished" in t for t in contents(f, DM_ADA)),
                               timeout=60)
    [run] = await gluon.runtime.runs.store.find()
    assert run.project == "other"
    assert not discord_api.threads  # a DM has no threads: everything stays in the DM
    assert any(m.embeds and card(m)["Project"] == "other"
               for m in discord_api.messages(DM_ADA).values())
    request = next(r for r in model_server.requests if r.script_key == "SCRIPT:dm-start")
    assert "project=other" in request.all_text()  # the orchestrator was told


async def test_a_channel_topic_sets_the_project_and_model_of_requests_there(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:agent-topic", [s.text("Done in other.")])
    model_server.script("SCRIPT:topic-start", [
        s.tool("start_run", {"prompt": "SCRIPT:agent-topic tidy"}), s.text("Started.")])
    discord_api.user_message(TOPICAL, BOB, "SCRIPT:topic-start tidy up", mentions_bot=True)
    run_id, thread = await run_thread(discord_api, gluon.runtime)
    await discord_api.wait_for(lambda f: any("finished" in t for t in contents(f, thread)),
                               timeout=60)
    run = await gluon.runtime.runs.get(run_id)
    assert (run.project, run.model) == ("other", "opus")
    assert find(discord_api, thread, "finished").content.startswith(f"<@{BOB}>")


async def test_a_multi_select_question_is_answered_with_a_menu(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:agent-ask", [
        s.ask("Which checks?", ["lint", "types", "tests"], multi=True),
        s.text("Running the chosen checks.")])
    discord_api.slash(GENERAL, ADA, "run", {"project": "demo",
                                            "prompt": "SCRIPT:agent-ask set up CI"})
    run_id, thread = await run_thread(discord_api, gluon.runtime)
    await discord_api.wait_for(lambda f: any("asks: Which checks?" in t
                                             for t in contents(f, thread)), timeout=60)
    question = find(discord_api, thread, "asks: Which checks?")
    [(menu, values)] = question.selects
    assert values == ["0", "1", "2"] and not question.buttons
    assert question.content.startswith(f"<@{ADA}>")  # the person who started it is pinged
    discord_api.click(question.id, BOB, menu, values=["0", "2"])
    run = await wait_state(gluon.runtime, run_id)
    assert run.state is RunState.REVIEW
    [answered] = await gluon.runtime.db.fetchall("SELECT * FROM interactions")
    assert answered["answered_by"] == "discord:43" and answered["answer"] == '"lint, tests"'
    await discord_api.wait_for(lambda f: "Answered by" in f.message(question.id).content)
    closed = discord_api.message(question.id)
    assert f"Answered by <@{BOB}>: lint, tests" in closed.content and not closed.selects
    answers = [r for r in model_server.requests if r.script_key == "SCRIPT:agent-ask"]
    assert any("lint, tests" in r.all_text() for r in answers)  # the agent got the answer


async def test_a_permission_request_is_denied_by_a_button_pressed_after_a_restart(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:agent-outside", [
        s.write("../outside.txt", "no"), s.text("Could not write it.")])
    discord_api.slash(GENERAL, ADA, "run", {"project": "demo",
                                            "prompt": "SCRIPT:agent-outside write outside"})
    run_id, thread = await run_thread(discord_api, gluon.runtime)
    await discord_api.wait_for(lambda f: any("asks to use" in t for t in contents(f, thread)),
                               timeout=60)
    request = find(discord_api, thread, "asks to use")
    labels = [label for label, _ in request.buttons]
    assert labels == ["Allow once", "Allow for this run", "Always for this project", "Deny"]
    # The bot restarts (a new client, nothing in memory); the button still works.
    await gluon.stop_bot()
    await gluon.start_bot()
    deny = dict(request.buttons)["Deny"]
    press = discord_api.click(request.id, ADA, deny)
    run = await wait_state(gluon.runtime, run_id)
    assert run.state is RunState.REVIEW and "Could not write it." in (run.result_text or "")
    assert discord_api.interaction_responses[press].type == 6  # acknowledged (deferred) at once
    await discord_api.wait_for(lambda f: "Answered by" in f.message(request.id).content)
    assert not discord_api.message(request.id).buttons
    assert not (gluon.runtime.config.home / "worktrees" / "outside.txt").exists()


async def test_a_message_in_a_runs_thread_steers_the_running_agent(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:agent-steer", [s.bash("echo working"), s.slow_text(3),
                                               s.text("took the hint")])
    discord_api.slash(GENERAL, ADA, "run", {"project": "demo",
                                            "prompt": "SCRIPT:agent-steer refactor"})
    run_id, thread = await run_thread(discord_api, gluon.runtime)
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:agent-steer"
                                     and r.step == 1)
    discord_api.user_message(thread, BOB, "please also update the README")
    await discord_api.wait_for(lambda f: any("Steering run" in t for t in contents(f, thread)))
    run = await wait_state(gluon.runtime, run_id)
    assert run.state is RunState.REVIEW
    assert any("please also update the README" in r.all_text() for r in model_server.requests
               if r.script_key == "SCRIPT:agent-steer")
    events = [e.summary for e in await gluon.runtime.runs.logs(run_id)]
    assert "discord:43: please also update the README" in events


async def test_strangers_other_guilds_and_unaddressed_messages_do_nothing(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:start", [s.tool("start_run", {
        "project": "demo", "prompt": "never"}), s.text("Started.")])
    discord_api.user_message(GENERAL, ADA, "link demo", mentions_bot=True)
    await discord_api.wait_for(lambda f: any("Linked" in t for t in contents(f, GENERAL)))
    discord_api.user_message(GENERAL, EVE, "SCRIPT:start in a linked channel")
    refused = discord_api.user_message(GENERAL, EVE, "SCRIPT:start please", mentions_bot=True)
    discord_api.user_message(ELSEWHERE, ADA, "SCRIPT:start elsewhere", mentions_bot=True)
    discord_api.user_message(GENERAL, ADA, "unlink", mentions_bot=True)
    await discord_api.wait_for(lambda f: any("no longer linked" in t
                                             for t in contents(f, GENERAL)))
    discord_api.user_message(GENERAL, ADA, "SCRIPT:start not addressed to the bot")
    discord_api.user_message(TOPICAL, ADA, "SCRIPT:start a topic is no link")
    discord_api.slash(GENERAL, EVE, "runs")
    await discord_api.wait_for(lambda f: any(r.ephemeral for r in
                                             f.interaction_responses.values()))
    refusal = next(m for m in discord_api.messages(GENERAL).values() if m.reply_to == refused)
    assert "not allowed" in refusal.content and str(EVE) in refusal.content
    public = [m.content for m in discord_api.messages(GENERAL).values() if not m.ephemeral]
    assert sum("not allowed" in t for t in public) == 1  # the unaddressed one was ignored
    [slash] = discord_api.interaction_responses.values()
    assert "not allowed" in (slash.content or "")
    assert not discord_api.messages(ELSEWHERE) and not discord_api.messages(TOPICAL)
    assert await gluon.runtime.runs.store.find() == []
    assert not [r for r in model_server.requests if r.script_key == "SCRIPT:start"]
    denied = await gluon.runtime.db.fetchall(
        "SELECT * FROM activity WHERE action = 'access.denied'")
    assert {r["actor"] for r in denied} == {"discord:666"}


async def test_a_merge_confirmation_survives_a_daemon_restart(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:agent-hello", [
        s.bash("printf 'hi\\n' > hello.txt && git add hello.txt && git commit -qm hello"),
        s.text("Committed hello.txt.")])
    discord_api.slash(GENERAL, ADA, "run", {"project": "demo",
                                            "prompt": "SCRIPT:agent-hello add hello"})
    run_id, thread = await run_thread(discord_api, gluon.runtime)
    await wait_state(gluon.runtime, run_id)
    model_server.script("SCRIPT:merge", [
        s.tool("merge_run", {"run": run_id[:8]}), s.text("Press Confirm to merge it.")])
    discord_api.user_message(thread, ADA, "SCRIPT:merge merge it", mentions_bot=True)
    await discord_api.wait_for(lambda f: any("Press Confirm" in t for t in contents(f, thread)),
                               timeout=30)
    asked = find(discord_api, thread, "Press Confirm")
    labels = dict(asked.buttons)
    assert list(labels) == ["Confirm merge_run", "Cancel"]
    assert (await gluon.runtime.runs.get(run_id)).state is RunState.REVIEW  # not yet
    await gluon.restart()
    discord_api.click(asked.id, BOB, labels["Confirm merge_run"])  # not the one who asked
    discord_api.click(asked.id, ADA, labels["Confirm merge_run"])
    await discord_api.wait_for(lambda f: "Done (ada confirmed)" in f.message(asked.id).content,
                               timeout=30)
    assert (await gluon.runtime.runs.get(run_id)).state is RunState.MERGED
    assert not discord_api.message(asked.id).buttons
    refused = [r for r in discord_api.messages(GENERAL).values() if r.ephemeral] + [
        m for m in discord_api.messages(thread).values() if m.ephemeral]
    assert any("Only ada (who asked) or an admin" in m.content for m in refused)


async def test_long_replies_are_split_at_lines_and_very_long_ones_come_as_a_file(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    lines = [f"line {n:04d} of the diff" for n in range(200)]
    long = "Here it is:\n```diff\n" + "\n".join(lines) + "\n```"
    model_server.script("SCRIPT:long", [s.text(long)])
    model_server.script("SCRIPT:huge", [s.text("Full log below.\n" + "x" * 9000)])
    discord_api.user_message(DM_ADA, ADA, "SCRIPT:long show me the diff")
    await discord_api.wait_for(lambda f: any("line 0199" in t for t in contents(f, DM_ADA)),
                               timeout=30)
    parts = contents(discord_api, DM_ADA)
    assert len(parts) == 3 and all(len(p) <= 2000 for p in parts)
    assert all(p.count("```") % 2 == 0 for p in parts)  # each part's code block is closed
    assert all(f"line {n:04d} of the diff" in "".join(parts) for n in range(200))
    discord_api.user_message(DM_ADA, ADA, "SCRIPT:huge the whole log")
    await discord_api.wait_for(lambda f: any(m.attachments for m in
                                             f.messages(DM_ADA).values()), timeout=30)
    [with_file] = [m for m in discord_api.messages(DM_ADA).values() if m.attachments]
    assert with_file.content.startswith("Full log below.")
    assert with_file.attachments == [("gluon.txt", ("Full log below.\n" + "x" * 9000).encode())]


async def test_rate_limits_and_gateway_reconnects_lose_and_repeat_nothing(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:hello", [s.text("Hello there.")])
    discord_api.rate_limit("POST /channels/*/messages", times=2, retry_after=0.3)
    discord_api.user_message(DM_ADA, ADA, "SCRIPT:hello one")
    await discord_api.wait_for(lambda f: "Hello there." in contents(f, DM_ADA), timeout=30)
    discord_api.disconnect()  # resumable: discord.py RESUMEs and gets what it missed
    discord_api.user_message(DM_ADA, ADA, "SCRIPT:hello two")
    await discord_api.wait_for(lambda f: contents(f, DM_ADA).count("Hello there.") == 2,
                               timeout=30)
    assert len(discord_api.resumes) == 1
    discord_api.request_reconnect()
    discord_api.user_message(DM_ADA, ADA, "SCRIPT:hello three")
    await discord_api.wait_for(lambda f: contents(f, DM_ADA).count("Hello there.") == 3,
                               timeout=30)
    assert len([r for r in model_server.requests if r.script_key == "SCRIPT:hello"]) == 3
    assert contents(discord_api, DM_ADA) == ["Hello there."] * 3


async def test_a_thread_whose_run_was_removed_says_so(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:agent-quick", [s.text("Quick one.")])
    discord_api.slash(GENERAL, ADA, "run", {"project": "other",
                                            "prompt": "SCRIPT:agent-quick look"})
    run_id, thread = await run_thread(discord_api, gluon.runtime)
    await wait_state(gluon.runtime, run_id)
    await gluon.runtime.projects.remove("other")
    discord_api.user_message(thread, ADA, "and one more thing")
    await discord_api.wait_for(lambda f: any("no longer exists" in t
                                             for t in contents(f, thread)))
    assert await gluon.runtime.runs.store.find() == []


async def test_pairing_in_a_dm_and_mapped_discord_roles_let_people_in(
        tmp_path: Path, config: Config, discord_api: FakeDiscord,
        model_server: ScriptedModelServer) -> None:
    mapped = config.model_copy(update={"discord": config.discord.model_copy(update={
        "users": [], "role_map": {"devs": "operator"}})})
    async with serving(mapped, model_server, {}) as gluon:
        discord_api.add_member(GUILD, 77, "dev", roles=[DEVS])
        discord_api.slash(GENERAL, 77, "projects")
        code = await gluon.runtime.access.create_code("viewer")
        discord_api.user_message(DM_ADA, ADA, f"pair {code.code}")
        await discord_api.wait_for(lambda f: any("Paired: you are in as viewer" in t
                                                 for t in contents(f, DM_ADA)))
        discord_api.user_message(DM_ADA, ADA, f"pair {code.code}")  # used: refused
        await discord_api.wait_for(lambda f: len(contents(f, DM_ADA)) == 2)
        assert "Paired" not in contents(discord_api, DM_ADA)[1]
        await discord_api.wait_for(lambda f: any(
            "No projects yet" in (m.content or "") for m in f.messages(GENERAL).values()))
        assert await gluon.runtime.access.role_of("discord", str(ADA)) == "viewer"


async def test_with_answers_from_the_requester_only_others_presses_change_nothing(
        config: Config, discord_api: FakeDiscord, model_server: ScriptedModelServer,
        repo: Path) -> None:
    strict = config.model_copy(update={"discord": config.discord.model_copy(update={
        "answers": "requester"})})
    async with serving(strict, model_server, {"demo": repo}) as gluon:
        model_server.script("SCRIPT:agent-ask", [
            s.ask("Which database?", ["Postgres", "SQLite"]), s.text("Going with it.")])
        discord_api.slash(GENERAL, ADA, "run", {"project": "demo",
                                                "prompt": "SCRIPT:agent-ask set up storage"})
        run_id, thread = await run_thread(discord_api, gluon.runtime)
        await discord_api.wait_for(lambda f: any("asks: Which database?" in t
                                                 for t in contents(f, thread)), timeout=60)
        question = find(discord_api, thread, "asks: Which database?")
        options = dict(question.buttons)
        assert list(options) == ["Postgres", "SQLite"]
        discord_api.click(question.id, BOB, options["Postgres"])
        await discord_api.wait_for(lambda f: any(
            m.ephemeral and "Only the person who started run" in m.content
            for m in f.messages(thread).values()))
        assert (await gluon.runtime.runs.get(run_id)).state is RunState.WAITING
        discord_api.click(question.id, ADA, options["SQLite"])
        run = await wait_state(gluon.runtime, run_id)
        assert run.state is RunState.REVIEW
        [answered] = await gluon.runtime.db.fetchall("SELECT * FROM interactions")
        assert answered["answered_by"] == "discord:42" and answered["answer"] == '"SQLite"'


async def test_a_file_sent_with_a_request_reaches_the_agent_but_not_the_branch(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:agent-read", [
        s.bash("cp .gluon-attachments/notes.txt copy.txt && git add -A && git commit -qm c"),
        s.text("Copied the notes.")])
    model_server.script("SCRIPT:attach", [
        s.tool("start_run", {"project": "demo", "prompt": "SCRIPT:agent-read copy them"}),
        s.text("Started.")])
    discord_api.user_message(DM_ADA, ADA, "SCRIPT:attach use these notes",
                             attachments=[("notes.txt", b"remember the milk\n")])
    await discord_api.wait_for(lambda f: any("Copied the notes." in t
                                             for t in contents(f, DM_ADA)), timeout=60)
    [run] = await gluon.runtime.runs.store.find()
    assert run.state is RunState.REVIEW
    assert ".gluon-attachments/notes.txt" in run.prompt
    assert [f.path for f in run.changed_files] == ["copy.txt"]
    assert (Path(run.cwd) / "copy.txt").read_text() == "remember the milk\n"


async def test_without_the_commands_scope_the_bot_still_answers_messages(
        config: Config, discord_api: FakeDiscord, model_server: ScriptedModelServer,
        caplog: pytest.LogCaptureFixture) -> None:
    discord_api.fail_next("PUT /applications/*/guilds/*/commands", 403, 50001, "Missing Access")
    async with serving(config, model_server, {}):
        model_server.script("SCRIPT:hello", [s.text("Hello there.")])
        discord_api.user_message(DM_ADA, ADA, "SCRIPT:hello hi")
        await discord_api.wait_for(lambda f: "Hello there." in contents(f, DM_ADA), timeout=30)
        assert not discord_api.commands(GUILD)
        assert "applications.commands scope" in caplog.text


async def test_a_run_that_cannot_reach_the_model_api_shows_its_retries_then_why_it_failed(
        config: Config, discord_api: FakeDiscord, model_server: ScriptedModelServer,
        repo: Path) -> None:
    port = closed_port()
    config, environ = unreachable_api(config, port, retries=3)
    async with serving(config, model_server, {"demo": repo}, environ) as g:
        discord_api.slash(GENERAL, ADA, "run", {"project": "demo",
                                                "prompt": "fix the login bug"})
        run_id, thread = await run_thread(discord_api, g.runtime)
        await discord_api.wait_for(lambda f: any(" failed." in t for t in contents(f, thread)),
                                   timeout=90)
        run = await g.runtime.runs.get(run_id)
    assert run.state is RunState.FAILED
    [status] = [m for m in discord_api.messages(thread).values() if m.embeds]
    retry = re.compile(rf"⚠ model API unreachable \(127\.0\.0\.1:{port}\), retry [123]/3 in "
                       r"\d+\.\d s")
    retrying = [e for e in discord_api.sent(thread, "edit") if e.message_id == status.id
                and retry.fullmatch(e.embeds[0].get("footer", {}).get("text", ""))]
    assert retrying, [e.embeds for e in discord_api.sent(thread, "edit")]
    assert all({f["name"]: f["value"] for f in e.embeds[0]["fields"]}["Health"]
               == "🟡 retrying the model API" for e in retrying)
    [ping] = [m for m in discord_api.sent(thread, "message") if " failed." in (m.content or "")]
    assert ping.reply_to == status.id and retrying[0].at < ping.at
    assert (f"the model API at 127.0.0.1:{port} is unreachable after 3 retries: Connection "
            "refused") in (ping.content or "")
    assert ping.content and ping.content.startswith(f"<@{ADA}>")
    assert "API Error" not in ping.content
    now = card(discord_api.message(status.id))  # the retries are over: the card says so
    assert now["title"].startswith("❌") and now["Health"] == "🔴 failed"


def test_only_whole_messages_are_words_for_the_bot() -> None:
    for said in ("help", "unlink", "link api", "LINK  web-app", "pair ABCD-EFGH"):
        assert WORDS.match(said), said
    for request in ("help me fix the login test", "link the button to the home page",
                    "unlink the stale lockfile", "pair"):
        assert not WORDS.match(request), request


async def test_a_request_with_one_file_too_big_is_refused_and_none_of_its_files_is_kept(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    discord_api.user_message(DM_ADA, ADA, "SCRIPT:huge read these", attachments=[
        ("notes.txt", b"remember the milk\n"), ("huge.bin", b"\0" * 26_000_000)])
    await discord_api.wait_for(lambda f: any("I take files up to" in t
                                             for t in contents(f, DM_ADA)))
    assert find(discord_api, DM_ADA, "I take files up to").content == (
        "'huge.bin' is 26.0 MB; I take files up to 25 MB: send a smaller file, or a link to it.")
    assert not (gluon.runtime.config.home / "uploads").exists()
    assert not [r for r in model_server.requests if r.script_key == "SCRIPT:huge"]


async def test_a_file_with_an_odd_name_is_kept_under_a_plain_name_inside_uploads(
        gluon: Gluon, discord_api: FakeDiscord, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:odd", [s.text("Got your notes.")])
    discord_api.user_message(DM_ADA, ADA, "SCRIPT:odd keep these",
                             attachments=[("..\\..\\-rf .env copy.txt", b"milk\n")])
    await discord_api.wait_for(lambda f: any("Got your notes." in t
                                             for t in contents(f, DM_ADA)))
    home = gluon.runtime.config.home
    [saved] = [p for p in home.rglob("*") if p.is_file() and p.read_bytes() == b"milk\n"]
    assert saved.name == "rf_.env_copy.txt" and saved.parent.parent == home / "uploads"
    [asked] = [r for r in model_server.requests if r.script_key == "SCRIPT:odd"]
    assert "Files sent with this message (they go to the runs it starts): rf_.env_copy.txt" \
        in asked.all_text()
