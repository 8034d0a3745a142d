"""The witness with scripted agents (the real Claude Code CLI against the scripted model
server): a looping agent is nudged and an agent killed from outside is seen as a zombie (a
stalled one: tests/bots/test_chat_witness.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import Config, ProjectConfig, WitnessConfig
from core.events.bus import RunNote
from core.runtime import Runtime
from core.types import RunState
from core.witness import Classification, procs
from tests.conftest import daemon_environ, make_config, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.mcp_tools.client import connected

FAILING = "ls /no/such/dir"


def witness_config(tmp_path: Path, server: ScriptedModelServer, policy: str,
                   **witness: object) -> Config:
    base = make_config(tmp_path / "home", server, allowed_tools=["Bash"])
    return base.model_copy(update={
        "witness": WitnessConfig.model_validate(witness),
        "projects": {"demo": ProjectConfig.model_validate({"witness": policy})}})


async def notes(rt: Runtime, run_id: str) -> list[str]:
    page = await rt.events.after(0, 100, kinds=[RunNote], run_id=run_id)
    return [e.text for e in page.events if isinstance(e, RunNote) and e.source == "witness"]


async def wait_note(rt: Runtime, run_id: str, part: str, timeout: float = 60) -> str:  # noqa: ASYNC109
    with rt.bus.subscribe(lambda e: isinstance(e, RunNote) and e.run_id == run_id) as sub:
        async with asyncio.timeout(timeout):
            while True:
                found = [n for n in await notes(rt, run_id) if part in n]
                if found:
                    return found[0]
                await sub.get()


async def test_an_agent_running_the_same_failing_command_is_looping_and_nudged(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:loop", [*[s.bash(FAILING)] * 4, s.text("Still failing.")])
    config = witness_config(tmp_path, model_server, "nudge", loop_repeats=4)
    async with Runtime(config, environ=daemon_environ()) as rt:
        await rt.projects.add("demo", str(repo))
        run = await rt.runs.start_run("demo", "SCRIPT:loop list the dir")
        done = await wait_state(rt, run.id, timeout=120)
        health = await rt.witness.health(run.id[:6])
        said = await notes(rt, run.id)
        silenced = await rt.witness.silence(run.id, actor="ada")

    assert done.state is RunState.REVIEW, done.state_reason
    looping = [h for h in health.history if h.classification is Classification.LOOPING]
    assert looping and looping[0].reason == (
        f"the same call (Run: {FAILING}) 4 times in its last 4 tool calls")
    assert said == [f"⚠ run {run.id} looks looping: {looping[0].reason}. Nudged its agent."]
    assert any("You are repeating yourself" in r.all_text() for r in model_server.requests
               if r.script_key == "SCRIPT:loop")
    assert silenced.silenced and silenced.history == health.history


async def test_different_commands_failing_with_the_same_error_are_looping_too(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:same-error", [
        *[s.bash(f"echo 'npm ERR! test failed' >&2; exit 1 # try {n}") for n in range(4)],
        s.text("Tests still fail.")])
    config = witness_config(tmp_path, model_server, "notify", loop_repeats=4)
    async with Runtime(config, environ=daemon_environ()) as rt:
        await rt.projects.add("demo", str(repo))
        run = await rt.runs.start_run("demo", "SCRIPT:same-error run the tests")
        done = await wait_state(rt, run.id, timeout=120)
        health = await rt.witness.health(run.id)
        said = await notes(rt, run.id)

    assert done.state is RunState.REVIEW, done.state_reason
    [looping] = [h for h in health.history if h.classification is Classification.LOOPING]
    assert looping.reason.startswith("the same error (Exit code 1 npm ERR! test failed) 4 ")
    assert said == [f"⚠ run {run.id} looks looping: {looping.reason}"]


async def test_an_agent_killed_from_outside_is_a_zombie_and_the_history_outlives_gluon(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:zombie", [s.hold("zombie")])
    config = witness_config(tmp_path, model_server, "notify", interval_seconds=3600)
    async with Runtime(config, environ=daemon_environ()) as rt:
        await rt.projects.add("demo", str(repo))
        run = await rt.runs.start_run("demo", "SCRIPT:zombie wait")
        await model_server.await_request(lambda r: r.script_key == "SCRIPT:zombie")
        pid = rt.runs.agent_pid(run.id)
        assert pid is not None and procs.cpu_seconds(pid) is not None
        os.kill(pid, signal.SIGKILL)
        # Without yielding to the event loop: the run's supervisor has not seen it yet.
        deadline = time.monotonic() + 10
        while procs.alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # noqa: ASYNC251 - on purpose: the loop must not run
        verdict = await rt.witness.check(run.id)
        said = await wait_note(rt, run.id, "looks zombie")
        model_server.release("zombie")
        await wait_state(rt, run.id, timeout=60)
    async with Runtime(config, environ=daemon_environ()) as rt, connected(rt) as client:
        health = await rt.witness.health(run.id)
        tool = (await client.call_tool("get_run_health", {"run": run.id[:6]})).structured_content
        shown = (await client.call_tool("get_run", {"run": run.id})).structured_content
        listed = (await client.call_tool("list_runs", {})).structured_content
        quiet = (await client.call_tool("silence_run_health", {"run": run.id})
                 ).structured_content

    assert verdict is not None and verdict.classification is Classification.ZOMBIE
    assert said == (f"⚠ run {run.id} looks zombie: its agent process (pid {pid}) is gone "
                    "but the run is live")
    assert [(h.classification, h.reason) for h in health.history][0] == (
        Classification.ZOMBIE, verdict.reason)
    assert tool is not None and shown is not None and listed is not None and quiet is not None
    assert tool["history"][0]["classification"] == "zombie"
    assert shown["health"]["classification"] == listed["runs"][0]["health"]["classification"]
    assert shown["health"]["classification"] == str(health.classification)
    assert (tool["silenced"], quiet["silenced"]) == (False, True)


def test_nonsense_thresholds_and_policies_are_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="stalled_after_seconds"):
        Config.model_validate({"witness": {"stalled_after_seconds": 0}})
    with pytest.raises(ValidationError, match="loop_repeats"):
        Config.model_validate({"witness": {"loop_repeats": 1}})
    with pytest.raises(ValidationError, match="witness"):
        Config.model_validate({"projects": {"demo": {"witness": "shout"}}})
    with pytest.raises(ValidationError, match=r"loop_repeats \(8\) must not exceed window"):
        Config.model_validate({"witness": {"loop_repeats": 8, "window": 6}})
    with pytest.raises(ValidationError, match="slow_factor"):
        Config.model_validate({"witness": {"slow_factor": 1}})


async def test_a_zombie_is_restarted_from_its_session_by_the_restart_policy(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:revive", [s.hold("revive", s.text("Alive again."))])
    config = witness_config(tmp_path, model_server, "restart", interval_seconds=3600)
    async with Runtime(config, environ=daemon_environ()) as rt:
        await rt.projects.add("demo", str(repo))
        run = await rt.runs.start_run("demo", "SCRIPT:revive wait")
        first = await model_server.await_request(lambda r: r.script_key == "SCRIPT:revive")
        pid = rt.runs.agent_pid(run.id)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while procs.alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # noqa: ASYNC251 - on purpose: the loop must not run
        verdict = await rt.witness.check(run.id)
        said = await wait_note(rt, run.id, "looks zombie")
        try:
            again = await model_server.await_request(
                lambda r: "witness restarted you" in r.all_text(), timeout=90)
        except TimeoutError:
            raise AssertionError(f"not restarted: {await notes(rt, run.id)} "
                                 f"{(await rt.runs.get(run.id)).state_reason}") from None
        model_server.release("revive")
        done = await wait_state(rt, run.id, RunState.REVIEW, timeout=60)

    assert verdict is not None and verdict.classification is Classification.ZOMBIE
    assert said.endswith("Restarting its agent from its session.")
    assert again.session_id == first.session_id and done.state is RunState.REVIEW


async def test_a_change_recorded_but_not_acted_on_before_gluon_stopped_is_said_after_it(
        tmp_path: Path, repo: Path, model_server: ScriptedModelServer) -> None:
    config = witness_config(tmp_path, model_server, "notify", interval_seconds=3600)
    async with Runtime(config, environ=daemon_environ()) as rt:
        await rt.projects.add("demo", str(repo))
        for run_id in ("said", "unsaid"):
            await rt.runs.store.insert(id=run_id, project="demo", prompt="p", model="sonnet",
                                       use_worktree=0, cwd=str(repo), session_id=run_id,
                                       state="running", started_at=time.time())
            await rt.witness.store.change(run_id, Classification.LOOPING, "the same call",
                                          time.time())
        await rt.witness.store.acted("said", "notify")  # "unsaid": Gluon stopped before it
        assert await rt.witness.store.unacted(["said", "unsaid"]) == {"unsaid"}
