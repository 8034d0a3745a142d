"""The board's "Needs you" panel shows what core.attention lists, in its order: a waiting
question (answerable there), a failed run with what to do, a daily budget near its cap."""

from __future__ import annotations

from pathlib import Path

from core.runtime import Runtime
from core.types import RunState
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.web.site import serving


async def test_the_needs_you_panel_lists_what_core_attention_lists_oldest_first(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:p-ask", [s.ask("Which database?", ["Postgres", "SQLite"]),
                                         s.text("ok")])
    model_server.script("SCRIPT:p-fail", [s.error(400, "scripted failure")])
    await runtime.projects.add("demo", str(repo))
    asking = await runtime.runs.start_run("demo", "SCRIPT:p-ask set up storage")
    await wait_state(runtime, asking.id, RunState.WAITING)
    failing = await runtime.runs.start_run("demo", "SCRIPT:p-fail break it")
    await wait_state(runtime, failing.id, RunState.FAILED)
    await runtime.runs.usage.settings.set("agents.daily_budget_usd", 1.0)
    await runtime.runs.usage.record(failing.id, "demo", 0.9, 10, 10)

    items = await runtime.attention.items()
    assert [(i.kind, i.run_id) for i in items] == [
        ("question", asking.id), ("run", failing.id), ("budget", None)]
    assert items[1].action == "resume_run" and items[2].action == "set_budget"
    assert "90% of today's budget spent" in items[2].text
    async with serving(runtime) as site, site.person() as (http, _):
        board = (await http.get("/")).text
    panel = board.split('id="panel-needs-you"', 1)[1].split("</section>", 1)[0]
    assert '<span class="count">3</span>' in panel
    order = [panel.index(f'id="ask-{items[0].ref}"'),
             panel.index(f'id="attention-run-{failing.id}"'),
             panel.index('id="attention-budget-all"')]
    assert order == sorted(order)
    assert "Which database?" in panel and ">SQLite</button>" in panel
    assert "failed" in panel and "resume_run" in panel
    assert "90% of today&#39;s budget spent" in panel and "set_budget" in panel
