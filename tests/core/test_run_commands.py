"""Commands to a live run travel through its command channel in the database, so they reach
the run from any process, and each is applied once however often it is delivered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from pathlib import Path

import pytest

from core.config import Config
from core.runs.commands import CommandChannel, CommandKind, RunCommand, SqliteCommandChannel
from core.runtime import Runtime
from core.store.db import Database
from core.types import RunState
from tests.conftest import git, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


async def started(rt: Runtime, repo: Path, prompt: str) -> str:
    if not await rt.db.fetchone("SELECT 1 FROM projects WHERE name = 'demo'"):
        await rt.projects.add("demo", str(repo))
    return (await rt.runs.start_run("demo", prompt)).id


@asynccontextmanager
async def another_process(config: Config) -> AsyncIterator[SqliteCommandChannel]:
    """A command channel as another process has it: its own connection to the data dir's
    database, no runtime, no run manager."""
    db = Database(config.db_path)
    await db.open()
    channel = SqliteCommandChannel(db)
    try:
        yield channel
    finally:
        await channel.close()
        await db.close()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait (bounded, 60 s) for something recorded in the database."""
    for _ in range(600):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not happen in 60 s")


async def summaries(rt: Runtime, run_id: str, kind: str) -> list[str]:
    return [e.summary for e in await rt.runs.logs(run_id) if e.kind == kind]


async def test_a_steer_written_by_another_process_reaches_the_live_agent(
        runtime: Runtime, config: Config, repo: Path,
        model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:remote", [s.hold("remote", then=s.text("working on it")),
                                          s.text("took the hint")])
    run_id = await started(runtime, repo, "SCRIPT:remote")
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:remote")
    async with another_process(config) as channel:
        await channel.send(run_id, CommandKind.STEER, "alice", text="also update the README")
    await eventually(lambda: _has(runtime, run_id, "steer", "alice: also update the README"),
                     "the steer reaching the run")
    model_server.release("remote")
    run = await wait_state(runtime, run_id)

    assert run.state is RunState.REVIEW, run.state_reason
    assert any("also update the README" in r.last_user_text() for r in model_server.requests
               if r.script_key == "SCRIPT:remote")


async def _has(rt: Runtime, run_id: str, kind: str, summary: str) -> bool:
    return summary in await summaries(rt, run_id, kind)


class DeliversTwice:
    """The run's channel behind a transport that delivers every command twice, as an
    at-least-once one (a Redis stream after a reader's restart) may."""

    def __init__(self, inner: CommandChannel) -> None:
        self.inner = inner

    async def send(self, run_id: str, kind: CommandKind, actor: str,
                   **payload: str) -> RunCommand:
        return await self.inner.send(run_id, kind, actor, **payload)

    async def watch(self, run_id: str) -> AsyncGenerator[RunCommand, None]:
        async for command in self.inner.watch(run_id):
            yield command
            yield command

    async def pending(self, run_id: str) -> list[RunCommand]:
        return await self.inner.pending(run_id)

    async def complete(self, command: RunCommand) -> bool:
        return await self.inner.complete(command)

    async def discard(self, run_id: str) -> int:
        return await self.inner.discard(run_id)

    async def close(self) -> None:
        await self.inner.close()


async def test_a_steer_delivered_twice_reaches_the_agent_once(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    runtime.runs.commands = DeliversTwice(runtime.runs.commands)
    model_server.script("SCRIPT:twice", [s.hold("twice", then=s.text("working on it")),
                                         s.text("took the hint")])
    run_id = await started(runtime, repo, "SCRIPT:twice")
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:twice")
    await runtime.runs.steer(run_id, "mention the changelog", actor="alice")
    await eventually(lambda: _has(runtime, run_id, "steer", "alice: mention the changelog"),
                     "the steer reaching the run")
    model_server.release("twice")
    run = await wait_state(runtime, run_id)

    assert run.state is RunState.REVIEW, run.state_reason
    last = [r for r in model_server.requests if r.script_key == "SCRIPT:twice"][-1]
    assert last.all_text().count("mention the changelog") == 1
    assert await summaries(runtime, run_id, "steer") == ["alice: mention the changelog"]


async def test_cancel_through_the_channel_stops_the_agent_and_keeps_the_worktree(
        runtime: Runtime, config: Config, repo: Path,
        model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:stopit", [s.write("wip.txt", "half done\n"), s.slow_text(60)])
    run_id = await started(runtime, repo, "SCRIPT:stopit")
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:stopit" and r.step == 1)
    async with another_process(config) as channel:
        await channel.send(run_id, CommandKind.CANCEL, "bob")
    run = await wait_state(runtime, run_id)

    assert run.state is RunState.CANCELLED and run.state_reason == "cancelled by bob"
    model_server.wait_streams_closed()  # the agent stopped mid-turn instead of going on
    assert Path(run.cwd, "wip.txt").read_text() == "half done\n"
    assert git(repo, "show", f"{run.branch}:wip.txt") == "half done"


async def test_a_command_is_applied_by_one_reader_only_and_never_again(
        runtime: Runtime, config: Config, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    await runtime.runs.store.insert(id="abc123", project="demo", prompt="p", model="sonnet",
                                    use_worktree=0, cwd=str(repo), session_id="s",
                                    state=RunState.RUNNING)
    async with another_process(config) as elsewhere, \
            aclosing(runtime.runs.commands.watch("abc123")) as here_reads, \
            aclosing(elsewhere.watch("abc123")) as there_reads:
        sent = await elsewhere.send("abc123", CommandKind.STEER, "alice", text="hello")
        here, there = await anext(here_reads), await anext(there_reads)
        assert here == there == sent

        assert [await runtime.runs.commands.complete(here),
                await elsewhere.complete(there)] == [True, False]
        async with aclosing(elsewhere.watch("abc123")) as later:
            with pytest.raises(TimeoutError):  # a reader started later finds nothing to apply
                await asyncio.wait_for(anext(later), 1.0)
