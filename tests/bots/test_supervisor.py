"""The supervisor of the daemon's tasks: a crashed chat task starts again after a delay while
the others keep running; a core task that ends stops everything with one line naming it."""

from __future__ import annotations

import asyncio

import pytest

from bots.supervisor import Backoff, Supervisor, TaskCrashed

QUICK = Backoff(first=0.01, most=0.02)


class Task:
    """A task's record: how often it started, and whether it cleaned up when stopped."""

    def __init__(self, crashes: int = 0) -> None:
        self.crashes = crashes
        self.starts = 0
        self.cleaned_up = False
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.starts += 1
        if self.starts <= self.crashes:
            raise RuntimeError(f"crash number {self.starts}")
        self.running.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.cleaned_up = True


async def test_a_crashed_chat_task_starts_again_and_the_others_keep_running() -> None:
    supervisor, stop = Supervisor(QUICK), asyncio.Event()
    http, chat = Task(), Task(crashes=2)
    supervisor.core("the HTTP server", http.run)
    supervisor.restarting("the Telegram bot", chat.run)
    serving = asyncio.create_task(supervisor.run_until(stop))
    async with asyncio.timeout(10):
        await chat.running.wait()
    assert chat.starts == 3 and http.starts == 1 and not serving.done()
    stop.set()
    async with asyncio.timeout(10):
        await serving  # a clean stop: no error
    assert http.cleaned_up and chat.cleaned_up


async def test_a_core_task_that_crashes_stops_everything_with_one_line_naming_it() -> None:
    supervisor = Supervisor(QUICK)
    chat = Task()
    supervisor.restarting("the Telegram bot", chat.run)

    async def listening() -> None:
        await chat.running.wait()
        raise OSError("the listening socket\nwent away")

    supervisor.core("the HTTP server", listening)
    with pytest.raises(TaskCrashed) as crashed:
        async with asyncio.timeout(10):
            await supervisor.run_until(asyncio.Event())
    line = str(crashed.value)
    assert "\n" not in line
    assert line.startswith("the HTTP server crashed (OSError: the listening socket went away)")
    assert chat.cleaned_up


async def test_a_chat_task_that_gives_up_on_purpose_stays_off() -> None:
    supervisor, stop = Supervisor(QUICK), asyncio.Event()
    attempts = 0

    async def refused_token() -> None:
        nonlocal attempts
        attempts += 1

    http = Task()
    supervisor.core("the HTTP server", http.run)
    supervisor.restarting("the Discord bot", refused_token)
    [owner] = [t for t in asyncio.all_tasks() if t.get_name() == "the Discord bot"]
    serving = asyncio.create_task(supervisor.run_until(stop))
    async with asyncio.timeout(10):
        await asyncio.wait({owner})  # done: not waiting to start it again
        await http.running.wait()
    assert attempts == 1 and not serving.done()
    stop.set()
    async with asyncio.timeout(10):
        await serving
