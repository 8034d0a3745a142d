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

from bots.app import build_app
from bots.chat.migrations import CHAT_TABLES
from bots.http_server import HttpServer
from bots.owner import lock_held
from bots.supervisor import Backoff, Supervisor
from bots.web import status_page
from core.cluster.transfer.served import ServedRepos
from core.config import Config
from core.errors import ConfigError
from core.runtime import Runtime
from mcp_tools.server import build_tools

log = logging.getLogger(__name__)


HOUSEKEEPING_EVERY = 6 * 3600.0


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
                                        hooks=runtime.hooks,
                                        repos=ServedRepos(config.cluster.token,
                                                          runtime.projects)), config)
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
                supervisor.core("the forecast of overlapping runs", runtime.forecast.run)
                if config.telegram.token is not None or config.discord.token is not None:
                    from bots import chat_bots  # the chat SDKs, only for a daemon with chat
                    llm = chat_bots.llm_of(config)
                    if config.telegram.token is not None:
                        supervisor.restarting("the Telegram bot", functools.partial(
                            chat_bots.telegram_bot, runtime, tools, llm,
                            config.telegram.token.get_secret_value()))
                    if config.discord.token is not None:
                        supervisor.restarting("the Discord bot", functools.partial(
                            chat_bots.discord_bot, runtime, tools, llm,
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
