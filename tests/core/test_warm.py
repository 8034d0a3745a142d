"""Warm agents: Claude Code started ahead for a project's next run, with the real CLI, real git
and the scripted model server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.config import Config
from core.runtime import Runtime
from core.types import InteractionStatus, RunState
from tests.conftest import daemon_environ, git, make_config, make_repo, wait_state
from tests.core.agent_procs import agent_pid, claude_processes, now, started_at
from tests.fakes import scripts as s
from tests.fakes.model_server import RecordedRequest, ScriptedModelServer


@pytest.fixture
async def warm(tmp_path: Path, model_server: ScriptedModelServer) -> AsyncIterator[Runtime]:
    config = make_config(tmp_path / "home", model_server, warm=1, allowed_tools=["Bash"])
    async with Runtime(config, environ=daemon_environ()) as rt:
        yield rt


async def run_to_end(rt: Runtime, repo: Path, key: str, steps: list[s.Step],
                     server: ScriptedModelServer, project: str = "demo") -> str:
    server.script(key, steps)
    if not await rt.db.fetchone("SELECT 1 FROM projects WHERE name = ?", (project,)):
        await rt.projects.add(project, str(repo))
    run = await rt.runs.start_run(project, key)
    done = await wait_state(rt, run.id)
    assert done.state is RunState.REVIEW, done.state_reason
    return run.id


async def warm_agent(rt: Runtime, project: str = "demo") -> tuple[str, int, float]:
    """The run id a project's warm agent holds for the next run, its process and when that
    process started."""
    await rt.runs.warm.settle()
    [run_id] = rt.runs.warm.ready(project)
    pid = agent_pid(rt.config.worktrees_dir / project / run_id)
    return run_id, pid, started_at(pid)


def first_request(server: ScriptedModelServer, key: str) -> RecordedRequest:
    return server.wait_for_request(lambda r: r.script_key == key and r.step == 0)


async def test_a_run_takes_the_agent_started_before_it_and_the_next_run_a_new_one(
        warm: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    await run_to_end(warm, repo, "SCRIPT:first", [s.text("cold")], model_server)
    reserved, pid, born = await warm_agent(warm)

    asked_at = now()
    run_id = await run_to_end(warm, repo, "SCRIPT:second", [
        s.write("warm.txt", "from a warm agent\n"),
        s.bash("git add -A && git commit -qm 'warm commit'"), s.text("done warm")],
        model_server)

    assert run_id == reserved and born < asked_at
    assert warm.runs.warm.handed_over == 1
    run = await warm.runs.get(run_id)
    assert [c.subject for c in run.commits] == ["warm commit"]
    assert git(repo, "show", f"gluon/{run_id}:warm.txt") == "from a warm agent"
    request = first_request(model_server, "SCRIPT:second")
    assert request.session_id == run.session_id  # resume finds the session

    next_reserved, next_pid, _ = await warm_agent(warm)
    assert next_reserved != reserved and next_pid != pid
    model_server.script("SCRIPT:third", [s.text("again")])
    third = await warm.runs.start_run("demo", "SCRIPT:third", model="haiku")
    assert (await wait_state(warm, third.id)).state is RunState.REVIEW
    assert third.id == next_reserved and warm.runs.warm.handed_over == 2
    assert "haiku" in first_request(model_server, "SCRIPT:third").model  # switched at handover
    assert "sonnet" in request.model

    model_server.script("SCRIPT:more", [s.text("resumed")])
    await warm.runs.resume(run_id, "SCRIPT:more go on")
    resumed = await wait_state(warm, run_id, RunState.REVIEW, RunState.FAILED)
    assert resumed.state is RunState.REVIEW, resumed.state_reason
    later = model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:more")
    assert later.session_id == run.session_id and "SCRIPT:second" in later.all_text()


def normalised(request: RecordedRequest, run_id: str, session_id: str, home: Path) -> str:
    """A model request with what differs between two runs by nature replaced: ids, the data
    dir, and the name of git's admin folder of the worktree (a spare's, when it took one)."""
    body = {k: request.body.get(k) for k in ("model", "system", "messages", "tools")}
    text = json.dumps(body, sort_keys=True)
    for value, name in ((str(home), "HOME"), (session_id, "SESSION"), (run_id, "RUN")):
        text = text.replace(value, name)
    return re.sub(r"\.git/worktrees/[-\w]+", ".git/worktrees/NAME", text)


async def story(rt: Runtime, repo: Path, server: ScriptedModelServer, key: str) -> dict[str, Any]:
    """A run that asks a question, edits and commits; what a person could observe of it."""
    server.script(key, [
        s.ask("Which name?", ["alpha", "beta"]),
        s.write("name.txt", "beta\n"),
        s.bash("git add -A && git commit -qm 'name it'"),
        s.text("Named it beta."),
    ])
    await rt.projects.add("demo", str(repo), trusted=True)  # so CLAUDE.md is read
    model = await rt.runs.start_run("demo", "SCRIPT:warmup")
    await wait_state(rt, model.id)
    await rt.runs.warm.settle()
    run = await rt.runs.start_run("demo", key)
    await wait_state(rt, run.id, RunState.WAITING)
    [question] = await rt.runs.interactions.pending(run.id)
    await rt.runs.answer(question.id, "beta", actor="erin")
    done = await wait_state(rt, run.id)
    log = [json.loads(line) for line in
           (rt.config.logs_dir / run.id / "messages.jsonl").read_text().splitlines()]
    return {
        "state": done.state, "reason": done.state_reason, "result": done.result_text,
        "commits": [c.subject for c in done.commits],
        "files": [(f.path, f.status) for f in done.changed_files],
        "transitions": [t.to_state for t in await rt.runs.store.transitions(run.id)],
        "events": [(e.kind, e.summary.replace(run.id, "RUN")) for e in await rt.runs.logs(run.id)
                   if e.kind != "result"],
        "question": (question.title, question.options,
                     (await rt.runs.interactions.get(question.id)).status),
        "log_types": [m["type"] for m in log],
        "first_request": normalised(first_request(server, key), run.id, done.session_id,
                                    rt.config.home),
        "warm_used": rt.runs.warm.handed_over,
    }


async def test_a_run_on_a_warm_agent_behaves_exactly_like_a_cold_one(
        tmp_path: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:warmup", [s.text("warming up")])
    pristine = make_repo(tmp_path / "pristine")
    (pristine / "CLAUDE.md").write_text("Name things with Greek letters.\n")
    git(pristine, "add", "-A")
    git(pristine, "commit", "-qm", "memory")
    seen = {}
    for kind, size in (("cold", 0), ("warm", 1)):
        # The same repository and data dir paths for both, so what the model sees compares.
        repo = tmp_path / "demo"
        shutil.copytree(pristine, repo, symlinks=True)
        config = make_config(tmp_path / "home", model_server, warm=size)
        async with Runtime(config, environ=daemon_environ()) as rt:
            seen[kind] = await story(rt, repo, model_server, f"SCRIPT:story-{kind}")
        os.rename(tmp_path / "home", tmp_path / f"home-{kind}")
        os.rename(repo, tmp_path / f"demo-{kind}")

    cold, warm = seen["cold"], seen["warm"]
    assert (cold.pop("warm_used"), warm.pop("warm_used")) == (0, 1)
    cold_request, warm_request = cold.pop("first_request"), warm.pop("first_request")
    assert warm == cold
    assert warm["commits"] == ["name it"] and warm["question"][2] is InteractionStatus.ANSWERED
    # What the model is told (system prompt, CLAUDE.md, git status, tools) is the same too.
    assert warm_request.replace("story-warm", "story-cold") == cold_request
    assert "Greek letters" in warm_request and "Current branch: gluon/RUN" in warm_request


async def test_a_warm_agent_started_before_the_projects_rules_changed_is_not_used(
        warm: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    await run_to_end(warm, repo, "SCRIPT:before", [s.text("cold")], model_server)
    reserved, pid, _ = await warm_agent(warm)
    await warm.runs.allow_for_project("demo", "Write")

    asked_at = now()
    model_server.script("SCRIPT:changed", [s.write("../outside.txt", "x\n"), s.hold("chg")])
    run = await warm.runs.start_run("demo", "SCRIPT:changed")
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:changed" and r.step == 1)
    assert started_at(agent_pid(run.cwd)) >= asked_at - 0.05  # a new process: a cold start
    model_server.release("chg")
    assert (await wait_state(warm, run.id)).state is RunState.REVIEW
    assert warm.runs.warm.handed_over == 0 and not Path(f"/proc/{pid}").exists()
    assert await warm.runs.interactions.pending(run.id) == []

    # The next warm agent starts with the new rule, and is used.
    await warm_agent(warm)
    model_server.script("SCRIPT:after", [s.write("../outside-2.txt", "y\n"), s.text("ok")])
    after = await warm.runs.start_run("demo", "SCRIPT:after")
    assert (await wait_state(warm, after.id)).state is RunState.REVIEW
    assert warm.runs.warm.handed_over == 1
    rows = await warm.db.fetchall("SELECT 1 FROM interactions WHERE run_id = ?", (after.id,))
    assert rows == []
    assert reserved == run.id  # the run kept the id (and worktree) it had claimed


async def test_a_warm_agent_never_serves_another_project(
        warm: Runtime, repo: Path, tmp_path: Path, model_server: ScriptedModelServer) -> None:
    other = make_repo(tmp_path / "other")
    await run_to_end(warm, repo, "SCRIPT:a", [s.text("in demo")], model_server)
    reserved, pid, _ = await warm_agent(warm)

    run_id = await run_to_end(warm, other, "SCRIPT:b", [s.bash("pwd")], model_server,
                              project="other")
    run = await warm.runs.get(run_id)
    assert run_id != reserved and warm.runs.warm.handed_over == 0
    assert Path(run.cwd).parent == warm.config.worktrees_dir / "other"
    assert warm.runs.warm.ready("demo") == [reserved]
    assert agent_pid(warm.config.worktrees_dir / "demo" / reserved) == pid


async def test_a_warm_agent_that_died_is_replaced(
        warm: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    await run_to_end(warm, repo, "SCRIPT:one", [s.text("cold")], model_server)
    reserved, pid, _ = await warm_agent(warm)
    os.kill(pid, signal.SIGKILL)

    async with asyncio.timeout(30):
        await warm.runs.warm.wait(lambda: warm.runs.warm.ready("demo") not in ([], [reserved]))
    await warm.runs.warm.settle()
    assert not (warm.config.worktrees_dir / "demo" / reserved).exists()
    assert git(repo, "branch", "--list", f"gluon/{reserved}") == ""
    [replacement] = warm.runs.warm.ready("demo")
    run_id = await run_to_end(warm, repo, "SCRIPT:two", [s.text("warm again")], model_server)
    assert run_id == replacement and warm.runs.warm.handed_over == 1


async def test_close_stops_every_warm_agent_and_leaves_nothing_of_them(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    config = make_config(tmp_path / "home", model_server, warm=1)
    async with Runtime(config, environ=daemon_environ()) as rt:
        await run_to_end(rt, repo, "SCRIPT:x", [s.text("cold")], model_server)
        reserved, pid, _ = await warm_agent(rt)
        ours = [p for p, cwd in claude_processes().items() if cwd.startswith(str(config.home))]
        assert ours == [pid]

    assert not Path(f"/proc/{pid}").exists()
    assert [p for p, cwd in claude_processes().items() if cwd.startswith(str(config.home))] == []
    assert not (config.worktrees_dir / "demo" / reserved).exists()
    assert not (config.agent_homes_dir / reserved).exists()
    assert git(repo, "branch", "--list", f"gluon/{reserved}") == ""
    assert list((config.home / "warm").iterdir()) == []
    assert list((config.home / "launchers").iterdir()) == []


async def test_what_a_killed_gluon_left_of_warm_agents_is_removed_at_the_next_start(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    config = make_config(tmp_path / "home", model_server, warm=1)
    base = git(repo, "rev-parse", "HEAD")
    async with Runtime(config, environ=daemon_environ()) as rt:
        await rt.projects.add("demo", str(repo))
        kept = await rt.runs.start_run("demo", "SCRIPT:kept", worktree=False)
        await wait_state(rt, kept.id)
    # As a Gluon killed with a warm agent up, and one just claimed by a run, leaves them.
    for run_id in ("dead0001", kept.id):
        cwd = config.worktrees_dir / "demo" / run_id
        git(repo, "worktree", "add", "-q", "-b", f"gluon/{run_id}", str(cwd), base)
        (config.home / "warm").mkdir(exist_ok=True)
        (config.home / "warm" / f"{run_id}.json").write_text(json.dumps(
            {"project": "demo", "repo": str(repo), "base_sha": base, "cwd": str(cwd)}))
    (config.agent_homes_dir / "dead0001").mkdir()
    (config.home / "launchers" / "0123abcd.sh").write_text("#!/bin/sh\n")

    async with Runtime(config, environ=daemon_environ()):
        pass
    assert not (config.worktrees_dir / "demo" / "dead0001").exists()
    assert git(repo, "branch", "--list", "gluon/dead0001") == ""
    assert not (config.agent_homes_dir / "dead0001").exists()
    assert (config.worktrees_dir / "demo" / kept.id).is_dir()  # a run's: kept
    assert list((config.home / "warm").iterdir()) == []
    assert list((config.home / "launchers").iterdir()) == []


def test_warm_agents_are_configured_per_project_and_can_be_turned_off() -> None:
    assert Config().agents.warm == 1
    assert Config.model_validate({"agents": {"warm": 0}}).agents.warm == 0
