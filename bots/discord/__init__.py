"""The Discord bot.

Public names load their module on first use (see :mod:`core.exports`)."""

from typing import TYPE_CHECKING

from core.exports import lazy_exports

if TYPE_CHECKING:
    from bots.discord.bot import DiscordBot as DiscordBot

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "DiscordBot": "bot",
})
