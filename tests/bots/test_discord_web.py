"""``/web`` in Discord: the slash command answers with a sign-in link only its user sees; asked
in a channel, the link goes to a DM. Through the real discord.py against the fake Discord."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bots.discord.bot import WORDS
from core.config import Config
from core.types import Role
from tests.bots.test_discord import Gluon, serving
from tests.conftest import make_config
from tests.fakes.discord import DiscordMessage, FakeDiscord
from tests.fakes.model_server import ScriptedModelServer

TOKEN = "MTAwMDAwMQ.fake.discord-token"
BOT = 1_000_001
GUILD, GENERAL = 500, 600
ADA, BOB, VI, EVE = 42, 43, 44, 666
DM_ADA = 700
PAGE = "http://127.0.0.1:8765"
LINK = re.compile(r"http://127\.0\.0\.1:8765/signin/(\S+)")
DM = 1  # Discord's channel type of a DM


@pytest.fixture
def discord_api() -> Iterator[FakeDiscord]:
    with FakeDiscord(token=TOKEN, bot_id=BOT) as fake, fake.patch_discord():
        fake.add_guild(GUILD, "Team")
        fake.add_channel(GUILD, GENERAL, "general")
        for user, name in ((ADA, "ada"), (BOB, "bob"), (VI, "vi"), (EVE, "eve")):
            fake.add_member(GUILD, user, name)
        yield fake


@pytest.fixture
def config(tmp_path: Path, model_server: ScriptedModelServer) -> Config:
    base = make_config(tmp_path / "home", model_server)
    return base.model_copy(update={"discord": base.discord.model_copy(update={
        "users": [ADA, BOB], "viewers": [VI], "guild": [GUILD]})})


@pytest.fixture
async def gluon(config: Config, discord_api: FakeDiscord, model_server: ScriptedModelServer,
                repo: Path) -> AsyncIterator[Gluon]:
    async with serving(config, model_server, {"demo": repo}) as g:
        g.runtime.web.served_at = PAGE
        yield g


def with_links(fake: FakeDiscord) -> list[DiscordMessage]:
    return [m for m in fake.messages().values() if LINK.search(m.content)]


async def said(fake: FakeDiscord, channel: int, words: str) -> DiscordMessage:
    await fake.wait_for(lambda f: any(words in m.content for m in f.messages(channel).values()))
    return next(m for m in fake.messages(channel).values() if words in m.content)


async def test_the_slash_command_answers_with_a_link_only_its_user_sees(
        gluon: Gluon, discord_api: FakeDiscord) -> None:
    runtime = gluon.runtime
    assert "web" in [c["name"] for c in discord_api.commands(GUILD)]
    discord_api.slash(GENERAL, ADA, "web")
    answer = await said(discord_api, GENERAL, "Your sign-in link")
    assert answer.ephemeral and "It works once, for 10 minutes" in answer.content
    _, signed = await runtime.web.sign_in(LINK.findall(answer.content)[0])
    assert (signed.session.actor, signed.session.role) == ("discord:42", Role.OPERATOR)

    discord_api.slash(GENERAL, VI, "web")
    await discord_api.wait_for(lambda f: len(with_links(f)) == 2)
    viewer = with_links(discord_api)[1]
    _, signed = await runtime.web.sign_in(LINK.findall(viewer.content)[0])
    assert viewer.ephemeral and signed.session.role is Role.VIEWER

    discord_api.slash(GENERAL, EVE, "web")
    await discord_api.wait_for(lambda f: any(
        "not allowed" in (r.content or "") for r in f.interaction_responses.values()))
    assert len(with_links(discord_api)) == 2
    assert all(m.ephemeral for m in with_links(discord_api))


async def test_asked_in_a_channel_the_link_goes_to_a_dm_and_never_to_the_channel(
        gluon: Gluon, discord_api: FakeDiscord) -> None:
    discord_api.user_message(GENERAL, ADA, "web", mentions_bot=True)
    note = await said(discord_api, GENERAL, "sign-in link")
    assert note.content == "I sent ada a sign-in link to the status page in a private message."
    [dm] = with_links(discord_api)
    assert discord_api.channel(dm.channel_id)["type"] == DM
    assert discord_api.channel(dm.channel_id)["recipients"][0]["id"] == str(ADA)
    _, signed = await gluon.runtime.web.sign_in(LINK.findall(dm.content)[0])
    assert signed.session.actor == "discord:42"

    # Bob takes no DMs: Discord refuses, and the channel is told how to get a link instead.
    discord_api.fail_next("POST /channels/*/messages", 403, 50007,
                          "Cannot send messages to this user")
    discord_api.user_message(GENERAL, BOB, "/web", mentions_bot=True)
    refusal = await said(discord_api, GENERAL, "could not send bob")
    assert "send /web there" in refusal.content
    assert len(with_links(discord_api)) == 1

    discord_api.user_message(DM_ADA, ADA, "web")  # in a DM, the answer is the link
    await discord_api.wait_for(lambda f: any(m.channel_id == DM_ADA for m in with_links(f)))
    assert not any(LINK.search(m.content) for m in discord_api.messages(GENERAL).values())


async def test_web_signout_asks_only_its_user_to_confirm_and_ends_the_sessions(
        gluon: Gluon, discord_api: FakeDiscord) -> None:
    runtime = gluon.runtime
    link = await runtime.web.create_link("discord:42", Role.OPERATOR)
    cookie, _ = await runtime.web.sign_in(link.url.rsplit("/", 1)[1])
    discord_api.slash(GENERAL, ADA, "web", {"signout": True})
    ask = await said(discord_api, GENERAL, "Confirm: sign you out")
    assert ask.ephemeral
    assert ask.content == "Confirm: sign you out of the status page in 1 browser(s)?"
    discord_api.click(ask.id, ADA, dict(ask.buttons)["Confirm revoke_web_sessions"])
    await discord_api.wait_for(lambda f: "Done (ada confirmed)" in f.message(ask.id).content)
    assert await runtime.web.session(cookie) is None


def test_only_web_alone_or_web_signout_asks_for_a_link_or_a_sign_out() -> None:
    for said in ("web", "/web", "Web signout", "web sign out", "web log-out"):
        assert WORDS.match(said), said
    for request in ("web app tests are flaky, fix them", "website", "web signout please"):
        assert not WORDS.match(request), request
