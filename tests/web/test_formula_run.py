"""A formula run's page and board card say which step it is at."""

from __future__ import annotations

from pathlib import Path

from core.runtime import Runtime
from core.types import RunState
from tests.conftest import git, wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.web.site import serving

TWO = """\
description: two steps
steps:
  - name: look
    profile: planning
    prompt: "SCRIPT:w-look go"
  - name: change
    prompt: "SCRIPT:w-change after {{ previous }}"
"""


async def test_the_run_page_and_its_card_show_the_formula_step(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:w-look", [s.text("LOOKED")])
    model_server.script("SCRIPT:w-change", [s.hold("change", s.text("CHANGED"))])
    (repo / ".gluon" / "formulas").mkdir(parents=True)
    (repo / ".gluon" / "formulas" / "two.yml").write_text(TWO)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "formula two")
    await runtime.projects.add("demo", str(repo))
    run = await runtime.formulas.start("two", "demo", {}, "cli")
    await model_server.await_request(lambda r: r.script_key == "SCRIPT:w-change", timeout=60)
    async with serving(runtime) as site, site.person() as (http, _):
        page = (await http.get(f"/runs/{run.id}")).text
        board = (await http.get("/")).text
        model_server.release("change")
        await wait_state(runtime, run.id, RunState.REVIEW, RunState.FAILED, timeout=60)
        after = (await http.get(f"/runs/{run.id}")).text

    assert "<dt>Formula</dt><dd>two: step 2/2: change</dd>" in page
    card = board.split(f'id="run-{run.id}"', 1)[1].split("</article>", 1)[0]
    assert '<p class="formula">🧭 two: step 2/2: change</p>' in card
    assert "<dt>Formula</dt><dd>two: all 2 steps done</dd>" in after
