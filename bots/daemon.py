"""``gluon serve``: the daemon that owns the runs, the HTTP MCP endpoint and the chat bots.

SIGINT or SIGTERM stops it cleanly: the bots stop polling, live runs are stopped and keep
their sessions, and the next start resumes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket

import aiohttp
import discord
from telegram.error import InvalidToken, TelegramError

from bots.app import build_app
from bots.chat.orchestrator import Orchestrator, make_llm
from bots.discord.bot import DiscordBot
from bots.http_server import HttpServer
from bots.owner import lock_held
from bots.telegram.bot import TelegramBot
from core.config import Config
from core.errors import ConfigError
from core.runtime import Runtime
from core.types import Role
from mcp_tools.server import build_server

log = logging.getLogger(__name__)


HOUSEKEEPING_EVERY = 6 * 3600.0


async def _housekeeping(runtime: Runtime) -> None:
    """Remove worktrees of runs that ended longer ago than the retention period, now and then."""
    while True:
        try:
            removed = await runtime.review.cleanup()
            if removed:
                log.info("removed %d old worktrees (their branches stay)", len(removed))
        except Exception:
            log.exception("worktree cleanup failed")
        await asyncio.sleep(HOUSEKEEPING_EVERY)


def _port_taken(config: Config, exc: BaseException | None = None) -> ConfigError:
    host, port = config.server.host, config.server.port
    why = f" ({exc.strerror})" if isinstance(exc, OSError) and exc.strerror else ""
    return ConfigError(f"cannot listen on {host}:{port}{why}: another program uses the port; "
                       f"set server.port (GLUON_SERVER_PORT) to a free port, or stop that "
                       "program")


def check_port(config: Config) -> None:
    """Refuse to start when the configured port is taken, before resuming any run (a Gluon
    already on this data dir is reported by the data dir's lock instead)."""
    host, port = config.server.host, config.server.port
    if port == 0 or lock_held(config.home):
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise _port_taken(config, exc) from None


async def serve(config: Config) -> int:
    check_port(config)
    runtime = Runtime(config)
    await runtime.open(resume_interrupted=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    endpoint: HttpServer | None = None
    telegram: TelegramBot | None = None
    discord_bot: DiscordBot | None = None
    bots: list[asyncio.Task[None]] = []
    housekeeping = asyncio.create_task(_housekeeping(runtime), name="gluon-housekeeping")
    try:
        server, kit = build_server(runtime)
        endpoint = HttpServer(build_app(config, server), config)
        try:
            url = await endpoint.start()
        except (OSError, RuntimeError, SystemExit) as exc:  # taken since check_port
            raise _port_taken(config, exc) from None
        log.info("Gluon is serving %d tools at %s (data dir %s)", len(kit.names), url,
                 config.home)
        if config.telegram.token is not None:
            telegram = TelegramBot(runtime, Orchestrator(runtime, make_llm(config)),
                                   config.telegram.token.get_secret_value(),
                                   base_url=config.telegram.api_base_url)
            bots.append(asyncio.create_task(_start_telegram(runtime, telegram)))
        if config.discord.token is not None:
            discord_bot = DiscordBot(runtime, Orchestrator(runtime, make_llm(config)),
                                     config.discord.token.get_secret_value())
            bots.append(asyncio.create_task(_start_discord(runtime, discord_bot)))
        await stop.wait()
        log.info("shutting down; live runs will be resumed at the next start")
    finally:
        housekeeping.cancel()
        with contextlib.suppress(BaseException):
            await housekeeping
        for task in bots:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if telegram is not None and telegram.started:
            await telegram.stop()
        if discord_bot is not None and discord_bot.started:
            await discord_bot.stop()
        if endpoint is not None:
            await endpoint.stop()
        await runtime.close()
        gc.collect()  # subprocess transports of stopped agents, while the loop can close them
    return 0


async def _start_telegram(runtime: Runtime, bot: TelegramBot) -> None:
    """Start the bot; while Telegram cannot be reached, keep trying (the rest of Gluon works
    meanwhile). A token Telegram refuses is reported once and not retried."""
    delay = 5.0
    while True:
        try:
            await bot.start()
        except InvalidToken:
            log.error("Telegram refused the bot token (telegram.token); fix it and restart")
            return
        except (TelegramError, OSError) as exc:
            log.error("the Telegram bot could not start (%s); retrying in %.0f s", exc, delay)
            await bot.reset()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 300)
            continue
        log.info("the Telegram bot @%s is listening", bot.app.bot.username)
        await _first_admin_code(runtime, "telegram")
        return


async def _start_discord(runtime: Runtime, bot: DiscordBot) -> None:
    """Start the bot; while Discord cannot be reached, keep trying. A token Discord refuses,
    or a privileged intent not enabled for the application, is reported once."""
    delay = 5.0
    while True:
        try:
            await bot.start()
        except discord.LoginFailure:
            log.error("Discord refused the bot token (discord.token); fix it and restart")
            await bot.reset()
            return
        except discord.PrivilegedIntentsRequired:
            log.error("enable the Message Content intent of the Discord application (Developer "
                      "Portal > Bot > Privileged Gateway Intents) and restart")
            await bot.reset()
            return
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
        return


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
