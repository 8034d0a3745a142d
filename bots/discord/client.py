"""The discord.py client of the Discord bot: it hands what Discord sends to
:class:`bots.discord.bot.DiscordBot` and carries its slash commands."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bots.discord.commands import build_tree

if TYPE_CHECKING:
    from bots.discord.bot import DiscordBot


class _NoVoiceNotice(logging.Filter):
    """discord.py warns at every start that voice support is missing; Gluon has no voice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "voice will NOT be supported" not in record.getMessage()


logging.getLogger("discord.client").addFilter(_NoVoiceNotice())


class GluonClient(discord.Client):
    def __init__(self, bot: DiscordBot, **options: Any) -> None:
        super().__init__(**options)
        self.gluon = bot
        self.tree = build_tree(self, bot)

    async def setup_hook(self) -> None:
        await self.gluon.setup()

    async def on_message(self, message: discord.Message) -> None:
        await self.gluon.on_message(message)
