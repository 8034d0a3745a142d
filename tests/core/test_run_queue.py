"""Runs on the durable job queue: the order they start in, the one gate at claim, replays, and
a Redis that goes away. The real Claude Code CLI against the scripted model server, real git,
real SQLite, and a real ``redis-server`` for the cluster queue."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.config import Config
from core.errors import BudgetExceeded
from core.jobs import JobState, QueueUnavailable
from core.runs.executor import START, start_key
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import daemon_environ, make_config, make_repo, wait_state
from tests.core.jobs.redis_server import RedisServer
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.mcp_tools.client import call, connected, error


async def opened(config: Config) -> Runtime:
    return await Runtime(config, environ=daemon_environ()).open()


async def start(rt: Runtime, project: str, repo: Path, prompt: str) -> str:
    if not await rt.db.fetchone("SELECT 1 FROM projects WHERE name = ?", (project,)):
        await rt.projects.add(project, str(repo))
    return (await rt.runs.start_run(project, prompt)).id


def agent_sessions(server: ScriptedModelServer, key: str) -> set[str | None]:
    return {r.session_id for r in server.requests if r.script_key == key}


async def test_runs_start_first_in_first_out_and_another_projects_run_passes_a_full_project(
        tmp_path: Path, model_server: ScriptedModelServer) -> None:
    web, api = make_repo(tmp_path / "web"), make_repo(tmp_path / "api")
    model_server.script("SCRIPT:w1", [s.hold("w1", then=s.text("w1 done"))])
    model_server.script("SCRIPT:w2", [s.hold("w2", then=s.text("w2 done"))])
    model_server.script("SCRIPT:w3", [s.text("w3 done")])
    model_server.script("SCRIPT:a1", [s.text("a1 done")])
    config = make_config(tmp_path / "home", model_server, max_concurrent=3,
                         max_concurrent_per_project=1)
    async with Runtime(config, environ=daemon_environ()) as rt:
        w1 = await start(rt, "web", web, "SCRIPT:w1")
        w2 = await start(rt, "web", web, "SCRIPT:w2")
        a1 = await start(rt, "api", api, "SCRIPT:a1")
        w3 = await start(rt, "web", web, "SCRIPT:w3")
        # The api run behind web's waiting runs starts at once: api has room.
        assert (await wait_state(rt, a1)).state is RunState.REVIEW
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:w1")
        assert [(await rt.runs.get(i)).state for i in (w1, w2, w3)] == [
            RunState.RUNNING, RunState.QUEUED, RunState.QUEUED]

        model_server.release("w1")
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:w2")
        assert (await rt.runs.get(w3)).state is RunState.QUEUED  # web's second is first
        model_server.release("w2")
        runs = [await wait_state(rt, i) for i in (w1, w2, w3)]
    assert [r.state for r in runs] == [RunState.REVIEW] * 3
    assert (runs[1].started_at or 0) >= (runs[0].ended_at or 0)
    assert (runs[2].started_at or 0) >= (runs[1].ended_at or 0)


async def test_a_run_stopped_by_a_restart_starts_again_before_runs_queued_behind_it(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:first", [s.hold("first", then=s.text("first done")),
                                         s.text("first done")])
    model_server.script("SCRIPT:later", [s.text("later done")])
    config = make_config(tmp_path / "home", model_server, max_concurrent=1)
    rt = await opened(config)
    try:
        first = await start(rt, "demo", repo, "SCRIPT:first")
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:first")
        later = await start(rt, "demo", repo, "SCRIPT:later")
    finally:
        await rt.close()
    model_server.release("first")

    rt = await opened(config)
    try:
        done = [await wait_state(rt, i, RunState.REVIEW, RunState.FAILED) for i in (first, later)]
        recovered = await rt.runs.store.transitions(first)
    finally:
        await rt.close()
    assert [r.state for r in done] == [RunState.REVIEW] * 2, [r.state_reason for r in done]
    assert (done[1].started_at or 0) >= (done[0].ended_at or 0)
    assert [t.to_state for t in recovered] == [
        RunState.QUEUED, RunState.RUNNING, RunState.INTERRUPTED, RunState.QUEUED,
        RunState.RUNNING, RunState.REVIEW]


async def test_a_queued_run_waits_while_todays_budget_is_spent_and_starts_when_it_is_raised(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:spender", [s.hold("spender", then=s.text("spent it"))])
    model_server.script("SCRIPT:patient", [s.text("my turn")])
    config = make_config(tmp_path / "home", model_server, max_concurrent=1,
                         daily_budget_usd=0.001)
    async with Runtime(config, environ=daemon_environ()) as rt:
        spender = await start(rt, "demo", repo, "SCRIPT:spender")
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:spender")
        patient = await start(rt, "demo", repo, "SCRIPT:patient")
        model_server.release("spender")
        assert (await wait_state(rt, spender)).state is RunState.REVIEW

        with rt.bus.subscribe(lambda e: e.run_id == patient) as sub:
            async with asyncio.timeout(30):
                while "budget" not in (run := await rt.runs.get(patient)).state_reason:
                    await sub.get()
        assert run.state is RunState.QUEUED
        assert run.state_reason.startswith("waiting: today's budget of $0.00 is spent")
        assert not [r for r in model_server.requests if r.script_key == "SCRIPT:patient"]
        # New runs are refused at once, with a clear message, and nothing is created.
        with pytest.raises(BudgetExceeded, match=r"today's budget of \$0\.00 is spent"):
            await rt.runs.start_run("demo", "SCRIPT:patient again")
        assert len(await rt.runs.find()) == 2

        await rt.runs.usage.settings.change("agents.daily_budget_usd", 100.0)
        run = await wait_state(rt, patient)
    assert run.state is RunState.REVIEW, run.state_reason
    assert run.result_text == "my turn"


async def test_a_start_job_delivered_again_never_starts_a_second_agent(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:once", [s.hold("once", then=s.text("once done"))])
    run_id = await start(runtime, "demo", repo, "SCRIPT:once")
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:once")
    queue = runtime.queue
    assert queue is not None
    [job] = [j for j in await queue.list(kind=START) if j.payload["run_id"] == run_id]
    assert job.key == start_key(run_id, 1) and job.state is JobState.LEASED

    # The same start again is the same job; a copy under another key (a redelivery) is
    # claimed, found running, and dropped.
    assert await queue.enqueue(START, job.payload, key=job.key) == job.id
    copy = await queue.enqueue(START, job.payload, key=f"{job.key}:copy")
    await runtime.runs.executor.pump()
    assert (await queue.get(copy)).state is JobState.DONE
    model_server.release("once")
    assert (await wait_state(runtime, run_id)).state is RunState.REVIEW
    # The executor acks the start job once the run's supervisor has ended, just after the
    # state change it published.
    async with asyncio.timeout(30):
        while (await queue.get(job.id)).state is not JobState.DONE:  # noqa: ASYNC110 (a row)
            await asyncio.sleep(0.05)

    late = await queue.enqueue(START, job.payload, key=f"{job.key}:late")
    await runtime.runs.executor.pump()
    assert (await queue.get(late)).state is JobState.DONE
    assert (await runtime.runs.get(run_id)).state is RunState.REVIEW
    # One agent, which made one model request (held, then answered).
    assert len(agent_sessions(model_server, "SCRIPT:once")) == 1
    assert len([r for r in model_server.requests if r.script_key == "SCRIPT:once"]) == 1


async def test_with_redis_down_starting_a_run_names_cluster_redis_url_and_the_rest_works(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    redis = RedisServer(tmp_path / "redis").start()
    config = make_config(tmp_path / "home", model_server).model_copy(
        update={"cluster": Config.model_validate(
            {"cluster": {"redis_url": redis.url, "run_on": "here"}}).cluster})
    model_server.script("SCRIPT:via-redis", [s.write("r.txt", "redis\n"), s.text("done")])
    try:
        async with Runtime(config, environ=daemon_environ()) as rt:
            run_id = await start(rt, "demo", repo, "SCRIPT:via-redis")
            assert (await wait_state(rt, run_id)).state is RunState.REVIEW
            await rt.runs.executor.finished(run_id)
            assert rt.queue is not None
            assert [j.state for j in await rt.queue.list(kind=START)] == [JobState.DONE]
            redis.stop()

            with pytest.raises(QueueUnavailable) as caught:
                await rt.runs.start_run("demo", "SCRIPT:via-redis again")
            message = str(caught.value)
            assert "cluster.redis_url" in message and "\n" not in message
            async with connected(rt) as client:
                said = await error(client, "start_run", project="demo", prompt="more")
                assert "cluster.redis_url" in said
                listed = await call(client, "list_runs")
                assert [r["id"] for r in listed["runs"]] == [run_id]
                assert [p["name"] for p in (await call(client, "list_projects"))["projects"]] \
                    == ["demo"]
        # Opening Gluon with Redis down works too; only starting runs waits for it.
        async with Runtime(config, environ=daemon_environ()) as rt:
            assert [r.id for r in await rt.runs.find()] == [run_id]
            with pytest.raises(QueueUnavailable, match="cluster.redis_url"):
                await rt.runs.resume(run_id, "look again")
            assert (await rt.runs.get(run_id)).state is RunState.REVIEW
    finally:
        redis.stop()
