"""The Telegram bot end to end: the real python-telegram-bot against a fake Bot API, the real
`anthropic` client against the scripted model server, real runs of the real Claude Code CLI."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anthropic
import pytest

from bots.chat.migrations import CHAT_TABLES
from bots.chat.orchestrator import Orchestrator
from bots.telegram.bot import TelegramBot
from core.config import Config
from core.errors import InvalidInput
from core.events.bus import RunStateChanged
from core.runtime import Runtime
from core.types import RunState
from tests.bots.test_model_api_errors import closed_port
from tests.conftest import daemon_environ, make_config, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.fakes.telegram_api import FakeTelegram

ADA, BOB, EVE = 42, 7, 666


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={"telegram": base.telegram.model_copy(
        update={"users": [ADA, BOB]})})


@asynccontextmanager
async def serving(config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
                  repo: Path, environ: dict[str, str] | None = None
                  ) -> AsyncIterator[tuple[TelegramBot, Runtime]]:
    """A runtime with the project "demo" and its Telegram bot, running until the block ends;
    the orchestrator talks to the scripted model server whatever the agents are given."""
    runtime = Runtime(config, environ=environ or daemon_environ(), tables=[CHAT_TABLES])
    await runtime.open()
    await runtime.projects.add("demo", str(repo))
    llm = anthropic.AsyncAnthropic(base_url=model_server.base_url, api_key="sk-test",
                                   max_retries=0)
    bot = TelegramBot(runtime, Orchestrator(runtime, llm), telegram.token,
                      base_url=telegram.base_url)
    await bot.start()
    try:
        yield bot, runtime
    finally:
        await bot.stop()
        await runtime.close()


@pytest.fixture
async def bot(config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
              repo: Path) -> AsyncIterator[tuple[TelegramBot, Runtime]]:
    async with serving(config, telegram, model_server, repo) as served:
        yield served


def unreachable_api(config: Config, port: int, retries: int) -> tuple[Config, dict[str, str]]:
    """A config and daemon environment that give agents a model API on `port` (nobody listens
    there yet) and up to `retries` quick retries of it."""
    config = config.model_copy(update={
        "anthropic": config.anthropic.model_copy(update={"base_url": f"http://127.0.0.1:{port}"}),
        "agents": config.agents.model_copy(update={"env_allow": ["CLAUDE_CODE_MAX_RETRIES"]})})
    return config, {**daemon_environ(), "CLAUDE_CODE_MAX_RETRIES": str(retries)}


@asynccontextmanager
async def forwarding(port: int, to: int) -> AsyncIterator[None]:
    """From now on, connections to `port` reach `to`: the model API comes back."""
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    clients: list[asyncio.StreamWriter] = []

    async def forward(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        clients.append(client_w)
        server_r, server_w = await asyncio.open_connection("127.0.0.1", to)
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    server = await asyncio.start_server(forward, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        for writer in clients:
            writer.close()
        await server.wait_closed()


def texts(fake: FakeTelegram, chat: int) -> list[str]:
    return [m.text or "" for m in fake.messages(chat).values()]


async def test_a_request_in_plain_words_runs_an_agent_and_reports_back(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:agent-hello", [
        s.bash("printf 'hi\\n' > hello.txt && git add hello.txt && git commit -qm hello"),
        s.text("Committed hello.txt.")])
    model_server.script("SCRIPT:start", [
        s.tool("start_run", {"project": "demo", "prompt": "SCRIPT:agent-hello add hello"}),
        s.text("Started a run on **demo**.")])
    telegram.user_message(ADA, ADA, "SCRIPT:start add a hello file to demo")
    await telegram.wait_for(lambda f: any("finished" in t for t in texts(f, ADA)), timeout=60)
    [run] = await runtime.runs.store.find()
    assert run.state is RunState.REVIEW and run.created_by == "telegram:42"
    messages = texts(telegram, ADA)
    assert "Started a run on <b>demo</b>." in messages
    status = next(t for t in messages if t.startswith("✅ <b>Run"))
    assert f"<code>{run.short}</code>" in status and "review" in status
    ping = next(t for t in messages if "finished" in t)
    assert "Committed hello.txt." in ping and "1 commit(s)" in ping
    kinds = [x.kind for x in telegram.sent(ADA)]
    assert "action" in kinds  # "typing..." while the model thinks


async def test_an_agents_question_comes_as_buttons_and_a_press_answers_it(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:agent-ask", [
        s.ask("Which database?", ["Postgres", "SQLite"]), s.text("Going with the answer.")])
    telegram.user_message(ADA, ADA, "/run demo SCRIPT:agent-ask set up storage")
    await telegram.wait_for(lambda f: any("asks: Which database?" in t
                                          for t in texts(f, ADA)), timeout=60)
    question = next(m for m in telegram.messages(ADA).values()
                    if "asks: Which database?" in (m.text or ""))
    assert [label for label, _ in question.buttons] == ["Postgres", "SQLite"]
    telegram.press_button(ADA, BOB, question.message_id, question.buttons[1][1])
    [run] = await runtime.runs.store.find()
    run = await wait_state(runtime, run.id)
    assert run.state is RunState.REVIEW
    [answered] = [i for i in await runtime.db.fetchall("SELECT * FROM interactions")]
    assert answered["answered_by"] == "telegram:7"
    await telegram.wait_for(lambda f: any("Answered by telegram:7: SQLite" in t
                                          for t in texts(f, ADA)))
    again = telegram.press_button(ADA, ADA, question.message_id, question.buttons[0][1])
    await telegram.wait_for(lambda f: again in f.callback_answers)
    assert "already answered by telegram:7" in (telegram.callback_answers[again][0] or "")


async def test_a_permission_request_denied_from_chat(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:agent-outside", [
        s.write("../outside.txt", "no"), s.text("Could not write it.")])
    telegram.user_message(ADA, ADA, "/run demo SCRIPT:agent-outside write outside")
    await telegram.wait_for(lambda f: any("asks to use" in t for t in texts(f, ADA)),
                            timeout=60)
    request = next(m for m in telegram.messages(ADA).values()
                   if "asks to use" in (m.text or ""))
    assert [label for label, _ in request.buttons] == [
        "Allow once", "Allow for this run", "Always for this project", "Deny"]
    telegram.press_button(ADA, ADA, request.message_id, request.buttons[3][1])
    [run] = await runtime.runs.store.find()
    run = await wait_state(runtime, run.id)
    assert run.state is RunState.REVIEW
    assert not (Path(run.cwd).parent / "outside.txt").exists()


async def test_a_destructive_command_needs_the_confirmation_button(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:agent-slow", [s.hold("slow")])
    telegram.user_message(ADA, ADA, "/run demo SCRIPT:agent-slow take your time")
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:agent-slow")
    [run] = await runtime.runs.store.find()
    telegram.user_message(ADA, ADA, f"/cancel {run.id[:4]}")
    await telegram.wait_for(lambda f: any(t.startswith(f"Confirm: stop run {run.short}")
                                          for t in texts(f, ADA)))
    ask = next(m for m in telegram.messages(ADA).values()
               if (m.text or "").startswith("Confirm: stop run"))
    assert (await runtime.runs.get(run.id)).state is RunState.RUNNING
    telegram.press_button(ADA, BOB, ask.message_id, ask.buttons[0][1])
    await telegram.wait_for(lambda f: bool(f.callback_answers))
    assert (await runtime.runs.get(run.id)).state is RunState.RUNNING  # Bob did not ask
    telegram.press_button(ADA, ADA, ask.message_id, ask.buttons[0][1])
    await telegram.wait_for(lambda f: "Done (Ada confirmed)" in (
        f.messages(ADA)[ask.message_id].text or ""))
    assert (await wait_state(runtime, run.id)).state is RunState.CANCELLED
    model_server.release("slow")


async def test_a_stranger_is_refused_and_nothing_runs(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:evil", [
        s.tool("start_run", {"project": "demo", "prompt": "rm -rf"}), s.text("ok")])
    telegram.user_message(EVE, EVE, "SCRIPT:evil start something", first_name="Eve")
    telegram.user_message(EVE, EVE, "/start", first_name="Eve")
    await telegram.wait_for(lambda f: len(f.messages(EVE)) == 2)
    replies = texts(telegram, EVE)
    assert any(t.startswith("You are not allowed to use this bot.") for t in replies)
    assert any("Your Telegram user id is 666" in t for t in replies)
    assert await runtime.runs.store.find() == []
    assert not [r for r in model_server.requests if "SCRIPT:evil" in str(r.body)]
    denied = await runtime.activity.recent(action_prefix="access.")
    assert denied and denied[0].actor == "telegram:666"


async def test_pairing_with_a_one_time_code_lets_a_user_in(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram) -> None:
    _, runtime = bot
    code = await runtime.access.create_code("viewer")
    telegram.user_message(EVE, EVE, "/pair WRONG-CODE")
    telegram.user_message(EVE, EVE, f"/pair {code.code}")
    await telegram.wait_for(lambda f: any("Paired" in t for t in texts(f, EVE)))
    assert any("wrong, used or expired" in t for t in texts(telegram, EVE))
    assert await runtime.access.role_of("telegram", str(EVE)) == "viewer"
    telegram.user_message(BOB, BOB, f"/pair {code.code}")
    await telegram.wait_for(lambda f: any("wrong, used or expired" in t
                                          for t in texts(f, BOB)))


async def test_a_reply_to_a_runs_message_resumes_it(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:agent-two", [s.text("First pass done."),
                                             s.text("Second pass done.")])
    telegram.user_message(ADA, ADA, "/run demo SCRIPT:agent-two do it")
    await telegram.wait_for(lambda f: any("First pass done." in t for t in texts(f, ADA)),
                            timeout=60)
    ping = next(m for m in telegram.messages(ADA).values()
                if "First pass done." in (m.text or ""))
    telegram.user_message(ADA, ADA, "also update the docs", reply_to=ping.message_id)
    await telegram.wait_for(lambda f: any("Second pass done." in t for t in texts(f, ADA)),
                            timeout=60)
    [run] = await runtime.runs.store.find()
    assert run.state is RunState.REVIEW and run.turns >= 2


async def test_a_429_storm_delivers_every_message_in_order(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    rows = "\n".join(f"row {n} " + "y" * 60 for n in range(120))  # three messages' worth
    model_server.script("SCRIPT:rows", [s.text(rows)])
    telegram.rate_limit("sendMessage", times=4, retry_after=1)
    telegram.user_message(ADA, ADA, "SCRIPT:rows list them")
    await telegram.wait_for(lambda f: any("row 119 " in t for t in texts(f, ADA)),
                            timeout=30)
    parts = [x.text or "" for x in telegram.sent(ADA, "message")]
    assert len(parts) == 3 and all(len(p) <= 4096 for p in parts)
    numbers = [int(m) for m in re.findall(r"row (\d+) ", "\n".join(parts))]
    assert numbers == list(range(120))


async def test_a_10000_line_log_arrives_as_a_file(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    log = "\n".join(f"line {n}: " + "x" * 40 for n in range(10_000))
    model_server.script("SCRIPT:long", [s.text(log)])
    telegram.user_message(ADA, ADA, "SCRIPT:long show me the log")
    await telegram.wait_for(lambda f: bool(f.sent(ADA, "document")), timeout=30)
    [document] = telegram.sent(ADA, "document")
    assert document.document_bytes == log.encode()


async def test_in_a_forum_each_run_gets_a_topic_and_talk_there_steers_it(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    group = -100123
    model_server.script("SCRIPT:agent-topic", [s.text("First pass done."),
                                               s.text("Second pass done.")])
    telegram.user_message(group, ADA, "/run demo SCRIPT:agent-topic tidy up",
                          chat_type="supergroup", forum=True)
    await telegram.wait_for(lambda f: any("First pass done." in t for t in texts(f, group)),
                            timeout=60)
    [topic] = telegram.sent(group, "topic")
    [run] = await runtime.runs.store.find()
    assert topic.text is not None and topic.text.startswith(f"{run.short} · demo · ")
    reports = [m for m in telegram.messages(group).values()
               if "First pass done." in (m.text or "") or (m.text or "").startswith("✅")]
    assert reports and all(m.thread_id == topic.thread_id for m in reports)
    assert topic.thread_id is not None
    telegram.user_message(group, ADA, "now the docs", chat_type="supergroup",
                          thread_id=topic.thread_id, is_topic_message=True)
    await telegram.wait_for(lambda f: any("Second pass done." in t for t in texts(f, group)),
                            timeout=60)
    assert (await runtime.runs.get(run.id)).state is RunState.REVIEW


async def test_a_file_sent_with_a_request_reaches_the_agent_but_not_the_branch(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:agent-read", [
        s.bash("cp .gluon-attachments/notes.txt copy.txt && git add -A && git commit -qm c"),
        s.text("Copied the notes.")])
    model_server.script("SCRIPT:attach", [
        s.tool("start_run", {"project": "demo", "prompt": "SCRIPT:agent-read copy them"}),
        s.text("Started.")])
    telegram.user_message(ADA, ADA, "SCRIPT:attach use these notes",
                          document=("notes.txt", b"remember the milk\n"))
    await telegram.wait_for(lambda f: any("Copied the notes." in t for t in texts(f, ADA)),
                            timeout=60)
    [run] = await runtime.runs.store.find()
    assert run.state is RunState.REVIEW
    assert ".gluon-attachments/notes.txt" in run.prompt
    assert [f.path for f in run.changed_files] == ["copy.txt"]
    assert (Path(run.cwd) / "copy.txt").read_text() == "remember the milk\n"


async def test_attachments_are_only_files_sent_in_chat(runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    with pytest.raises(InvalidInput, match="is not a file sent in chat"):
        await runtime.runs.start_run("demo", "read it", attachments=["/etc/passwd"])
    assert await runtime.runs.store.find() == []


async def test_a_reply_telegram_cannot_format_still_arrives_as_plain_text(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram) -> None:
    telegram.fail_next("sendMessage", 400, "Bad Request: can't parse entities: unsupported "
                       "start tag \"x\" at byte offset 0")
    telegram.user_message(ADA, ADA, "/help")
    await telegram.wait_for(lambda f: any("/run PROJECT PROMPT" in t for t in texts(f, ADA)))
    [reply] = telegram.sent(ADA, "message")
    assert reply.parse_mode is None and "<" not in (reply.text or "")


async def test_a_run_that_cannot_reach_the_model_api_shows_its_retries_then_why_it_failed(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    port = closed_port()
    config, environ = unreachable_api(config, port, retries=3)
    async with serving(config, telegram, model_server, repo, environ) as (_, runtime):
        telegram.user_message(ADA, ADA, "/run demo fix the login bug")
        await telegram.wait_for(lambda f: any(" failed." in t for t in texts(f, ADA)),
                                timeout=90)
        [run] = await runtime.runs.store.find()
    assert run.state is RunState.FAILED
    edits = telegram.sent(ADA, "edit")
    status = edits[0].message_id
    assert status is not None
    retry = re.compile(rf"^⚠ model API unreachable \(127\.0\.0\.1:{port}\), retry [123]/3 "
                       r"in \d+\.\d s$", re.M)
    retrying = [e for e in edits if retry.search(e.text or "")]
    assert retrying, [e.text for e in edits]
    assert all(e.message_id == status and "retrying the model API" in (e.text or "")
               for e in retrying)
    [ping] = [m for m in telegram.sent(ADA, "message") if " failed." in (m.text or "")]
    assert ping.reply_to == status and retrying[0].at < ping.at
    assert (f"the model API at 127.0.0.1:{port} is unreachable after 3 retries: Connection "
            "refused") in (ping.text or "")
    assert "API Error" not in (ping.text or "")
    card = telegram.messages(ADA)[status].text or ""  # the retries are over: the card says so
    assert card.startswith("❌") and not retry.search(card) and "retrying" not in card


async def test_once_the_model_api_answers_again_the_card_stops_saying_it_is_retrying(
        config: Config, telegram: FakeTelegram, model_server: ScriptedModelServer,
        repo: Path) -> None:
    port = closed_port()
    config, environ = unreachable_api(config, port, retries=10)
    model_server.script("SCRIPT:agent-late", [s.bash("echo working"), s.hold("more")])

    def card(f: FakeTelegram) -> str:
        return next((t for t in texts(f, ADA) if t.startswith("▶️")), "")

    async with serving(config, telegram, model_server, repo, environ) as (_, runtime):
        telegram.user_message(ADA, ADA, "/run demo SCRIPT:agent-late fix the login bug")
        await telegram.wait_for(lambda f: "⚠ model API unreachable" in card(f), timeout=60)
        assert "retrying the model API" in card(telegram)
        async with forwarding(port, model_server.port):
            await model_server.await_request(lambda r: r.script_key == "SCRIPT:agent-late"
                                             and r.step == 1, timeout=60)
            await telegram.wait_for(lambda f: "echo working" in card(f), timeout=30)
            live = card(telegram)
            assert "⚠" not in live and "retrying" not in live and " · 🟢 working" in live
            model_server.release("more")
            [run] = await runtime.runs.store.find()
            assert (await wait_state(runtime, run.id)).state is RunState.REVIEW


async def test_a_file_over_the_bot_api_limit_is_refused_in_one_line_and_nothing_is_kept(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    telegram.user_message(ADA, ADA, "SCRIPT:huge read this",
                          document=("huge.bin", b"\0" * 21_000_000))
    await telegram.wait_for(lambda f: any("I take files up to" in t for t in texts(f, ADA)))
    [refusal] = [t for t in texts(telegram, ADA) if "I take files up to" in t]
    assert refusal == ("'huge.bin' is 21.0 MB; I take files up to 20 MB: send a smaller file, "
                       "or a link to it.")
    assert not (runtime.config.home / "uploads").exists()
    assert not [r for r in model_server.requests if r.script_key == "SCRIPT:huge"]


async def test_a_file_with_an_odd_name_is_kept_under_a_plain_name_inside_uploads(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:odd", [s.text("Got your notes.")])
    telegram.user_message(ADA, ADA, "SCRIPT:odd keep these",
                          document=("../../.Ünïcode notes (v2).txt", b"milk\n"))
    await telegram.wait_for(lambda f: any("Got your notes." in t for t in texts(f, ADA)))
    home = runtime.config.home
    [saved] = [p for p in home.rglob("*") if p.is_file() and p.read_bytes() == b"milk\n"]
    assert saved.name == "Unicode_notes_v2_.txt" and saved.parent.parent == home / "uploads"
    [asked] = [r for r in model_server.requests if r.script_key == "SCRIPT:odd"]
    assert "Files sent with this message (they go to the runs it starts): " \
        "Unicode_notes_v2_.txt" in asked.all_text()


async def test_the_run_card_counts_the_subagents_and_the_run_waits_for_them(
        bot: tuple[TelegramBot, Runtime], telegram: FakeTelegram,
        model_server: ScriptedModelServer) -> None:
    _, runtime = bot
    model_server.script("SCRIPT:lead", [
        s.tool("Task", {"description": "look around", "prompt": "SCRIPT:helper look around",
                        "subagent_type": "general-purpose"}),
        s.text("Asked a helper."), s.text("The helper found app.py.")])
    model_server.script("SCRIPT:helper", [s.hold("helper", s.bash("ls")), s.text("Found it.")])

    def card(f: FakeTelegram) -> str:
        return next((t for t in texts(f, ADA) if "<b>Run" in t), "")

    with runtime.bus.subscribe(lambda e: isinstance(e, RunStateChanged)) as changes:
        telegram.user_message(ADA, ADA, "/run demo SCRIPT:lead look around")
        await changes.next_matching(  # the lead's turn ended; the run did not
            lambda e: isinstance(e, RunStateChanged) and e.reason == "waiting for 1 subagent",
            timeout=60)
    await telegram.wait_for(lambda f: "1 subagent: 0 done" in card(f), timeout=30)
    assert card(telegram).startswith("▶️")
    model_server.release("helper")
    await telegram.wait_for(lambda f: any("finished" in t for t in texts(f, ADA)), timeout=60)
    await telegram.wait_for(lambda f: card(f).startswith("✅"), timeout=30)
    assert "1 subagent: 1 done" in card(telegram)
    ping = next(t for t in texts(telegram, ADA) if "finished" in t)
    assert "The helper found app.py." in ping
