"""The chat bots of ``gluon serve``: each from its start to the daemon's stop, started again by
the daemon's supervisor when it crashes. Loaded only when a bot is configured, so a daemon
without chat does not pay for the chat SDKs and the orchestrator's model client."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import discord
from telegram.error import InvalidToken, TelegramError

from bots.chat.orchestrator import Orchestrator, make_llm
from bots.discord.bot import DiscordBot
from bots.telegram.bot import TelegramBot
from core.config import Config
from core.runtime import Runtime
from core.types import Role
from mcp_tools.server import Tools

log = logging.getLogger("bots.daemon")

STOP_TIMEOUT = 15.0  # seconds a chat bot gets to stop


def llm_of(config: Config) -> Any:
    """The Messages API client of the chat orchestrators."""
    return make_llm(config)


async def telegram_bot(runtime: Runtime, tools: Tools, llm: Any, token: str) -> None:
    """The Telegram bot, from its start to the daemon's stop (python-telegram-bot polls and
    recovers from network errors by itself meanwhile)."""
    bot = TelegramBot(runtime, Orchestrator(runtime, llm, tools=tools), token,
                      base_url=runtime.config.telegram.api_base_url)
    try:
        if await _start_telegram(runtime, bot):
            await asyncio.Event().wait()
    finally:
        await _stop(bot, "the Telegram bot")


async def discord_bot(runtime: Runtime, tools: Tools, llm: Any, token: str) -> None:
    """The Discord bot, from its start until the daemon stops or its gateway connection ends
    for good (a close discord.py does not recover from, which the supervisor answers by
    starting a fresh bot)."""
    bot = DiscordBot(runtime, Orchestrator(runtime, llm, tools=tools), token)
    try:
        if await _start_discord(runtime, bot):
            await bot.wait_closed()
            raise ConnectionError("the Discord gateway connection ended")
    finally:
        await _stop(bot, "the Discord bot")


async def _stop(bot: TelegramBot | DiscordBot, name: str) -> None:
    try:
        async with asyncio.timeout(STOP_TIMEOUT):
            if bot.started:
                await bot.stop()
            else:
                await bot.orch.close()
    except Exception:
        log.exception("%s did not stop cleanly", name)


async def _start_telegram(runtime: Runtime, bot: TelegramBot) -> bool:
    """Start the bot; while Telegram cannot be reached, keep trying (the rest of Gluon works
    meanwhile). A token Telegram refuses is reported once and not retried: False."""
    delay = 5.0
    while True:
        try:
            await bot.start()
        except InvalidToken:
            log.error("Telegram refused the bot token (telegram.token); fix it and restart")
            return False
        except (TelegramError, OSError) as exc:
            log.error("the Telegram bot could not start (%s); retrying in %.0f s", exc, delay)
            await bot.reset()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 300)
            continue
        log.info("the Telegram bot @%s is listening", bot.app.bot.username)
        await _first_admin_code(runtime, "telegram")
        return True


async def _start_discord(runtime: Runtime, bot: DiscordBot) -> bool:
    """Start the bot; while Discord cannot be reached, keep trying. A token Discord refuses,
    or a privileged intent not enabled for the application, is reported once: False."""
    delay = 5.0
    while True:
        try:
            await bot.start()
        except discord.LoginFailure:
            log.error("Discord refused the bot token (discord.token); fix it and restart")
            await bot.reset()
            return False
        except discord.PrivilegedIntentsRequired:
            log.error("enable the Message Content intent of the Discord application (Developer "
                      "Portal > Bot > Privileged Gateway Intents) and restart")
            await bot.reset()
            return False
        except (discord.DiscordException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.error("the Discord bot could not start (%s); retrying in %.0f s", exc, delay)
            await bot.reset()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 300)
            continue
        user = bot.client.user
        log.info("the Discord bot %s is connected to %d guild(s)", user,
                 len(bot.client.guilds))
        await _first_admin_code(runtime, "discord")
        return True


async def _first_admin_code(runtime: Runtime, platform: str) -> None:
    """With nobody allowed in yet, print a code that makes its sender the admin."""
    if runtime.access.anyone_configured(platform) or \
            getattr(getattr(runtime.config, platform), "role_map", None):
        return
    if any(u.platform == platform for u in await runtime.access.users()):
        return
    code = await runtime.access.create_code(Role.ADMIN, actor="serve")
    log.warning("nobody may use the %s bot yet: send it  /pair %s  within 10 minutes to "
                "become its admin (or list user ids in the config)", platform, code.code)
