"""The fake Discord, driven by the real discord.py client."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import TypeVar

import discord
import pytest
from discord import app_commands

from tests.fakes.discord import FakeDiscord

TOKEN = "MTAwMDAwMQ.fake.token"
BOT, APP = 1_000_001, 1_000_001
GUILD, GENERAL, ADMIN_ROLE = 500, 600, 510
ALICE, BOB = 42, 43
DM_WITH_ALICE = 700
T = TypeVar("T")


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    with FakeDiscord(token=TOKEN, bot_id=BOT, app_id=APP) as server, server.patch_discord():
        server.add_guild(GUILD, "Gluon HQ")
        server.add_role(GUILD, ADMIN_ROLE, "admins")
        server.add_channel(GUILD, GENERAL, "general", topic="repo: gluon")
        server.add_member(GUILD, ALICE, "alice", roles=[ADMIN_ROLE])
        yield server


class Bot(discord.Client):
    """A client that IDENTIFYs again at once (discord.py waits 5 s before a re-IDENTIFY)."""

    def __init__(self, *, message_content: bool = True, members: bool = False) -> None:
        intents = discord.Intents.default()
        intents.message_content, intents.members = message_content, members
        super().__init__(intents=intents, guild_ready_timeout=0.2)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None


@asynccontextmanager
async def running(client: discord.Client) -> AsyncIterator[discord.Client]:
    """`client.start()` in a task until the test is done; fails fast if it cannot start."""
    async with client:
        task = asyncio.create_task(client.start(TOKEN))
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({task, ready}, timeout=10,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if task.done():
                task.result()  # raises why it stopped
            raise AssertionError("the client did not get ready within 10 s")
        try:
            yield client
        finally:
            await client.close()
            async with asyncio.timeout(5):
                await task


async def next_item(queue: asyncio.Queue[T]) -> T:
    async with asyncio.timeout(5):
        return await queue.get()


def general(client: discord.Client) -> discord.TextChannel:
    channel = client.get_channel(GENERAL)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_login_and_ready_see_the_guild_its_members_and_the_channel_topic(
        fake: FakeDiscord) -> None:
    async with running(Bot(members=True)) as client:  # members: chunked at startup
        guild = client.get_guild(GUILD)
        assert guild is not None and guild.name == "Gluon HQ"
        assert general(client).topic == "repo: gluon"
        alice = guild.get_member(ALICE)
        assert alice is not None and [r.name for r in alice.roles] == ["@everyone", "admins"]
        assert client.user is not None and client.user.id == BOT
        assert client.application_id == APP

    assert fake.identifies[0]["intents"] == 53608191  # default, members and message content
    assert fake.calls[:2] == [("GET", "/users/@me", 200), ("GET", "/oauth2/applications/@me", 200)]


async def test_a_wrong_token_fails_the_login() -> None:
    with FakeDiscord(token="right") as server, server.patch_discord():
        client = Bot()
        async with client:
            with pytest.raises(discord.LoginFailure):
                await client.login("wrong")


class Approve(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.clicked: asyncio.Queue[int] = asyncio.Queue()

    @discord.ui.button(label="Approve", style=discord.ButtonStyle.success, custom_id="approve:7")
    async def approve(self, interaction: discord.Interaction,
                      button: discord.ui.Button[Approve]) -> None:
        await interaction.response.send_message("approved", ephemeral=True)
        self.clicked.put_nowait(interaction.user.id)


async def test_a_message_reaches_on_message_and_a_button_click_reaches_the_view(
        fake: FakeDiscord) -> None:
    client, view, asked_at = Bot(), Approve(), asyncio.Queue[int]()

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author != client.user and message.content == "rm -rf build?":
            async with message.channel.typing():
                question = await message.reply("Run `rm -rf build`?", view=view)
            asked_at.put_nowait(question.id)  # the view is stored by now: it can be clicked

    async with running(client):
        asked = fake.user_message(GENERAL, ALICE, "rm -rf build?", guild_id=GUILD)
        question_id = await next_item(asked_at)
        question = fake.message(question_id)
        assert question.buttons == [("Approve", "approve:7")]
        assert (question.reply_to, question.content) == (asked, "Run `rm -rf build`?")
        assert [r.kind for r in fake.sent(GENERAL)][:2] == ["typing", "message"]

        with pytest.raises(AssertionError, match="no component 'deny:7'"):
            fake.click(question_id, ALICE, "deny:7")
        interaction_id = fake.click(question_id, ALICE, "approve:7")
        assert await next_item(view.clicked) == ALICE

    assert fake.identifies[0]["intents"] == 53608189  # default intents and message content
    answer = fake.interaction_responses[interaction_id]
    assert (answer.type, answer.content, answer.ephemeral) == (4, "approved", True)
    [sent] = fake.sent(kind="interaction_response")
    assert sent.ephemeral and sent.interaction_id == interaction_id


class Pick(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=30)
        self.answered: asyncio.Queue[list[str] | Exception] = asyncio.Queue()

    @discord.ui.select(custom_id="model", options=[discord.SelectOption(label="Opus"),
                                                   discord.SelectOption(label="Sonnet")])
    async def pick(self, interaction: discord.Interaction,
                   select: discord.ui.Select[Pick]) -> None:
        try:
            await interaction.response.edit_message(content=f"model: {select.values[0]}",
                                                    view=None)
        except discord.HTTPException as exc:
            self.answered.put_nowait(exc)
        else:
            self.answered.put_nowait(select.values)


async def test_a_select_choice_reaches_the_view_which_updates_the_message(
        fake: FakeDiscord) -> None:
    async with running(Bot()) as client:
        view = Pick()
        message = await general(client).send("Which model?", view=view)
        assert fake.message(message.id).selects == [("model", ["Opus", "Sonnet"])]
        interaction_id = fake.click(message.id, ALICE, "model", values=["Sonnet"])
        assert await next_item(view.answered) == ["Sonnet"]

    assert fake.interaction_responses[interaction_id].type == 7
    assert (fake.message(message.id).content, fake.message(message.id).components) == (
        "model: Sonnet", [])


async def test_an_interaction_answered_too_late_is_unknown(fake: FakeDiscord) -> None:
    fake.interaction_deadline = 0  # every answer comes after it
    async with running(Bot()) as client:
        view = Pick()
        message = await general(client).send("Which model?", view=view)
        fake.click(message.id, ALICE, "model", values=["Opus"])
        error = await next_item(view.answered)
    assert isinstance(error, discord.NotFound) and error.code == 10062
    assert fake.interaction_responses == {}


async def test_the_bot_edits_and_deletes_its_message_and_uploads_a_file(
        fake: FakeDiscord) -> None:
    async with running(Bot()) as client:
        message = await general(client).send("working…", view=Approve())
        await message.edit(content="done", view=None)
        assert fake.message(message.id).content == "done"
        assert fake.message(message.id).buttons == []
        await message.delete()
        log = await general(client).send("log", file=discord.File(io.BytesIO(b"ok\n"), "out.txt"))

        with pytest.raises(discord.HTTPException, match="Request entity too large"):
            await general(client).send(file=discord.File(io.BytesIO(b"x" * (10 << 20 | 1)),
                                                         "big.bin"))

    assert [r.kind for r in fake.sent(GENERAL)] == ["message", "edit", "delete", "message"]
    assert fake.sent(GENERAL)[-1].files == [("out.txt", b"ok\n")]
    assert fake.message(log.id).attachments == [("out.txt", b"ok\n")]
    with pytest.raises(KeyError):
        fake.message(message.id)


async def test_a_user_attachment_can_be_downloaded_by_the_bot(fake: FakeDiscord) -> None:
    client, seen = Bot(), asyncio.Queue[bytes]()

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.attachments:
            seen.put_nowait(await message.attachments[0].read())

    async with running(client):
        fake.user_message(GENERAL, ALICE, "see the diff", attachments=[("a.patch", b"+x\n")])
        assert await next_item(seen) == b"+x\n"


async def test_a_thread_started_from_a_message_receives_user_messages_as_a_thread(
        fake: FakeDiscord) -> None:
    client, seen = Bot(), asyncio.Queue[discord.Message]()

    @client.event
    async def on_message(message: discord.Message) -> None:
        if message.author == client.user:
            return
        if message.content == "start":
            thread = await message.create_thread(name="run 1")
            await thread.send("working in here")
        else:
            seen.put_nowait(message)

    async with running(client):
        started = fake.user_message(GENERAL, ALICE, "start")
        await fake.wait_for(lambda f: bool(f.messages(started)))  # a thread has its starter's id
        [thread] = fake.threads.values()
        assert (thread.id, thread.name, thread.parent_id) == (started, "run 1", GENERAL)
        assert thread.starter_message_id == started
        assert [m.content for m in fake.messages(thread.id).values()] == ["working in here"]

        fake.user_message(thread.id, ALICE, "also fix the docs")
        message = await next_item(seen)
        assert isinstance(message.channel, discord.Thread)
        assert (message.channel.id, message.channel.parent_id) == (started, GENERAL)
        assert message.content == "also fix the docs"


async def test_a_direct_message_arrives_in_a_dm_channel_and_the_reply_goes_there(
        fake: FakeDiscord) -> None:
    client, seen = Bot(), asyncio.Queue[discord.Message]()

    @client.event
    async def on_message(message: discord.Message) -> None:
        seen.put_nowait(message)
        if message.author != client.user:
            await message.channel.send("hello")

    async with running(client):
        fake.user_message(DM_WITH_ALICE, ALICE, "hi")
        message = await next_item(seen)
        assert isinstance(message.channel, discord.DMChannel)
        assert message.guild is None and message.content == "hi"
        own = await next_item(seen)  # as on Discord, the bot's own messages come back
        assert (own.author.id, own.content, own.channel.id) == (BOT, "hello", DM_WITH_ALICE)
        dm = await client.create_dm(discord.Object(ALICE))
        assert dm.id == DM_WITH_ALICE


async def test_without_the_message_content_intent_guild_messages_arrive_empty(
        fake: FakeDiscord) -> None:
    client, seen = Bot(message_content=False), asyncio.Queue[str]()

    @client.event
    async def on_message(message: discord.Message) -> None:
        seen.put_nowait(message.content)

    async with running(client):
        fake.user_message(GENERAL, ALICE, "secret plans")
        fake.user_message(GENERAL, ALICE, "hey bot", mentions_bot=True)
        fake.user_message(DM_WITH_ALICE, ALICE, "in private")
        assert [await next_item(seen) for _ in range(3)] == [
            "", f"<@{BOT}> hey bot", "in private"]


async def test_content_over_2000_characters_raises_an_http_exception(fake: FakeDiscord) -> None:
    async with running(Bot()) as client:
        with pytest.raises(discord.HTTPException) as error:
            await general(client).send("x" * 2001)
    assert (error.value.status, error.value.code) == (400, 50035)
    assert "Must be 2000 or fewer in length" in error.value.text
    assert fake.sent() == []


async def test_a_429_is_waited_out_and_retried_by_discord_py(fake: FakeDiscord) -> None:
    fake.rate_limit("POST /channels/*/messages", times=1, retry_after=0.2)
    async with running(Bot()) as client:
        await general(client).send("after the rate limit")
    assert [status for method, _, status in fake.calls if method == "POST"] == [429, 200]
    assert [r.content for r in fake.sent(GENERAL)] == ["after the rate limit"]


async def test_an_unknown_route_is_a_404_and_is_recorded(fake: FakeDiscord) -> None:
    async with running(Bot()) as client:
        guild = client.get_guild(GUILD)
        assert guild is not None
        with pytest.raises(discord.NotFound):
            await guild.fetch_emojis()
    assert fake.unhandled == [f"GET /guilds/{GUILD}/emojis"]


async def test_after_a_gateway_disconnect_the_client_resumes_and_messages_still_arrive(
        fake: FakeDiscord) -> None:
    client, seen, resumed = Bot(), asyncio.Queue[str](), asyncio.Event()

    @client.event
    async def on_resumed() -> None:
        resumed.set()

    @client.event
    async def on_message(message: discord.Message) -> None:
        seen.put_nowait(message.content)

    async with running(client):
        fake.disconnect()
        fake.user_message(GENERAL, ALICE, "sent while reconnecting")
        await fake.wait_for(lambda f: len(f.resumes) == 1 and f.connected)
        async with asyncio.timeout(5):
            await resumed.wait()
        fake.user_message(GENERAL, ALICE, "after the resume")
        assert [await next_item(seen) for _ in range(2)] == [
            "sent while reconnecting", "after the resume"]

        fake.disconnect(resumable=False)  # the RESUME gets INVALID_SESSION: IDENTIFY again
        await fake.wait_for(lambda f: len(f.identifies) == 2 and f.connected)
        fake.user_message(GENERAL, ALICE, "in the new session")
        assert await next_item(seen) == "in the new session"
    assert len(fake.resumes) == 1


async def test_a_synced_slash_command_is_invoked_deferred_and_followed_up(
        fake: FakeDiscord) -> None:
    client = Bot()
    tree = app_commands.CommandTree(client)
    started: asyncio.Queue[str] = asyncio.Queue()

    @tree.command(name="run", description="Start an agent run", guild=discord.Object(GUILD))
    async def run(interaction: discord.Interaction, task: str) -> None:
        await interaction.response.defer(thinking=True)
        started.put_nowait(task)
        await interaction.followup.send(f"started: {task}")
        await interaction.edit_original_response(content=f"started: {task} (run 7)")

    async with running(client):
        synced = await tree.sync(guild=discord.Object(GUILD))
        [command] = fake.commands(GUILD)
        assert (command["name"], command["options"][0]["name"]) == ("run", "task")
        assert [c.id for c in synced] == [int(command["id"])]

        interaction_id = fake.slash(GENERAL, ALICE, "run", {"task": "fix the tests"})
        assert await next_item(started) == "fix the tests"
        await fake.wait_for(lambda f: bool(f.sent(kind="edit")))

    assert fake.interaction_responses[interaction_id].type == 5
    [reply] = fake.messages(GENERAL).values()  # the followup filled the "thinking" message
    assert (reply.content, reply.edits, reply.interaction_id) == (
        "started: fix the tests (run 7)", 2, interaction_id)
    assert [r.kind for r in fake.sent()] == ["commands", "interaction_response", "followup",
                                             "edit"]


async def test_a_channel_topic_edit_is_recorded_and_reaches_the_cache(fake: FakeDiscord) -> None:
    async with running(Bot()) as client:
        await general(client).edit(topic="repo: gluon, branch: main")
        await fake.wait_for(lambda f: bool(f.sent(kind="topic")))
        assert fake.channel(GENERAL)["topic"] == "repo: gluon, branch: main"
        async with asyncio.timeout(5):
            while general(client).topic != "repo: gluon, branch: main":
                await client.wait_for("guild_channel_update")
