"""A looping run's page shows its loop: iteration, circuit breaker, spend against its cap, and
why it ended."""

from __future__ import annotations

import html
from pathlib import Path

from core.runtime import Runtime
from core.types import RunState
from tests.conftest import wait_state
from tests.fakes import scripts as s
from tests.fakes.model_server import ScriptedModelServer
from tests.web.site import serving


async def test_a_looping_runs_page_shows_where_its_loop_ended(
        runtime: Runtime, repo: Path, model_server: ScriptedModelServer) -> None:
    model_server.script("SCRIPT:page", [
        s.write("a.py", "a = 1\n"), s.text("Done.\nSTATUS: COMPLETE\nEXIT_SIGNAL: true")])
    model_server.script("SCRIPT:plain", [s.text("Done.")])
    await runtime.projects.add("demo", str(repo))
    looped = await runtime.loops.start("demo", "SCRIPT:page go", max_loops=10,
                                       max_cost_usd=10, max_calls_per_hour=None, actor="cli")
    plain = await runtime.runs.start_run("demo", "SCRIPT:plain go")
    assert (await wait_state(runtime, looped.id)).state is RunState.REVIEW
    assert (await wait_state(runtime, plain.id)).state is RunState.REVIEW
    async with serving(runtime) as site, site.person() as (http, _):
        page = html.unescape((await http.get(f"/runs/{looped.id}")).text)
        other = (await http.get(f"/runs/{plain.id}")).text
    assert "🔁 loop 1/10 · done · breaker closed · $" in page and " of $10</p>" in page
    assert "Ended: done after 1 iteration(s): the agent said it is complete" in page
    assert 'id="loop"' not in other
