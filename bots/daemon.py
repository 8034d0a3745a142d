"""``gluon serve``: the daemon that owns the runs, the HTTP app and the chat bots.

SIGINT or SIGTERM stops it cleanly: the bots stop polling, ``/mcp`` stops listening, live runs
are stopped as ``interrupted`` and keep their sessions, and the next start resumes them. A chat
bot that crashes is started again after a delay; a core task that ends (the HTTP server)
stops the daemon with one line saying which, and exit status 1.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import signal
import socket
from typing import Any

import aiohttp
import discord
from telegram.error import InvalidToken, TelegramError

from bots.app import build_app
from bots.chat.migrations import CHAT_TABLES
from bots.chat.orchestrator import Orchestrator, make_llm
from bots.discord.bot import DiscordBot
from bots.http_server import HttpServer
from bots.owner import lock_held
from bots.supervisor import Backoff, Supervisor
from bots.telegram.bot import TelegramBot
from bots.web import status_page
from core.config import Config
from core.errors import ConfigError
from core.runtime import Runtime
from core.types import Role
from mcp_tools.server import Tools, build_tools

log = logging.getLogger(__name__)


HOUSEKEEPING_EVERY = 6 * 3600.0
STOP_TIMEOUT = 15.0  # seconds a chat bot gets to stop


async def _housekeeping(runtime: Runtime) -> None:
    """Remove worktrees of runs that ended longer ago than the retention period, and events
    every consumer has handled that are older than the event log keeps, now and then."""
    while True:
        try:
            removed = await runtime.review.cleanup()
            if removed:
                log.info("removed %d old worktrees (their branches stay)", len(removed))
        except Exception:
            log.exception("worktree cleanup failed")
        try:
            pruned = await runtime.events.prune()
            if pruned:
                log.info("pruned %d old events from the event log", pruned)
        except Exception:
            log.exception("event log pruning failed")
        try:
            await runtime.web.prune()
        except Exception:
            log.exception("pruning expired status page sessions failed")
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


class Daemon:
    """What ``gluon serve`` runs, in order: the runtime (opened first, resuming interrupted
    runs; closed last, interrupting live ones), the one HTTP app on the configured port, and
    the supervisor that owns every background task (see :mod:`bots.supervisor`): the HTTP
    server and housekeeping as core tasks, each chat adapter as a task restarted when it
    crashes. The MCP server is built once and shared by ``/mcp`` and the chat orchestrators.
    """

    def __init__(self, config: Config, *, backoff: Backoff | None = None) -> None:
        self.config = config
        self.backoff = backoff
        self.url: str | None = None  # of /mcp, once listening
        self.runtime: Runtime | None = None  # while it runs
        self.started = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; raises :class:`TaskCrashed` when a core task ended."""
        config = self.config
        check_port(config)
        runtime = self.runtime = Runtime(config, tables=[CHAT_TABLES])
        await runtime.open(resume_interrupted=True)
        http: HttpServer | None = None
        try:
            tools = build_tools(runtime)
            http = HttpServer(build_app(config, tools.server, status_page(runtime, tools),
                                        hooks=runtime.hooks), config)
            try:
                self.url = await http.start()
            except OSError as exc:  # taken since check_port
                raise _port_taken(config, exc) from None
            runtime.web.served_at = self.url.removesuffix("/mcp")  # sign-in links point here
            log.info("Gluon is serving %d tools at %s (data dir %s)", len(tools.kit.names),
                     self.url, config.home)
            supervisor = Supervisor(self.backoff)
            try:
                supervisor.core("the HTTP server", functools.partial(_serve_http, http))
                supervisor.core("housekeeping", functools.partial(_housekeeping, runtime))
                supervisor.restarting("webhooks", runtime.hooks.run)
                supervisor.core("the scheduler", runtime.schedules.run)
                if config.telegram.token is not None:
                    supervisor.restarting("the Telegram bot", functools.partial(
                        _telegram, runtime, tools, make_llm(config),
                        config.telegram.token.get_secret_value()))
                if config.discord.token is not None:
                    supervisor.restarting("the Discord bot", functools.partial(
                        _discord, runtime, tools, make_llm(config),
                        config.discord.token.get_secret_value()))
                self.started.set()
                await supervisor.run_until(stop)
            finally:
                log.info("shutting down; live runs will be resumed at the next start")
                await supervisor.close()
        finally:
            if http is not None:
                await http.stop()
            await runtime.close()
            gc.collect()  # subprocess transports of stopped agents, while the loop can close them


async def serve(config: Config) -> int:
    """``gluon serve``: until SIGINT or SIGTERM; 0 after a clean stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await Daemon(config).run(stop)
    finally:
        # Everything is closed: spare the process the collections of its whole heap on the
        # way out, which take seconds on a busy machine and delay the exit a supervisor waits for.
        gc.freeze()
    return 0


async def _serve_http(http: HttpServer) -> None:
    try:
        await http.wait()
    finally:
        await http.stop()


async def _telegram(runtime: Runtime, tools: Tools, llm: Any, token: str) -> None:
    """The Telegram bot, from its start to the daemon's stop (python-telegram-bot polls and
    recovers from network errors by itself meanwhile)."""
    bot = TelegramBot(runtime, Orchestrator(runtime, llm, tools=tools), token,
                      base_url=runtime.config.telegram.api_base_url)
    try:
        if await _start_telegram(runtime, bot):
            await asyncio.Event().wait()
    finally:
        await _stop(bot, "the Telegram bot")


async def _discord(runtime: Runtime, tools: Tools, llm: Any, token: str) -> None:
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
