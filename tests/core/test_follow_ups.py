"""A feature built on runs gives a finished turn more to do: the run goes on (a new start job),
in the same session or a fresh one, in the same worktree, its cost adding up."""

from __future__ import annotations

from pathlib import Path

from core.agent.session import AgentResult
from core.models import Run
from core.runs.follow_ups import Finish, FollowUp
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


async def test_a_follow_up_starts_a_fresh_session_in_the_same_run_and_worktree(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:first", [s.write("one.txt", "1\n"), s.text("First done.")])
    model_server.script("SCRIPT:second", [s.write("two.txt", "2\n"), s.text("Second done.")])
    asked: list[str | None] = []

    async def next_step(run: Run, result: AgentResult) -> FollowUp | None:
        asked.append(result.result)
        if len(asked) == 1:
            return FollowUp("SCRIPT:second now", "step 2/2", fresh_session=True)
        return None

    runtime.runs.follow_ups.append(next_step)
    await runtime.projects.add("demo", str(repo))
    run = await runtime.runs.start_run("demo", "SCRIPT:first go")
    first_session = run.session_id
    done = await wait_state(runtime, run.id, RunState.REVIEW, RunState.FAILED, timeout=120)

    assert done.state is RunState.REVIEW, done.state_reason
    assert asked == ["First done.", "Second done."]
    assert done.session_id != first_session and done.result_text == "Second done."
    assert {f.path for f in done.changed_files} == {"one.txt", "two.txt"}
    sessions = {r.session_id for r in model_server.requests if r.script_key}
    assert len(sessions) == 2  # the second step did not see the first one's conversation
    second = [r for r in model_server.requests if r.script_key == "SCRIPT:second"]
    assert "First done." not in second[0].all_text()  # (git log in its context names it)
    reasons = [t.reason for t in await runtime.runs.store.transitions(run.id)]
    assert "step 2/2" in reasons


async def test_a_follow_up_that_finishes_the_run_sets_its_state_and_a_broken_one_is_skipped(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:x", [s.text("Did it.")])

    async def broken(run: Run, result: AgentResult) -> None:
        raise RuntimeError("a bug in a feature")

    async def stop(run: Run, result: AgentResult) -> Finish:
        return Finish(RunState.REVIEW, "loop stopped: the breaker opened")

    runtime.runs.follow_ups.extend([broken, stop])
    await runtime.projects.add("demo", str(repo))
    run = await runtime.runs.start_run("demo", "SCRIPT:x go")
    done = await wait_state(runtime, run.id, RunState.REVIEW, RunState.FAILED, timeout=120)
    assert done.state is RunState.REVIEW
    assert done.state_reason == "loop stopped: the breaker opened"
