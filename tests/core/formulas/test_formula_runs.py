"""A formula runs as one run: each step a fresh session in the same worktree and branch, the
cost adding up, each step's reply reaching the next prompt; a failed step is resumed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.errors import InvalidInput, NotFound
from core.events.bus import RunNote
from core.formulas import InvalidFormula
from core.runtime import Runtime
from core.types import RunState
from tests.conftest import git, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer

FOUR = """\
description: four steps, one run
vars:
  task:
    required: true
steps:
  - name: plan
    profile: planning
    prompt: "SCRIPT:f-plan {{ task }}"
  - name: build
    prompt: "SCRIPT:f-build following {{ previous }}"
  - name: check
    prompt: "SCRIPT:f-check after {{ previous }}"
  - name: review
    profile: review
    model: haiku
    prompt: "SCRIPT:f-review against {{ steps.plan }}"
"""

THREE = """\
steps:
  - name: first
    prompt: "SCRIPT:g-first go"
  - name: second
    prompt: "SCRIPT:g-second after {{ previous }}"
  - name: third
    prompt: "SCRIPT:g-third after {{ previous }}"
"""


def add_formula(repo: Path, name: str, text: str) -> None:
    folder = repo / ".gluon" / "formulas"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yml").write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"formula {name}")


async def test_a_four_step_formula_is_one_run_with_a_fresh_session_per_step(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:f-plan", [s.write("plan.txt", "plan\n"), s.text("PLAN-1")])
    model_server.script("SCRIPT:f-build", [s.write("build.txt", "b\n"), s.text("BUILD-2")])
    model_server.script("SCRIPT:f-check", [s.text("CHECK-3")])
    model_server.script("SCRIPT:f-review", [s.text("REVIEW-4")])
    add_formula(repo, "four", FOUR)
    await runtime.projects.add("demo", str(repo))
    with runtime.bus.subscribe(lambda e: isinstance(e, RunNote)) as notes:
        run = await runtime.formulas.start("four", "demo", {"task": "add a thing"}, "alice")
        assert await runtime.formulas.profile(run) == "planning"
        done = await wait_state(runtime, run.id, RunState.REVIEW, RunState.FAILED,
                                timeout=180)
        texts = [note.text for _ in range(5)
                 if isinstance(note := await notes.get(timeout=5), RunNote)]

    assert done.state is RunState.REVIEW, done.state_reason
    assert done.result_text == "REVIEW-4" and done.branch == run.branch and done.cwd == run.cwd
    assert {f.path for f in done.changed_files} == {"plan.txt", "build.txt"}
    asked = {r.script_key: r for r in model_server.requests if r.script_key}
    assert len({r.session_id for r in asked.values()}) == 4  # a new session per step
    assert "SCRIPT:f-plan add a thing" in asked["SCRIPT:f-plan"].all_text()
    assert "following PLAN-1" in asked["SCRIPT:f-build"].all_text()
    assert "after BUILD-2" in asked["SCRIPT:f-check"].all_text()
    assert "against PLAN-1" in asked["SCRIPT:f-review"].all_text()
    assert "PLAN-1" not in asked["SCRIPT:f-check"].all_text()  # no earlier conversation
    assert asked["SCRIPT:f-review"].model.startswith("claude-haiku")
    assert not asked["SCRIPT:f-check"].model.startswith("claude-haiku")
    # One run's cost adds up over the four sessions.
    spent = [float(m) for e in await runtime.runs.logs(run.id) if e.kind == "result"
             for m in re.findall(r"\$([0-9.]+) so far", e.summary)]
    assert len(spent) == 4 and spent == sorted(set(spent))
    assert done.cost_usd == pytest.approx(spent[-1], abs=1e-4)
    assert texts == ["🧭 Formula four: step 1/4: plan starts", "🧭 Step 2/4 (build) starts",
                     "🧭 Step 3/4 (check) starts", "🧭 Step 4/4 (review) starts",
                     "🏁 Formula four: all 4 steps done"]
    progress = await runtime.formulas.progress(run.id)
    assert progress is not None and progress.finished and progress.label == "step 4/4: review"
    reasons = [t.reason for t in await runtime.runs.store.transitions(run.id)]
    assert "step 3/4: check" in reasons
    assert await runtime.formulas.profile(done) == "standard"


async def test_a_failed_step_stops_the_formula_there_and_resuming_continues_it(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:g-first", [s.text("FIRST-OK")])
    model_server.script("SCRIPT:g-second", [s.error(400, "scripted failure of step two")])
    model_server.script("SCRIPT:g-retry", [s.text("SECOND-OK")])
    model_server.script("SCRIPT:g-third", [s.text("THIRD-OK")])
    add_formula(repo, "three", THREE)
    await runtime.projects.add("demo", str(repo))
    run = await runtime.formulas.start("three", "demo", {}, "alice")
    failed = await wait_state(runtime, run.id, RunState.REVIEW, RunState.FAILED, timeout=120)

    assert failed.state is RunState.FAILED
    progress = await runtime.formulas.progress(run.id)
    assert progress is not None and progress.label == "step 2/3: second"
    assert not progress.finished

    await runtime.runs.resume(run.id, "SCRIPT:g-retry please try again", "alice")
    done = await wait_state(runtime, run.id, RunState.REVIEW, RunState.FAILED, timeout=120)
    assert done.state is RunState.REVIEW, done.state_reason
    assert done.result_text == "THIRD-OK"
    third = model_server.wait_for_request(lambda r: r.script_key == "SCRIPT:g-third")
    assert "after SECOND-OK" in third.all_text()
    state = await runtime.formulas.state(run.id)
    assert state is not None and state.results == ["FIRST-OK", "SECOND-OK", "THIRD-OK"]


async def test_bad_input_is_refused_before_anything_runs(
        runtime: Runtime, repo: Path) -> None:
    add_formula(repo, "four", FOUR)
    add_formula(repo, "broken", FOUR.replace("steps:", "stpes:"))
    await runtime.projects.add("demo", str(repo))
    with pytest.raises(InvalidInput, match="needs the variable 'task'"):
        await runtime.formulas.start("four", "demo", {}, "alice")
    with pytest.raises(InvalidInput, match="has no variable 'taks'"):
        await runtime.formulas.start("four", "demo", {"task": "x", "taks": "y"}, "alice")
    with pytest.raises(InvalidFormula, match=r"^broken\.yml line 5: unknown key 'stpes'"):
        await runtime.formulas.start("broken", "demo", {"task": "x"}, "alice")
    with pytest.raises(NotFound, match="no formula named 'nope'; there are: broken, bugfix, "):
        await runtime.formulas.start("nope", "demo", {}, "alice")
    assert await runtime.runs.find() == []


async def test_a_project_formula_wins_over_the_data_dirs_which_wins_over_the_builtin(
        runtime: Runtime, repo: Path) -> None:
    await runtime.projects.add("demo", str(repo))
    mine = runtime.config.home / "formulas"
    mine.mkdir()
    (mine / "bugfix.yml").write_text(THREE)
    (mine / "feature.yml").write_text(THREE)
    add_formula(repo, "feature", FOUR)

    everywhere = {f.name: f.source for f in await runtime.formulas.list("demo")}
    assert everywhere == {"bugfix": f"data dir: {mine / 'bugfix.yml'}",
                          "feature": "project: .gluon/formulas/feature.yml"}
    assert [s.name for s in (await runtime.formulas.show("feature", "demo")).steps] == [
        "plan", "build", "check", "review"]
    assert [s.name for s in (await runtime.formulas.show("feature")).steps] == [
        "first", "second", "third"]
    (mine / "feature.yml").unlink()
    assert (await runtime.formulas.show("feature")).source == "builtin: feature.yml"
