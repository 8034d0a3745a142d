"""The Discord bot's slash commands: the direct forms (``/run``, ``/runs``, ``/status``, ...),
plus ``/link``, ``/unlink`` and ``/pair``. Each one becomes the same text command as in
Telegram and goes through ``bots.chat.commands``, so roles, confirmations and the audit log
apply."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bots.chat.commands import HELP

if TYPE_CHECKING:
    from bots.discord.bot import DiscordBot

Interaction = discord.Interaction[Any]

DISCORD_HELP = HELP.replace("/start - your user id and how to get access", (
    "/link PROJECT - requests in this channel go to PROJECT (or say `link PROJECT`)\n"
    "/unlink - untie this channel\n"
    "/pair CODE - get access with a code from `gluon pair`\n\n"
    "In a channel, mention me or link it to a project. In a run's thread, what you write "
    "steers that run, and what you say mentioning me is for me. A channel topic with "
    "`--project NAME --model M` sets its defaults."))


def build_tree(client: discord.Client, bot: DiscordBot) -> app_commands.CommandTree[Any]:
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)

    @tree.command(name="run", description="Start a run: an agent works on a project")
    @app_commands.describe(project="the project's name", prompt="what the agent should do",
                           model="opus, sonnet or haiku (default: the channel's)")
    async def run(interaction: Interaction, project: str, prompt: str,
                  model: str | None = None) -> None:
        words = f"{project} {prompt}" + (f" --model {model}" if model else "")
        await bot.on_slash(interaction, "run", words)

    @tree.command(name="runs", description="Recent runs")
    async def runs(interaction: Interaction) -> None:
        await bot.on_slash(interaction, "runs", "")

    @tree.command(name="status", description="One run, or what is live")
    @app_commands.describe(run="a run id (the first 8 characters do)")
    async def status(interaction: Interaction, run: str | None = None) -> None:
        await bot.on_slash(interaction, "status", run or "")

    @tree.command(name="cancel", description="Stop a run (asks to confirm)")
    @app_commands.describe(run="a run id")
    async def cancel(interaction: Interaction, run: str) -> None:
        await bot.on_slash(interaction, "cancel", run)

    @tree.command(name="resume", description="Continue an ended run")
    @app_commands.describe(run="a run id", message="what the agent should do next")
    async def resume(interaction: Interaction, run: str, message: str) -> None:
        await bot.on_slash(interaction, "resume", f"{run} {message}")

    @tree.command(name="queue", description="Queued runs in start order, and why each waits")
    @app_commands.describe(project="only this project's runs")
    async def queue(interaction: Interaction, project: str | None = None) -> None:
        await bot.on_slash(interaction, "queue", project or "")

    @tree.command(name="merges", description="The merge queue, per base branch in line order")
    @app_commands.describe(project="only this project's entries",
                           ended="also the entries that ended (merged, failed, cancelled)")
    async def merges(interaction: Interaction, project: str | None = None,
                     ended: bool = False) -> None:
        await bot.on_slash(interaction, "merges",
                           " ".join(w for w in (project, "all" if ended else None) if w))

    @tree.command(name="attention", description="What needs you, oldest first")
    @app_commands.describe(project="only this project's items")
    async def attention(interaction: Interaction, project: str | None = None) -> None:
        await bot.on_slash(interaction, "attention", project or "")

    @tree.command(name="schedules", description="Prompts run on a schedule, next fire times")
    async def schedules(interaction: Interaction) -> None:
        await bot.on_slash(interaction, "schedules", "")

    @tree.command(name="projects", description="The projects I can work on")
    async def projects(interaction: Interaction) -> None:
        await bot.on_slash(interaction, "projects", "")

    @tree.command(name="model", description="This channel's default model")
    @app_commands.describe(model="opus, sonnet, haiku, or default")
    async def model(interaction: Interaction, model: str | None = None) -> None:
        await bot.on_slash(interaction, "model", model or "")

    @tree.command(name="clear", description="Forget this conversation (runs are kept)")
    async def clear(interaction: Interaction) -> None:
        await bot.on_slash(interaction, "clear", "")

    @tree.command(name="help", description="What I can do")
    async def help_(interaction: Interaction) -> None:
        await bot.on_slash(interaction, "help", "")

    @tree.command(name="link", description="Tie this channel to a project")
    @app_commands.describe(project="the project requests here go to")
    async def link(interaction: Interaction, project: str) -> None:
        await bot.on_slash(interaction, "link", project)

    @tree.command(name="unlink", description="Untie this channel from its project")
    async def unlink(interaction: Interaction) -> None:
        await bot.on_slash(interaction, "unlink", "")

    @tree.command(name="web", description="A sign-in link to the status page, only for you")
    @app_commands.describe(signout="sign your browsers out of the status page instead")
    async def web(interaction: Interaction, signout: bool = False) -> None:
        await bot.on_slash(interaction, "web", "signout" if signout else "", private=True)

    @tree.command(name="pair", description="Get access with a code from `gluon pair`")
    @app_commands.describe(code="the code the daemon or `gluon pair` printed")
    async def pair(interaction: Interaction, code: str) -> None:
        await bot.on_pair_slash(interaction, code)

    return tree
