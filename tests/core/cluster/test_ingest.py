"""The coordinator's ingest of the relay, at the protocol level: entries written to
``gluon:relay`` as a worker writes them (real Redis, real SQLite), delivered twice, out of
date, or about a run never dispatched. The workers themselves are in tests/bots/test_workers.py;
what those cannot show on demand is a redelivery, which happens when the coordinator dies
between applying an entry and acknowledging it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bots.chat.migrations import CHAT_TABLES
from core.agent.session import AgentResult
from core.cluster.wire import Entry, EntryType
from core.config import Config
from core.events.bus import AgentText
from core.models import Run
from core.runs.follow_ups import HANDED_BACK, FollowUp, encode
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, git
from tests.core.jobs.redis_server import RedisServer
from tests.core.test_run_commands import eventually


@pytest.fixture
async def coordinator(config: Config, tmp_path: Path, repo: Path) -> AsyncIterator[Runtime]:
    with RedisServer(tmp_path / "redis") as server:
        cluster = config.cluster.model_copy(update={"redis_url": server.url})
        projects = {"demo": config.project("demo").model_copy(update={"remote": str(repo)})}
        rt = Runtime(config.model_copy(update={"cluster": cluster, "projects": projects}),
                     environ=daemon_environ(), tables=[CHAT_TABLES])
        await rt.open()
        await rt.projects.add("demo", str(repo))
        try:
            yield rt
        finally:
            await rt.close()


async def relay(rt: Runtime, *entries: Entry) -> None:
    """Write ``entries`` to the relay as a worker does; return once the ingest has read them."""
    assert rt.cluster is not None
    for entry in entries:
        await rt.cluster.redis.xadd("gluon:relay", dict(entry.fields()))  # type: ignore[arg-type]
    redis = rt.cluster.redis
    await eventually(lambda: _empty(redis), "the ingest reading the relay")


async def _empty(redis: Any) -> bool:
    return not await redis.xlen("gluon:relay")


async def _dispatched(rt: Runtime, run_id: str) -> bool:
    return await rt.cluster_store.get(run_id) is not None


def event(run_id: str, fence: int, seq: int, old: str, new: str, reason: str,
          **row: Any) -> Entry:
    return Entry("w1", run_id, fence, seq, EntryType.EVENT, {
        "kind": "RunStateChanged", "at": time.time(), "run": row,
        "fields": {"old": old, "new": new, "reason": reason}})


async def test_an_entry_delivered_again_changes_nothing_and_a_stale_fence_is_dropped(
        coordinator: Runtime) -> None:
    rt = coordinator
    run = await rt.runs.start_run("demo", "some work")
    await eventually(lambda: _dispatched(rt, run.id), "the dispatch")  # no worker takes it
    claimed = Entry("w1", run.id, 1, 1, EntryType.CLAIMED, {"attempt": 1})
    started = event(run.id, 1, 2, "queued", "running", "agent started", turns=0)
    spent = Entry("w1", run.id, 1, 3, EntryType.RUN, {"cost_usd": 0.25, "turns": 1,
                                                      "input_tokens": 100})
    line = Entry("w1", run.id, 1, 4, EntryType.LOG, {"kind": "text", "summary": "Hello.",
                                                     "at": time.time()})
    with rt.bus.subscribe(lambda e: isinstance(e, AgentText)) as said:
        await relay(rt, claimed, started, spent, line,
                    Entry("w1", run.id, 1, 5, EntryType.LIVE, {
                        "kind": "AgentText", "fields": {"text": "Hello."},
                        "at": time.time()}))
        assert (await said.get(timeout=10)).run_id == run.id
    await relay(rt, claimed, started, spent, line)  # the same entries, delivered again

    stored = await rt.runs.get(run.id)
    assert (stored.state, stored.turns, stored.cost_usd) == (RunState.RUNNING, 1, 0.25)
    states = [t.to_state for t in await rt.runs.store.transitions(run.id)]
    assert states.count(RunState.RUNNING) == 1, states
    assert [e.summary for e in await rt.runs.logs(run.id)] == ["Hello."]
    assert await rt.runs.usage.spent_today("demo") == pytest.approx(0.25)

    # Another worker took the run (fence 2): what the first one still says is dropped.
    await relay(rt, event(run.id, 2, 1, "queued", "running", "agent resumed"),
                event(run.id, 1, 6, "running", "failed", "the agent failed"))
    stored = await rt.runs.get(run.id)
    assert (stored.state, stored.state_reason) == (RunState.RUNNING, "agent resumed")
    assert await rt.cluster_store.worker_of(run.id) == "w1"

    # About a run never dispatched from here: dropped, and the relay goes on.
    await relay(rt, event("feedbeef", 1, 1, "queued", "running", "agent started"),
                event(run.id, 2, 2, "running", "review", "the agent finished its task"))
    assert (await rt.runs.get(run.id)).state is RunState.REVIEW


async def test_a_turn_handed_back_waits_on_the_run_and_the_hooks_here_decide_it_once(
        coordinator: Runtime, repo: Path) -> None:
    rt = coordinator
    asked: list[tuple[str | None, str, bool]] = []

    async def next_step(run: Run, result: AgentResult) -> FollowUp:
        cwd = Path(run.cwd)
        asked.append((result.result, git(cwd, "branch", "--show-current"),
                      (cwd / "README.md").exists()))
        return FollowUp("do the second step", "step 2/2", fresh_session=True)

    rt.runs.follow_ups.insert(0, next_step)
    run = await rt.runs.start_run("demo", "some work")
    await eventually(lambda: _dispatched(rt, run.id), "the dispatch")  # no worker takes it
    git(repo, "branch", f"gluon/{run.id}", "main")  # as the worker pushed it
    turn = AgentResult(subtype="success", is_error=False, num_turns=1,
                       session_id=run.session_id, total_cost_usd=0.1, input_tokens=10,
                       output_tokens=5, result="Step one done.", terminal_reason="completed",
                       errors=[], user_message_uuids=[])
    handed = event(run.id, 1, 3, "running", "queued", HANDED_BACK, turn_result=encode(turn))
    await relay(rt, Entry("w1", run.id, 1, 1, EntryType.CLAIMED, {"attempt": 1}),
                event(run.id, 1, 2, "queued", "running", "agent started"), handed)
    await relay(rt, handed)  # delivered again

    # Live here until the worker is done with the attempt; no state change to hear of.
    stored = await rt.runs.get(run.id)
    assert (stored.state, stored.state_reason) == (RunState.RUNNING, HANDED_BACK)
    assert asked == []
    await relay(rt, Entry("w1", run.id, 1, 4, EntryType.ENDED, {"state": "queued"}))

    async def queued() -> bool:
        return (await rt.runs.get(run.id)).state is RunState.QUEUED
    await eventually(queued, "the hooks' answer")
    assert asked == [("Step one done.", f"gluon/{run.id}", True)]  # in a worktree of the branch
    hidden = await rt.runs.store.hidden(run.id)
    assert (hidden["pending_prompt"], hidden["turn_result"]) == ("do the second step", None)
    after = await rt.runs.get(run.id)
    assert after.session_id != run.session_id and not after.session_started
    moves = [(t.to_state, t.reason) for t in await rt.runs.store.transitions(run.id)]
    assert moves.count((RunState.QUEUED, "step 2/2")) == 1, moves
    assert [s for s, _ in moves].count(RunState.RUNNING) == 1, moves
    assert not (rt.config.worktrees_dir / "demo" / run.id).exists()
