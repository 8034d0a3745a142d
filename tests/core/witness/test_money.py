"""Money: budget warnings said in the run's chat, and what a new run will likely cost."""

from __future__ import annotations

import statistics
from pathlib import Path

from core.budget.settings import project_budget_key
from core.events.bus import RunNote
from core.runtime import Runtime
from core.types import RunState
from core.witness.estimate import estimate
from tests.conftest import make_repo, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer


async def finished_run(rt: Runtime, project: str, key: str, **kw: object) -> float:
    run = await rt.runs.start_run(project, key, **kw)  # type: ignore[arg-type]
    run = await wait_state(rt, run.id)
    assert run.state is RunState.REVIEW, run.state_reason
    return run.cost_usd


async def budget_notes(rt: Runtime) -> list[RunNote]:
    page = await rt.events.after(0, 1000, kinds=[RunNote])
    return [e for e in page.events if isinstance(e, RunNote) and e.source == "budget"]


async def test_each_budget_warns_once_in_the_chat_of_the_run_that_crosses_80_percent(
        runtime: Runtime, repo: Path, tmp_path: Path,
        model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:cost", [s.text("done")])
    await runtime.projects.add("demo", str(repo))
    await runtime.projects.add("other", str(make_repo(tmp_path / "other")))
    cost = await finished_run(runtime, "demo", "SCRIPT:cost")
    assert cost > 0 and await budget_notes(runtime) == []  # no budgets yet

    settings = runtime.runs.usage.settings
    await settings.set("agents.daily_budget_usd", 2 * cost / 0.85)  # 50% spent, 100% after
    await settings.set(project_budget_key("other"), cost / 0.9)
    second = (await runtime.runs.start_run("other", "SCRIPT:cost", budget_usd=cost / 0.9)).id
    assert (await wait_state(runtime, second)).state is RunState.REVIEW
    notes = await budget_notes(runtime)
    assert {n.run_id for n in notes} == {second}
    texts = [n.text for n in notes]
    assert len(texts) == 3, texts
    assert any("this run's budget" in t for t in texts)
    assert any("project other's budget for today" in t for t in texts)
    assert any("today's budget" in t and "project" not in t for t in texts)

    await finished_run(runtime, "other", "SCRIPT:cost")  # past 80% already: no new warning
    assert len(await budget_notes(runtime)) == 3


async def test_the_estimate_is_the_middle_half_of_the_projects_recent_run_costs(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    await runtime.projects.add("demo", str(repo))
    assert await estimate(runtime.runs.store, "demo") is None
    costs = []
    for n in (1, 2, 3):
        model_server.script(f"SCRIPT:e{n}", [*(s.bash(f"echo {i}") for i in range(n)),
                                             s.text("done")])
        costs.append(await finished_run(runtime, "demo", f"SCRIPT:e{n}"))
    low, _, high = statistics.quantiles(costs, n=4, method="inclusive")
    found = await estimate(runtime.runs.store, "demo")
    assert found is not None and found.runs == 3
    assert (found.low_usd, found.high_usd) == (low, high) and low < high
    assert found.text().startswith(f"usually ${low:.2f}–{high:.2f}")
    assert await estimate(runtime.runs.store, "nothing-yet") is None
